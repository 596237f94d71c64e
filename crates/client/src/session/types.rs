//! Inputs and outputs of the sans-IO [`super::Session`].

use super::playlist::ByteRange;
use crate::abr::AbrKind;
use crate::error::Error;
use crate::time::Instant;
use bytes::Bytes;
use std::time::{Duration, SystemTime};
use url::Url;

/// Identifies one request the session asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// What a request fetches (for the driver's accounting and priorities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// The URL the session was started with (multivariant or media playlist).
    Root,
    /// A media playlist; `blocking` when it carries `_HLS_msn`.
    MediaPlaylist {
        /// Rendition index.
        rendition: usize,
        /// Carries blocking-reload directives (the server may hold it).
        blocking: bool,
        /// Asks for a delta update (`_HLS_skip=YES`).
        delta: bool,
    },
    /// A listed part.
    Part,
    /// A preload-hinted part that may not exist yet (the server holds the response).
    HintedPart,
    /// A whole segment.
    Segment,
    /// An init section (EXT-X-MAP).
    Init,
    /// An AES-128 key.
    Key,
}

impl RequestKind {
    /// True for requests the server may legitimately hold (blocking reloads, hints).
    pub fn may_block(self) -> bool {
        matches!(
            self,
            RequestKind::HintedPart | RequestKind::MediaPlaylist { blocking: true, .. }
        )
    }
}

/// An HTTP GET the driver should perform.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Id to report the outcome with.
    pub id: RequestId,
    /// Absolute URL, directives included in the right order (C-BLK-02).
    pub url: Url,
    /// Byte range to ask for (`Range` header), if any.
    pub range: Option<ByteRange>,
    /// What it is.
    pub kind: RequestKind,
    /// Give up (and report [`TransportError::Timeout`]) if not complete by then.
    pub deadline: Instant,
}

/// A transport-level failure reported by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The deadline passed.
    Timeout,
    /// Connection reset / refused / closed early.
    Connection,
    /// Anything else, described.
    Other(String),
}

/// One piece of media ready for the decoder (via the ring).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Rendition it came from.
    pub rendition: usize,
    /// Media sequence number.
    pub msn: u64,
    /// Part index, or `None` for a whole segment.
    pub part: Option<u32>,
    /// The media bytes (decrypted if the segment was AES-128).
    pub data: Bytes,
    /// Media duration.
    pub duration: Duration,
    /// Starts with an independent frame.
    pub independent: bool,
    /// The decoder must reset before this chunk (EXT-X-DISCONTINUITY, a jump to the
    /// live edge, or media skipped after a failure) (C-DIS-01).
    pub discontinuity: bool,
    /// Wall-clock time of the first sample, from EXT-X-PROGRAM-DATE-TIME.
    pub program_date_time: Option<SystemTime>,
    /// New init section to apply before this chunk (first chunk, rendition switch,
    /// EXT-X-MAP change).
    pub init: Option<Bytes>,
}

/// Why the rendition changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchReason {
    /// The ABR rule asked for it.
    Abr,
    /// The current variant failed and a redundant or lower one took over.
    Failover,
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Perform this request.
    Request(Request),
    /// Abandon this request (its outcome will be ignored).
    Cancel(RequestId),
    /// Hand this chunk to the decoder (chunks come out in playback order).
    Chunk(Chunk),
    /// Now playing another rendition.
    Switched {
        /// Previous rendition.
        from: usize,
        /// New rendition.
        to: usize,
        /// Why.
        reason: SwitchReason,
    },
    /// Jumped forward to the live edge because playback fell too far behind.
    JumpedToLive {
        /// Media skipped.
        skipped: Duration,
    },
    /// The presentation ended (VOD done, or ENDLIST reached).
    Ended,
    /// Unrecoverable: the session stops.
    Failed(Error),
}

/// What happened (reported by the driver).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A response arrived completely.
    Response {
        /// Which request.
        id: RequestId,
        /// HTTP status.
        status: u16,
        /// Body.
        body: Bytes,
        /// Bytes of status line and headers, if known (0 otherwise).
        header_bytes: u64,
        /// Body bytes as they crossed the network, when a Content-Encoding (gzip)
        /// was removed; throughput and overhead are measured on these.
        encoded_len: Option<u64>,
        /// When the first body byte arrived (after any server-side hold).
        first_byte: Instant,
        /// When the last body byte arrived.
        last_byte: Instant,
        /// Bytes (status line and headers included) the first read of the body
        /// brought at `first_byte`: no measured time carried them, so throughput
        /// leaves them out when later reads brought the rest. 0 when not known.
        first_read_bytes: u64,
    },
    /// A request failed below HTTP.
    Failed {
        /// Which request.
        id: RequestId,
        /// How.
        error: TransportError,
    },
    /// The time returned by [`super::Session::poll_timeout`] was reached.
    Timeout,
}

/// Session tunables.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// ABR rule.
    pub abr: AbrKind,
    /// Use LL-HLS (parts, blocking reloads, hints) when the server supports it.
    pub low_latency: bool,
    /// Use delta updates when offered.
    pub delta_updates: bool,
    /// Max concurrent media requests (listed parts/segments; a hint comes on top).
    pub max_media_in_flight: usize,
    /// Timeout for requests the server should answer at once.
    pub request_timeout: Duration,
    /// First retry delay; doubles per attempt, with ±50 % jitter.
    pub retry_base: Duration,
    /// Retry delay cap.
    pub retry_max: Duration,
    /// Attempts per resource before giving up on it (media: skip; playlist: failover).
    pub max_retries: u32,
    /// Jump back to the live edge when this far behind it (at least 4 × hold-back).
    pub max_latency: Duration,
    /// Seed for retry jitter (deterministic).
    pub seed: u64,
    /// Rendition to start with (index in ascending bandwidth order); ABR decides later.
    pub start_rendition: Option<usize>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            abr: AbrKind::LowLatency,
            low_latency: true,
            delta_updates: true,
            max_media_in_flight: 4,
            request_timeout: Duration::from_secs(10),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(4),
            max_retries: 4,
            max_latency: Duration::from_secs(8),
            seed: 0x5eed,
            start_rendition: None,
        }
    }
}

impl SessionConfig {
    /// Check the values are usable.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_media_in_flight == 0 || self.max_media_in_flight > 64 {
            return Err(Error::Config("max_media_in_flight must be 1..=64"));
        }
        if self.request_timeout.is_zero()
            || self.retry_base.is_zero()
            || self.retry_max < self.retry_base
        {
            return Err(Error::Config(
                "timeouts and retry delays must be positive, retry_max >= retry_base",
            ));
        }
        if self.max_latency.is_zero() {
            return Err(Error::Config("max_latency must be positive"));
        }
        Ok(())
    }
}
