//! Playlist text → [`MediaView`] / variants, and delta-update merging.
//!
//! The text is read by `aulos-manifest` ([`aulos_manifest::parse`]) and delta updates
//! (`EXT-X-SKIP`, C-SKIP-01) are merged with [`aulos_manifest::merge_delta`]. This
//! module is only the conversion from that text model into the session's views
//! ([`MediaView`], [`VariantView`]), resolving what the model keeps as written (on
//! the model itself, so that the copy kept for the next merge is self-contained):
//!
//! - byte ranges without an offset continue after the previous range of the same URI
//!   (segments and parts are tracked separately, parts across segment boundaries);
//! - the parts after the last `EXTINF` (`partial_segment` with its `partial_*` map,
//!   key, date and discontinuity) become a segment with `complete == false`;
//! - dates follow on by duration from the last segment that has one, and an
//!   `EXT-X-MAP` carries into a delta's segments when the delta omits it;
//! - only the first `TYPE=PART` preload hint is kept (C-HINT-01);
//! - `EXT-X-KEY` tags with a KEYFORMAT other than `identity` are ignored (C-KEY-01):
//!   the segment keeps the key in effect before it. `aulos-manifest` keeps one
//!   effective key per segment (the last tag wins), so when an identity key and
//!   another KEYFORMAT are listed together, the identity key must come last.
//!
//! Parser errors reach the session as [`Error::Playlist`] with the line number.

use super::playlist::{
    ByteRange, HintView, Key, KeyMethod, Map, MediaView, Parsed, PartView, ReportView, SegmentView,
    VariantView,
};
use crate::error::Error;
use aulos_manifest::{HintType, MediaPlaylist, MultivariantPlaylist, ParseError, Playlist};
use std::time::{Duration, SystemTime};

/// What we keep of the last playlist to merge a delta update into: the last full
/// (or merged) media playlist in `aulos-manifest`'s model, with byte-range offsets
/// and ignored keys resolved (see [`resolve`]).
pub(crate) type Raw = Option<MediaPlaylist>;

/// Cap on rendition reports kept (one per other rendition; nothing unbounded).
const MAX_REPORTS: usize = 64;

/// Longest duration accepted anywhere in a playlist (about 31 years), as the interim
/// reader had: keeps every sum of durations and date addition in the session far
/// from overflow. `aulos-manifest` accepts any `u64` seconds.
const MAX_SECS: u64 = 1_000_000_000;

/// Largest media sequence number accepted: the session adds part and segment counts
/// to MSNs, so half the `u64` range leaves room that no real stream reaches.
const MAX_MSN: u64 = u64::MAX / 2;

fn parse_error(e: ParseError) -> Error {
    Error::Playlist(format!("line {}: {}", e.line, e.kind))
}

/// Parse a playlist. For a delta update (`EXT-X-SKIP`), `previous` must hold the last
/// full copy; the skipped segments are taken from it (C-SKIP-01), else an error.
pub(crate) fn parse(text: &[u8], previous: Option<&Raw>) -> Result<(Parsed, Raw), Error> {
    let mut media = match aulos_manifest::parse(text).map_err(parse_error)? {
        Playlist::Multivariant(m) => return Ok((Parsed::Multivariant(variants(&m)), None)),
        Playlist::Media(m) => m,
    };
    if media.media_sequence > MAX_MSN {
        return Err(Error::Playlist(format!(
            "EXT-X-MEDIA-SEQUENCE beyond {MAX_MSN}"
        )));
    }
    match &media.skip {
        Some(skip) if skip.skipped_segments > 0 => {
            let prev = previous.and_then(Option::as_ref).ok_or_else(|| {
                Error::Playlist("delta update without a previous playlist".into())
            })?;
            // More than the previous copy holds cannot merge; checked here so that
            // `merge_delta` never sizes a buffer from an absurd SKIPPED-SEGMENTS.
            if skip.skipped_segments > prev.segments.len() as u64 {
                return Err(Error::Playlist(format!(
                    "delta update skips {} segments, the previous playlist has {}",
                    skip.skipped_segments,
                    prev.segments.len()
                )));
            }
            media = aulos_manifest::merge_delta(prev, &media)
                .map_err(|e| Error::Playlist(format!("delta update: {e}")))?;
        }
        // Nothing skipped: the playlist is already complete.
        Some(_) => media.skip = None,
        None => {}
    }
    check_durations(&media)?;
    resolve(&mut media);
    Ok((Parsed::Media(media_view(&media)), Some(media)))
}

