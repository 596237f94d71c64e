//! Playlist text → [`MediaView`] / variants, and delta-update merging.
//!
//! Interim: `aulos-manifest` (the workspace's playlist parser) had not landed when
//! this crate was written, so this module holds a small reader of exactly the tags
//! the client rules use. It is the one place to swap for `aulos-manifest`'s parser and
//! `MediaPlaylist::merge_delta` (same function signatures).

use super::playlist::{
    ByteRange, HintView, Key, KeyMethod, Map, MediaView, Parsed, PartView, ReportView, SegmentView,
    VariantView,
};
use crate::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What we keep of the last playlist to merge a delta update into.
pub(crate) type Raw = Option<MediaView>;

/// Cap on lines read (nothing unbounded on input).
const MAX_LINES: usize = 200_000;

fn err(line: usize, what: &str) -> Error {
    Error::Playlist(format!("line {line}: {what}"))
}

/// Split an attribute list (`A=1,B="x,y"`) into pairs.
fn attrs(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], q[end + 1..].trim_start_matches(',')),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(c) => (&after[..c], &after[c + 1..]),
                None => (after, ""),
            }
        };
        out.push((name, value));
        rest = next;
    }
    out
}

fn attr<'a>(list: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    list.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

fn secs(s: &str) -> Option<Duration> {
    let v: f64 = s.trim().parse().ok()?;
    (v.is_finite() && (0.0..1e9).contains(&v)).then(|| Duration::from_secs_f64(v))
}

/// `n[@o]` → range; `o` defaults to the end of the previous range of the same URI.
fn byterange(s: &str, prev_end: Option<u64>) -> Option<ByteRange> {
    let (n, o) = match s.split_once('@') {
        Some((n, o)) => (n, Some(o.parse().ok()?)),
        None => (s, None),
    };
    let len: u64 = n.trim().parse().ok()?;
    Some(ByteRange {
        start: o.or(prev_end).unwrap_or(0),
        len: Some(len),
    })
}

fn hex_iv(s: &str) -> Option<[u8; 16]> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if h.len() > 32 || h.is_empty() {
        return None;
    }
    let padded = format!("{h:0>32}");
    let mut iv = [0u8; 16];
    for (i, b) in iv.iter_mut().enumerate() {
        *b = u8::from_str_radix(padded.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(iv)
}

/// RFC 3339 date (`2026-11-24T22:00:00.123Z`, `+01:00` offsets) → `SystemTime`.
/// Hand-written (days-from-civil) to avoid a date crate for one tag.
pub(crate) fn parse_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let f = &frac[..digits];
        let f9 = format!("{:0<9}", &f[..f.len().min(9)]);
        nanos = f9.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 3600
                + o.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let t = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    let t = u64::try_from(t).ok()?;
    Some(UNIX_EPOCH + Duration::new(t, nanos))
}

