//! The playlist model: one set of types for rendering and parsing.
//!
//! Tags that apply to a run of segments (`EXT-X-MAP`, `EXT-X-KEY`) are stored as the
//! *effective* value on every segment; the renderer emits the tag where the value
//! changes, the parser carries it forward. So a window that slides still has the map
//! and key of its first segment, and build → render → parse is the identity.

use std::time::{Duration, SystemTime};

/// A parsed playlist of either kind.
// Returned once per parse and matched right away; boxing would add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    /// A media playlist (segments, parts).
    Media(MediaPlaylist),
    /// A multivariant playlist (variants, renditions).
    Multivariant(MultivariantPlaylist),
}

/// `EXT-X-PLAYLIST-TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    /// `EVENT`: segments are only appended.
    Event,
    /// `VOD`: the playlist never changes.
    Vod,
}

/// `BYTERANGE` / `EXT-X-BYTERANGE`: `len[@offset]`. Without an offset the range
/// starts where the previous range of the same URI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Length in bytes.
    pub len: u64,
    /// Start offset, when given.
    pub offset: Option<u64>,
}

/// `EXT-X-MAP`: the init section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// URI of the init section.
    pub uri: String,
    /// Sub-range of that resource.
    pub byte_range: Option<ByteRange>,
}

/// `EXT-X-KEY` `METHOD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMethod {
    /// `AES-128`: whole-segment AES-128-CBC.
    Aes128,
    /// `SAMPLE-AES`.
    SampleAes,
    /// `SAMPLE-AES-CTR`.
    SampleAesCtr,
    /// Anything else, kept verbatim.
    Other(String),
}

/// `EXT-X-KEY` (a `METHOD=NONE` tag is a segment with `key: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Encryption method.
    pub method: KeyMethod,
    /// Key URI.
    pub uri: String,
    /// Explicit IV (otherwise the media sequence number is the IV).
    pub iv: Option<[u8; 16]>,
    /// `KEYFORMAT`.
    pub key_format: Option<String>,
    /// `KEYFORMATVERSIONS`.
    pub key_format_versions: Option<String>,
}

/// `EXT-X-PART`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Part URI.
    pub uri: String,
    /// Duration (≤ PART-TARGET, P-PART-03).
    pub duration: Duration,
    /// `INDEPENDENT=YES` (P-PART-04).
    pub independent: bool,
    /// `BYTERANGE`.
    pub byte_range: Option<ByteRange>,
    /// `GAP=YES`.
    pub gap: bool,
}

/// A media segment with its parts (parts listed only near the live edge, P-PART-07).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Segment URI.
    pub uri: String,
    /// `EXTINF` duration.
    pub duration: Duration,
    /// `EXTINF` title (after the comma), usually empty.
    pub title: String,
    /// `EXT-X-BYTERANGE`.
    pub byte_range: Option<ByteRange>,
    /// `EXT-X-DISCONTINUITY` before this segment.
    pub discontinuity: bool,
    /// `EXT-X-GAP`.
    pub gap: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` of the first sample.
    pub program_date_time: Option<SystemTime>,
    /// Effective `EXT-X-BITRATE` in bits/s (whole kb/s in the text).
    pub bitrate: Option<u64>,
    /// Effective init section.
    pub map: Option<Map>,
    /// Effective key (`None` = not encrypted).
    pub key: Option<Key>,
    /// Parts of this segment (may be empty).
    pub parts: Vec<Part>,
}

impl Segment {
    /// A plain segment: URI and duration, nothing else.
    pub fn new(uri: impl Into<String>, duration: Duration) -> Self {
        Self {
            uri: uri.into(),
            duration,
            title: String::new(),
            byte_range: None,
            discontinuity: false,
            gap: false,
            program_date_time: None,
            bitrate: None,
            map: None,
            key: None,
            parts: Vec::new(),
        }
    }
}

/// `EXT-X-PRELOAD-HINT` `TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HintType {
    /// The next part.
    Part,
    /// The next init section (P-HINT-07).
    Map,
}

