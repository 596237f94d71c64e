//! The crate's error type.

/// Everything that can go wrong in the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A bandwidth trace could not be read.
    #[error("bad trace: {0}")]
    Trace(String),
    /// A URL could not be parsed or resolved.
    #[error("bad URL {url:?}: {reason}")]
    Url {
        /// The offending text.
        url: String,
        /// Why.
        reason: String,
    },
    /// Only http and https are supported (C-GEN-02).
    #[error("unsupported URL scheme {0:?}")]
    UnsupportedScheme(String),
    /// A playlist was rejected by the parser (C-GEN-01).
    #[error("bad playlist: {0}")]
    Playlist(String),
    /// A segment is encrypted with a method we do not implement (C-KEY-01).
    #[error("unsupported encryption method {0:?}")]
    UnsupportedKey(String),
    /// The same MSN changed URI between reloads (C-RELOAD-03).
    #[error("playlist rewrote media sequence {msn}: {old:?} became {new:?}")]
    InconsistentPlaylist {
        /// The MSN.
        msn: u64,
        /// URI before.
        old: String,
        /// URI after.
        new: String,
    },
    /// The multivariant playlist lists no variant we can play.
    #[error("no playable rendition")]
    NoRenditions,
    /// Every variant's playlist kept failing.
    #[error("all playlists failed (last status {status:?})")]
    PlaylistsUnavailable {
        /// Last HTTP status, if any.
        status: Option<u16>,
    },
    /// The driver's HTTP client failed to build or run.
    #[error("http: {0}")]
    Http(String),
    /// The chunk cache refused a chunk.
    #[error("ring: {0}")]
    Ring(String),
}
