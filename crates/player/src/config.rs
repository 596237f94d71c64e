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
    /// the live edge.
    ///
    /// `None`: 0.6 s plus one part for low-latency streams (0.6 s is the PART-HOLD-BACK of
    /// Aulos' 200 ms-part origin; `aulos-client` does not expose the playlist's own value,
    /// so the player does not read it), or HOLD-BACK's default of 3 segments plus one
    /// segment when the stream has no parts. The part/segment length is that of the first
    /// chunk received.
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
            status_interval: Duration::from_secs(1),
            driver: DriverConfig {
                channel_capacity: Self::DRIVER_CHANNEL,
                ..DriverConfig::default()
            },
            pipeline: PipelineConfig::default(),
        }
    }
}

/// The latency target when none is configured: see [`PlayerConfig::target_latency`].
pub(crate) fn default_target(first_chunk: Duration, is_part: bool) -> Duration {
    if is_part {
        Duration::from_millis(600) + first_chunk
    } else {
        first_chunk * 4
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
    fn default_target_follows_part_or_segment() {
        assert_eq!(
            default_target(Duration::from_millis(192), true),
            Duration::from_millis(792)
        );
        assert_eq!(
            default_target(Duration::from_secs(2), false),
            Duration::from_secs(8)
        );
    }
}