/// `EXT-X-PRELOAD-HINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreloadHint {
    /// Part or map.
    pub hint_type: HintType,
    /// URI the resource will have (P-HINT-02).
    pub uri: String,
    /// `BYTERANGE-START`.
    pub byte_range_start: Option<u64>,
    /// `BYTERANGE-LENGTH`.
    pub byte_range_length: Option<u64>,
}

/// `EXT-X-RENDITION-REPORT` (P-RR-01/02).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    /// URI of the other rendition's media playlist, relative to this one.
    pub uri: String,
    /// MSN of its last segment or part.
    pub last_msn: Option<u64>,
    /// Index of its last part with that MSN.
    pub last_part: Option<u64>,
}

/// `EXT-X-SERVER-CONTROL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerControl {
    /// `CAN-BLOCK-RELOAD=YES` (P-SC-01).
    pub can_block_reload: bool,
    /// `CAN-SKIP-UNTIL` (≥ 6 × target duration, P-SC-04).
    pub can_skip_until: Option<Duration>,
    /// `CAN-SKIP-DATERANGES=YES` (the server answers `_HLS_skip=v2`).
    pub can_skip_dateranges: bool,
    /// `HOLD-BACK` (≥ 3 × target duration, P-SC-03).
    pub hold_back: Option<Duration>,
    /// `PART-HOLD-BACK` (≥ 3 × PART-TARGET, P-SC-02).
    pub part_hold_back: Option<Duration>,
}

/// `EXT-X-SKIP` in a delta update (S-SKIP-01..03).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Skip {
    /// Number of segments replaced by the tag.
    pub skipped_segments: u64,
    /// `RECENTLY-REMOVED-DATERANGES` (`v2` deltas), tab-separated IDs in the text.
    pub recently_removed_dateranges: Option<Vec<String>>,
}

/// `EXT-X-DATERANGE`: the ID and start date are modelled, other attributes kept
/// verbatim (their order preserved) so they render back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    /// `ID`.
    pub id: String,
    /// `START-DATE`.
    pub start_date: SystemTime,
    /// Every other attribute as written: `(name, raw value including quotes)`.
    pub attributes: Vec<(String, String)>,
}

/// A media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// `EXT-X-VERSION` as read; the renderer writes at least
    /// [`MediaPlaylist::required_version`] (P-VER-01).
    pub version: u16,
    /// `EXT-X-TARGETDURATION` in whole seconds (P-TD-01).
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE` of the first segment (P-MSN-01).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (P-DSN-01).
    pub discontinuity_sequence: u64,
    /// `EXT-X-PLAYLIST-TYPE` (absent for live, P-TYPE-01).
    pub playlist_type: Option<PlaylistType>,
    /// `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    /// `EXT-X-PART-INF:PART-TARGET` (P-PART-01).
    pub part_target: Option<Duration>,
    /// `EXT-X-SERVER-CONTROL`.
    pub server_control: Option<ServerControl>,
    /// `EXT-X-SKIP` (delta updates only).
    pub skip: Option<Skip>,
    /// `EXT-X-DATERANGE` tags.
    pub date_ranges: Vec<DateRange>,
    /// Complete segments (after any skipped ones).
    pub segments: Vec<Segment>,
    /// Parts of the segment being produced (listed after the last complete segment).
    pub partial_segment: Vec<Part>,
    /// `EXT-X-PRELOAD-HINT`s (P-HINT-01, at most one per type P-HINT-03).
    pub preload_hints: Vec<PreloadHint>,
    /// `EXT-X-RENDITION-REPORT`s.
    pub rendition_reports: Vec<RenditionReport>,
    /// `EXT-X-ENDLIST`.
    pub end_list: bool,
    /// Effective map of the partial segment's parts (when it differs from the last
    /// segment's, the renderer writes `EXT-X-MAP` before them, P-PART-06).
    pub partial_map: Option<Map>,
    /// Effective key of the partial segment's parts.
    pub partial_key: Option<Key>,
    /// Discontinuity before the partial segment.
    pub partial_discontinuity: bool,
    /// Program date time of the partial segment's first part.
    pub partial_program_date_time: Option<SystemTime>,
}

