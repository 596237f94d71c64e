//! What to play into and how: [`PlayerConfig`].

use std::path::PathBuf;
use std::time::Duration;

use aulos_client::DriverConfig;
use aulos_decode::PipelineConfig;

use crate::error::{Error, Result};

/// Where the decoded audio goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SinkChoice {
    /// The default output device. Without one (headless machine) the player logs why and
    /// falls back to [`SinkChoice::Null`]; [`crate::Report::sink`] says what was used.
    #[default]
    Speaker,
    /// A 32-bit float WAV file at the pipeline's rate (48 kHz stereo by default). Written as
    /// fast as audio arrives (live streams arrive in real time anyway).
    Wav(PathBuf),
    /// Discard the audio at real-time pace (a sound card stand-in: the latency controller
    /// and the stall meter see the same timing as with a device).
    Null,
}

/// The sink actually used (after a possible fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// The default output device.
    Speaker,
    /// This WAV file.
    Wav(PathBuf),
    /// The paced null sink.
    Null,
}

impl std::fmt::Display for SinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkKind::Speaker => f.write_str("speaker"),
            SinkKind::Wav(p) => write!(f, "wav:{}", p.display()),
            SinkKind::Null => f.write_str("null"),
        }
    }
}

/// Player settings. `Default`: speaker (null fallback), latency target from the stream,
/// play until the stream ends.
#[derive(Debug, Clone)]
pub struct PlayerConfig {
    /// Where the audio goes.
    pub sink: SinkChoice,
    /// Wanted live latency: wall clock minus program-date-time of the audio leaving the
    /// decoder (the latency [`crate::Status`] reports; the sink's own bounded queue comes on
    /// top). Above it the decoder plays up to 5 % faster; 2 s above it the client jumps to
    /// the live edge. (Slower playback is a separate matter: [`PlayerConfig::slow_down`].)
    ///
    /// `None`: the stream's own hold-back plus half a part — PART-HOLD-BACK in low-latency
    /// mode, HOLD-BACK (default 3 segments) otherwise, as the client reports it with each
    /// chunk ([`aulos_client::Delivered::hold_back`]) — since the part being produced at the
    /// live edge is on average half made. The client joins a whole part further back (parts
    /// start on part boundaries); the controller then closes the gap by playing up to 5 %
    /// faster (full speed at two parts of error), with a deadband of a quarter part
    /// (20–100 ms). The part/segment length is that of the first chunk received. Without a
    /// hold-back: 0.6 s plus one part for parts, 4 chunks for segments.
    pub target_latency: Option<Duration>,
    /// Stop after this much audio has been output (`None`: until the stream ends or
    /// [`crate::Player::stop`]).
    pub duration: Option<Duration>,
    /// Tell the client how much audio is buffered ([`aulos_client::Driver::set_buffer`]).
    ///
    /// Default **on**: the client's ABR weighs the buffer, and with audio to spare above
    /// PART-HOLD-BACK + one part the client blocks its playlist reloads a few parts
    /// further ahead (fewer reloads). Until issue #6 that lookahead fed on its own
    /// deferral and delivered parts in bursts that stalled playback, so this was off;
    /// docs/performance.md has the before/after figures.
    pub report_buffer: bool,
    /// Play up to 5 % slower (never below 0.95×): in proportion when less than two
    /// parts (chunks) are buffered, and to gain the extra latency the client asks for
    /// ([`aulos_client::Delivered::target_latency`] above the hold-back: on a link too
    /// thin for one playlist reload per part, reloads then block several parts ahead).
    /// Each stall also raises the target by its length, and by at least two parts
    /// ([`aulos_client::stall_cushion`], at most 15 parts in all), so catching up does
    /// not run into the next one. Default **on**; off: never slower than real time.
    pub slow_down: bool,
    /// How often [`crate::Player::status`] is refreshed. Default 1 s.
    pub status_interval: Duration,
    /// Client settings (ABR, timeouts...). The player lowers the default channel capacity
    /// to [`PlayerConfig::DRIVER_CHANNEL`] chunks so a jump to live does not leave seconds
    /// of old audio queued.
    pub driver: DriverConfig,
    /// Decoder settings (output rate and channels, queue sizes).
    pub pipeline: PipelineConfig,
}

impl PlayerConfig {
    /// Chunks queued between the client and the decoder by default.
    pub const DRIVER_CHANNEL: usize = 4;

    /// Segments the client's ring keeps per stream in the player (the client's own
    /// default is 16). Nothing in the player reads a chunk back from the ring once the
    /// decoder has it, and every chunk kept pins the HTTP read buffer it was received
    /// in (zero-copy: the part is a slice of it), ~6 KiB each: 16 segments of 1 s
    /// held ~0.5 MiB of the player's 12 MB RSS budget for nothing. Three keep the
    /// segment playing, the one before it and the one arriving.
    pub const RING_SEGMENTS: usize = 3;

