//! Ring configuration.

use crate::{ChunkKey, Error};

/// The ring's shape: `streams × segments_per_stream × parts_per_segment` slots, all
/// allocated up front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Streams the ring can hold at once.
    pub streams: usize,
    /// Segments each stream keeps (the window: older ones are overwritten).
    pub segments_per_stream: usize,
    /// Slots per segment: the most parts a segment may have.
    pub parts_per_segment: usize,
}

impl Default for Config {
    /// 16 streams × 16 segments × 16 parts: 4,096 slots (512 kB of slot state,
    /// 128 bytes a slot); with 1 s segments of 200 ms parts, 16 s of media per stream.
    fn default() -> Self {
        Self {
            streams: 16,
            segments_per_stream: 16,
            parts_per_segment: 16,
        }
    }
}

impl Config {
    /// Most slots one ring may have (2^26: 8.6 GB of slot state).
    pub const MAX_SLOTS: usize = 1 << 26;

    /// Checks the shape; sizes must be non-zero and the slot count bounded.
    pub fn validate(&self) -> Result<(), Error> {
        if self.streams == 0 {
            return Err(Error::Config("streams must be at least 1"));
        }
        if self.segments_per_stream < 2 {
            return Err(Error::Config("segments_per_stream must be at least 2"));
        }
        if self.parts_per_segment == 0 {
            return Err(Error::Config("parts_per_segment must be at least 1"));
        }
        if self.parts_per_segment > ChunkKey::MAX_PART as usize + 1 {
            return Err(Error::Config("parts_per_segment exceeds 2^24"));
        }
        if self.streams > u32::MAX as usize {
            return Err(Error::Config("streams exceeds u32::MAX"));
        }
        self.total_slots()
            .filter(|&n| n <= Self::MAX_SLOTS)
            .map(|_| ())
            .ok_or(Error::Config(
                "streams × segments × parts exceeds 2^26 slots",
            ))
    }

    /// Slots per stream (`segments_per_stream × parts_per_segment`), if it fits.
    pub fn slots_per_stream(&self) -> Option<usize> {
        self.segments_per_stream.checked_mul(self.parts_per_segment)
    }

    fn total_slots(&self) -> Option<usize> {
        self.slots_per_stream()?.checked_mul(self.streams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_validates() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn zero_sizes_and_overflow_are_errors() {
        let base = Config::default();
        for c in [
            Config { streams: 0, ..base },
            Config {
                segments_per_stream: 0,
                ..base
            },
            Config {
                segments_per_stream: 1,
                ..base
            },
            Config {
                parts_per_segment: 0,
                ..base
            },
            Config {
                parts_per_segment: 1 << 25,
                ..base
            },
            Config {
                streams: usize::MAX,
                segments_per_stream: usize::MAX,
                parts_per_segment: 2,
            },
            Config {
                streams: 1 << 20,
                segments_per_stream: 1 << 10,
                parts_per_segment: 1 << 10,
            },
        ] {
            assert!(matches!(c.validate(), Err(Error::Config(_))), "{c:?}");
        }
    }
}
