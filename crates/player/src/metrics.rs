//! Measurement: latency histogram, the playout clock that counts stalls, the counters
//! shared between the player's tasks, and the [`Status`] / [`Report`] views of them.
//!
//! The histogram and the clock are plain structs that take the time as an argument, so the
//! unit tests drive them with made-up instants.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use aulos_decode::RateFeed;
use parking_lot::Mutex;

use crate::config::SinkKind;

/// Latency histogram with 1 ms buckets up to 10 s (and one overflow bucket).
///
/// Hand-written (40 KB of counters) rather than pulling an HDR histogram crate: the range
/// is small and fixed, and memory stays bounded however long the player runs.
#[derive(Debug, Clone)]
pub(crate) struct LatencyHistogram {
    buckets: Vec<u32>,
    overflow: u64,
    count: u64,
    max: Duration,
}

const HIST_MS: usize = 10_000;

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        Self {
            buckets: vec![0; HIST_MS],
            overflow: 0,
            count: 0,
            max: Duration::ZERO,
        }
    }

    pub(crate) fn record(&mut self, d: Duration) {
        let ms = d.as_millis();
        match usize::try_from(ms).ok().filter(|&m| m < HIST_MS) {
            Some(m) => self.buckets[m] = self.buckets[m].saturating_add(1),
            None => self.overflow += 1,
        }
        self.count += 1;
        self.max = self.max.max(d);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The `p`-quantile (0 < p ≤ 1) rounded up to the bucket's upper edge; `None` if empty.
    /// Values beyond the histogram report the maximum seen.
    pub(crate) fn quantile(&self, p: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (ms, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(Duration::from_millis(ms as u64 + 1).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// A model of a sound card playing at exactly real time from the first block on: it says
/// how much audio is queued ahead of the playhead and counts a stall whenever a block
/// arrives after the previous audio has run out (then playback resumes from that moment).
///
/// Used for every sink so the WAV and null sinks report the stalls a device would have had.
#[derive(Debug, Clone)]
pub(crate) struct PlayoutClock {
    start: Option<Instant>,
    played: Duration,
    stalls: u64,
    stalled: Duration,
    /// Length of the first block (one part, or one segment without parts).
    unit: Duration,
    /// Latency the stalls have added to the target ([`aulos_client::stall_cushion`]).
    cushion: Duration,
}

/// Lateness forgiven before a stall counts (thread wake-up jitter).
const STALL_TOLERANCE: Duration = Duration::from_millis(10);

impl PlayoutClock {
    pub(crate) fn new() -> Self {
        Self {
            start: None,
            played: Duration::ZERO,
            stalls: 0,
            stalled: Duration::ZERO,
            unit: Duration::ZERO,
            cushion: Duration::ZERO,
        }
    }

    /// A block of `len` playback time is handed to the device at `now`.
    pub(crate) fn push(&mut self, now: Instant, len: Duration) {
        if self.start.is_none() {
            self.unit = len;
        }
        let start = *self.start.get_or_insert(now);
        let due = start + self.played;
        if now > due + STALL_TOLERANCE {
            let gap = now - due;
            self.stalls += 1;
            self.stalled += gap;
            self.cushion = aulos_client::stall_cushion(self.cushion, gap, self.unit);
            self.start = Some(start + gap);
        }
        self.played += len;
    }

    /// Audio queued ahead of the playhead at `now`.
    pub(crate) fn buffered(&self, now: Instant) -> Duration {
        match self.start {
            Some(s) => (s + self.played).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }

    pub(crate) fn stalls(&self) -> (u64, Duration) {
        (self.stalls, self.stalled)
    }

    /// Latency to keep above the target for the stalls so far.
    pub(crate) fn cushion(&self) -> Duration {
        self.cushion
    }
}

/// Counters written by the player's feeder task and sink thread, read for [`Status`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) started: Instant,
    /// Rendition of the last chunk fed to the decoder.
    pub(crate) rendition: AtomicUsize,
    /// Media bitrate of the last chunks fed (bits/s).
    pub(crate) bitrate: AtomicU64,
    /// Chunks fed to the decoder.
    pub(crate) chunks: AtomicU64,
    /// End of the last chunk fed, as µs since the Unix epoch of its program-date-time (0: none).
    pub(crate) fed_end_pdt_us: AtomicU64,
    /// Audio queued between the client and the playhead (µs).
    pub(crate) buffer_us: AtomicU64,
    /// Latency of the last block leaving the decoder (µs).
    pub(crate) latency_us: AtomicU64,
    /// Frames written to the sink.
    pub(crate) frames: AtomicU64,
    /// Stall episodes of the playout clock.
    pub(crate) stalls: AtomicU64,
    /// Total stalled time (µs).
    pub(crate) stalled_us: AtomicU64,
    /// Jumps to live requested from the client.
    pub(crate) jumps: AtomicU64,
    /// Time to first chunk from the client (µs since start, 0: not yet).
    pub(crate) first_chunk_us: AtomicU64,
    /// Time to first PCM leaving the decoder (µs since start, 0: not yet).
    pub(crate) first_pcm_us: AtomicU64,
    /// Speaker underruns (the device's own counter), when a speaker is used.
    pub(crate) underruns: Mutex<Option<Arc<AtomicU64>>>,
    pub(crate) histogram: Mutex<LatencyHistogram>,
    /// Buffer, stalls and the client's extra latency, for the latency controller.
    pub(crate) rate_feed: Arc<RateFeed>,
}

impl Shared {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            rendition: AtomicUsize::new(0),
            bitrate: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            fed_end_pdt_us: AtomicU64::new(0),
            buffer_us: AtomicU64::new(0),
            latency_us: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            stalled_us: AtomicU64::new(0),
            jumps: AtomicU64::new(0),
            first_chunk_us: AtomicU64::new(0),
            first_pcm_us: AtomicU64::new(0),
            underruns: Mutex::new(None),
            histogram: Mutex::new(LatencyHistogram::new()),
            rate_feed: RateFeed::new(),
        }
    }

    /// Records "now" (relative to start, at least 1 µs) into `slot` if still unset.
    pub(crate) fn mark_once(&self, slot: &AtomicU64) {
        let us = (self.started.elapsed().as_micros() as u64).max(1);
        let _ = slot.compare_exchange(0, us, Relaxed, Relaxed);
    }

    pub(crate) fn speaker_underruns(&self) -> u64 {
        self.underruns
            .lock()
            .as_ref()
            .map_or(0, |u| u.load(Relaxed))
    }
}

fn opt_us(us: u64) -> Option<Duration> {
    (us != 0).then(|| Duration::from_micros(us))
}

/// A snapshot of playback, refreshed every [`crate::PlayerConfig::status_interval`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    /// Time since [`crate::Player::start`].
    pub elapsed: Duration,
    /// Rendition index (ascending bandwidth) of the last chunk fed to the decoder.
    pub rendition: usize,
    /// Media bitrate of the last few chunks (payload bits per second of media).
    pub bitrate_bps: u64,
    /// Audio fetched but not yet played: client → decoder → sink → (modelled) device.
    pub buffer: Duration,
    /// Live latency: wall clock minus the program-date-time of the audio that last left
    /// the decoder (`None` until measured or when the stream has no PDT).
    pub latency: Option<Duration>,
    /// Stalls (audio ran out after playback had started) plus speaker underruns.
    pub underruns: u64,
    /// Audio output so far.
    pub played: Duration,
    /// Jumps to the live edge requested by the latency controller.
    pub jumps: u64,
}

impl Status {
    pub(crate) fn read(shared: &Shared, rate: u32) -> Self {
        Status {
            elapsed: shared.started.elapsed(),
            rendition: shared.rendition.load(Relaxed),
            bitrate_bps: shared.bitrate.load(Relaxed),
            buffer: Duration::from_micros(shared.buffer_us.load(Relaxed)),
            latency: opt_us(shared.latency_us.load(Relaxed)),
            underruns: shared.stalls.load(Relaxed) + shared.speaker_underruns(),
            played: frames_to_duration(shared.frames.load(Relaxed), rate),
            jumps: shared.jumps.load(Relaxed),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "t={:>5.1}s rendition={} bitrate={:.0}kb/s buffer={}ms latency={} underruns={} played={:.1}s",
            self.elapsed.as_secs_f64(),
            self.rendition,
            self.bitrate_bps as f64 / 1000.0,
            self.buffer.as_millis(),
            self.latency
                .map_or_else(|| "-".to_string(), |l| format!("{}ms", l.as_millis())),
            self.underruns,
            self.played.as_secs_f64(),
        )?;
        if self.jumps > 0 {
            write!(f, " jumps={}", self.jumps)?;
        }
        Ok(())
    }
}

pub(crate) fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    if rate == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(frames as f64 / f64::from(rate))
}

