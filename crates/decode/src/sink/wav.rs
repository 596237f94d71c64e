//! WAV file output (32-bit float) with hound.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::chunk::PcmBlock;
use crate::error::{Error, Result};
use crate::sink::Sink;

/// Writes every block to a 32-bit float WAV file; all blocks must share rate and channels.
pub struct WavSink {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    rate: u32,
    channels: u16,
    frames: u64,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .finish()
    }
}

impl WavSink {
    /// Creates (truncates) `path` for audio at `rate` Hz with `channels` channels.
    pub fn create(path: impl AsRef<Path>, rate: u32, channels: u16) -> Result<Self> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let writer = hound::WavWriter::create(path, spec)?;
        Ok(Self {
            writer: Some(writer),
            rate,
            channels,
            frames: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl Sink for WavSink {
    fn write(&mut self, block: &PcmBlock) -> Result<()> {
        if block.rate != self.rate || block.channels != self.channels {
            return Err(Error::Config(format!(
                "WAV sink is {} Hz x{}, block is {} Hz x{}",
                self.rate, self.channels, block.rate, block.channels
            )));
        }
        let w = self.writer.as_mut().ok_or(Error::Closed)?;
        for &s in &block.samples {
            w.write_sample(s)?;
        }
        self.frames += block.frames() as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.finalize()?;
        }
        Ok(())
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
