//! The live-edge state machine: a media playlist built part by part.
//!
//! Every server-control number is derived from the configuration by the spec's
//! rules rather than hard-coded:
//!
//! | value | rule | checklist |
//! |---|---|---|
//! | TARGETDURATION | `ceil(segment_target)`, ≥ 1 s, never changes; a segment whose EXTINF would round above it is refused | P-TD-01/02 |
//! | PART-TARGET | the configured part target; a longer part is refused | P-PART-01/03 |
//! | PART-HOLD-BACK | 3 × the largest PART-TARGET of the presentation | P-SC-02 |
//! | HOLD-BACK | 3 × TARGETDURATION | P-SC-03 |
//! | CAN-SKIP-UNTIL | 6 × TARGETDURATION | P-SC-04 |
//! | window | ≥ CAN-SKIP-UNTIL + 3 × TARGETDURATION (so a delta update skips something), never < 3 × TARGETDURATION | S-GEN-04 |
//! | parts kept | only for segments ending within 3 × TARGETDURATION of the playlist end | P-PART-07 |
//!
//! The builder assigns `(msn, part)` itself; a caller publishes media under
//! [`LiveBuilder::next_part`] first and then calls [`LiveBuilder::push_part`].

use crate::error::BuildError;
use crate::types::{
    HintType, Map, MediaPlaylist, Part, PreloadHint, RenditionReport, Segment, ServerControl,
};
use std::time::{Duration, SystemTime};

/// URI templates: `{msn}` and `{part}` are replaced by numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentUris {
    /// Whole-segment URI, e.g. `{msn}.m4s`.
    pub segment: String,
    /// Part URI, e.g. `{msn}.{part}.m4s`.
    pub part: String,
}

impl Default for SegmentUris {
    fn default() -> Self {
        Self {
            segment: "{msn}.m4s".into(),
            part: "{msn}.{part}.m4s".into(),
        }
    }
}

impl SegmentUris {
    /// The URI of segment `msn`.
    pub fn segment(&self, msn: u64) -> String {
        self.segment.replace("{msn}", &msn.to_string())
    }

    /// The URI of part `part` of segment `msn`.
    pub fn part(&self, msn: u64, part: u32) -> String {
        self.part
            .replace("{msn}", &msn.to_string())
            .replace("{part}", &part.to_string())
    }

    fn validate(&self) -> Result<(), BuildError> {
        let bad = |s: &str| s.contains(['"', '\r', '\n']);
        if bad(&self.segment) || bad(&self.part) {
            return Err(BuildError::Config(
                "URI templates must not contain \", CR or LF",
            ));
        }
        if !self.segment.contains("{msn}") {
            return Err(BuildError::Config("segment URI template needs {msn}"));
        }
        if !self.part.contains("{msn}") || !self.part.contains("{part}") {
            return Err(BuildError::Config(
                "part URI template needs {msn} and {part}",
            ));
        }
        Ok(())
    }
}

/// Live playlist configuration; [`LiveConfig::validate`] runs in [`LiveBuilder::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// PART-TARGET: no part may be longer. Default 200 ms.
    pub part_target: Duration,
    /// The longest segment the producer will close (TARGETDURATION = its ceiling in
    /// whole seconds). Default 1 s.
    pub segment_target: Duration,
    /// Largest PART-TARGET across the presentation's renditions (PART-HOLD-BACK is 3×
    /// it, P-SC-02); `None` = this playlist's part target.
    pub presentation_part_target: Option<Duration>,
    /// Minimum playlist duration; `None` = CAN-SKIP-UNTIL + 3 × TARGETDURATION.
    pub window: Option<Duration>,
    /// Offer delta updates (CAN-SKIP-UNTIL). Default true.
    pub can_skip: bool,
    /// URI templates.
    pub uris: SegmentUris,
    /// First media sequence number (a restarted stream continues its numbering).
    pub first_msn: u64,
    /// First discontinuity sequence number.
    pub first_discontinuity_sequence: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(1),
            presentation_part_target: None,
            window: None,
            can_skip: true,
            uris: SegmentUris::default(),
            first_msn: 0,
            first_discontinuity_sequence: 0,
        }
    }
}

