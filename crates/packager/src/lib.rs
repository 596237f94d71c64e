//! CMAF/fMP4 audio packager for Aulos.
//!
//! Owns: the fMP4 init segment (`ftyp` + `moov`) and the LL-HLS parts (`moof` + `mdat`)
//! for one audio track (AAC, MP3, FLAC, Opus), cut at frame boundaries with continuous
//! decode times; stream readers for ADTS (AAC), MPEG audio layer III and Ogg Opus used by
//! ingest.
//! Depends on: `bytes`, `mp4-atom` (box encoding), `ogg` (Ogg pages), `thiserror`.
//! Must not: do I/O, spawn tasks, or know about playlists and HTTP (no tokio); callers
//! (registry, origin, aulos-source) decide where parts go.

mod adts;
mod error;
mod format;
mod init;
mod mp3;
mod opus;
mod packager;
mod scanner;

pub use adts::{AdtsError, AdtsFrame, AdtsHeader, AdtsReader};
pub use error::Error;
pub use format::{AudioFormat, AudioSpecificConfig, Codec};
pub use mp3::{Mp3Error, Mp3Frame, Mp3FrameReader, Mp3Header};
pub use opus::{
    OGG_DEFAULT_BUFFER, OPUS_RATE, OggOpusError, OggOpusReader, OpusHead, OpusPacket,
    opus_packet_samples,
};
pub use packager::{AccessUnit, MAX_ACCESS_UNIT_BYTES, Packager, PackagerConfig, Part};
