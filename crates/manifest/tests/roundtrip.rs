//! Property tests: model → render → parse is the identity; the renderer always
//! writes valid playlist text; the parser never panics.

use aulos_manifest::*;
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn dur() -> impl Strategy<Value = Duration> {
    (0u64..20_000_000).prop_map(Duration::from_micros)
}

fn uri() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9/._?=&-]{0,24}"
}

fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ._-]{0,12}"
}

fn date() -> impl Strategy<Value = SystemTime> {
    (0u64..4_000_000_000_000).prop_map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
}

fn range() -> impl Strategy<Value = ByteRange> {
    (0u64..1 << 40, proptest::option::of(0u64..1 << 40))
        .prop_map(|(len, offset)| ByteRange { len, offset })
}

fn map() -> impl Strategy<Value = Map> {
    (uri(), proptest::option::of(range())).prop_map(|(uri, r)| Map {
        uri,
        byte_range: r.map(|r| ByteRange {
            offset: Some(r.offset.unwrap_or(0)),
            ..r
        }),
    })
}

fn key() -> impl Strategy<Value = Key> {
    (
        prop_oneof![
            Just(KeyMethod::Aes128),
            Just(KeyMethod::SampleAes),
            Just(KeyMethod::SampleAesCtr),
            Just(KeyMethod::Other("X-CUSTOM".into())),
        ],
        uri(),
        proptest::option::of(any::<[u8; 16]>()),
        proptest::option::of(text()),
        proptest::option::of("[0-9/]{1,5}"),
    )
        .prop_map(|(method, uri, iv, f, v)| Key {
            method,
            uri,
            iv,
            key_format: f,
            key_format_versions: v,
        })
}

fn part() -> impl Strategy<Value = Part> {
    (
        uri(),
        dur(),
        any::<bool>(),
        proptest::option::of(range()),
        any::<bool>(),
    )
        .prop_map(|(uri, duration, independent, byte_range, gap)| Part {
            uri,
            duration,
            independent,
            byte_range,
            gap,
        })
}

/// Per segment: (uri, duration, title, range, dis, gap, pdt, bitrate change, map
/// change, key change (Some(None) = METHOD=NONE), parts).
type SegSpec = (
    (String, Duration, String, Option<ByteRange>, bool, bool),
    (
        Option<SystemTime>,
        Option<u64>,
        Option<Map>,
        Option<Option<Key>>,
        Vec<Part>,
    ),
);

fn seg_spec() -> impl Strategy<Value = SegSpec> {
    (
        (
            uri(),
            dur(),
            "[A-Za-z0-9,]{0,10}",
            proptest::option::of(range()),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            proptest::option::of(date()),
            proptest::option::of((1u64..100_000).prop_map(|k| k * 1000)),
            proptest::option::weighted(0.2, map()),
            proptest::option::weighted(0.2, proptest::option::of(key())),
            proptest::collection::vec(part(), 0..4),
        ),
    )
}

