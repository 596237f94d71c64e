//! `aulos-decode`: from HLS media chunks to PCM, and from PCM to a sink.
//!
//! Owns the playback half below the client: demuxing (fMP4/CMAF via `mp4-atom`, MPEG-TS via
//! `mpeg2ts-reader` with AAC, MP3 or Opus, packed ADTS/MP3 with ID3 timestamps), decoding
//! (symphonia: AAC-LC, MP3, FLAC; `opus-pure`: Opus), resampling and channel mapping
//! (rubato), live-latency control ([`LatencyController`]), and sinks ([`WavSink`],
//! [`NullSink`], [`SpeakerSink`] behind the default `speaker` feature).
//!
//! Depends on no other Aulos crate: [`MediaChunk`] mirrors the client's output so the CLI glues
//! the two. Must never do network I/O, never block an audio callback, and never hold an
//! unbounded queue: every stage is a bounded kanal channel (see [`Pipeline`]).
//!
//! Bad media never stops the pipeline: it is counted in [`Stats::decode_errors`] and the next
//! chunk that stands on its own (an fMP4 fragment, a TS segment, a packed-audio segment)
//! decodes again.

mod channels;
mod chunk;
mod codec;
mod demux;
mod error;
mod latency;
mod opus;
mod pipeline;
mod resample;
mod sink;
mod stats;

pub use channels::{downmix_interleaved, downmix_planes, stereo_weights};
pub use chunk::{Container, MediaChunk, PcmBlock};
pub use error::{Error, Result};
pub use latency::{LatencyAction, LatencyConfig, LatencyController, LatencyDecision, RateFeed};
pub use opus::{OPUS_RATE, OpusConfig, OpusDecoder};
pub use pipeline::{
    ChunkSender, DecodeStage, PcmReceiver, Pipeline, PipelineConfig, PipelineHandle, run_sink,
};
pub use resample::ResampleQuality;
#[cfg(feature = "speaker")]
pub use sink::SpeakerSink;
pub use sink::{NullSink, Sink, WavSink};
pub use stats::{Stats, StatsSnapshot};
