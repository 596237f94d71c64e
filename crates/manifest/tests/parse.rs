//! The parser against playlists as real servers write them (fixtures written from
//! the draft's examples, ffmpeg, MediaMTX/gohlslib and Wowza output) and against
//! malformed input. Each test names the checklist items it checks.

use aulos_manifest::*;
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn apple_ll_example_with_parts_hints_and_reports() {
    // checklist P-PART-01, P-PART-02, P-HINT-01, P-RR-01, P-RR-02, P-SC-01
    let pl = parse_media(&fixture("apple-ll-parts.m3u8")).unwrap();
    assert_eq!(pl.target_duration, 4);
    assert_eq!(pl.version, 6);
    assert_eq!(pl.media_sequence, 266);
    assert_eq!(pl.part_target, Some(Duration::from_micros(333_340)));
    let sc = pl.server_control.unwrap();
    assert!(sc.can_block_reload);
    assert_eq!(sc.part_hold_back, Some(ms(1000)));
    assert_eq!(sc.can_skip_until, Some(ms(12_000)));
    assert_eq!(pl.segments.len(), 7);
    assert_eq!(pl.segments[0].uri, "fileSequence266.mp4");
    assert_eq!(pl.segments[0].duration, Duration::from_micros(4_000_080));
    assert_eq!(pl.segments[0].map.as_ref().unwrap().uri, "init.mp4");
    assert_eq!(
        pl.segments[6].map.as_ref().unwrap().uri,
        "init.mp4",
        "map carries"
    );
    assert!(pl.segments[0].program_date_time.is_some());
    assert!(pl.segments[1].program_date_time.is_none());
    assert_eq!(pl.segments[5].parts.len(), 12);
    assert!(pl.segments[5].parts[6].independent);
    assert!(!pl.segments[5].parts[5].independent);
    assert_eq!(pl.segments[6].parts[0].uri, "filePart272.a.mp4");
    assert_eq!(pl.partial_segment.len(), 3);
    assert_eq!(pl.last_part(), Some((273, Some(2))));
    assert_eq!(pl.preload_hints.len(), 1);
    assert_eq!(pl.preload_hints[0].uri, "filePart273.3.mp4");
    assert_eq!(pl.rendition_reports.len(), 2);
    assert_eq!(pl.rendition_reports[1].uri, "../4M/waitForMSN.php");
    assert_eq!(pl.rendition_reports[1].last_msn, Some(273));
    assert_eq!(pl.rendition_reports[1].last_part, Some(1));
    assert!(!pl.end_list);
}

#[test]
fn apple_delta_update_merges_into_the_full_playlist() {
    // checklist S-SKIP-01, S-SKIP-02
    let full = parse_media(&fixture("apple-ll-parts.m3u8")).unwrap();
    let delta = parse_media(&fixture("apple-ll-delta.m3u8")).unwrap();
    assert_eq!(delta.skip.as_ref().unwrap().skipped_segments, 3);
    assert_eq!(delta.first_listed_msn(), 269);
    assert_eq!(delta.segments[0].uri, "fileSequence269.mp4");
    let merged = merge_delta(&full, &delta).unwrap();
    assert_eq!(merged.segments.len(), 7);
    assert_eq!(merged.segments[0].uri, "fileSequence266.mp4");
    assert_eq!(merged.segments[0].map, full.segments[0].map);
    assert_eq!(merged.partial_segment.len(), 4);
    assert!(merged.skip.is_none());
    // A previous playlist that lacks the skipped segments cannot be merged.
    let mut short = full.clone();
    short.segments.drain(..2);
    short.media_sequence += 2;
    assert_eq!(
        merge_delta(&short, &delta),
        Err(DeltaError::MissingSegment { msn: 266 })
    );
}

#[test]
fn byte_range_parts_and_hint() {
    // checklist P-BYTE-01
    let pl = parse_media(&fixture("apple-ll-byterange.m3u8")).unwrap();
    let p = &pl.partial_segment;
    assert_eq!(p.len(), 3);
    assert_eq!(
        p[1].byte_range,
        Some(ByteRange {
            len: 23_000,
            offset: Some(20_000)
        })
    );
    assert_eq!(pl.preload_hints[0].byte_range_start, Some(61_000));
    assert_eq!(pl.preload_hints[0].byte_range_length, None);
}

#[test]
fn mediamtx_gap_segments_and_five_decimal_floats() {
    // checklist P-GAP-01
    let pl = parse_media(&fixture("mediamtx-ll.m3u8")).unwrap();
    assert_eq!(pl.version, 10);
    assert_eq!(pl.part_target, Some(ms(200)));
    assert!(pl.segments[0].gap && pl.segments[1].gap);
    assert!(!pl.segments[2].gap);
    assert_eq!(pl.segments.len(), 7);
    assert_eq!(pl.segments[4].parts.len(), 5);
    assert_eq!(pl.partial_segment.len(), 1);
    assert_eq!(pl.last_part(), Some((9, Some(0))));
    assert!(pl.partial_program_date_time.is_some());
}