prop_compose! {
    fn media_playlist()(
        target_duration in 1u64..100,
        media_sequence in 0u64..1 << 50,
        discontinuity_sequence in 0u64..1000,
        playlist_type in proptest::option::of(prop_oneof![Just(PlaylistType::Event), Just(PlaylistType::Vod)]),
        independent_segments in any::<bool>(),
        part_target in proptest::option::of(dur()),
        server_control in proptest::option::of((any::<bool>(), proptest::option::of(dur()), any::<bool>(), proptest::option::of(dur()), proptest::option::of(dur()))),
        skip in proptest::option::of((1u64..50, proptest::option::of(proptest::collection::vec("[a-z0-9]{1,6}", 0..3)))),
        date_ranges in proptest::collection::vec((text().prop_filter("non-empty", |s| !s.trim().is_empty() && s.trim() == s), date(), proptest::collection::vec(("X-[A-Z]{1,5}", prop_oneof!["[0-9]{1,4}", "\"[a-z ]{0,6}\""]), 0..3)), 0..2),
        specs in proptest::collection::vec(seg_spec(), 0..8),
        partial in proptest::collection::vec(part(), 0..4),
        partial_extra in (any::<bool>(), proptest::option::of(date()), proptest::option::weighted(0.3, map()), proptest::option::weighted(0.3, proptest::option::of(key()))),
        hints in proptest::collection::vec((prop_oneof![Just(HintType::Part), Just(HintType::Map)], uri(), proptest::option::of(0u64..1 << 40), proptest::option::of(0u64..1 << 40)), 0..2),
        reports in proptest::collection::vec((uri(), proptest::option::of(0u64..1 << 40), proptest::option::of(0u64..1000)), 0..3),
        end_list in any::<bool>(),
    ) -> MediaPlaylist {
        let (mut m, mut k, mut b) = (None::<Map>, None::<Key>, None::<u64>);
        let mut segments = Vec::new();
        for ((uri, duration, title, byte_range, discontinuity, gap), (pdt, bitrate, map_change, key_change, parts)) in specs {
            if let Some(x) = map_change { m = Some(x); }
            if let Some(x) = key_change { k = x; }
            if let Some(x) = bitrate { b = Some(x); }
            segments.push(Segment {
                uri, duration, title, byte_range, discontinuity, gap,
                program_date_time: pdt, bitrate: b, map: m.clone(), key: k.clone(), parts,
            });
        }
        let has_partial = !partial.is_empty();
        let (pdis, ppdt, pmap, pkey) = partial_extra;
        let mut pl = MediaPlaylist {
            version: 0,
            target_duration,
            media_sequence,
            discontinuity_sequence,
            playlist_type,
            independent_segments,
            part_target,
            server_control: server_control.map(|(a, b, c, d, e)| ServerControl {
                can_block_reload: a, can_skip_until: b, can_skip_dateranges: c, hold_back: d, part_hold_back: e,
            }),
            skip: skip.map(|(n, ids)| Skip { skipped_segments: n, recently_removed_dateranges: ids }),
            date_ranges: date_ranges.into_iter().map(|(id, start_date, attributes)| DateRange { id, start_date, attributes }).collect(),
            segments,
            partial_segment: partial,
            preload_hints: if end_list { Vec::new() } else {
                hints.into_iter().map(|(hint_type, uri, byte_range_start, byte_range_length)| PreloadHint { hint_type, uri, byte_range_start, byte_range_length }).collect()
            },
            rendition_reports: reports.into_iter().map(|(uri, last_msn, last_part)| RenditionReport { uri, last_msn, last_part }).collect(),
            end_list,
            partial_map: None,
            partial_key: None,
            partial_discontinuity: false,
            partial_program_date_time: None,
        };
        if has_partial {
            pl.partial_discontinuity = pdis;
            pl.partial_program_date_time = ppdt;
            pl.partial_map = pmap.or(m);
            pl.partial_key = match pkey { Some(x) => x, None => k };
        }
        pl.version = pl.required_version();
        pl
    }
}

prop_compose! {
    fn multivariant()(
        version in 0u16..12,
        independent_segments in any::<bool>(),
        renditions in proptest::collection::vec((
            prop_oneof![Just(MediaType::Audio), Just(MediaType::Video), Just(MediaType::Subtitles), Just(MediaType::ClosedCaptions)],
            "[a-z0-9]{1,6}", "[A-Za-z0-9 ]{1,8}", proptest::option::of("[a-z]{2}"), any::<bool>(), any::<bool>(),
            proptest::option::of("[0-9]{1,2}"), proptest::option::of(uri())), 0..4),
        variants in proptest::collection::vec((uri(), 0u64..1 << 40, proptest::option::of(0u64..1 << 40),
            proptest::option::of("mp4a\\.40\\.[25](,avc1\\.64001f)?"), proptest::option::of("[0-9]{3,4}x[0-9]{3,4}"),
            proptest::option::of("[0-9]{2}\\.[0-9]{3}"), proptest::option::of("[a-z]{1,5}"), proptest::option::of("[A-Za-z0-9]{1,6}")), 0..5),
    ) -> MultivariantPlaylist {
        MultivariantPlaylist {
            version,
            independent_segments,
            renditions: renditions.into_iter().map(|(media_type, group_id, name, language, default, autoselect, channels, uri)| Rendition {
                media_type, group_id, name, language, default, autoselect: autoselect || default, channels, uri,
            }).collect(),
            variants: variants.into_iter().map(|(uri, bandwidth, average_bandwidth, codecs, resolution, frame_rate, audio, name)| Variant {
                uri, bandwidth, average_bandwidth, codecs, resolution, frame_rate, audio, name,
            }).collect(),
        }
    }
}

