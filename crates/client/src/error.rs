//! The crate's error type.

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A bandwidth trace could not be read.
    #[error("bad trace: {0}")]
    Trace(String),
}
