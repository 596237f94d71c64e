//! aulos-client: the LL-HLS client.
//!
//! Owns the client side of the protocol: a sans-IO [`Session`] state machine (live
//! edge start, blocking reloads, preload hints, delta updates, rendition reports,
//! plain live and VOD, redundant-variant failover, retries with seeded jitter,
//! AES-128), the ABR rules ([`abr`]: ours and an hls.js baseline), a deterministic
//! trace simulator ([`sim`]) and a thin tokio/reqwest [`Driver`] that fills an
//! `aulos-ring` chunk cache and hands chunks to the decoder with back-pressure.
//!
//! Depends on `aulos-ring` (chunk cache) and `aulos-manifest` (playlist parser and
//! delta merge; `session::codec` converts its model into the session's own views).
//!
//! Must never: decode media, read a clock or touch a socket inside the session core
//! (all time is passed in as [`Instant`]), or hold unbounded queues on the media path.
//! Known limit: AES-128 is applied per whole segment, so encrypted LL streams are
//! followed segment by segment, not part by part.

pub mod abr;
mod driver;
mod error;
pub mod session;
pub mod sim;
mod time;

pub use abr::{AbrKind, AbrRule, Bitrate};
pub use driver::{ChunkStream, Delivered, Driver, DriverConfig, DriverStats};
pub use error::Error;
pub use session::{
    Action, Chunk, Event, Request, RequestId, RequestKind, Session, SessionConfig, SessionStats,
    stall_cushion,
};
pub use time::Instant;
