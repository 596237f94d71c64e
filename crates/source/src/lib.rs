//! Live audio sources for Aulos.
//!
//! Owns: a deterministic synthetic signal ([`signal::Synth`]), the AAC-LC encoder wrapper
//! ([`encoder::AacEncoder`], fdk-aac), the rendition ladder (PCM → N encoders → N
//! packagers, [`ladder::Ladder`]), the wall-clock paced live task
//! ([`live::spawn_synthetic`]) and the optional transcoder for ingest
//! ([`transcode::Transcoder`], symphonia + rubato).
//! Depends on: `aulos-packager` (CMAF parts), `aulos-decode` (the player's Opus decoder
//! and downmix, for the transcoder; without its speaker feature), fdk-aac, symphonia,
//! rubato, tokio (only in `live`). Must not: serve HTTP, render playlists or hold stream state; callers (registry,
//! origin) decide where init segments and parts go.

pub mod encoder;
mod error;
pub mod ladder;
pub mod live;
pub mod signal;
pub mod transcode;

pub use encoder::{AacEncoder, AacEncoderConfig};
pub use error::Error;
pub use ladder::{Ladder, LadderConfig, RenditionConfig, RenditionInfo};
pub use live::{LiveConfig, SourceEvent, spawn_synthetic};
pub use signal::Synth;
pub use transcode::Transcoder;