#[test]
fn wowza_crlf_bom_multivariant_and_packed_audio() {
    // checklist P-TXT-01 (CRLF, BOM tolerated)
    let mv = parse_multivariant(&fixture("wowza-multivariant.m3u8")).unwrap();
    assert_eq!(mv.variants.len(), 1);
    assert_eq!(mv.variants[0].uri, "chunklist_w1176438617.m3u8");
    assert_eq!(mv.variants[0].codecs.as_deref(), Some("mp4a.40.2"));
    let pl = parse_media(&fixture("wowza-packed-aac.m3u8")).unwrap();
    assert_eq!(pl.media_sequence, 1532);
    assert_eq!(pl.segments.len(), 3);
    assert_eq!(pl.segments[1].duration, ms(9984));
    assert!(pl.segments[0].uri.ends_with(".aac"));
}

#[test]
fn multivariant_with_redundant_variants_audio_groups_and_unknown_tags() {
    // checklist M-VAR-01, M-VAR-04, M-VAR-06, P-TXT-06
    let mv = parse_multivariant(&fixture("apple-multivariant-redundant.m3u8")).unwrap();
    assert!(mv.independent_segments);
    assert_eq!(mv.renditions.len(), 2);
    assert_eq!(mv.renditions[0].name, "English");
    assert!(mv.renditions[0].default && mv.renditions[0].autoselect);
    assert_eq!(mv.renditions[1].uri.as_deref(), Some("a2/prog_index.m3u8"));
    assert_eq!(mv.variants.len(), 3, "I-frame playlist is not a variant");
    assert_eq!(
        mv.variants[0].bandwidth, mv.variants[1].bandwidth,
        "redundant"
    );
    assert_eq!(mv.variants[0].average_bandwidth, Some(2_168_183));
    assert_eq!(mv.variants[0].audio.as_deref(), Some("aac"));
    assert_eq!(mv.variants[0].resolution.as_deref(), Some("960x540"));
    assert_eq!(
        mv.variants[0].codecs.as_deref(),
        Some("avc1.640020,mp4a.40.2")
    );
    assert_eq!(mv.variants[2].uri, "audio-only/prog_index.m3u8");
}

#[test]
fn keys_discontinuity_bitrate_and_byteranges() {
    let pl = parse_media(&fixture("aes-byterange-vod.m3u8")).unwrap();
    let k = pl.segments[0].key.as_ref().unwrap();
    assert_eq!(k.method, KeyMethod::Aes128);
    assert_eq!(k.iv.unwrap()[15], 0x0f);
    assert_eq!(k.key_format.as_deref(), Some("identity"));
    assert!(pl.segments[1].key.is_none(), "METHOD=NONE clears the key");
    assert!(pl.segments[1].discontinuity);
    assert_eq!(pl.segments[1].title, "title with, comma");
    assert_eq!(pl.segments[2].bitrate, Some(128_000));
    assert_eq!(
        pl.segments[3].bitrate,
        Some(128_000),
        "EXT-X-BITRATE carries"
    );
    assert_eq!(
        pl.segments[3].byte_range,
        Some(ByteRange {
            len: 2000,
            offset: None
        })
    );
    assert!(pl.end_list);
    // Rendering keeps it: the round trip is exact.
    let mut out = Vec::new();
    render_media(&pl, SkipMode::Full, &mut out);
    assert_eq!(parse_media(&out).unwrap(), pl);
}

#[test]
fn ffmpeg_playlists_when_ffmpeg_is_available() {
    // Real ffmpeg output (fMP4, TS with PDT, single-file byte ranges, multivariant).
    let have = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ffmpeg missing on CI"
        );
        eprintln!("skipping: ffmpeg not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("aulos-manifest-ff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &str| {
        let st = std::process::Command::new("ffmpeg")
            .current_dir(&dir)
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args.split(' '))
            .status()
            .unwrap();
        assert!(st.success(), "ffmpeg {args}");
    };
    let src = "-f lavfi -i sine=f=440:d=6 -c:a aac -f hls -hls_time 2";
    run(&format!(
        "{src} -hls_segment_type fmp4 -hls_playlist_type vod fmp4.m3u8"
    ));
    run(&format!(
        "{src} -hls_flags program_date_time+independent_segments ts.m3u8"
    ));
    run(&format!(
        "{src} -hls_flags single_file -hls_playlist_type event sf.m3u8"
    ));
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let f = parse_media(&read("fmp4.m3u8")).unwrap();
    assert!(f.segments[0].map.is_some());
    assert!(f.end_list);
    assert_eq!(f.playlist_type, Some(PlaylistType::Vod));
    let total: Duration = f.segments.iter().map(|s| s.duration).sum();
    assert!((total.as_secs_f64() - 6.0).abs() < 0.1, "{total:?}");
    let t = parse_media(&read("ts.m3u8")).unwrap();
    // ffmpeg writes the date after EXTINF with a `+0000` offset: still the segment's.
    assert!(t.segments.iter().all(|s| s.program_date_time.is_some()));
    let s = parse_media(&read("sf.m3u8")).unwrap();
    assert!(s.segments.iter().all(|s| s.byte_range.is_some()));
    assert_eq!(s.playlist_type, Some(PlaylistType::Event));
    let _ = std::fs::remove_dir_all(&dir);
}

