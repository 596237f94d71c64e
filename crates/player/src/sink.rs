//! Opening the chosen sink (with the speaker → null fallback) and the metering wrapper
//! that sits between `run_sink` and it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aulos_client::Driver;
use aulos_decode::{NullSink, PcmBlock, Sink, WavSink};

use crate::config::{SinkChoice, SinkKind};
use crate::error::Result;
use crate::metrics::{PlayoutClock, Shared};

/// An opened sink: the sink, what it is, why the speaker was not used, and whether the
/// player must pace it (the null sink).
pub(crate) struct Opened {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) kind: SinkKind,
    pub(crate) fallback: Option<String>,
    pub(crate) pace: bool,
}

fn null(fallback: Option<String>) -> Opened {
    // Unpaced: the player paces it with its own playout clock, which resumes from "now"
    // after a stall like a device does (`NullSink::paced` would instead swallow the
    // backlog at once to catch up with its start time).
    Opened {
        sink: Box::new(NullSink::unpaced()),
        kind: SinkKind::Null,
        fallback,
        pace: true,
    }
}

/// Opens `choice`; a missing speaker falls back to the paced null sink, with the reason.
pub(crate) fn open(
    choice: &SinkChoice,
    rate: u32,
    channels: u16,
    shared: &Shared,
) -> Result<Opened> {
    match choice {
        SinkChoice::Null => Ok(null(None)),
        SinkChoice::Wav(path) => Ok(Opened {
            sink: Box::new(WavSink::create(path, rate, channels)?),
            kind: SinkKind::Wav(path.clone()),
            fallback: None,
            pace: false,
        }),
        SinkChoice::Speaker => open_speaker(rate, channels, shared),
    }
}

#[cfg(feature = "speaker")]
fn open_speaker(rate: u32, channels: u16, shared: &Shared) -> Result<Opened> {
    // 250 ms of device ring: enough to ride out scheduling hiccups, small next to the
    // latency target.
    match aulos_decode::SpeakerSink::open(rate, channels, Duration::from_millis(250)) {
        Ok(s) => {
            *shared.underruns.lock() = Some(s.underruns().clone());
            Ok(Opened {
                sink: Box::new(s),
                kind: SinkKind::Speaker,
                fallback: None,
                pace: false,
            })
        }
        Err(e) => {
            let why = e.to_string();
            tracing::warn!(reason = %why, "no audio output device: playing into the null sink");
            Ok(null(Some(why)))
        }
    }
}

#[cfg(not(feature = "speaker"))]
fn open_speaker(_rate: u32, _channels: u16, _shared: &Shared) -> Result<Opened> {
    let why = "aulos-player was built without the `speaker` feature".to_string();
    tracing::warn!(reason = %why, "no audio output device: playing into the null sink");
    Ok(null(Some(why)))
}

/// Wraps the real sink: measures every block leaving the decoder (latency, stalls, buffer,
/// first PCM), tells the client its buffer level, stops after the configured duration, and
/// discards audio once the player is stopping so the pipeline drains at once.
pub(crate) struct MeteredSink {
    pub(crate) inner: Box<dyn Sink>,
    /// Sleep so the inner sink takes audio at real time (the null sink).
    pub(crate) pace: bool,
    pub(crate) shared: Arc<Shared>,
    pub(crate) driver: Arc<Driver>,
    pub(crate) clock: PlayoutClock,
    /// Pass the buffer level to the client (see `PlayerConfig::report_buffer`).
    pub(crate) report_buffer: bool,
    /// Frames after which the duration is reached (`u64::MAX`: no limit).
    pub(crate) limit_frames: u64,
    pub(crate) frames: u64,
    /// Set by the player when stopping, and by this sink when the duration is reached.
    pub(crate) stopping: Arc<AtomicBool>,
    pub(crate) on_limit: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for MeteredSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredSink")
            .field("frames", &self.frames)
            .finish()
    }
}

fn pdt_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl Sink for MeteredSink {
    fn write(&mut self, block: &PcmBlock) -> aulos_decode::Result<()> {
        if self.stopping.load(Relaxed) {
            return Ok(());
        }
        let now = Instant::now();
        let shared = &self.shared;
        shared.mark_once(&shared.first_pcm_us);
        if let Some(pdt) = block.program_date_time {
            let latency = SystemTime::now()
                .duration_since(pdt)
                .unwrap_or(Duration::ZERO);
            shared
                .latency_us
                .store((latency.as_micros() as u64).max(1), Relaxed);
            shared.histogram.lock().record(latency);
        }
        // Audio queued ahead of this block: what plays now is `pdt - ahead`.
        let ahead = self.inner.buffered().max(self.clock.buffered(now));
        self.inner.write(block)?;
        self.clock.push(now, block.duration());
        if self.pace {
            // Like a device with one block of buffer: return when this block starts playing.
            let wait = self
                .clock
                .buffered(Instant::now())
                .saturating_sub(block.duration());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        let (stalls, stalled) = self.clock.stalls();
        shared.stalls.store(stalls, Relaxed);
        shared.stalled_us.store(stalled.as_micros() as u64, Relaxed);
        self.frames += block.frames() as u64;
        shared.frames.store(self.frames, Relaxed);
        // Buffer: from the playhead to the end of what the client has handed over.
        let buffer = match (block.program_date_time, shared.fed_end_pdt_us.load(Relaxed)) {
            (Some(pdt), fed_end) if fed_end != 0 => {
                let playing = pdt_us(pdt).saturating_sub(ahead.as_micros() as u64);
                Duration::from_micros(fed_end.saturating_sub(playing))
            }
            _ => self.clock.buffered(now),
        };
        shared.buffer_us.store(buffer.as_micros() as u64, Relaxed);
        shared.rate_feed.set_buffer(buffer);
        shared.rate_feed.set_stalled(self.clock.cushion());
        if self.report_buffer {
            self.driver.set_buffer(buffer);
        }
        if self.frames >= self.limit_frames && !self.stopping.swap(true, Relaxed) {
            self.on_limit.notify_one();
        }
        Ok(())
    }

    /// Reported as zero on purpose: `run_sink` subtracts this from the block's PDT before
    /// the latency controller sees it, and the player controls the same quantity it reports,
    /// the latency of audio *leaving the decoder*. Audio queued in the sink (at most the
    /// speaker's 250 ms ring, or one block in the null sink) comes on top, bounded and
    /// uncontrolled. Counting it made the controller chase a target the join position
    /// (PART-HOLD-BACK + one part) can never meet and drain the buffer into stalls.
    fn buffered(&self) -> Duration {
        Duration::ZERO
    }

    fn finish(&mut self) -> aulos_decode::Result<()> {
        self.inner.finish()
    }
}
