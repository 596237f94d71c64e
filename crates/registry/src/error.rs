//! The registry's error type.

/// What went wrong in a registry call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid registry configuration: {0}")]
    Config(&'static str),
    /// A stream key is too short, too long or has unsafe characters.
    #[error("invalid stream key: 8..=256 characters of [A-Za-z0-9-_.~]")]
    InvalidKey,
    /// A stream or rendition name is empty, too long or not URL-path safe.
    #[error("invalid name {0:?}: 1..=64 characters of [A-Za-z0-9-_.]")]
    InvalidName(String),
    /// `max_streams` streams already exist.
    #[error("stream limit reached ({0} streams)")]
    TooManyStreams(usize),
    /// More renditions than `max_renditions`, or none.
    #[error("a stream needs 1..={0} renditions")]
    RenditionCount(usize),
    /// Two renditions share a name.
    #[error("duplicate rendition name {0:?}")]
    DuplicateRendition(String),
    /// A stream of that name is already live.
    #[error("stream {0:?} already exists")]
    StreamExists(String),
    /// No stream of that name.
    #[error("no stream {0:?}")]
    NoStream(String),
    /// No rendition of that name in the stream.
    #[error("no rendition {0:?}")]
    NoRendition(String),
    /// The stream has ended (EXT-X-ENDLIST); publishing needs a restart.
    #[error("stream has ended")]
    Ended,
    /// A part is larger than `max_part_bytes`.
    #[error("part of {size} bytes exceeds the {max} byte limit")]
    PartTooLarge {
        /// The part's size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// The playlist builder refused the part (e.g. longer than PART-TARGET).
    #[error("playlist rejected the part: {0}")]
    Playlist(String),
    /// The chunk ring refused the part.
    #[error("chunk ring: {0}")]
    Ring(String),
}

/// Why a blocking playlist request was not answered with a playlist.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum BlockingError {
    /// `_HLS_msn` more than two segments ahead, or `_HLS_part` beyond the Advance Part
    /// Limit: answer 400 at once (checklist S-BLK-06).
    #[error("requested media sequence is too far ahead of the live edge")]
    TooFarAhead,
    /// The playlist did not reach the requested part in time: answer 503 (S-BLK-08).
    #[error("timed out waiting for the requested part")]
    Timeout,
    /// The stream or rendition does not exist (any more).
    #[error("no such stream or rendition")]
    NotFound,
}

/// Why a part request was not answered with the part.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PartError {
    /// Neither published nor hinted (or evicted): 404 (checklist P-HINT-05/06).
    #[error("no such part")]
    NotFound,
    /// A hinted part was not published in time: 503.
    #[error("timed out waiting for the hinted part")]
    Timeout,
}