fn err(text: &str) -> ParseError {
    parse(text.as_bytes()).unwrap_err()
}

#[test]
fn errors_name_the_line_and_what_was_expected() {
    // checklist P-TXT-02
    assert_eq!(
        err("#EXT-X-VERSION:3\n").kind,
        ParseErrorKind::MissingHeader
    );
    assert_eq!(err("").kind, ParseErrorKind::MissingHeader);
    // checklist P-TD-01
    assert_eq!(
        err("#EXTM3U\n#EXTINF:1,\na.ts\n").kind,
        ParseErrorKind::MissingTargetDuration
    );
    // checklist P-PART-02
    let e = err("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2\n");
    assert_eq!(e.line, 3);
    assert_eq!(
        e.kind,
        ParseErrorKind::MissingAttribute {
            tag: "EXT-X-PART",
            attribute: "URI"
        }
    );
    assert!(e.to_string().contains("line 3"), "{e}");
    // checklist P-TXT-07: overflow and exponents are rejected.
    let e = err("#EXTM3U\n#EXT-X-TARGETDURATION:99999999999999999999999\n");
    assert_eq!(e.line, 2);
    assert!(matches!(e.kind, ParseErrorKind::Invalid { .. }));
    let e = err("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1e-3,\na.ts\n");
    assert_eq!(e.line, 3);
    // EXTINF without a URI.
    assert_eq!(
        err("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n").kind,
        ParseErrorKind::MissingUri("EXTINF")
    );
    // checklist M-VAR-01, M-VAR-04
    assert!(matches!(
        err("#EXTM3U\n#EXT-X-STREAM-INF:CODECS=\"mp4a.40.2\"\na.m3u8\n").kind,
        ParseErrorKind::MissingAttribute {
            attribute: "BANDWIDTH",
            ..
        }
    ));
    assert!(matches!(
        err("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\"\n").kind,
        ParseErrorKind::MissingAttribute {
            attribute: "NAME",
            ..
        }
    ));
    // Not UTF-8, with the line.
    let e = parse(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n\xff\xfe\n").unwrap_err();
    assert_eq!((e.line, e.kind), (3, ParseErrorKind::NotUtf8));
}

#[test]
fn mixed_playlists_are_rejected() {
    // checklist P-TXT-05
    let e = err("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n");
    assert_eq!((e.line, e.kind), (3, ParseErrorKind::Mixed));
    let e = err("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXTINF:1,\nb.ts\n");
    assert_eq!(e.kind, ParseErrorKind::Mixed);
    assert_eq!(
        parse_media(b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n")
            .unwrap_err()
            .kind,
        ParseErrorKind::WrongKind("media")
    );
}

#[test]
fn unknown_tags_attributes_and_req_attributes() {
    // checklist P-TXT-06
    let pl = parse_media(
        b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-FUTURE:A=1\n# a comment\n\
          #EXT-X-PART:DURATION=0.2,URI=\"keep.m4s\",X-NEW=\"y\"\n\
          #EXT-X-PART:DURATION=0.2,URI=\"drop.m4s\",REQ-VIDEO-LAYOUT=\"x\"\n\
          #EXTINF:0.4,\ns.m4s\n",
    )
    .unwrap();
    assert_eq!(pl.segments.len(), 1);
    let uris: Vec<_> = pl.segments[0]
        .parts
        .iter()
        .map(|p| p.uri.as_str())
        .collect();
    assert_eq!(uris, ["keep.m4s"]);
}

#[test]
fn attribute_values_with_commas_and_any_order() {
    let mv = parse_multivariant(
        b"#EXTM3U\n#EXT-X-STREAM-INF:CODECS=\"mp4a.40.2,avc1.4d401f\",BANDWIDTH=5\nx.m3u8\n",
    )
    .unwrap();
    assert_eq!(mv.variants[0].bandwidth, 5);
    assert_eq!(
        mv.variants[0].codecs.as_deref(),
        Some("mp4a.40.2,avc1.4d401f")
    );
}

#[test]
fn oversized_input_is_refused_without_reading_it() {
    let big = vec![b'#'; aulos_manifest::MAX_PLAYLIST_BYTES + 1];
    assert!(matches!(
        parse(&big).unwrap_err().kind,
        ParseErrorKind::TooLarge(_)
    ));
}

#[test]
fn bogus_skip_count_is_an_error_not_an_allocation() {
    let full = parse_media(&fixture("apple-ll-parts.m3u8")).unwrap();
    let delta = parse_media(
        b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:266\n#EXT-X-SKIP:SKIPPED-SEGMENTS=18446744073709551615\n",
    )
    .unwrap();
    assert!(matches!(
        merge_delta(&full, &delta),
        Err(DeltaError::MissingSegment { .. })
    ));
}
