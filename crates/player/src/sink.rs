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

/// Opens `choice`; a missing speaker falls back to the paced null sink, with the reason.
pub(crate) fn open(
    choice: &SinkChoice,
    rate: u32,
    channels: u16,
    shared: &Shared,
) -> Result<(Box<dyn Sink>, SinkKind, Option<String>)> {
    match choice {
        SinkChoice::Null => Ok((Box::new(NullSink::paced()), SinkKind::Null, None)),
        SinkChoice::Wav(path) => Ok((
            Box::new(WavSink::create(path, rate, channels)?),
            SinkKind::Wav(path.clone()),
            None,
        )),
        SinkChoice::Speaker => open_speaker(rate, channels, shared),
    }
}

#[cfg(feature = "speaker")]
fn open_speaker(
    rate: u32,
    channels: u16,
    shared: &Shared,
) -> Result<(Box<dyn Sink>, SinkKind, Option<String>)> {
    // 250 ms of device ring: enough to ride out scheduling hiccups, small next to the
    // latency target.
    match aulos_decode::SpeakerSink::open(rate, channels, Duration::from_millis(250)) {
        Ok(s) => {
            *shared.underruns.lock() = Some(s.underruns().clone());
            Ok((Box::new(s), SinkKind::Speaker, None))
        }
        Err(e) => {
            let why = e.to_string();
            tracing::warn!(reason = %why, "no audio output device: playing into the null sink");
            Ok((Box::new(NullSink::paced()), SinkKind::Null, Some(why)))
        }
    }
}

#[cfg(not(feature = "speaker"))]
fn open_speaker(
    _rate: u32,
    _channels: u16,
    _shared: &Shared,
) -> Result<(Box<dyn Sink>, SinkKind, Option<String>)> {
    let why = "aulos-player was built without the `speaker` feature".to_string();
    tracing::warn!(reason = %why, "no audio output device: playing into the null sink");
    Ok((Box::new(NullSink::paced()), SinkKind::Null, Some(why)))
}

/// Wraps the real sink: measures every block leaving the decoder (latency, stalls, buffer,
/// first PCM), tells the client its buffer level, stops after the configured duration, and
/// discards audio once the player is stopping so the pipeline drains at once.
pub(crate) struct MeteredSink {
    pub(crate) inner: Box<dyn Sink>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) driver: Arc<Driver>,
    pub(crate) clock: PlayoutClock,
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
        self.inner.write(block)?;
        self.clock.push(now, block.duration());
        let (stalls, stalled) = self.clock.stalls();
        shared.stalls.store(stalls, Relaxed);
        shared.stalled_us.store(stalled.as_micros() as u64, Relaxed);
        self.frames += block.frames() as u64;
        shared.frames.store(self.frames, Relaxed);
        // Buffer: from the playhead to the end of what the client has handed over.
        let queued = self.buffered();
        let buffer = match (block.program_date_time, shared.fed_end_pdt_us.load(Relaxed)) {
            (Some(pdt), fed_end) if fed_end != 0 => {
                let playing = pdt_us(pdt).saturating_sub(queued.as_micros() as u64);
                Duration::from_micros(fed_end.saturating_sub(playing))
            }
            _ => queued,
        };
        shared.buffer_us.store(buffer.as_micros() as u64, Relaxed);
        self.driver.set_buffer(buffer);
        if self.frames >= self.limit_frames && !self.stopping.swap(true, Relaxed) {
            self.on_limit.notify_one();
        }
        Ok(())
    }

    fn buffered(&self) -> Duration {
        self.inner
            .buffered()
            .max(self.clock.buffered(Instant::now()))
    }

    fn finish(&mut self) -> aulos_decode::Result<()> {
        self.inner.finish()
    }
}