/// Parse a playlist. For a delta update (`EXT-X-SKIP`), `previous` must hold the last
/// full copy; the skipped segments are taken from it (C-SKIP-01), else an error.
pub(crate) fn parse(text: &[u8], previous: Option<&Raw>) -> Result<(Parsed, Raw), Error> {
    let text = std::str::from_utf8(text).map_err(|_| err(0, "not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().take(MAX_LINES);
    match lines.next() {
        Some((_, l)) if l.trim_end() == "#EXTM3U" => {}
        _ => return Err(err(1, "missing #EXTM3U")),
    }
    let mut v = MediaView::default();
    let mut variants = Vec::new();
    let mut pending_variant: Option<(u64, Option<String>)> = None;
    let mut media_tags = false;
    let mut skipped: u64 = 0;
    let mut dur: Option<Duration> = None;
    let mut range: Option<ByteRange> = None;
    let mut last_range_end: Option<u64> = None;
    let mut disc = false;
    let mut gap = false;
    let mut key: Option<Key> = None;
    let mut map: Option<Map> = None;
    let mut pdt: Option<SystemTime> = None;
    let mut parts: Vec<PartView> = Vec::new();
    let mut last_part_end: Option<u64> = None;
    let mut next_msn: Option<u64> = None;
    let mut have_td = false;
    for (i, line) in lines {
        let n = i + 1;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let Some(tag) = line.strip_prefix('#') else {
            if let Some((bw, codecs)) = pending_variant.take() {
                variants.push(VariantView {
                    bandwidth: bw,
                    codecs,
                    uri: line.to_string(),
                });
                continue;
            }
            let msn = *next_msn.get_or_insert(v.media_sequence + skipped);
            let d = dur.take().ok_or_else(|| err(n, "URI without EXTINF"))?;
            if let Some(r) = range {
                last_range_end = r.len.map(|l| r.start + l);
            }
            let seg_pdt = pdt.take();
            v.segments.push(SegmentView {
                msn,
                uri: line.to_string(),
                duration: d,
                range: range.take(),
                discontinuity: std::mem::take(&mut disc),
                key: key.clone(),
                map: map.clone(),
                pdt: seg_pdt,
                gap: std::mem::take(&mut gap),
                parts: std::mem::take(&mut parts),
                complete: true,
            });
            next_msn = Some(msn + 1);
            continue;
        };
        let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
        match name {
            "EXT-X-STREAM-INF" => {
                let a = attrs(value);
                let bw = attr(&a, "BANDWIDTH")
                    .and_then(|b| b.parse().ok())
                    .ok_or_else(|| err(n, "STREAM-INF without BANDWIDTH"))?;
                pending_variant = Some((bw, attr(&a, "CODECS").map(str::to_string)));
            }
            "EXT-X-TARGETDURATION" => {
                media_tags = true;
                have_td = true;
                v.target_duration = Duration::from_secs(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| err(n, "bad TARGETDURATION"))?,
                );
            }
            "EXT-X-MEDIA-SEQUENCE" => {
                v.media_sequence = value
                    .trim()
                    .parse()
                    .map_err(|_| err(n, "bad MEDIA-SEQUENCE"))?;
            }
            "EXT-X-PART-INF" => {
                v.part_target = attr(&attrs(value), "PART-TARGET").and_then(secs);
            }
            "EXT-X-SERVER-CONTROL" => {
                let a = attrs(value);
                v.can_block_reload = attr(&a, "CAN-BLOCK-RELOAD") == Some("YES");
                v.can_skip_until = attr(&a, "CAN-SKIP-UNTIL").and_then(secs);
                v.hold_back = attr(&a, "HOLD-BACK").and_then(secs);
                v.part_hold_back = attr(&a, "PART-HOLD-BACK").and_then(secs);
            }
            "EXT-X-SKIP" => {
                skipped = attr(&attrs(value), "SKIPPED-SEGMENTS")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| err(n, "bad SKIP"))?;
            }
            "EXTINF" => {
                media_tags = true;
                let d = value.split(',').next().unwrap_or("");
                dur = Some(secs(d).ok_or_else(|| err(n, "bad EXTINF"))?);
            }
            "EXT-X-BYTERANGE" => range = byterange(value, last_range_end),
            "EXT-X-DISCONTINUITY" => disc = true,
            "EXT-X-GAP" => gap = true,
            "EXT-X-KEY" => {
                let a = attrs(value);
                // C-KEY-01: ignore KEYFORMATs other than identity.
                if attr(&a, "KEYFORMAT").is_some_and(|f| f != "identity") {
                    continue;
                }
                key = match attr(&a, "METHOD") {
                    Some("NONE") => None,
                    Some("AES-128") => Some(Key {
                        method: KeyMethod::Aes128,
                        uri: attr(&a, "URI")
                            .ok_or_else(|| err(n, "KEY without URI"))?
                            .to_string(),
                        iv: attr(&a, "IV").and_then(hex_iv),
                    }),
                    Some(m) => Some(Key {
                        method: KeyMethod::Unsupported(m.to_string()),
                        uri: String::new(),
                        iv: None,
                    }),
                    None => return Err(err(n, "KEY without METHOD")),
                };
            }
            "EXT-X-MAP" => {
                let a = attrs(value);
                map = Some(Map {
                    uri: attr(&a, "URI")
                        .ok_or_else(|| err(n, "MAP without URI"))?
                        .to_string(),
                    range: attr(&a, "BYTERANGE").and_then(|r| byterange(r, None)),
                });
            }
            "EXT-X-PROGRAM-DATE-TIME" => pdt = parse_date(value.trim()),
            "EXT-X-PART" => {
                let a = attrs(value);
                let uri = attr(&a, "URI").ok_or_else(|| err(n, "PART without URI"))?;
                let r = attr(&a, "BYTERANGE").and_then(|r| byterange(r, last_part_end));
                if let Some(r) = r {
                    last_part_end = r.len.map(|l| r.start + l);
                }
                parts.push(PartView {
                    uri: uri.to_string(),
                    duration: attr(&a, "DURATION")
                        .and_then(secs)
                        .ok_or_else(|| err(n, "PART without DURATION"))?,
                    independent: attr(&a, "INDEPENDENT") == Some("YES"),
                    range: r,
                    gap: attr(&a, "GAP") == Some("YES"),
                });
            }
            "EXT-X-PRELOAD-HINT" => {
                let a = attrs(value);
                // C-HINT-01: only the first TYPE=PART hint; other types ignored.
                if attr(&a, "TYPE") == Some("PART") && v.hint.is_none() {
                    let uri = attr(&a, "URI").ok_or_else(|| err(n, "hint without URI"))?;
                    let start = attr(&a, "BYTERANGE-START").and_then(|s| s.parse().ok());
                    let len = attr(&a, "BYTERANGE-LENGTH").and_then(|s| s.parse().ok());
                    let range = (start.is_some() || len.is_some()).then(|| ByteRange {
                        start: start.unwrap_or(0),
                        len,
                    });
                    v.hint = Some(HintView {
                        uri: uri.to_string(),
                        range,
                    });
                }
            }
            "EXT-X-RENDITION-REPORT" => {
                let a = attrs(value);
                if let (Some(uri), Some(msn)) = (
                    attr(&a, "URI"),
                    attr(&a, "LAST-MSN").and_then(|s| s.parse().ok()),
                ) && v.reports.len() < 64
                {
                    {
                        v.reports.push(ReportView {
                            uri: uri.to_string(),
                            last_msn: msn,
                            last_part: attr(&a, "LAST-PART").and_then(|s| s.parse().ok()),
                        });
                    }
                }
            }
            "EXT-X-ENDLIST" => v.ended = true,
            _ => {} // P-TXT-06: unknown tags ignored
        }
    }
    if !variants.is_empty() {
        if media_tags {
            return Err(err(0, "mixes multivariant and media tags")); // P-TXT-05
        }
        return Ok((Parsed::Multivariant(variants), None));
    }
    if !have_td {
        return Err(err(0, "missing EXT-X-TARGETDURATION"));
    }
    if !parts.is_empty() || !v.ended {
        let msn = next_msn.unwrap_or(v.media_sequence + skipped);
        if !parts.is_empty() {
            v.segments.push(SegmentView {
                msn,
                uri: String::new(),
                duration: Duration::ZERO,
                range: None,
                discontinuity: disc,
                key,
                map,
                pdt,
                gap: false,
                parts,
                complete: false,
            });
        }
    }
    // A date applies to its segment; later segments follow on by duration.
    for i in 1..v.segments.len() {
        if v.segments[i].pdt.is_none() {
            let prev = &v.segments[i - 1];
            let d = if prev.complete {
                prev.duration
            } else {
                prev.parts.iter().map(|p| p.duration).sum()
            };
            v.segments[i].pdt = prev.pdt.map(|t| t + d);
        }
    }
    if skipped > 0 {
        let prev = previous
            .and_then(|p| p.as_ref())
            .ok_or_else(|| err(0, "delta update without a previous playlist"))?;
        let mut merged = Vec::with_capacity(v.segments.len() + skipped as usize);
        for msn in v.media_sequence..v.media_sequence + skipped {
            let s = prev
                .segment(msn)
                .filter(|s| s.complete)
                .ok_or_else(|| err(0, "delta skips segments we do not have"))?;
            merged.push(s.clone());
        }
        merged.append(&mut v.segments);
        v.segments = merged;
    }
    Ok((Parsed::Media(v.clone()), Some(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn dates_and_ivs() {
        let a = parse_date("2026-11-24T23:00:00.500+01:00").expect("date");
        let b = parse_date("2026-11-24T22:00:00.5Z").expect("date");
        assert_eq!(a, b);
        assert!(parse_date("2026-13-01T00:00:00Z").is_none());
        assert_eq!(hex_iv("0x1").map(|iv| iv[15]), Some(1));
        assert!(hex_iv("zz").is_none());
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