/// Why playback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// [`crate::PlayerConfig::duration`] of audio was output.
    Duration,
    /// The stream ended (ENDLIST) and everything fetched was played.
    StreamEnded,
    /// [`crate::Player::stop`] was called.
    Stopped,
    /// The client gave up (the text says why); audio fetched before was played.
    ClientFailed(String),
    /// The sink failed (e.g. the WAV file could not be written).
    SinkFailed(String),
}

/// Summary of a finished playback, from [`crate::Player::wait`] or [`crate::Player::stop`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Why it ended.
    pub end: EndReason,
    /// The sink used.
    pub sink: SinkKind,
    /// Why the speaker was not used, when it was asked for and fell back.
    pub sink_fallback: Option<String>,
    /// Latency target the controller used.
    pub target_latency: Duration,
    /// Output sample rate (Hz) and channels.
    pub rate: u32,
    /// Output channels.
    pub channels: u16,
    /// Frames output (at `rate`).
    pub frames: u64,
    /// Start → first chunk from the client.
    pub time_to_first_chunk: Option<Duration>,
    /// Start → first PCM leaving the decoder.
    pub time_to_first_pcm: Option<Duration>,
    /// Latency samples (one per PCM block, i.e. per part).
    pub latency_samples: u64,
    /// Median live latency at decoder output.
    pub latency_p50: Option<Duration>,
    /// 99th percentile live latency at decoder output.
    pub latency_p99: Option<Duration>,
    /// Largest live latency seen.
    pub latency_max: Option<Duration>,
    /// Stall episodes of the playout clock (audio ran out after the start).
    pub stalls: u64,
    /// Total time stalled.
    pub stalled: Duration,
    /// Speaker underruns reported by the device callback (0 for other sinks).
    pub underruns: u64,
    /// Jumps to the live edge requested.
    pub jumps: u64,
    /// Chunks fed to the decoder.
    pub chunks: u64,
    /// Chunks or access units the decoder rejected.
    pub decode_errors: u64,
    /// Response body bytes received by the client (playlists and media).
    pub body_bytes: u64,
    /// Bytes copied between socket and decoder (the client joining multi-frame bodies);
    /// everything else on the path is shared `Bytes` or slices of them.
    pub copied_bytes: u64,
    /// Chunks the client's ring still held at the end, and their payload bytes: the
    /// media kept in memory for the stream ([`crate::PlayerConfig::RING_SEGMENTS`]).
    pub ring_chunks: usize,
    /// Payload bytes of [`Report::ring_chunks`].
    pub ring_bytes: usize,
    /// Rendition of the last chunk played.
    pub rendition: usize,
}