    /// Checks the values; called by [`crate::Player::start`].
    pub fn validate(&self) -> Result<()> {
        self.driver.validate()?;
        self.pipeline.validate()?;
        if self.status_interval < Duration::from_millis(10) {
            return Err(Error::Config(
                "status_interval must be at least 10 ms".into(),
            ));
        }
        if self.target_latency.is_some_and(|t| t.is_zero()) {
            return Err(Error::Config("target_latency must be positive".into()));
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return Err(Error::Config("duration must be positive".into()));
        }
        if let SinkChoice::Wav(p) = &self.sink
            && p.as_os_str().is_empty()
        {
            return Err(Error::Config("WAV path is empty".into()));
        }
        Ok(())
    }
}

impl Default for PlayerConfig {
    fn default() -> Self {
        Self {
            sink: SinkChoice::default(),
            target_latency: None,
            duration: None,
            report_buffer: true,
            slow_down: true,
            status_interval: Duration::from_secs(1),
            driver: {
                let mut d = DriverConfig {
                    channel_capacity: Self::DRIVER_CHANNEL,
                    ..DriverConfig::default()
                };
                d.ring.segments_per_stream = Self::RING_SEGMENTS;
                d
            },
            pipeline: PipelineConfig::default(),
        }
    }
}

/// What the player learns from the first chunk: its length, whether it is a part, and the
/// stream's hold-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FirstChunk {
    pub(crate) duration: Duration,
    pub(crate) is_part: bool,
    pub(crate) hold_back: Option<Duration>,
}

impl FirstChunk {
    /// The latency target when none is configured: see [`PlayerConfig::target_latency`].
    pub(crate) fn default_target(&self) -> Duration {
        match self.hold_back {
            Some(h) => h + self.duration / 2,
            None if self.is_part => Duration::from_millis(600) + self.duration,
            None => self.duration * 4,
        }
    }

    /// Latency error tolerated before catching up: a quarter chunk, within 20–100 ms.
    pub(crate) fn deadband(&self) -> Duration {
        (self.duration / 4).clamp(Duration::from_millis(20), Duration::from_millis(100))
    }

    /// Error at which catching up reaches the full 5 %: two chunks (at most 1 s), so the
    /// half part left by the join closes in seconds rather than tens of seconds.
    pub(crate) fn full_speed_error(&self) -> Duration {
        (self.duration * 2).clamp(self.deadband() * 2, Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_validates_and_bad_values_do_not() {
        assert!(PlayerConfig::default().validate().is_ok());
        let bad = [
            PlayerConfig {
                target_latency: Some(Duration::ZERO),
                ..PlayerConfig::default()
            },
            PlayerConfig {
                duration: Some(Duration::ZERO),
                ..PlayerConfig::default()
            },
            PlayerConfig {
                sink: SinkChoice::Wav(PathBuf::new()),
                ..PlayerConfig::default()
            },
            PlayerConfig {
                status_interval: Duration::ZERO,
                ..PlayerConfig::default()
            },
        ];
        for cfg in bad {
            assert!(
                matches!(cfg.validate(), Err(Error::Config(_))),
                "{cfg:?} accepted"
            );
        }
        let mut cfg = PlayerConfig::default();
        cfg.pipeline.out_channels = 3;
        assert!(matches!(cfg.validate(), Err(Error::Decode(_))));
    }

    #[test]
    fn default_target_follows_the_hold_back_or_the_chunk() {
        let part = |hold_back| FirstChunk {
            duration: Duration::from_millis(192),
            is_part: true,
            hold_back,
        };
        // PART-HOLD-BACK + half a part (issue #7).
        let p = part(Some(Duration::from_millis(600)));
        assert_eq!(p.default_target(), Duration::from_millis(696));
        assert_eq!(p.deadband(), Duration::from_millis(48));
        assert_eq!(p.full_speed_error(), Duration::from_millis(384));
        let p = FirstChunk {
            duration: Duration::from_millis(96),
            ..part(Some(Duration::from_millis(300)))
        };
        assert_eq!(p.default_target(), Duration::from_millis(348));
        assert_eq!(p.deadband(), Duration::from_millis(24));
        // No hold-back known: the old fallbacks.
        assert_eq!(part(None).default_target(), Duration::from_millis(792));
        let seg = FirstChunk {
            duration: Duration::from_secs(2),
            is_part: false,
            hold_back: None,
        };
        assert_eq!(seg.default_target(), Duration::from_secs(8));
        assert_eq!(seg.deadband(), Duration::from_millis(100));
        assert_eq!(seg.full_speed_error(), Duration::from_secs(1));
        // Plain live: HOLD-BACK (6 s) + half a segment.
        let seg = FirstChunk {
            hold_back: Some(Duration::from_secs(6)),
            ..seg
        };
        assert_eq!(seg.default_target(), Duration::from_secs(7));
    }
}
