//! The client's view of a playlist: exactly what the session rules need, resolved
//! (effective KEY/MAP per segment, absolute byte-range offsets, in-progress segment
//! as a segment with `complete == false`). Built from `aulos-manifest`'s model by
//! [`super::codec`]; keeping our own small view isolates the rules from the text model.

use std::time::{Duration, SystemTime};

/// A byte range of a resource: `len == None` means "to the end" (open-ended hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// First byte offset.
    pub start: u64,
    /// Number of bytes, if known.
    pub len: Option<u64>,
}

impl ByteRange {
    /// The value of an HTTP `Range` header for this range.
    pub fn header_value(&self) -> String {
        match self.len {
            Some(0) | None => format!("bytes={}-", self.start),
            Some(n) => format!("bytes={}-{}", self.start, self.start + n - 1),
        }
    }
}

/// Encryption applied to a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyMethod {
    /// AES-128-CBC with PKCS7 padding over the whole segment.
    Aes128,
    /// Any method we do not implement (SAMPLE-AES, ...): refuse (C-KEY-01).
    Unsupported(String),
}

/// An effective EXT-X-KEY (METHOD=NONE is represented as no key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub method: KeyMethod,
    pub uri: String,
    pub iv: Option<[u8; 16]>,
}

/// An effective EXT-X-MAP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Map {
    pub uri: String,
    pub range: Option<ByteRange>,
}

/// One EXT-X-PART.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartView {
    pub uri: String,
    pub duration: Duration,
    pub independent: bool,
    pub range: Option<ByteRange>,
    pub gap: bool,
}

/// One media segment (possibly still in progress: parts only, no URI yet).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentView {
    pub msn: u64,
    pub uri: String,
    pub duration: Duration,
    pub range: Option<ByteRange>,
    pub discontinuity: bool,
    pub key: Option<Key>,
    pub map: Option<Map>,
    pub pdt: Option<SystemTime>,
    pub gap: bool,
    pub parts: Vec<PartView>,
    pub complete: bool,
}

/// EXT-X-PRELOAD-HINT:TYPE=PART (first one only, C-HINT-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HintView {
    pub uri: String,
    pub range: Option<ByteRange>,
}

/// EXT-X-RENDITION-REPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportView {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: Option<u32>,
}

/// A media playlist as the session sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct MediaView {
    pub target_duration: Duration,
    pub media_sequence: u64,
    pub part_target: Option<Duration>,
    pub can_block_reload: bool,
    pub can_skip_until: Option<Duration>,
    pub hold_back: Option<Duration>,
    pub part_hold_back: Option<Duration>,
    pub segments: Vec<SegmentView>,
    pub hint: Option<HintView>,
    pub reports: Vec<ReportView>,
    pub ended: bool,
}

/// One EXT-X-STREAM-INF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariantView {
    pub bandwidth: u64,
    pub codecs: Option<String>,
    pub uri: String,
}

/// A parsed playlist of either kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed {
    Multivariant(Vec<VariantView>),
    Media(MediaView),
}

/// Position of a fetch unit: a part `(msn, part)` or a whole segment `(msn, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    pub msn: u64,
    pub part: u32,
}

impl MediaView {
    /// Segment with this MSN.
    pub fn segment(&self, msn: u64) -> Option<&SegmentView> {
        let i = msn.checked_sub(self.media_sequence)?;
        self.segments.get(usize::try_from(i).ok()?)
    }

    /// First MSN listed.
    pub fn first_msn(&self) -> u64 {
        self.media_sequence
    }

    /// PART-HOLD-BACK, or its default of 3 × PART-TARGET; `None` without parts.
    pub fn part_hold_back_or_default(&self) -> Option<Duration> {
        self.part_hold_back.or(self.part_target.map(|p| p * 3))
    }

    /// HOLD-BACK, or its default of 3 × TARGETDURATION.
    pub fn hold_back_or_default(&self) -> Duration {
        self.hold_back.unwrap_or(self.target_duration * 3)
    }

