//! Counters shared by the pipeline, the sinks and the caller.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Live counters; read with [`Stats::snapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    /// Chunks received by the decode stage.
    pub chunks: AtomicU64,
    /// PCM blocks produced.
    pub blocks: AtomicU64,
    /// Output frames produced (at the output rate).
    pub frames: AtomicU64,
    /// Chunks or access units rejected as bad media (demux, codec or resampler errors).
    pub decode_errors: AtomicU64,
    /// Audio-callback underruns (speaker sink: ring empty, silence played).
    pub underruns: AtomicU64,
    /// Latency of the audio being output, in microseconds (0 until measured).
    pub latency_us: AtomicU64,
    /// Latency-controller jump signals.
    pub jumps: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of [`Stats`] at one instant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::chunks`].
    pub chunks: u64,
    /// See [`Stats::blocks`].
    pub blocks: u64,
    /// See [`Stats::frames`].
    pub frames: u64,
    /// See [`Stats::decode_errors`].
    pub decode_errors: u64,
    /// See [`Stats::underruns`].
    pub underruns: u64,
    /// See [`Stats::latency_us`].
    pub latency: Duration,
    /// See [`Stats::jumps`].
    pub jumps: u64,
    /// Text of the most recent error.
    pub last_error: Option<String>,
}

impl Stats {
    /// Records a bad-media error (counted, kept as the last error, logged).
    pub fn record_error(&self, err: &crate::Error) {
        self.decode_errors.fetch_add(1, Relaxed);
        tracing::warn!(error = %err, "aulos-decode: bad media skipped");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(err.to_string());
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            chunks: self.chunks.load(Relaxed),
            blocks: self.blocks.load(Relaxed),
            frames: self.frames.load(Relaxed),
            decode_errors: self.decode_errors.load(Relaxed),
            underruns: self.underruns.load(Relaxed),
            latency: Duration::from_micros(self.latency_us.load(Relaxed)),
            jumps: self.jumps.load(Relaxed),
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }
}
