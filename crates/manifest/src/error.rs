//! Errors of the parser and the live builder.

use std::time::Duration;

/// A playlist that could not be read: the 1-based line and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("playlist line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number (0 when the error is about the whole input).
    pub line: usize,
    /// What was expected.
    pub kind: ParseErrorKind,
}

/// What the parser expected and did not find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The input is not UTF-8 (P-TXT-01).
    #[error("not UTF-8")]
    NotUtf8,
    /// The first line is not `#EXTM3U` (P-TXT-02).
    #[error("expected #EXTM3U as the first line")]
    MissingHeader,
    /// A required attribute is missing.
    #[error("{tag}: missing attribute {attribute}")]
    MissingAttribute {
        /// The tag.
        tag: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// A tag value or attribute could not be read.
    #[error("{tag}: expected {expected}")]
    Invalid {
        /// The tag.
        tag: &'static str,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// `EXTINF` or `EXT-X-STREAM-INF` not followed by a URI line.
    #[error("{0} is not followed by a URI line")]
    MissingUri(&'static str),
    /// A media playlist without `EXT-X-TARGETDURATION` (P-TD-01).
    #[error("media playlist without EXT-X-TARGETDURATION")]
    MissingTargetDuration,
    /// Multivariant and media tags in one playlist (P-TXT-05).
    #[error("multivariant and media playlist tags mixed")]
    Mixed,
    /// A multivariant playlist where a media playlist was expected, or vice versa.
    #[error("expected a {0} playlist")]
    WrongKind(&'static str),
    /// More lines or bytes than the parser accepts (nothing unbounded on input).
    #[error("playlist larger than {0} bytes")]
    TooLarge(usize),
}

/// A live-builder call that would break a playlist rule; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The configuration breaks a rule (the message says which).
    #[error("invalid live playlist configuration: {0}")]
    Config(&'static str),
    /// A part longer than PART-TARGET (P-PART-03).
    #[error("part of {duration:?} exceeds PART-TARGET {part_target:?}")]
    PartTooLong {
        /// The part's duration.
        duration: Duration,
        /// The configured part target.
        part_target: Duration,
    },
    /// Closing this segment would make its EXTINF round above TARGETDURATION, which
    /// never changes (P-TD-01/02).
    #[error("segment of {duration:?} exceeds TARGETDURATION {target_duration}s")]
    SegmentTooLong {
        /// The segment's duration.
        duration: Duration,
        /// The fixed target duration.
        target_duration: u64,
    },
    /// Closing a segment that has no parts.
    #[error("cannot close an empty segment")]
    EmptySegment,
    /// The playlist has ended (EXT-X-ENDLIST); nothing can be added.
    #[error("the playlist has ended")]
    Ended,
}

/// A delta update that cannot be merged into the previous playlist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// The previous playlist does not hold a segment the delta skipped.
    #[error("previous playlist lacks skipped segment {msn}")]
    MissingSegment {
        /// MSN of the first missing segment.
        msn: u64,
    },
}