impl Report {
    /// Audio output.
    pub fn played(&self) -> Duration {
        frames_to_duration(self.frames, self.rate)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms =
            |d: Option<Duration>| d.map_or_else(|| "-".into(), |d| format!("{} ms", d.as_millis()));
        writeln!(f, "ended:               {:?}", self.end)?;
        write!(f, "sink:                {}", self.sink)?;
        if let Some(why) = &self.sink_fallback {
            write!(f, " (speaker unavailable: {why})")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "played:              {:.2} s at {} Hz x{} ({} chunks, rendition {})",
            self.played().as_secs_f64(),
            self.rate,
            self.channels,
            self.chunks,
            self.rendition
        )?;
        writeln!(f, "time to first chunk: {}", ms(self.time_to_first_chunk))?;
        writeln!(f, "time to first PCM:   {}", ms(self.time_to_first_pcm))?;
        writeln!(
            f,
            "latency:             p50 {}, p99 {}, max {} ({} samples, target {} ms)",
            ms(self.latency_p50),
            ms(self.latency_p99),
            ms(self.latency_max),
            self.latency_samples,
            self.target_latency.as_millis()
        )?;
        writeln!(
            f,
            "stalls:              {} ({} ms), speaker underruns {}, jumps {}, decode errors {}",
            self.stalls,
            self.stalled.as_millis(),
            self.underruns,
            self.jumps,
            self.decode_errors
        )?;
        writeln!(
            f,
            "copies socket->PCM:  {} of {} body bytes copied",
            self.copied_bytes, self.body_bytes
        )?;
        write!(
            f,
            "client ring:         {} chunks, {} bytes held",
            self.ring_chunks, self.ring_bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_known_samples() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_micros(ms * 1000 - 500)); // 0.5, 1.5, ... 99.5 ms
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_millis(99)));
        // The top bucket is capped at the true maximum.
        assert_eq!(h.quantile(1.0), Some(Duration::from_micros(99_500)));
    }

    #[test]
    fn overflow_reports_the_maximum() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_millis(5));
        h.record(Duration::from_secs(30));
        h.record(Duration::from_secs(40));
        // 5 ms sits in the [5, 6) ms bucket: reported as its upper edge.
        assert_eq!(h.quantile(0.33), Some(Duration::from_millis(6)));
        // Beyond 10 s only the maximum is known.
        assert_eq!(h.quantile(0.5), Some(Duration::from_secs(40)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_secs(40)));
    }

    #[test]
    fn playout_clock_counts_late_blocks_only() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = PlayoutClock::new();
        // A burst of 3 blocks of 200 ms, then one every 200 ms: never late.
        for _ in 0..3 {
            c.push(t0, ms(200));
        }
        assert_eq!(c.buffered(t0), ms(600));
        for i in 1..=5u32 {
            c.push(t0 + ms(200) * i, ms(200));
        }
        assert_eq!(c.stalls(), (0, Duration::ZERO));
        assert_eq!(c.buffered(t0 + ms(1000)), ms(600));
        // Audio runs out at t0 + 1600 ms; the next block comes at 2000 ms.
        c.push(t0 + ms(2000), ms(200));
        assert_eq!(c.stalls(), (1, ms(400)));
        // Playback restarted at 2000 ms with 200 ms queued.
        assert_eq!(c.buffered(t0 + ms(2000)), ms(200));
        // Lateness within the tolerance does not count.
        c.push(t0 + ms(2205), ms(200));
        assert_eq!(c.stalls().0, 1);
    }

    #[test]
    fn each_stall_adds_at_least_two_parts_to_the_latency_kept_up_to_fifteen() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = PlayoutClock::new();
        c.push(t0, ms(200));
        assert_eq!(c.cushion(), Duration::ZERO);
        // A 400 ms stall adds its length (more than two parts)...
        c.push(t0 + ms(600), ms(200));
        assert_eq!(c.stalls(), (1, ms(400)));
        assert_eq!(c.cushion(), ms(400));
        // ...a 50 ms one two parts, not 50 ms: the buffer was too thin for the link.
        c.push(t0 + ms(850), ms(200));
        assert_eq!(c.stalls(), (2, ms(450)));
        assert_eq!(c.cushion(), ms(800));
        // Many stalls: at most 15 parts (3 s), not their sum.
        let mut t = t0 + ms(850);
        for _ in 0..20 {
            t += ms(500);
            c.push(t, ms(200));
        }
        assert_eq!(c.stalls().0, 22);
        assert_eq!(c.cushion(), ms(3000));
    }
}