/// Rejects durations beyond [`MAX_SECS`] (C-GEN-01).
fn check_durations(m: &MediaPlaylist) -> Result<(), Error> {
    let max = Duration::from_secs(MAX_SECS);
    let sc = m.server_control.unwrap_or_default();
    let parts_ok = |parts: &[aulos_manifest::Part]| parts.iter().all(|p| p.duration <= max);
    let ok = m.target_duration <= MAX_SECS
        && [
            m.part_target,
            sc.can_skip_until,
            sc.hold_back,
            sc.part_hold_back,
        ]
        .iter()
        .flatten()
        .all(|d| *d <= max)
        && m.segments
            .iter()
            .all(|s| s.duration <= max && parts_ok(&s.parts))
        && parts_ok(&m.partial_segment);
    if ok {
        Ok(())
    } else {
        Err(Error::Playlist(format!("a duration beyond {MAX_SECS} s")))
    }
}

fn variants(m: &MultivariantPlaylist) -> Vec<VariantView> {
    m.variants
        .iter()
        .map(|v| VariantView {
            bandwidth: v.bandwidth,
            codecs: v.codecs.clone(),
            uri: v.uri.clone(),
        })
        .collect()
}

/// Resolves byte ranges whose offset the text omits: "the range continues after the
/// previous range of the same URI" (0 when there is none).
#[derive(Default)]
struct RangeCursor {
    uri: String,
    end: Option<u64>,
}

impl RangeCursor {
    fn resolve(&mut self, uri: &str, r: &mut Option<aulos_manifest::ByteRange>) {
        let Some(r) = r else { return };
        let start = r.offset.unwrap_or(match self.end {
            Some(end) if self.uri == uri => end,
            _ => 0,
        });
        r.offset = Some(start);
        self.end = Some(start.saturating_add(r.len));
        self.uri.clear();
        self.uri.push_str(uri);
    }
}

/// Whether a key tag is to be ignored (C-KEY-01: KEYFORMATs other than identity).
fn foreign(k: &Option<aulos_manifest::Key>) -> bool {
    k.as_ref()
        .and_then(|k| k.key_format.as_deref())
        .is_some_and(|f| f != "identity")
}

/// Make the model self-contained before it is viewed and kept for the next delta
/// merge: every byte range gets its absolute offset, every segment after a dated
/// one its date, a key with a foreign KEYFORMAT is replaced by the key in effect
/// before it, and a segment without a map after one with a map gets that map. Done
/// on the model (not only the view) because a delta's skipped segments are taken
/// from it without the segments before them that an omitted offset, a follow-on
/// date or an ignored key refers to.
///
/// The map rule only matters after a delta merge: HLS cannot cancel an `EXT-X-MAP`,
/// so a segment without one that follows mapped segments is one whose tag was
/// skipped with them (the draft's own delta example lists no `EXT-X-MAP`).
fn resolve(m: &mut MediaPlaylist) {
    let mut seg_ranges = RangeCursor::default();
    let mut part_ranges = RangeCursor::default();
    let mut key: Option<aulos_manifest::Key> = None;
    let mut map: Option<aulos_manifest::Map> = None;
    // A date applies to its segment; later segments follow on by duration.
    let mut next_pdt: Option<SystemTime> = None;
    for s in &mut m.segments {
        if s.program_date_time.is_none() {
            s.program_date_time = next_pdt;
        }
        next_pdt = s.program_date_time.and_then(|t| t.checked_add(s.duration));
        seg_ranges.resolve(&s.uri, &mut s.byte_range);
        for p in &mut s.parts {
            part_ranges.resolve(&p.uri, &mut p.byte_range);
        }
        if foreign(&s.key) {
            s.key.clone_from(&key);
        }
        key.clone_from(&s.key);
        if s.map.is_none() {
            s.map.clone_from(&map);
        }
        map.clone_from(&s.map);
    }
    for p in &mut m.partial_segment {
        part_ranges.resolve(&p.uri, &mut p.byte_range);
    }
    if foreign(&m.partial_key) {
        m.partial_key = key;
    }
    if m.partial_map.is_none() && !m.partial_segment.is_empty() {
        m.partial_map = map;
    }
    if m.partial_program_date_time.is_none() && !m.partial_segment.is_empty() {
        m.partial_program_date_time = next_pdt;
    }
}

