//! aulos-client: the LL-HLS client.
//!
//! Owns the client side of the protocol: a sans-IO [`Session`] state machine (live
//! edge start, blocking reloads, preload hints, delta updates, rendition reports,
//! plain live and VOD, failover, retries, AES-128), the ABR rules ([`abr`]), a
//! deterministic trace simulator ([`sim`]) and a thin tokio/reqwest driver.
//!
//! Depends on `aulos-manifest` (playlist model, parser, delta merge) and `aulos-ring`
//! (the chunk cache the driver fills for the decoder).
//!
//! Must never: decode media, read a clock or touch a socket inside the session core
//! (all time is passed in as [`Instant`]), or hold unbounded queues on the media path.

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
};
pub use time::Instant;
