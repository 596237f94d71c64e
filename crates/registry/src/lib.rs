//! `aulos-registry`: the live streams (the seed's `Playlists`).
//!
//! Owns every live stream by name, each with its renditions (codec, bitrate,
//! channels, sample rate), their [`aulos_manifest::LiveBuilder`] state, their
//! `aulos-ring` stream and their [`aulos_manifest::M3u8Cache`]. Publishing follows
//! one order — media into the ring, then the playlist, then the wake-up — so a
//! playlist never lists a part a reader cannot get (S-GEN-01). Blocking playlist
//! reloads and preload-hinted part requests park on one event per rendition and
//! share the rendered bytes. Lifecycle: create, end (ENDLIST), idle expiry, restart
//! with a discontinuity, bounded streams and memory, constant-time stream keys.
//!
//! Depends on `aulos-ring`, `aulos-manifest`, `event-listener` (wake-ups), tokio's
//! timer (wait deadlines) and `subtle` (key comparison). It does no I/O, spawns no
//! task and encodes no media: time is passed in ([`Registry::tick`]).

mod config;
mod error;
mod keys;
mod registry;
mod stream;

pub use config::RegistryConfig;
pub use error::{BlockingError, Error, PartError};
pub use keys::StreamKey;
pub use registry::{Registry, StreamInfo};
pub use stream::{PublishPart, Rendition, RenditionSpec, Stream, StreamSpec};
