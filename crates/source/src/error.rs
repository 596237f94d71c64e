//! Errors of the source crate.

/// What went wrong in an encoder, the ladder or the transcoder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// fdk-aac refused a parameter or failed to encode.
    #[error("AAC encoder: {0}")]
    Encoder(String),
    /// The packager rejected the format or configuration.
    #[error(transparent)]
    Packager(#[from] aulos_packager::Error),
    /// Symphonia could not create a decoder or decode a packet.
    #[error("decoder: {0}")]
    Decoder(String),
    /// Rubato could not be built or failed.
    #[error("resampler: {0}")]
    Resampler(String),
}