fn range_view(r: aulos_manifest::ByteRange) -> ByteRange {
    ByteRange {
        start: r.offset.unwrap_or(0),
        len: Some(r.len),
    }
}

fn map_view(m: &aulos_manifest::Map) -> Map {
    Map {
        uri: m.uri.clone(),
        range: m.byte_range.map(range_view),
    }
}

fn key_view(k: &aulos_manifest::Key) -> Key {
    use aulos_manifest::KeyMethod as M;
    let unsupported = |m: &str| Key {
        method: KeyMethod::Unsupported(m.to_owned()),
        uri: String::new(),
        iv: None,
    };
    match &k.method {
        M::Aes128 => Key {
            method: KeyMethod::Aes128,
            uri: k.uri.clone(),
            iv: k.iv,
        },
        M::SampleAes => unsupported("SAMPLE-AES"),
        M::SampleAesCtr => unsupported("SAMPLE-AES-CTR"),
        M::Other(m) => unsupported(m),
    }
}

fn parts_view(parts: &[aulos_manifest::Part]) -> Vec<PartView> {
    parts
        .iter()
        .map(|p| PartView {
            uri: p.uri.clone(),
            duration: p.duration,
            independent: p.independent,
            range: p.byte_range.map(range_view),
            gap: p.gap,
        })
        .collect()
}

