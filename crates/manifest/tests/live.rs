//! The live builder, delta updates and the cache against the checklist's playlist
//! rules. Each test names the items it checks.

use aulos_manifest::*;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PART: Duration = Duration::from_millis(192);

fn part_at(t: SystemTime) -> PartInfo {
    PartInfo {
        duration: PART,
        independent: true,
        gap: false,
        program_date_time: Some(t),
    }
}

/// A builder fed `segments` segments of 5 × 192 ms parts, with an init map.
fn live(segments: u64) -> LiveBuilder {
    let mut b = LiveBuilder::new(LiveConfig::default()).unwrap();
    b.set_map(Map {
        uri: "init0.mp4".into(),
        byte_range: None,
    })
    .unwrap();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut t = t0;
    for _ in 0..segments {
        for _ in 0..5 {
            b.push_part(part_at(t)).unwrap();
            t += PART;
        }
        b.close_segment().unwrap();
    }
    b
}

fn text(pl: &MediaPlaylist, mode: SkipMode) -> String {
    let mut out = Vec::new();
    render_media(pl, mode, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn server_control_values_follow_the_spec_rules() {
    // checklist P-TD-01, P-SC-01, P-SC-02, P-SC-03, P-SC-04, P-PART-01
    let b = live(3);
    let pl = b.playlist();
    assert_eq!(pl.target_duration, 1, "ceil(5 × 192 ms) = 1 s");
    let sc = pl.server_control.unwrap();
    assert!(sc.can_block_reload);
    assert_eq!(pl.part_target, Some(Duration::from_millis(200)));
    assert!(sc.part_hold_back.unwrap() >= 3 * pl.part_target.unwrap());
    assert!(sc.hold_back.unwrap() >= 3 * Duration::from_secs(pl.target_duration));
    assert!(sc.can_skip_until.unwrap() >= 6 * Duration::from_secs(pl.target_duration));
    // A presentation with a longer part target elsewhere raises PART-HOLD-BACK.
    let cfg = LiveConfig {
        presentation_part_target: Some(Duration::from_millis(300)),
        ..LiveConfig::default()
    };
    assert_eq!(cfg.part_hold_back(), Duration::from_millis(900));
    // A 2.5 s segment target gives TARGETDURATION 3.
    let cfg = LiveConfig {
        segment_target: Duration::from_millis(2500),
        ..LiveConfig::default()
    };
    assert_eq!(cfg.target_duration_secs(), 3);
    let t = text(pl, SkipMode::Full);
    assert!(t.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,HOLD-BACK=3.0,PART-HOLD-BACK=0.6\n"), "{t}");
    assert!(t.contains("#EXT-X-PART-INF:PART-TARGET=0.2\n"));
    // checklist P-TYPE-01: a live sliding playlist has no PLAYLIST-TYPE.
    assert!(!t.contains("PLAYLIST-TYPE"));
}

#[test]
fn every_extinf_rounds_to_at_most_the_target_and_long_parts_are_refused() {
    // checklist P-TD-01, P-PART-03
    let mut b = live(4);
    for s in &b.playlist().segments {
        assert!((s.duration.as_secs_f64()).round() as u64 <= b.playlist().target_duration);
    }
    let before = b.playlist().clone();
    let err = b
        .push_part(PartInfo {
            duration: Duration::from_millis(201),
            ..part_at(UNIX_EPOCH)
        })
        .unwrap_err();
    assert!(matches!(err, BuildError::PartTooLong { .. }));
    assert_eq!(b.playlist(), &before, "a refused part changes nothing");
    // 8 parts of 192 ms = 1.536 s rounds to 2 > TARGETDURATION 1.
    for _ in 0..8 {
        b.push_part(part_at(UNIX_EPOCH)).unwrap();
    }
    assert!(matches!(
        b.close_segment(),
        Err(BuildError::SegmentTooLong { .. })
    ));
}

#[test]
fn window_slides_msn_increments_and_parts_are_only_near_the_edge() {
    // checklist P-MSN-01, S-GEN-04, P-PART-07, S-GEN-03
    let mut b = live(0);
    let mut prev_msn = 0;
    let mut prev: Option<MediaPlaylist> = None;
    let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for i in 0..60u32 {
        for _ in 0..5 {
            b.push_part(part_at(t0 + PART * i)).unwrap();
        }
        b.close_segment().unwrap();
        let pl = b.playlist();
        assert!(pl.media_sequence >= prev_msn, "MSN never decreases");
        assert!(
            pl.media_sequence - prev_msn <= 1,
            "one segment removed per close"
        );
        prev_msn = pl.media_sequence;
        let total: Duration = pl.segments.iter().map(|s| s.duration).sum();
        if i >= 10 {
            assert!(total >= 3 * Duration::from_secs(pl.target_duration));
            assert!(total >= b.config().window() - Duration::from_secs(1));
        }
        // Parts only on segments ending within 3 × TARGETDURATION of the end.
        let mut from_end = Duration::ZERO;
        for s in pl.segments.iter().rev() {
            if from_end > 3 * Duration::from_secs(pl.target_duration) {
                assert!(s.parts.is_empty(), "old segment still lists parts");
            } else {
                assert_eq!(s.parts.len(), 5);
            }
            from_end += s.duration;
        }
        // S-GEN-03: the new version keeps every segment URI of the old one that did
        // not slide out, in order.
        if let Some(p) = &prev {
            let removed = (pl.media_sequence - p.media_sequence) as usize;
            let old: Vec<_> = p.segments[removed..].iter().map(|s| &s.uri).collect();
            let new: Vec<_> = pl.segments[..old.len()].iter().map(|s| &s.uri).collect();
            assert_eq!(old, new);
        }
        prev = Some(pl.clone());
    }
    assert_eq!(
        b.playlist().media_sequence + b.playlist().segments.len() as u64,
        60
    );
}

#[test]
fn preload_hint_names_the_next_part_uri() {
    // checklist P-HINT-01, P-HINT-02, P-HINT-03
    let mut b = live(2);
    for i in 0..12 {
        let hint = b.playlist().preload_hints.clone();
        assert_eq!(hint.len(), 1);
        assert_eq!(hint[0].hint_type, HintType::Part);
        let (msn, part) = b.push_part(part_at(UNIX_EPOCH)).unwrap();
        let listed = &b.playlist().partial_segment[part as usize];
        assert_eq!(hint[0].uri, listed.uri, "hinted URI is the part's URI");
        assert_eq!(listed.uri, format!("{msn}.{part}.m4s"));
        if i % 5 == 4 {
            b.close_segment().unwrap();
        }
    }
}

#[test]
fn map_and_dates_precede_the_first_part_of_every_segment() {
    // checklist P-MAP-01, P-PART-06, P-PDT-01, P-PDT-02, P-VER-01
    let mut b = live(3);
    b.push_part(part_at(UNIX_EPOCH + Duration::from_secs(1_800_000_003)))
        .unwrap();
    let t = text(b.playlist(), SkipMode::Full);
    let lines: Vec<&str> = t.lines().collect();
    let map_at = lines
        .iter()
        .position(|l| l.starts_with("#EXT-X-MAP"))
        .unwrap();
    let first_media = lines
        .iter()
        .position(|l| l.starts_with("#EXT-X-PART:") || l.starts_with("#EXTINF"))
        .unwrap();
    assert!(map_at < first_media);
    assert!(t.contains("#EXT-X-VERSION:6\n"), "MAP needs version 6: {t}");
    // Every segment (and the open one) has a date before its first part.
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("#EXT-X-PART:") && lines[i - 1].starts_with("#EXT") {
            let prev = lines[i - 1];
            let first_of_segment = !prev.starts_with("#EXT-X-PART:");
            if first_of_segment {
                assert!(prev.starts_with("#EXT-X-PROGRAM-DATE-TIME:"), "{prev}");
            }
        }
    }
    let pl = parse_media(t.as_bytes()).unwrap();
    let dates: Vec<SystemTime> = pl
        .segments
        .iter()
        .map(|s| s.program_date_time.unwrap())
        .collect();
    for (w, s) in dates.windows(2).zip(&pl.segments) {
        assert_eq!(w[1].duration_since(w[0]).unwrap(), s.duration);
    }
}

#[test]
fn dates_are_extrapolated_when_the_producer_gives_none() {
    // checklist P-PDT-01
    let mut b = live(1);
    let last = b.playlist().segments[0].clone();
    b.push_part(PartInfo {
        program_date_time: None,
        ..part_at(UNIX_EPOCH)
    })
    .unwrap();
    assert_eq!(
        b.playlist().partial_program_date_time,
        Some(last.program_date_time.unwrap() + last.duration)
    );
}

#[test]
fn discontinuity_sequence_counts_removed_discontinuities() {
    // checklist P-DIS-01, P-DSN-01
    let mut b = live(2);
    b.push_part(part_at(UNIX_EPOCH)).unwrap();
    b.discontinuity().unwrap(); // closes the open segment
    assert_eq!(b.playlist().segments.len(), 3);
    b.set_map(Map {
        uri: "init1.mp4".into(),
        byte_range: None,
    })
    .unwrap();
    // checklist P-HINT-07: before the first part under the new map, a MAP hint.
    let hints = &b.playlist().preload_hints;
    assert_eq!(hints.len(), 2);
    assert_eq!(hints[0].hint_type, HintType::Map);
    assert_eq!(hints[0].uri, "init1.mp4");
    assert_eq!(hints[1].hint_type, HintType::Part);
    b.push_part(part_at(UNIX_EPOCH)).unwrap();
    assert_eq!(b.playlist().preload_hints.len(), 1, "map now listed");
    b.close_segment().unwrap();
    let t = text(b.playlist(), SkipMode::Full);
    assert!(t.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"));
    assert!(
        t.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\"\n"),
        "{t}"
    );
    // Slide the discontinuity out of the window.
    for _ in 0..30 {
        for _ in 0..5 {
            b.push_part(part_at(UNIX_EPOCH)).unwrap();
        }
        b.close_segment().unwrap();
    }
    let pl = b.playlist();
    assert!(pl.segments.iter().all(|s| !s.discontinuity));
    assert_eq!(pl.discontinuity_sequence, 1);
    assert_eq!(pl.segments[0].map.as_ref().unwrap().uri, "init1.mp4");
    let t = text(pl, SkipMode::Full);
    assert!(
        t.contains("#EXT-X-MAP:URI=\"init1.mp4\""),
        "first segment keeps its map"
    );
}

#[test]
fn ending_adds_endlist_and_drops_the_hint() {
    // checklist P-END-01
    let mut b = live(2);
    b.push_part(part_at(UNIX_EPOCH)).unwrap();
    b.end();
    let pl = b.playlist();
    assert!(pl.end_list);
    assert!(pl.partial_segment.is_empty());
    assert_eq!(pl.segments.len(), 3, "the open segment was closed");
    let t = text(pl, SkipMode::Yes);
    assert!(t.ends_with("#EXT-X-ENDLIST\n"));
    assert!(!t.contains("PRELOAD-HINT"));
    assert!(!t.contains("EXT-X-SKIP"), "S-SKIP-04: no delta once ended");
    assert_eq!(b.push_part(part_at(UNIX_EPOCH)), Err(BuildError::Ended));
}

#[test]
fn delta_update_skips_segments_before_the_skip_boundary() {
    // checklist S-SKIP-01, S-SKIP-02, P-VER-01
    let b = live(30);
    let pl = b.playlist();
    let full = text(pl, SkipMode::Full);
    let delta = text(pl, SkipMode::Yes);
    let d = parse_media(delta.as_bytes()).unwrap();
    let skipped = d.skip.as_ref().unwrap().skipped_segments;
    assert!(skipped > 0);
    assert!(delta.len() < full.len());
    assert!(delta.contains("#EXT-X-VERSION:9\n"));
    assert_eq!(delta.matches("#EXT-X-SKIP").count(), 1);
    // What remains spans at least CAN-SKIP-UNTIL and equals the full playlist's tail.
    let kept: Duration = d.segments.iter().map(|s| s.duration).sum();
    assert!(kept >= pl.server_control.unwrap().can_skip_until.unwrap());
    assert_eq!(d.segments[..], pl.segments[skipped as usize..]);
    assert_eq!(d.discontinuity_sequence, pl.discontinuity_sequence);
    assert_eq!(d.media_sequence, pl.media_sequence);
    // Merging the delta into the previous full playlist gives the full playlist.
    let merged = merge_delta(pl, &d).unwrap();
    assert_eq!(&merged, pl);
    // v2 adds RECENTLY-REMOVED-DATERANGES and needs version 10.
    let v2 = text(pl, SkipMode::V2);
    assert!(v2.contains("RECENTLY-REMOVED-DATERANGES=\"\""));
    assert!(v2.contains("#EXT-X-VERSION:10\n"));
}

#[test]
fn no_delta_without_can_skip_until() {
    // checklist S-SKIP-04
    let mut b = LiveBuilder::new(LiveConfig {
        can_skip: false,
        ..LiveConfig::default()
    })
    .unwrap();
    for _ in 0..20 {
        b.push_part(part_at(UNIX_EPOCH)).unwrap();
        b.close_segment().unwrap();
    }
    assert_eq!(
        text(b.playlist(), SkipMode::Yes),
        text(b.playlist(), SkipMode::Full)
    );
}

#[test]
fn config_is_validated() {
    for (cfg, why) in [
        (
            LiveConfig {
                part_target: Duration::ZERO,
                ..LiveConfig::default()
            },
            "zero part",
        ),
        (
            LiveConfig {
                segment_target: Duration::from_millis(100),
                ..LiveConfig::default()
            },
            "segment < part",
        ),
        (
            LiveConfig {
                window: Some(Duration::from_secs(1)),
                ..LiveConfig::default()
            },
            "window < 3 TD (S-GEN-04)",
        ),
        (
            LiveConfig {
                uris: SegmentUris {
                    segment: "x.m4s".into(),
                    part: "{msn}.{part}.m4s".into(),
                },
                ..LiveConfig::default()
            },
            "segment template without msn",
        ),
        (
            LiveConfig {
                uris: SegmentUris {
                    segment: "{msn}\".m4s".into(),
                    part: "{msn}.{part}.m4s".into(),
                },
                ..LiveConfig::default()
            },
            "quote in template",
        ),
    ] {
        assert!(LiveBuilder::new(cfg).is_err(), "{why}");
    }
}

#[test]
fn cache_renders_once_and_gzip_matches() {
    // checklist S-GEN-07, S-GEN-02
    let cache = M3u8Cache::new();
    assert_eq!(cache.load().update, 0);
    let b = live(20);
    let r = cache.update(b.playlist());
    assert_eq!(r.update, 1);
    assert_eq!(&r.full[..], text(b.playlist(), SkipMode::Full).as_bytes());
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&r.full_gzip[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, r.full);
    assert!(r.full_gzip.len() < r.full.len() / 2);
    let delta = r.delta.as_ref().unwrap();
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&r.delta_gzip.as_ref().unwrap()[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(&back[..], &delta[..]);
    assert!(
        Arc::ptr_eq(&r, &cache.load()),
        "readers share the rendered bytes"
    );
    cache.set_init(bytes::Bytes::from_static(b"init"));
    assert_eq!(cache.init().unwrap(), &b"init"[..]);
}

use std::sync::Arc;

#[test]
fn blocking_reload_satisfaction() {
    // checklist S-BLK-01, S-BLK-02, S-BLK-03, S-BLK-04, S-BLK-05
    let cache = M3u8Cache::new();
    let mut b = live(3); // segments 0..=2, each 5 parts
    b.push_part(part_at(UNIX_EPOCH)).unwrap(); // part 3.0
    let r = cache.update(b.playlist());
    assert_eq!(r.last, Some((3, Some(0))));
    assert_eq!(r.last_segment, Some(2));
    // S-BLK-01: msn alone needs a complete segment ≥ M.
    assert!(r.satisfies(2, None));
    assert!(!r.satisfies(3, None));
    // S-BLK-02
    assert!(r.satisfies(3, Some(0)));
    assert!(!r.satisfies(3, Some(1)));
    // S-BLK-03: part 7 of the closed segment 2 (it has 5) = part 0 of 3: present.
    assert!(r.satisfies(2, Some(7)));
    // S-BLK-04: old MSNs are satisfied at once.
    assert!(r.satisfies(0, Some(0)) && r.satisfies(0, None));
    // S-BLK-05: an ended playlist satisfies everything.
    b.end();
    let r = cache.update(b.playlist());
    assert!(r.satisfies(100, Some(3)));
}
