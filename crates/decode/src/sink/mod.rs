//! Where PCM goes: a file, nowhere, or the speakers.

mod null;
#[cfg(feature = "speaker")]
mod speaker;
mod wav;

use std::time::Duration;

pub use null::NullSink;
#[cfg(feature = "speaker")]
pub use speaker::SpeakerSink;
pub use wav::WavSink;

use crate::chunk::PcmBlock;
use crate::error::Result;

/// A consumer of decoded audio. Not required to be `Send` (audio devices often are not).
pub trait Sink {
    /// Writes one block; may block to pace or to wait for buffer space (back-pressure).
    fn write(&mut self, block: &PcmBlock) -> Result<()>;

    /// Audio accepted but not yet audible (device buffer); used for latency measurement.
    fn buffered(&self) -> Duration {
        Duration::ZERO
    }

    /// Flushes and closes (end of stream).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
