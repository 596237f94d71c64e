//! Errors of the ring.

use crate::ChunkKey;

/// Why a ring call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A configuration value is zero or the sizes overflow.
    #[error("invalid ring configuration: {0}")]
    Config(&'static str),
    /// Every stream slot is in use.
    #[error("all {0} streams are in use")]
    NoFreeStream(usize),
    /// The stream id is out of range or the stream is not open.
    #[error("stream {0} is not open")]
    NotOpen(u32),
    /// The part index does not fit the configured parts per segment.
    #[error("part {part} out of range: at most {max} parts per segment")]
    PartOutOfRange {
        /// The offending part index.
        part: u32,
        /// `Config::parts_per_segment`.
        max: usize,
    },
    /// The MSN is larger than [`ChunkKey::MAX_MSN`].
    #[error("media sequence number {0} is out of range")]
    MsnOutOfRange(u64),
    /// The key is older than the ring's window: storing it would overwrite newer data.
    #[error("{key:?} is older than the ring window (latest {latest:?})")]
    Stale {
        /// The refused key.
        key: ChunkKey,
        /// The stream's newest key.
        latest: ChunkKey,
    },
    /// The key is so far ahead that storing it would evict the whole window.
    #[error("{key:?} is too far ahead of the latest {latest:?}")]
    TooFarAhead {
        /// The refused key.
        key: ChunkKey,
        /// The stream's newest key.
        latest: ChunkKey,
    },
}

/// Why [`ChunkCache::wait`](crate::ChunkCache::wait) returned without a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The key has been overwritten by newer data (or is older than the window).
    #[error("chunk was evicted")]
    Evicted,
    /// The key is too far ahead of the latest chunk to ever fit the window as is.
    #[error("chunk is too far ahead of the live edge")]
    TooFarAhead,
    /// The stream was reset while waiting (or before).
    #[error("stream was reset")]
    Reset,
    /// The stream is closed.
    #[error("stream is closed")]
    Closed,
    /// The deadline passed before the chunk was put.
    #[error("deadline passed")]
    DeadlinePassed,
    /// The key is out of range for this ring's configuration.
    #[error("key out of range")]
    OutOfRange,
}
