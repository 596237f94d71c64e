//! The crate's error type.

/// What can stop a [`crate::Player`] from starting or finishing cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused (see [`crate::PlayerConfig::validate`]).
    #[error("invalid player configuration: {0}")]
    Config(String),
    /// The LL-HLS client could not start or failed (bad URL, HTTP errors, bad playlist).
    #[error("client: {0}")]
    Client(#[from] aulos_client::Error),
    /// The decoder or the sink failed (WAV file not writable, pipeline setup...).
    #[error("decode: {0}")]
    Decode(#[from] aulos_decode::Error),
    /// A player thread or task died unexpectedly.
    #[error("player internals: {0}")]
    Internal(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