impl LiveConfig {
    /// Check the configuration against the spec's rules.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.part_target.is_zero() {
            return Err(BuildError::Config("part_target must be > 0"));
        }
        if self.segment_target < self.part_target {
            return Err(BuildError::Config("segment_target must be ≥ part_target"));
        }
        if self.segment_target > Duration::from_secs(3600) {
            return Err(BuildError::Config("segment_target must be ≤ 1 h"));
        }
        if self
            .presentation_part_target
            .is_some_and(|p| p < self.part_target)
        {
            return Err(BuildError::Config(
                "presentation_part_target must be ≥ part_target",
            ));
        }
        if let Some(w) = self.window
            && w < 3 * self.target_duration()
        {
            // checklist S-GEN-04
            return Err(BuildError::Config(
                "window must be ≥ 3 × TARGETDURATION (S-GEN-04)",
            ));
        }
        self.uris.validate()
    }

    /// TARGETDURATION in whole seconds (P-TD-01).
    pub fn target_duration_secs(&self) -> u64 {
        let s = self.segment_target;
        (s.as_secs() + u64::from(s.subsec_nanos() > 0)).max(1)
    }

    /// TARGETDURATION.
    pub fn target_duration(&self) -> Duration {
        Duration::from_secs(self.target_duration_secs())
    }

    /// PART-HOLD-BACK: 3 × the presentation's largest PART-TARGET (P-SC-02).
    pub fn part_hold_back(&self) -> Duration {
        3 * self.presentation_part_target.unwrap_or(self.part_target)
    }

    /// HOLD-BACK: 3 × TARGETDURATION (P-SC-03).
    pub fn hold_back(&self) -> Duration {
        3 * self.target_duration()
    }

    /// CAN-SKIP-UNTIL: 6 × TARGETDURATION (P-SC-04), when delta updates are offered.
    pub fn can_skip_until(&self) -> Option<Duration> {
        self.can_skip.then(|| 6 * self.target_duration())
    }

    /// The playlist's minimum duration.
    pub fn window(&self) -> Duration {
        self.window.unwrap_or_else(|| {
            self.can_skip_until().unwrap_or(Duration::ZERO) + 3 * self.target_duration()
        })
    }
}

/// One produced part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartInfo {
    /// Media duration.
    pub duration: Duration,
    /// Starts with an independent frame (every AAC part does).
    pub independent: bool,
    /// Missing media (P-GAP-01).
    pub gap: bool,
    /// Wall-clock capture time of the first sample.
    pub program_date_time: Option<SystemTime>,
}

/// The live-edge state machine (the seed's `M3u8Manifest`).
#[derive(Debug, Clone)]
pub struct LiveBuilder {
    cfg: LiveConfig,
    pl: MediaPlaylist,
    /// Total duration of `pl.segments`.
    listed: Duration,
    map: Option<Map>,
    next_discontinuity: bool,
}

impl LiveBuilder {
    /// A new, empty live playlist.
    pub fn new(cfg: LiveConfig) -> Result<Self, BuildError> {
        cfg.validate()?;
        let pl = MediaPlaylist {
            version: 0,
            target_duration: cfg.target_duration_secs(),
            media_sequence: cfg.first_msn,
            discontinuity_sequence: cfg.first_discontinuity_sequence,
            independent_segments: true,
            part_target: Some(cfg.part_target),
            server_control: Some(ServerControl {
                can_block_reload: true,
                can_skip_until: cfg.can_skip_until(),
                can_skip_dateranges: false,
                hold_back: Some(cfg.hold_back()),
                part_hold_back: Some(cfg.part_hold_back()),
            }),
            ..MediaPlaylist::default()
        };
        let mut b = Self {
            cfg,
            pl,
            listed: Duration::ZERO,
            map: None,
            next_discontinuity: false,
        };
        b.update_hint();
        Ok(b)
    }

