//! `aulos-ring`: the chunk ring both the origin and the player keep media in.
//!
//! Owns a fixed-capacity, pre-allocated [`ChunkCache`] of `bytes::Bytes` chunks for
//! many streams, each chunk keyed by `(stream, msn, part)`, plus async waiters
//! ("wake me when `(msn, part)` exists") for LL-HLS blocking reloads and preload
//! hints. Streams are isolated: reads take no lock at all (hazard pointers), and
//! each stream's puts share one short writer lock, so a writer of stream A never
//! blocks readers of any stream nor writers of stream B; a put issues no barrier
//! that would make it wait for the readers' cores (see `cache::WriterLock`).
//!
//! Depends on `bytes`, `spin` (the writer lock), `event-listener` (wake-ups),
//! tokio's timer (wait deadlines) and `libc` (the `membarrier` system call). It never parses media
//! or HLS text, never copies a payload (`Bytes` clones only) and allocates at most
//! one small handle per put (when the caller keeps a clone of the payload, see
//! `cache::private_handle`). `unsafe` lives in `hazard.rs` (lock-free reads with
//! deferred reclamation, model-checked by `tests/loom_hazard.rs`, run under Miri by
//! `scripts/test`) and its two callers in `cache.rs`; the put/wait hand-over has a
//! loom model in `tests/loom_waiters.rs`.

mod cache;
mod config;
mod error;
mod hazard;
mod key;
mod sync;

pub use cache::{ChunkCache, Stats};
pub use config::Config;
pub use error::{Error, WaitError};
pub use key::{Chunk, ChunkKey, ChunkMeta, StreamId};
