//! A sink that discards audio, optionally at real-time pace (a stand-in for a sound card).

use std::time::{Duration, Instant};

use crate::chunk::PcmBlock;
use crate::error::Result;
use crate::sink::Sink;

/// Discards audio; counts it. Paced mode sleeps so output advances at real time.
#[derive(Debug)]
pub struct NullSink {
    paced: bool,
    /// Multiplier on the pacing speed (2.0 = twice real time); tests use it to slow down.
    speed: f64,
    start: Option<Instant>,
    played: Duration,
    blocks: u64,
    frames: u64,
}

impl NullSink {
    /// Accepts audio as fast as it comes.
    pub fn unpaced() -> Self {
        Self {
            paced: false,
            speed: 1.0,
            start: None,
            played: Duration::ZERO,
            blocks: 0,
            frames: 0,
        }
    }

    /// Accepts audio at real time, like a device with no buffer.
    pub fn paced() -> Self {
        Self {
            paced: true,
            ..Self::unpaced()
        }
    }

    /// Accepts audio at `speed` × real time (`speed` > 0).
    pub fn paced_at(speed: f64) -> Self {
        Self {
            paced: true,
            speed: speed.max(1e-3),
            ..Self::unpaced()
        }
    }

    /// Blocks written.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl Sink for NullSink {
    fn write(&mut self, block: &PcmBlock) -> Result<()> {
        self.blocks += 1;
        self.frames += block.frames() as u64;
        if self.paced {
            let start = *self.start.get_or_insert_with(Instant::now);
            let due = start + self.played.div_f64(self.speed);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            self.played += block.duration();
        }
        Ok(())
    }

    fn buffered(&self) -> Duration {
        match self.start {
            Some(start) if self.paced => {
                let elapsed = start.elapsed().mul_f64(self.speed);
                self.played.saturating_sub(elapsed)
            }
            _ => Duration::ZERO,
        }
    }
}