    /// The configuration.
    pub fn config(&self) -> &LiveConfig {
        &self.cfg
    }

    /// The playlist as it stands.
    pub fn playlist(&self) -> &MediaPlaylist {
        &self.pl
    }

    /// `(msn, part)` the next pushed part will get.
    pub fn next_part(&self) -> (u64, u32) {
        (self.pl.next_msn(), self.pl.partial_segment.len() as u32)
    }

    /// The last part listed, if any.
    pub fn last_part(&self) -> Option<(u64, Option<u64>)> {
        self.pl.last_part()
    }

    /// MSN of the last complete segment.
    pub fn last_segment(&self) -> Option<u64> {
        self.pl
            .next_msn()
            .checked_sub(1)
            .filter(|_| !self.pl.segments.is_empty())
    }

    /// Has the playlist ended (EXT-X-ENDLIST)?
    pub fn ended(&self) -> bool {
        self.pl.end_list
    }

    /// Set the init section (EXT-X-MAP). It applies from the next segment: call it
    /// before the first part, or after closing a segment (P-MAP-01).
    pub fn set_map(&mut self, map: Map) -> Result<(), BuildError> {
        if self.pl.end_list {
            return Err(BuildError::Ended);
        }
        if !self.pl.partial_segment.is_empty() {
            return Err(BuildError::Config(
                "EXT-X-MAP can only change between segments",
            ));
        }
        self.map = Some(map);
        self.update_hint();
        Ok(())
    }

    /// Mark a discontinuity (P-DIS-01): the open segment, if any, is closed and the
    /// next segment starts with `EXT-X-DISCONTINUITY`.
    pub fn discontinuity(&mut self) -> Result<(), BuildError> {
        if self.pl.end_list {
            return Err(BuildError::Ended);
        }
        if !self.pl.partial_segment.is_empty() {
            self.close_segment()?;
        }
        self.next_discontinuity = true;
        Ok(())
    }

    /// Would [`LiveBuilder::push_part`] accept this part? (A caller that must store
    /// the media before listing it checks first, so a refused part stores nothing.)
    pub fn check_part(&self, info: &PartInfo) -> Result<(), BuildError> {
        if self.pl.end_list {
            return Err(BuildError::Ended);
        }
        if info.duration.is_zero() {
            return Err(BuildError::Config("part duration must be > 0"));
        }
        // checklist P-PART-03
        if info.duration > self.cfg.part_target {
            return Err(BuildError::PartTooLong {
                duration: info.duration,
                part_target: self.cfg.part_target,
            });
        }
        Ok(())
    }

    /// Append a part to the open segment; returns its `(msn, part)`.
    pub fn push_part(&mut self, info: PartInfo) -> Result<(u64, u32), BuildError> {
        self.check_part(&info)?;
        let (msn, idx) = self.next_part();
        if idx == 0 {
            self.pl.partial_discontinuity = std::mem::take(&mut self.next_discontinuity);
            self.pl.partial_map = self.map.clone();
            self.pl.partial_key = None;
            // P-PDT-01: every segment carries a date; extrapolate when not given.
            self.pl.partial_program_date_time = info.program_date_time.or_else(|| {
                let last = self.pl.segments.last()?;
                Some(last.program_date_time? + last.duration)
            });
        }
        self.pl.partial_segment.push(Part {
            uri: self.cfg.uris.part(msn, idx),
            duration: info.duration,
            independent: info.independent,
            byte_range: None,
            gap: info.gap,
        });
        self.update_hint();
        Ok((msn, idx))
    }

