//! Registry configuration, validated once at construction.

use std::time::Duration;

use crate::Error;

/// Limits and timing of a [`Registry`](crate::Registry).
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Most live streams at once; `create_stream` fails beyond it.
    pub max_streams: usize,
    /// Most renditions per stream.
    pub max_renditions: usize,
    /// Segments each rendition keeps in the chunk ring. Together with
    /// `parts_per_segment` this bounds the ring's memory: the ring is pre-sized for
    /// `max_streams × max_renditions` ring streams of this many slots. A stream is
    /// refused when its playlist window plus 3 target durations (P-PART-08, S-GEN-06:
    /// media outlives its playlist entry) does not fit.
    pub ring_segments: usize,
    /// Most parts a segment may have (ring slots per segment).
    pub parts_per_segment: usize,
    /// Most bytes one part may have (ingest guard; the ring stores `Bytes` as given).
    pub max_part_bytes: usize,
    /// A stream with no publish for this long is ended and, after
    /// `retain_after_end`, removed.
    pub idle_timeout: Duration,
    /// How long an ended stream stays listed (its playlists and media stay
    /// available; checklist S-GEN-08 / P-PART-08).
    pub retain_after_end: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_streams: 64,
            max_renditions: 8,
            ring_segments: 32,
            parts_per_segment: 16,
            max_part_bytes: 1 << 20,
            idle_timeout: Duration::from_secs(10),
            retain_after_end: Duration::from_secs(60),
        }
    }
}

impl RegistryConfig {
    /// Checks every limit; returns the first violation.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: &'static str| Err(Error::Config(what));
        if self.max_streams == 0 {
            return bad("max_streams must be at least 1");
        }
        if self.max_renditions == 0 {
            return bad("max_renditions must be at least 1");
        }
        if self.parts_per_segment == 0 {
            return bad("parts_per_segment must be at least 1");
        }
        if self.ring_segments < 4 {
            return bad("ring_segments must be at least 4");
        }
        if self.max_part_bytes == 0 {
            return bad("max_part_bytes must be at least 1");
        }
        if self.idle_timeout.is_zero() {
            return bad("idle_timeout must be positive");
        }
        self.max_streams
            .checked_mul(self.max_renditions)
            .and_then(|n| n.checked_mul(self.ring_segments))
            .and_then(|n| n.checked_mul(self.parts_per_segment))
            .filter(|&slots| slots <= 1 << 28)
            .map(|_| ())
            .ok_or(Error::Config(
                "ring size overflows (streams × renditions × slots)",
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        RegistryConfig::default().validate().unwrap();
    }

    #[test]
    fn rejects_zero_and_overflow() {
        for f in [
            |c: &mut RegistryConfig| c.max_streams = 0,
            |c: &mut RegistryConfig| c.max_renditions = 0,
            |c: &mut RegistryConfig| c.parts_per_segment = 0,
            |c: &mut RegistryConfig| c.ring_segments = 3,
            |c: &mut RegistryConfig| c.max_part_bytes = 0,
            |c: &mut RegistryConfig| c.idle_timeout = Duration::ZERO,
            |c: &mut RegistryConfig| c.max_streams = usize::MAX,
        ] {
            let mut c = RegistryConfig::default();
            f(&mut c);
            assert!(matches!(c.validate(), Err(Error::Config(_))), "{c:?}");
        }
    }
}
