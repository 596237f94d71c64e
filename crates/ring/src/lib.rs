//! `aulos-ring`: the chunk ring both the origin and the player keep media in.
//!
//! Owns a fixed-capacity, pre-allocated [`ChunkCache`] of `bytes::Bytes` chunks for
//! many streams, each chunk keyed by `(stream, msn, part)`, plus async waiters
//! ("wake me when `(msn, part)` exists") for LL-HLS blocking reloads and preload
//! hints. Streams are isolated: every slot has its own short lock, so a writer of
//! stream A never blocks readers of stream B, and a reader never blocks a writer of
//! another slot.
//!
//! Depends on `bytes`, `parking_lot`, `event-listener` (wake-ups) and tokio's timer
//! (wait deadlines). It never parses media or HLS text, never copies a payload
//! (`Bytes` clones only) and allocates at most one small handle per put (when the
//! caller keeps a clone of the payload, see `cache::private_handle`). No `unsafe`;
//! the one hand-written atomic protocol (a put skipping the wake-up when nobody
//! waits) has a loom model in `tests/loom_waiters.rs`.

mod cache;
mod config;
mod error;
mod key;

pub use cache::{ChunkCache, Stats};
pub use config::Config;
pub use error::{Error, WaitError};
pub use key::{Chunk, ChunkKey, ChunkMeta, StreamId};