impl MediaPlaylist {
    /// MSN of the first segment after any skipped ones.
    pub fn first_listed_msn(&self) -> u64 {
        self.media_sequence
            .saturating_add(self.skip.as_ref().map_or(0, |s| s.skipped_segments))
    }

    /// MSN the partial segment has (or the next segment will have).
    pub fn next_msn(&self) -> u64 {
        self.first_listed_msn()
            .saturating_add(self.segments.len() as u64)
    }

    /// The last `(msn, part)` listed: the last part of the partial segment, else the
    /// last part of the last segment, else `(msn, None)` of the last segment.
    pub fn last_part(&self) -> Option<(u64, Option<u64>)> {
        if !self.partial_segment.is_empty() {
            return Some((self.next_msn(), Some(self.partial_segment.len() as u64 - 1)));
        }
        let last = self.segments.last()?;
        let msn = self.next_msn() - 1;
        Some((msn, last.parts.len().checked_sub(1).map(|p| p as u64)))
    }

    /// The lowest `EXT-X-VERSION` the features used need (P-VER-01): 3 for
    /// decimal EXTINF, 4 byte ranges, 5 KEYFORMAT, 6 EXT-X-MAP, 9 EXT-X-SKIP,
    /// 10 RECENTLY-REMOVED-DATERANGES.
    pub fn required_version(&self) -> u16 {
        let mut v = 3;
        let segs = || self.segments.iter();
        let any_range = segs().any(|s| {
            s.byte_range.is_some() || s.map.as_ref().is_some_and(|m| m.byte_range.is_some())
        });
        if any_range {
            v = v.max(4);
        }
        if segs().any(|s| s.key.as_ref().is_some_and(|k| k.key_format.is_some()))
            || self
                .partial_key
                .as_ref()
                .is_some_and(|k| k.key_format.is_some())
        {
            v = v.max(5);
        }
        if segs().any(|s| s.map.is_some()) || self.partial_map.is_some() {
            v = v.max(6);
        }
        if let Some(skip) = &self.skip {
            v = v.max(if skip.recently_removed_dateranges.is_some() {
                10
            } else {
                9
            });
        }
        v
    }
}

/// `EXT-X-MEDIA` `TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `AUDIO`.
    Audio,
    /// `VIDEO`.
    Video,
    /// `SUBTITLES`.
    Subtitles,
    /// `CLOSED-CAPTIONS`.
    ClosedCaptions,
}

/// `EXT-X-MEDIA`: an alternative rendition (M-VAR-04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// `TYPE`.
    pub media_type: MediaType,
    /// `GROUP-ID`.
    pub group_id: String,
    /// `NAME` (required).
    pub name: String,
    /// `LANGUAGE`.
    pub language: Option<String>,
    /// `DEFAULT=YES`.
    pub default: bool,
    /// `AUTOSELECT=YES` (implied by DEFAULT, M-VAR-04).
    pub autoselect: bool,
    /// `CHANNELS`.
    pub channels: Option<String>,
    /// `URI` of its media playlist.
    pub uri: Option<String>,
}

/// `EXT-X-STREAM-INF` + URI: one variant stream (M-VAR-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Media playlist URI.
    pub uri: String,
    /// `BANDWIDTH`: peak bits/s.
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH`.
    pub average_bandwidth: Option<u64>,
    /// `CODECS`.
    pub codecs: Option<String>,
    /// `RESOLUTION` as written (`1280x720`).
    pub resolution: Option<String>,
    /// `FRAME-RATE` as written.
    pub frame_rate: Option<String>,
    /// `AUDIO` group ID.
    pub audio: Option<String>,
    /// `NAME` (a common extension; not in the spec).
    pub name: Option<String>,
}

/// A multivariant playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultivariantPlaylist {
    /// `EXT-X-VERSION` as read.
    pub version: u16,
    /// `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    /// `EXT-X-MEDIA` renditions.
    pub renditions: Vec<Rendition>,
    /// Variants in playlist order (redundant variants share BANDWIDTH, M-VAR-06).
    pub variants: Vec<Variant>,
}
