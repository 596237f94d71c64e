//! Errors of the packager (configuration and format description).

/// What went wrong when building a [`crate::Packager`] or packaging an access unit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`crate::PackagerConfig`] field is out of range.
    #[error("invalid packager config: {0}")]
    InvalidConfig(&'static str),
    /// The [`crate::AudioFormat`] is not usable (zero rate, zero channels, ...).
    #[error("invalid audio format: {0}")]
    InvalidFormat(&'static str),
    /// The AAC AudioSpecificConfig could not be parsed.
    #[error("invalid AAC AudioSpecificConfig: {0}")]
    InvalidAsc(&'static str),
    /// The FLAC STREAMINFO block is not 34 bytes or is inconsistent.
    #[error("invalid FLAC STREAMINFO: {0}")]
    InvalidStreamInfo(&'static str),
    /// The part target is shorter than one codec frame, so no part could hold a whole frame.
    #[error(
        "part target {part_target_us} us is shorter than one frame ({frame_samples} samples at {sample_rate} Hz)"
    )]
    PartTargetTooShort {
        /// The configured part target in microseconds.
        part_target_us: u128,
        /// Samples per codec frame.
        frame_samples: u32,
        /// Sample rate in Hz.
        sample_rate: u32,
    },
    /// An access unit was rejected (empty, zero samples, or too large for a `trun` entry).
    #[error("invalid access unit: {0}")]
    InvalidAccessUnit(&'static str),
    /// mp4-atom refused to encode a box (a bug in the field values we built).
    #[error("box encoding failed: {0}")]
    Encode(#[from] mp4_atom::Error),
}
