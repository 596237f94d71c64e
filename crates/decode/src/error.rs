//! The crate's error type.

/// Everything that can go wrong while demuxing, decoding, resampling or writing audio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container could not be recognised from the hint or the bytes.
    #[error("unrecognised container (first bytes {first_bytes:02x?})")]
    UnknownContainer {
        /// Up to 8 leading bytes of the chunk.
        first_bytes: Vec<u8>,
    },
    /// The bytes are not valid for the container.
    #[error("{container} demux error: {reason}")]
    Demux {
        /// Which demuxer failed ("fmp4", "mpegts", "packed").
        container: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// An fMP4 fragment arrived before any init section.
    #[error("fMP4 media without an init section")]
    MissingInit,
    /// The stream's codec is not one this crate decodes (AAC-LC, MP3/MP2, FLAC, Opus).
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// Symphonia rejected a packet or the codec configuration.
    #[error("decode error: {0}")]
    Decode(#[from] symphonia::core::errors::Error),
    /// The Opus decoder rejected a packet or the configuration.
    #[error("Opus decode error: {0}")]
    Opus(String),
    /// Rubato could not be built or failed.
    #[error("resampler error: {0}")]
    Resample(String),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No audio output device (headless machine, no ALSA/Pulse server...).
    #[error("no audio output device: {0}")]
    NoAudioDevice(String),
    /// Writing a WAV file failed.
    #[error("wav error: {0}")]
    Wav(#[from] hound::Error),
    /// The other end of a pipeline channel is gone.
    #[error("pipeline channel closed")]
    Closed,
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn demux(container: &'static str, reason: impl Into<String>) -> Self {
        Error::Demux {
            container,
            reason: reason.into(),
        }
    }
}
