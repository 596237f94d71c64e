//! Speaker output through rodio/cpal, fed by a lock-free rtrb ring.
//!
//! The audio callback pulls from the ring and never blocks or allocates; when the ring is empty
//! it plays silence and counts an underrun. The writer side waits (sleeps) for space instead,
//! which is where back-pressure reaches the pipeline.

use std::num::NonZero;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rodio::Source;

use crate::chunk::PcmBlock;
use crate::error::{Error, Result};
use crate::sink::Sink;

/// rodio `Source` reading the ring; silence + underrun count when empty.
struct RingSource {
    consumer: rtrb::Consumer<f32>,
    channels: rodio::ChannelCount,
    rate: rodio::SampleRate,
    underruns: Arc<AtomicU64>,
    starved: bool,
    started: bool,
}

impl Iterator for RingSource {
    type Item = rodio::Sample;
    fn next(&mut self) -> Option<Self::Item> {
        match self.consumer.pop() {
            Ok(s) => {
                self.starved = false;
                self.started = true;
                Some(s)
            }
            Err(_) => {
                // Count each starvation episode once, and not the wait before the first audio.
                if self.started && !self.starved {
                    self.underruns.fetch_add(1, Relaxed);
                }
                self.starved = true;
                Some(0.0)
            }
        }
    }
}

impl Source for RingSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }
    fn channels(&self) -> rodio::ChannelCount {
        self.channels
    }
    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }
    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

/// Plays blocks on the default output device.
pub struct SpeakerSink {
    _device: rodio::MixerDeviceSink,
    producer: rtrb::Producer<f32>,
    capacity: usize,
    rate: u32,
    channels: u16,
    underruns: Arc<AtomicU64>,
}

impl std::fmt::Debug for SpeakerSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerSink")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .finish()
    }
}

impl SpeakerSink {
    /// Opens the default device for `rate` Hz × `channels` with a ring of `buffer` audio.
    ///
    /// Errors with [`Error::NoAudioDevice`] on machines without sound output, so callers can
    /// fall back to [`crate::WavSink`] or [`crate::NullSink`].
    pub fn open(rate: u32, channels: u16, buffer: Duration) -> Result<Self> {
        let nz_rate = NonZero::new(rate).ok_or_else(|| Error::Config("rate 0".into()))?;
        let nz_ch = NonZero::new(channels).ok_or_else(|| Error::Config("0 channels".into()))?;
        let device = rodio::DeviceSinkBuilder::from_default_device()
            .and_then(|b| {
                b.with_sample_rate(nz_rate)
                    .with_channels(nz_ch)
                    .open_stream()
            })
            .or_else(|_| rodio::DeviceSinkBuilder::open_default_sink())
            .map_err(|e| Error::NoAudioDevice(e.to_string()))?;
        let capacity =
            ((buffer.as_secs_f64() * f64::from(rate)) as usize).max(256) * usize::from(channels);
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        let underruns = Arc::new(AtomicU64::new(0));
        device.mixer().add(RingSource {
            consumer,
            channels: nz_ch,
            rate: nz_rate,
            underruns: underruns.clone(),
            starved: false,
            started: false,
        });
        Ok(Self {
            _device: device,
            producer,
            capacity,
            rate,
            channels,
            underruns,
        })
    }

    /// Underrun episodes so far (shared with the audio callback).
    pub fn underruns(&self) -> &Arc<AtomicU64> {
        &self.underruns
    }
}

impl Sink for SpeakerSink {
    fn write(&mut self, block: &PcmBlock) -> Result<()> {
        if block.rate != self.rate || block.channels != self.channels {
            return Err(Error::Config(
                "block format differs from the opened device".into(),
            ));
        }
        let mut rest = &block.samples[..];
        while !rest.is_empty() {
            let n = self.producer.slots().min(rest.len());
            if n == 0 {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            if let Ok(chunk) = self.producer.write_chunk_uninit(n) {
                let written = chunk.fill_from_iter(rest[..n].iter().copied());
                rest = &rest[written..];
            }
        }
        Ok(())
    }

    fn buffered(&self) -> Duration {
        let queued = (self.capacity - self.producer.slots()) / usize::from(self.channels);
        Duration::from_secs_f64(queued as f64 / f64::from(self.rate))
    }
}