    /// Close the open segment; returns its MSN.
    pub fn close_segment(&mut self) -> Result<u64, BuildError> {
        if self.pl.end_list {
            return Err(BuildError::Ended);
        }
        if self.pl.partial_segment.is_empty() {
            return Err(BuildError::EmptySegment);
        }
        let duration: Duration = self.pl.partial_segment.iter().map(|p| p.duration).sum();
        // checklist P-TD-01: EXTINF rounded to the nearest integer ≤ TARGETDURATION.
        let rounded = (duration.as_millis() + 500) / 1000;
        if rounded > u128::from(self.pl.target_duration) {
            return Err(BuildError::SegmentTooLong {
                duration,
                target_duration: self.pl.target_duration,
            });
        }
        let msn = self.pl.next_msn();
        let gap = self.pl.partial_segment.iter().all(|p| p.gap);
        self.pl.segments.push(Segment {
            uri: self.cfg.uris.segment(msn),
            duration,
            title: String::new(),
            byte_range: None,
            discontinuity: std::mem::take(&mut self.pl.partial_discontinuity),
            gap,
            program_date_time: self.pl.partial_program_date_time.take(),
            bitrate: None,
            map: self.pl.partial_map.take(),
            key: self.pl.partial_key.take(),
            parts: std::mem::take(&mut self.pl.partial_segment),
        });
        self.listed += duration;
        self.slide();
        self.update_hint();
        Ok(msn)
    }

    /// End the stream: close the open segment, add EXT-X-ENDLIST, drop the preload
    /// hint (P-END-01). Idempotent.
    pub fn end(&mut self) {
        if self.pl.end_list {
            return;
        }
        if !self.pl.partial_segment.is_empty() {
            // A too-long segment cannot happen here: parts are ≤ PART-TARGET and the
            // producer closes segments; if it does, the parts are dropped rather than
            // breaking TARGETDURATION.
            if self.close_segment().is_err() {
                self.pl.partial_segment.clear();
            }
        }
        self.pl.partial_map = None;
        self.pl.partial_key = None;
        self.pl.partial_discontinuity = false;
        self.pl.partial_program_date_time = None;
        self.pl.end_list = true;
        self.pl.preload_hints.clear();
    }

    /// Replace the rendition reports (one per sibling rendition, P-RR-01).
    pub fn set_rendition_reports(&mut self, reports: Vec<RenditionReport>) {
        self.pl.rendition_reports = reports;
    }

    /// Drop segments from the head while the rest still spans the window, then strip
    /// parts from segments older than 3 × TARGETDURATION from the end (P-PART-07).
    fn slide(&mut self) {
        let window = self.cfg.window();
        while let Some(first) = self.pl.segments.first() {
            if self.listed - first.duration < window {
                break;
            }
            let first = self.pl.segments.remove(0);
            self.listed -= first.duration;
            self.pl.media_sequence += 1;
            // checklist P-DSN-01
            if first.discontinuity {
                self.pl.discontinuity_sequence += 1;
            }
        }
        let keep = 3 * self.cfg.target_duration();
        let mut from_end = Duration::ZERO;
        for s in self.pl.segments.iter_mut().rev() {
            if from_end > keep {
                if s.parts.is_empty() {
                    break;
                }
                s.parts = Vec::new();
            }
            from_end += s.duration;
        }
    }

    fn update_hint(&mut self) {
        self.pl.preload_hints.clear();
        if self.pl.end_list {
            return;
        }
        let (msn, part) = self.next_part();
        // checklist P-HINT-07: the next part needs an init section the playlist does
        // not list yet (a new map set between segments).
        if part == 0
            && let Some(map) = &self.map
            && self.pl.segments.last().and_then(|s| s.map.as_ref()) != Some(map)
        {
            self.pl.preload_hints.push(PreloadHint {
                hint_type: HintType::Map,
                uri: map.uri.clone(),
                byte_range_start: map.byte_range.and_then(|r| r.offset),
                byte_range_length: map.byte_range.map(|r| r.len),
            });
        }
        // checklist P-HINT-01/02: the hinted URI is the part's future URI.
        self.pl.preload_hints.push(PreloadHint {
            hint_type: HintType::Part,
            uri: self.cfg.uris.part(msn, part),
            byte_range_start: None,
            byte_range_length: None,
        });
    }
}
