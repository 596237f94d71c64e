//! `aulos-player`: plays a live (LL-)HLS audio stream end to end.
//!
//! Owns the glue of the playback path: the `aulos-client` [`aulos_client::Driver`] fetches
//! parts, a feeder task turns each delivered chunk into an `aulos-decode`
//! [`aulos_decode::MediaChunk`], the bounded decode pipeline makes PCM, and a sink thread
//! runs [`aulos_decode::run_sink`] with a [`aulos_decode::LatencyController`] whose jumps
//! call the client's `jump_to_live`. Around that it measures what a listener would notice
//! ([`Status`] once a second, [`Report`] at the end: time to first PCM, live latency
//! percentiles by program-date-time, stalls, copies) and falls back from a missing speaker
//! to a paced null sink.
//!
//! Depends on `aulos-client` and `aulos-decode` only (plus tokio). Must not parse playlists
//! or media itself, hold protocol state (that is the client's session), or keep unbounded
//! queues or measurement buffers: every channel is bounded and the latency histogram has a
//! fixed size.

mod config;
mod duration;
mod error;
mod metrics;
mod player;
mod sink;

pub use config::{PlayerConfig, SinkChoice, SinkKind};
pub use duration::parse_duration;
pub use error::{Error, Result};
pub use metrics::{EndReason, Report, Status};
pub use player::{Player, StopHandle};