/// Convert a full (non-delta or merged), [`resolve`]d media playlist.
fn media_view(m: &MediaPlaylist) -> MediaView {
    let sc = m.server_control.unwrap_or_default();
    let first = m.first_listed_msn();
    let mut segments = Vec::with_capacity(m.segments.len() + 1);
    for (msn, s) in (first..).zip(&m.segments) {
        segments.push(SegmentView {
            msn,
            uri: s.uri.clone(),
            duration: s.duration,
            range: s.byte_range.map(range_view),
            discontinuity: s.discontinuity,
            key: s.key.as_ref().map(key_view),
            map: s.map.as_ref().map(map_view),
            pdt: s.program_date_time,
            gap: s.gap,
            parts: parts_view(&s.parts),
            complete: true,
        });
    }
    if !m.partial_segment.is_empty() {
        segments.push(SegmentView {
            msn: m.next_msn(),
            uri: String::new(),
            duration: Duration::ZERO,
            range: None,
            discontinuity: m.partial_discontinuity,
            key: m.partial_key.as_ref().map(key_view),
            map: m.partial_map.as_ref().map(map_view),
            pdt: m.partial_program_date_time,
            gap: false,
            parts: parts_view(&m.partial_segment),
            complete: false,
        });
    }
    let hint = m
        .preload_hints
        .iter()
        .find(|h| h.hint_type == HintType::Part)
        .map(|h| HintView {
            uri: h.uri.clone(),
            range: (h.byte_range_start.is_some() || h.byte_range_length.is_some()).then(|| {
                ByteRange {
                    start: h.byte_range_start.unwrap_or(0),
                    len: h.byte_range_length,
                }
            }),
        });
    let reports = m
        .rendition_reports
        .iter()
        .filter_map(|r| {
            Some(ReportView {
                uri: r.uri.clone(),
                last_msn: r.last_msn?,
                last_part: r.last_part.and_then(|p| u32::try_from(p).ok()),
            })
        })
        .take(MAX_REPORTS)
        .collect();
    MediaView {
        target_duration: Duration::from_secs(m.target_duration),
        media_sequence: m.media_sequence,
        part_target: m.part_target,
        can_block_reload: sc.can_block_reload,
        can_skip_until: sc.can_skip_until,
        hold_back: sc.hold_back,
        part_hold_back: sc.part_hold_back,
        segments,
        hint,
        reports,
        ended: m.end_list,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const LL: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-VERSION:9\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.6\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-11-24T22:00:00.000Z\n#EXTINF:2.0,\ns5.m4s\n#EXT-X-PART:DURATION=0.2,URI=\"p6.0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.2,URI=\"p6.1.m4s\",INDEPENDENT=YES\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p6.2.m4s\"\n#EXT-X-RENDITION-REPORT:URI=\"../hi/a.m3u8\",LAST-MSN=6,LAST-PART=1\n";

    #[test]
    fn parses_ll_playlist() {
        let (p, _) = parse(LL.as_bytes(), None).expect("parses");
        let Parsed::Media(v) = p else {
            panic!("media playlist expected")
        };
        assert_eq!(v.segments.len(), 2);
        assert!(!v.segments[1].complete);
        assert_eq!(v.next_part_pos().map(|p| (p.msn, p.part)), Some((6, 2)));
        assert_eq!(v.hint.as_ref().map(|h| h.uri.as_str()), Some("p6.2.m4s"));
        assert_eq!(v.reports[0].last_part, Some(1));
        assert_eq!(v.part_hold_back, Some(Duration::from_millis(600)));
        let t = v.segments[0]
            .pdt
            .expect("date")
            .duration_since(UNIX_EPOCH)
            .expect("after epoch");
        assert_eq!(t.as_secs(), 1_795_557_600);
    }

    #[test]
    fn delta_merge_needs_previous() {
        // checklist C-SKIP-01
        let full = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2,\na0\n#EXTINF:2,\na1\n#EXTINF:2,\na2\n";
        let delta = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n#EXTINF:2,\na2\n#EXTINF:2,\na3\n";
        let (_, raw) = parse(full.as_bytes(), None).expect("full");
        let (p, _) = parse(delta.as_bytes(), Some(&raw)).expect("merges");
        let Parsed::Media(v) = p else { panic!("media") };
        let uris: Vec<_> = v.segments.iter().map(|s| (s.msn, s.uri.as_str())).collect();
        assert_eq!(uris, [(1, "a1"), (2, "a2"), (3, "a3")]);
        assert!(parse(delta.as_bytes(), None).is_err());
    }

    #[test]
    fn rejects_mixed_and_garbage() {
        // checklist P-TXT-05, C-GEN-01
        assert!(
            parse(
                b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
                None
            )
            .is_err()
        );
        assert!(parse(b"hello", None).is_err());
        assert!(parse(b"#EXTM3U\n#EXTINF:x,\na\n", None).is_err());
        assert!(parse(&[0xff, 0xfe], None).is_err());
    }

    fn media(text: &str) -> MediaView {
        match parse(text.as_bytes(), None) {
            Ok((Parsed::Media(v), _)) => v,
            other => panic!("expected a media playlist: {other:?}"),
        }
    }

    #[test]
    fn dates_with_offsets_and_short_ivs() {
        let v = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=0x1\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-24T23:00:00.500+01:00\n#EXTINF:2,\na0\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-24T22:00:02.5Z\n#EXTINF:2,\na1\n",
        );
        let t = |i: usize| {
            v.segments[i]
                .pdt
                .expect("dated")
                .duration_since(UNIX_EPOCH)
                .expect("after epoch")
        };
        assert_eq!(t(0), Duration::from_millis(1_795_557_600_500));
        assert_eq!(t(1) - t(0), Duration::from_secs(2));
        let iv = v.segments[0].key.as_ref().and_then(|k| k.iv).expect("iv");
        assert_eq!(iv[15], 1);
        assert!(iv[..15].iter().all(|&b| b == 0));
    }

    #[test]
    fn parser_errors_carry_the_line() {
        // checklist C-GEN-01
        let e = parse(b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n\n#EXTINF:x,\na\n", None)
            .expect_err("bad EXTINF");
        let Error::Playlist(msg) = e else {
            panic!("Error::Playlist expected, got {e:?}")
        };
        assert!(msg.starts_with("line 4: "), "{msg}");
        assert!(msg.contains("EXTINF"), "{msg}");
        let e = parse(b"hello", None).expect_err("no header");
        assert!(
            matches!(&e, Error::Playlist(m) if m.starts_with("line 1: ")),
            "{e:?}"
        );
    }

    #[test]
    fn foreign_keyformat_keeps_the_identity_key() {
        // checklist C-KEY-01: a KEYFORMAT other than identity is ignored, so the
        // AES-128 key stays in effect; METHOD=NONE clears it.
        let v = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI=\"k1\"\n\
             #EXTINF:2,\na0\n\
             #EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://x\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n\
             #EXTINF:2,\na1\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:2,\na2\n\
             #EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k2\",KEYFORMAT=\"identity\"\n\
             #EXT-X-PART:DURATION=1,URI=\"p3.0\"\n",
        );
        let keys: Vec<_> = v
            .segments
            .iter()
            .map(|s| s.key.as_ref().map(|k| (k.method.clone(), k.uri.as_str())))
            .collect();
        assert_eq!(
            keys,
            [
                Some((KeyMethod::Aes128, "k1")),
                Some((KeyMethod::Aes128, "k1")),
                None,
                Some((KeyMethod::Unsupported("SAMPLE-AES".into()), "")),
            ]
        );
        assert!(!v.segments[3].complete);
    }

    #[test]
    fn partial_segment_takes_its_own_map_date_and_discontinuity() {
        let v = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n\
             #EXT-X-MAP:URI=\"init1.mp4\"\n#EXTINF:2,\ns0.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\",BYTERANGE=\"700@100\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n\
             #EXT-X-PART:DURATION=0.5,URI=\"p1.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.5,URI=\"p1.1.m4s\",GAP=YES\n",
        );
        assert_eq!(v.segments.len(), 2);
        let (done, open) = (&v.segments[0], &v.segments[1]);
        assert!(done.complete && !open.complete);
        assert_eq!((done.msn, open.msn), (0, 1));
        assert_eq!(done.map.as_ref().map(|m| m.uri.as_str()), Some("init1.mp4"));
        assert!(!done.discontinuity && open.discontinuity);
        let map = open.map.clone().expect("map");
        assert_eq!(map.uri, "init2.mp4");
        assert_eq!(
            map.range,
            Some(ByteRange {
                start: 100,
                len: Some(700)
            })
        );
        assert!(done.pdt.is_none() && open.pdt.is_some());
        assert_eq!(
            open.parts
                .iter()
                .map(|p| (p.independent, p.gap))
                .collect::<Vec<_>>(),
            [(true, false), (false, true)]
        );
        assert_eq!(v.next_part_pos().map(|p| (p.msn, p.part)), Some((1, 2)));
    }

    #[test]
    fn byte_ranges_continue_per_uri() {
        // Offsets omitted in the text continue after the previous range of the same
        // resource; segment and part ranges are tracked separately.
        let v = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n\
             #EXT-X-PART:DURATION=1,URI=\"a.mp4\",BYTERANGE=10@0\n\
             #EXT-X-PART:DURATION=1,URI=\"a.mp4\",BYTERANGE=20\n\
             #EXTINF:2,\n#EXT-X-BYTERANGE:30@5\nall.ts\n\
             #EXT-X-PART:DURATION=1,URI=\"b.mp4\",BYTERANGE=7\n\
             #EXT-X-PART:DURATION=1,URI=\"b.mp4\",BYTERANGE=8\n\
             #EXTINF:2,\n#EXT-X-BYTERANGE:40\nall.ts\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"c.mp4\",BYTERANGE-LENGTH=9\n",
        );
        let r = |s: usize| v.segments[s].range.map(|r| (r.start, r.len));
        assert_eq!((r(0), r(1)), (Some((5, Some(30))), Some((35, Some(40)))));
        let parts: Vec<_> = v
            .segments
            .iter()
            .flat_map(|s| &s.parts)
            .map(|p| p.range.map(|r| (r.start, r.len)))
            .collect();
        assert_eq!(
            parts,
            [
                Some((0, Some(10))),
                Some((10, Some(20))),
                Some((0, Some(7))),
                Some((7, Some(8)))
            ]
        );
        assert_eq!(
            v.hint.and_then(|h| h.range),
            Some(ByteRange {
                start: 0,
                len: Some(9)
            })
        );
    }

    #[test]
    fn delta_merge_keeps_skipped_ranges_keys_and_maps() {
        // checklist C-SKIP-01: the skipped segments come from the previous copy with
        // their resolved byte ranges, dates, key and map, though the segment their
        // offset and date follow on from is no longer listed.
        let full = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n\
             #EXTINF:2,\n#EXT-X-BYTERANGE:100@0\nall.mp4\n\
             #EXTINF:2,\n#EXT-X-BYTERANGE:100\nall.mp4\n\
             #EXTINF:2,\n#EXT-X-BYTERANGE:100\nall.mp4\n";
        let delta = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:11\n\
             #EXT-X-SKIP:SKIPPED-SEGMENTS=1\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n\
             #EXTINF:2,\n#EXT-X-BYTERANGE:100@200\nall.mp4\n\
             #EXTINF:2,\n#EXT-X-BYTERANGE:100\nall.mp4\n";
        let (full_view, raw) = parse(full.as_bytes(), None).expect("full");
        let (p, raw2) = parse(delta.as_bytes(), Some(&raw)).expect("merges");
        let (Parsed::Media(full_view), Parsed::Media(v)) = (full_view, p) else {
            panic!("media")
        };
        assert_eq!(v.media_sequence, 11);
        assert_eq!(v.segments.len(), 3);
        assert_eq!(v.segments[0], full_view.segments[1]);
        assert_eq!(v.segments[1], full_view.segments[2]);
        let last = &v.segments[2];
        assert_eq!((last.msn, last.range.map(|r| r.start)), (13, Some(300)));
        assert!(last.key.is_some() && last.map.is_some());
        let t = |s: &SegmentView| s.pdt.expect("dated");
        assert_eq!(
            t(last).duration_since(t(&full_view.segments[0])).ok(),
            Some(Duration::from_secs(6))
        );
        // The merged copy is what the next delta merges into.
        let raw2 = raw2.expect("media raw");
        assert!(raw2.skip.is_none());
        assert_eq!(raw2.segments.len(), 3);
        // A delta skipping more than the previous copy holds is refused.
        let greedy = delta.replace("SKIPPED-SEGMENTS=1", "SKIPPED-SEGMENTS=99999999999999");
        assert!(matches!(
            parse(greedy.as_bytes(), Some(&raw)),
            Err(Error::Playlist(_))
        ));
    }

    #[test]
    fn out_of_range_numbers_are_rejected() {
        // checklist C-GEN-01: nothing the session adds up may overflow.
        for body in [
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:99999999999999999999,\na\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:9999999999\n#EXTINF:2,\na\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n#EXTINF:2,\na\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART:DURATION=9999999999,URI=\"p\"\n",
        ] {
            assert!(
                matches!(parse(body.as_bytes(), None), Err(Error::Playlist(_))),
                "{body}"
            );
        }
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::session::playlist::Pos;

    fn media(text: &str) -> MediaView {
        match parse(text.as_bytes(), None) {
            Ok((Parsed::Media(v), _)) => v,
            other => panic!("expected a media playlist: {other:?}"),
        }
    }

    #[test]
    fn apple_style_ll_with_byterange_parts() {
        // P-TXT-06 (unknown tags ignored), C-HINT-01 (first PART hint only, MAP
        // hint ignored), byte-range parts with implied offsets.
        let v = media(include_str!("../../tests/fixtures/apple_ll_byterange.m3u8"));
        assert_eq!(v.media_sequence, 266);
        assert_eq!(v.segments.len(), 5);
        let s269 = &v.segments[3];
        assert_eq!(s269.msn, 269);
        assert!(s269.complete);
        let ranges: Vec<_> = s269
            .parts
            .iter()
            .map(|p| p.range.map(|r| (r.start, r.len)))
            .collect();
        assert_eq!(
            ranges,
            [
                Some((0, Some(20000))),
                Some((20000, Some(23000))),
                Some((43000, Some(18000)))
            ]
        );
        let hint = v.hint.clone().expect("part hint");
        assert_eq!(hint.uri, "fileSequence270.mp4");
        assert_eq!(
            hint.range,
            Some(ByteRange {
                start: 41540,
                len: None
            })
        );
        assert_eq!(
            hint.range.map(|r| r.header_value()).as_deref(),
            Some("bytes=41540-")
        );
        assert_eq!(v.next_part_pos(), Some(Pos { msn: 270, part: 2 }));
        assert_eq!(v.reports.len(), 2);
        assert_eq!(v.can_skip_until, Some(Duration::from_secs(24)));
        // Dates follow on from the one tagged segment.
        let d = |i: usize| v.segments[i].pdt.expect("date");
        assert_eq!(
            d(1).duration_since(d(0)).ok(),
            Some(Duration::from_secs_f64(4.00008))
        );
        // Byte-range parts share a URI: found by range start.
        let second = Some(ByteRange {
            start: 20000,
            len: None,
        });
        assert_eq!(
            v.find_part("fileSequence269.mp4", second),
            Some(Pos { msn: 269, part: 1 })
        );
    }

    #[test]
    fn ffmpeg_ts_vod_with_discontinuity() {
        let v = media(include_str!("../../tests/fixtures/ffmpeg_ts_vod.m3u8"));
        assert!(v.ended);
        assert_eq!(v.segments.len(), 4);
        assert!(v.segments[2].discontinuity);
        assert!(!v.segments[1].discontinuity);
        assert!(v.segments.iter().all(|s| s.complete && s.map.is_none()));
    }

    #[test]
    fn aes_keys_and_byteranges() {
        // checklist C-KEY-01: explicit IV, METHOD=NONE clears, unknown KEYFORMAT ignored.
        let v = media(include_str!("../../tests/fixtures/aes_byterange.m3u8"));
        let k = v.segments[0].key.clone().expect("key");
        assert_eq!(k.method, KeyMethod::Aes128);
        assert_eq!(k.iv.map(|iv| (iv[14], iv[15])), Some((0xab, 0xcd)));
        assert_eq!(
            v.segments[1].range,
            Some(ByteRange {
                start: 75232,
                len: Some(82112)
            })
        );
        assert!(v.segments[2].key.is_none());
        assert_eq!(
            v.segments[2].range,
            Some(ByteRange {
                start: 157_344,
                len: Some(69864)
            })
        );
        assert!(
            v.segments[3].key.is_none(),
            "streamingkeydelivery KEYFORMAT is ignored"
        );
    }

    #[test]
    fn multivariant_with_audio_groups_and_redundancy() {
        let (p, _) = parse(
            include_str!("../../tests/fixtures/multivariant_audio.m3u8").as_bytes(),
            None,
        )
        .expect("parses");
        let Parsed::Multivariant(vars) = p else {
            panic!("multivariant expected")
        };
        let bw: Vec<u64> = vars.iter().map(|v| v.bandwidth).collect();
        assert_eq!(
            bw,
            [176_000, 56_000, 104_000, 104_000],
            "I-FRAME variants are not audio renditions"
        );
        assert_eq!(vars[3].uri, "https://backup.example/mid/index.m3u8");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(body in "#EXTM3U\n(#EXT[-A-Z:=,\"0-9.@]{0,40}\n|[a-z0-9./]{1,12}\n){0,30}") {
            let _ = parse(body.as_bytes(), None);
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&body, None);
        }
    }
}