    /// Position just after the last listed part (where the next part will appear),
    /// or `None` without parts.
    pub fn next_part_pos(&self) -> Option<Pos> {
        let Some(last) = self
            .segments
            .iter()
            .rev()
            .find(|s| !s.parts.is_empty() || !s.complete)
        else {
            // Nothing listed yet (a stream that has just started, only its hints):
            // the next part is the first of the first segment.
            return (self.segments.is_empty() && self.part_target.is_some()).then(|| Pos {
                msn: self.first_msn(),
                part: 0,
            });
        };
        if last.complete {
            Some(Pos {
                msn: last.msn + 1,
                part: 0,
            })
        } else {
            Some(Pos {
                msn: last.msn,
                part: u32::try_from(last.parts.len()).ok()?,
            })
        }
    }

    /// Parts per segment, from the newest complete segment that lists its parts.
    pub fn parts_per_segment(&self) -> Option<u32> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.complete && !s.parts.is_empty())
            .and_then(|s| u32::try_from(s.parts.len()).ok())
    }

    /// `pos` moved `k` parts forward (segments assumed `parts_per_segment` long).
    pub fn advance(&self, pos: Pos, k: u32) -> Pos {
        let Some(pps) = self.parts_per_segment().filter(|&n| n > 0) else {
            return pos;
        };
        let g = pos.msn.saturating_mul(u64::from(pps)) + u64::from(pos.part) + u64::from(k);
        Pos {
            msn: g / u64::from(pps),
            part: (g % u64::from(pps)) as u32,
        }
    }

    /// Wall-clock start of the unit at `pos` (from PROGRAM-DATE-TIME), including the
    /// position just after the last listed part.
    pub fn time_of(&self, pos: Pos) -> Option<SystemTime> {
        let s = self.segment(pos.msn)?;
        let start = s.pdt?;
        let before: Duration = s
            .parts
            .iter()
            .take(pos.part as usize)
            .map(|p| p.duration)
            .sum();
        ((pos.part as usize) <= s.parts.len()).then_some(start + before)
    }

    /// The unit whose start is within half a unit of `t` (C-SYNC-01: renditions are
    /// aligned by time, not by MSN).
    pub fn pos_at(&self, t: SystemTime) -> Option<Pos> {
        let near = |start: SystemTime, d: Duration| {
            let diff = match t.duration_since(start) {
                Ok(x) => x,
                Err(e) => e.duration(),
            };
            diff < d / 2
        };
        for s in &self.segments {
            let Some(mut start) = s.pdt else { continue };
            for (i, p) in s.parts.iter().enumerate() {
                if near(start, p.duration) {
                    return Some(Pos {
                        msn: s.msn,
                        part: u32::try_from(i).ok()?,
                    });
                }
                start += p.duration;
            }
            if s.parts.is_empty() && s.complete && near(start, s.duration) {
                return Some(Pos {
                    msn: s.msn,
                    part: 0,
                });
            }
            if !s.complete && self.part_target.is_some_and(|pt| near(start, pt)) {
                // Just after the last listed part of the open segment.
                return Some(Pos {
                    msn: s.msn,
                    part: u32::try_from(s.parts.len()).ok()?,
                });
            }
        }
        None
    }

    /// MSN after the last complete segment.
    pub fn next_msn(&self) -> u64 {
        self.segments
            .iter()
            .rev()
            .find(|s| s.complete)
            .map(|s| s.msn + 1)
            .unwrap_or(self.media_sequence)
    }

    /// Where a listed part sits, by URI and (for byte-range parts, which share one
    /// URI) the range start of the hint that announced it.
    pub fn find_part(&self, uri: &str, range: Option<ByteRange>) -> Option<Pos> {
        let start = range.map(|r| r.start);
        self.segments.iter().find_map(|s| {
            s.parts
                .iter()
                .position(|p| {
                    p.uri == uri && (start.is_none() || p.range.map(|r| r.start) == start)
                })
                .and_then(|i| {
                    Some(Pos {
                        msn: s.msn,
                        part: u32::try_from(i).ok()?,
                    })
                })
        })
    }

    /// Media duration listed from `pos` (inclusive) to the end of the playlist.
    pub fn duration_from(&self, pos: Pos, whole: bool) -> Duration {
        let mut d = Duration::ZERO;
        for s in &self.segments {
            if s.msn < pos.msn {
                continue;
            }
            if s.msn > pos.msn || whole || s.parts.is_empty() {
                d += if s.complete {
                    s.duration
                } else {
                    s.parts.iter().map(|p| p.duration).sum()
                };
            } else {
                d += s
                    .parts
                    .iter()
                    .skip(pos.part as usize)
                    .map(|p| p.duration)
                    .sum::<Duration>();
            }
        }
        d
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A live LL view: `segs` complete segments of `parts` parts each starting at
    /// `msn0`, then `tail` parts of an incomplete segment.
    pub fn ll_view(msn0: u64, segs: u64, parts: u32, tail: u32) -> MediaView {
        let pd = Duration::from_millis(200);
        let mk_parts = |msn: u64, n: u32| {
            (0..n)
                .map(|p| PartView {
                    uri: format!("p{msn}.{p}.m4s"),
                    duration: pd,
                    independent: true,
                    range: None,
                    gap: false,
                })
                .collect::<Vec<_>>()
        };
        let mut segments: Vec<SegmentView> = (msn0..msn0 + segs)
            .map(|msn| SegmentView {
                msn,
                uri: format!("s{msn}.m4s"),
                duration: pd * parts,
                range: None,
                discontinuity: false,
                key: None,
                map: Some(Map {
                    uri: "init.mp4".into(),
                    range: None,
                }),
                pdt: None,
                gap: false,
                parts: mk_parts(msn, parts),
                complete: true,
            })
            .collect();
        segments.push(SegmentView {
            msn: msn0 + segs,
            uri: String::new(),
            duration: Duration::ZERO,
            range: None,
            discontinuity: false,
            key: None,
            map: Some(Map {
                uri: "init.mp4".into(),
                range: None,
            }),
            pdt: None,
            gap: false,
            parts: mk_parts(msn0 + segs, tail),
            complete: false,
        });
        let next = if tail < parts {
            format!("p{}.{}.m4s", msn0 + segs, tail)
        } else {
            format!("p{}.0.m4s", msn0 + segs + 1)
        };
        MediaView {
            target_duration: pd * parts,
            media_sequence: msn0,
            part_target: Some(pd),
            can_block_reload: true,
            part_hold_back: Some(pd * 3),
            segments,
            hint: Some(HintView {
                uri: next,
                range: None,
            }),
            ..MediaView::default()
        }
    }

    #[test]
    fn positions() {
        let v = ll_view(10, 3, 5, 2);
        assert_eq!(v.next_part_pos(), Some(Pos { msn: 13, part: 2 }));
        assert_eq!(v.next_msn(), 13);
        // Time alignment (C-SYNC-01): the same instant in a playlist numbered
        // differently maps to the same unit.
        let mut v = v;
        for s in &mut v.segments {
            s.pdt = Some(
                std::time::UNIX_EPOCH + Duration::from_secs(1000) + Duration::from_secs(s.msn),
            );
        }
        let t = v.time_of(Pos { msn: 12, part: 3 }).expect("dated");
        let mut w = v.clone();
        w.media_sequence += 100;
        for s in &mut w.segments {
            s.msn += 100;
        }
        assert_eq!(w.pos_at(t), Some(Pos { msn: 112, part: 3 }));
        let edge = v.time_of(Pos { msn: 13, part: 2 }).expect("edge");
        assert_eq!(w.pos_at(edge), Some(Pos { msn: 113, part: 2 }));
        assert_eq!(v.parts_per_segment(), Some(5));
        assert_eq!(
            v.advance(Pos { msn: 13, part: 2 }, 4),
            Pos { msn: 14, part: 1 }
        );
        assert_eq!(
            v.find_part("p11.3.m4s", None),
            Some(Pos { msn: 11, part: 3 })
        );
        assert_eq!(
            v.duration_from(Pos { msn: 12, part: 3 }, false),
            Duration::from_millis(800)
        );
    }
}