fn render(pl: &MediaPlaylist) -> Vec<u8> {
    let mut out = Vec::new();
    render_media(pl, SkipMode::Full, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn media_round_trip(pl in media_playlist()) {
        let text = render(&pl);
        let back = parse_media(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&text))))?;
        prop_assert_eq!(back, pl);
    }

    #[test]
    fn multivariant_round_trip(pl in multivariant()) {
        let mut text = Vec::new();
        render_multivariant(&pl, &mut text);
        if pl.renditions.is_empty() && pl.variants.is_empty() {
            // Nothing marks it as multivariant; it reads as a media playlist without
            // a target duration, which is an error, not a panic.
            prop_assert!(parse(&text).is_err());
        } else {
            let back = parse_multivariant(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&text))))?;
            prop_assert_eq!(back, pl);
        }
    }

    /// checklist P-TXT-01, P-TXT-02, P-TXT-04, P-TXT-07: the renderer writes
    /// `#EXTM3U` first, LF line ends, no control bytes, no exponent floats, quoted
    /// strings without CR/LF/`"`, even for hostile model strings.
    #[test]
    fn rendered_text_is_valid(mut pl in media_playlist(), nasty in "[\"\r\n\u{0}-\u{1f}a-z]{1,8}") {
        if let Some(s) = pl.segments.first_mut() {
            s.uri = format!("{nasty}x");
            s.title = nasty.clone();
            for p in &mut s.parts { p.uri = nasty.clone(); }
        }
        pl.rendition_reports.push(RenditionReport { uri: nasty.clone(), last_msn: None, last_part: None });
        let text = render(&pl);
        prop_assert!(text.starts_with(b"#EXTM3U\n"));
        let s = std::str::from_utf8(&text).unwrap();
        for line in s.lines() {
            prop_assert!(!line.contains('\r'));
            prop_assert!(!line.is_empty());
            if let Some(attrs) = line.strip_prefix("#EXT-X-").and_then(|l| l.split_once(':')).map(|x| x.1) {
                prop_assert_eq!(attrs.matches('"').count() % 2, 0, "unbalanced quotes: {}", line);
            }
            for key in ["#EXTINF:", "DURATION=", "PART-TARGET=", "HOLD-BACK=", "CAN-SKIP-UNTIL="] {
                if let Some(i) = line.find(key) {
                    let v = line[i + key.len()..].split(',').next().unwrap();
                    let (a, b) = v.split_once('.').unwrap_or(("", ""));
                    prop_assert!(!a.is_empty() && !b.is_empty() && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit()),
                        "not a positional decimal: {} in {}", v, line);
                }
            }
        }
        prop_assert!(parse_media(&text).is_ok());
    }

    /// Never panics on arbitrary bytes.
    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&bytes);
        let mut with_header = b"#EXTM3U\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = parse(&with_header);
    }

    /// Never panics on mutated valid playlists (truncation + byte flips).
    #[test]
    fn parser_survives_mutations(pl in media_playlist(), cut in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6)) {
        let mut text = render(&pl);
        let n = cut.index(text.len() + 1);
        text.truncate(n);
        for (i, b) in flips {
            if !text.is_empty() {
                let i = i.index(text.len());
                text[i] = b;
            }
        }
        let _ = parse(&text);
    }
}