/// The client against every playlist fixture of `aulos-manifest` (written from the
/// draft's examples and from real servers' output).
#[cfg(test)]
mod manifest_fixtures {
    use super::*;
    use crate::session::playlist::Pos;

    fn load() -> Vec<(String, Vec<u8>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifest/tests/fixtures");
        let mut all: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "m3u8"))
            .map(|p| {
                let name = p.file_name().expect("file name").to_string_lossy().into();
                (name, std::fs::read(&p).expect("readable fixture"))
            })
            .collect();
        all.sort();
        all
    }

    fn is_delta(m: &MediaPlaylist) -> bool {
        m.skip.as_ref().is_some_and(|s| s.skipped_segments > 0)
    }

    /// The view agrees with the model it came from.
    fn check_media(name: &str, m: &MediaPlaylist, v: &MediaView) {
        let skipped = m.skip.as_ref().map_or(0, |s| s.skipped_segments) as usize;
        let complete = v.segments.iter().filter(|s| s.complete).count();
        assert_eq!(complete, skipped + m.segments.len(), "{name}");
        assert_eq!(
            v.segments.last().is_some_and(|s| !s.complete),
            !m.partial_segment.is_empty(),
            "{name}: open segment iff the playlist ends in parts"
        );
        assert_eq!(v.media_sequence, m.media_sequence, "{name}");
        for (i, s) in v.segments.iter().enumerate() {
            assert_eq!(s.msn, m.media_sequence + i as u64, "{name}: MSNs in order");
            assert_eq!(s.complete, !s.uri.is_empty(), "{name}: {}", s.msn);
            let ranges = s
                .range
                .iter()
                .chain(s.parts.iter().filter_map(|p| p.range.as_ref()));
            assert!(ranges.into_iter().all(|r| r.len.is_some()), "{name}");
        }
        if !m.partial_segment.is_empty() {
            let pos = Pos {
                msn: m.next_msn(),
                part: m.partial_segment.len() as u32,
            };
            assert_eq!(v.next_part_pos(), Some(pos), "{name}");
        }
        assert_eq!(v.ended, m.end_list, "{name}");
        assert_eq!(v.reports.len(), m.rendition_reports.len(), "{name}");
        let first_part_hint = m
            .preload_hints
            .iter()
            .find(|h| h.hint_type == HintType::Part);
        assert_eq!(
            v.hint.as_ref().map(|h| h.uri.as_str()),
            first_part_hint.map(|h| h.uri.as_str()),
            "{name}"
        );
    }

    #[test]
    fn every_fixture_parses_into_a_view() {
        let all = load();
        assert!(all.len() >= 8, "fixtures found: {}", all.len());
        let models: Vec<_> = all
            .iter()
            .map(|(name, text)| {
                aulos_manifest::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"))
            })
            .collect();
        // Full media playlists, kept as the session keeps them, for the deltas.
        let mut full = Vec::new();
        let (mut media, mut multivariant, mut deltas) = (0, 0, 0);
        for ((name, text), model) in all.iter().zip(&models) {
            match (model, parse(text, None)) {
                (Playlist::Multivariant(m), Ok((Parsed::Multivariant(vars), raw))) => {
                    multivariant += 1;
                    assert!(raw.is_none(), "{name}");
                    let bw: Vec<_> = vars.iter().map(|v| (v.bandwidth, v.uri.as_str())).collect();
                    let want: Vec<_> = m
                        .variants
                        .iter()
                        .map(|v| (v.bandwidth, v.uri.as_str()))
                        .collect();
                    assert_eq!(bw, want, "{name}");
                }
                (Playlist::Media(m), Ok((Parsed::Media(v), raw))) if !is_delta(m) => {
                    media += 1;
                    check_media(name, m, &v);
                    full.push(raw);
                }
                (Playlist::Media(m), Err(Error::Playlist(_))) if is_delta(m) => {}
                (_, other) => panic!("{name}: {other:?}"),
            }
        }
        // checklist C-SKIP-01: each delta merges into one of the full playlists.
        for ((name, text), model) in all.iter().zip(&models) {
            let Playlist::Media(m) = model else { continue };
            if !is_delta(m) {
                continue;
            }
            deltas += 1;
            let merged = full.iter().find_map(|prev| match parse(text, Some(prev)) {
                Ok((Parsed::Media(v), _)) => Some(v),
                _ => None,
            });
            let v = merged.unwrap_or_else(|| panic!("{name}: merges into no full fixture"));
            check_media(name, m, &v);
        }
        assert!(
            media >= 4 && multivariant >= 2 && deltas >= 1,
            "{media} {multivariant} {deltas}"
        );
    }

    #[test]
    fn apple_delta_merges_to_the_full_playlist() {
        // checklist C-SKIP-01: the draft's delta example answers the request after
        // its full example, so the segments they share must come out identical,
        // though the delta omits EXT-X-MAP and the first date.
        let all = load();
        let get = |n: &str| {
            let (_, text) = all.iter().find(|(name, _)| name == n).expect(n);
            text.as_slice()
        };
        let (full, raw) = parse(get("apple-ll-parts.m3u8"), None).expect("full");
        let (delta, _) = parse(get("apple-ll-delta.m3u8"), Some(&raw)).expect("merges");
        let (Parsed::Media(full), Parsed::Media(delta)) = (full, delta) else {
            panic!("media playlists expected")
        };
        let complete = |v: &MediaView| -> Vec<SegmentView> {
            v.segments.iter().filter(|s| s.complete).cloned().collect()
        };
        assert_eq!(complete(&full).len(), 7);
        assert_eq!(complete(&delta), complete(&full));
        let (open_full, open_delta) = (
            full.segments.last().expect("open segment"),
            delta.segments.last().expect("open segment"),
        );
        assert_eq!(open_delta.parts[..3], open_full.parts[..]);
        assert_eq!(open_delta.parts.len(), 4);
        assert_eq!(
            (open_delta.map.as_ref(), open_delta.pdt),
            (open_full.map.as_ref(), open_full.pdt)
        );
        assert_eq!(delta.next_part_pos(), Some(Pos { msn: 273, part: 4 }));
    }
}
