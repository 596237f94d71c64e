//! Registry behaviour: publish ordering, blocking waits, hinted parts, lifecycle,
//! limits. Each test names the checklist items it checks.

use aulos_manifest::{LiveConfig, parse_media};
use aulos_registry::*;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

const PART: Duration = Duration::from_millis(192);

fn rendition(name: &str, bw: u64) -> RenditionSpec {
    RenditionSpec {
        name: name.into(),
        codecs: "mp4a.40.2".into(),
        bandwidth: bw,
        average_bandwidth: Some(bw * 9 / 10),
        channels: 2,
        sample_rate: 48_000,
    }
}

fn spec(name: &str) -> StreamSpec {
    StreamSpec {
        name: name.into(),
        key: Some(StreamKey::new("secret-key-1").unwrap()),
        renditions: vec![rendition("a48", 48_000), rendition("a96", 96_000)],
        live: LiveConfig::default(),
    }
}

fn registry() -> Registry {
    Registry::new(RegistryConfig {
        max_streams: 4,
        ..RegistryConfig::default()
    })
    .unwrap()
}

/// Payload that names its key, so readers can check what they got.
fn payload(r: usize, n: u64) -> Bytes {
    Bytes::from(format!("r{r}-n{n}").repeat(10))
}

fn part(r: usize, n: u64) -> PublishPart {
    PublishPart {
        data: payload(r, n),
        duration: PART,
        independent: true,
        program_date_time: Some(SystemTime::now()),
        last_in_segment: n % 5 == 4,
    }
}

/// Publish `count` parts to every rendition; returns the number published.
fn publish(s: &Stream, from: u64, count: u64) {
    for n in from..from + count {
        for r in 0..s.renditions().len() {
            s.publish_part(r, part(r, n), Instant::now()).unwrap();
        }
    }
}

#[test]
fn keys_are_assigned_in_order_and_segments_are_their_parts() {
    // checklist P-PART-05, S-GEN-01
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    s.set_init(0, Bytes::from_static(b"init")).unwrap();
    for n in 0..12u64 {
        let (msn, p) = s.publish_part(0, part(0, n), Instant::now()).unwrap();
        assert_eq!((msn, u64::from(p)), (n / 5, n % 5));
    }
    let seg = s.segment(0, 1).unwrap();
    let want: Vec<Bytes> = (5..10).map(|n| payload(0, n)).collect();
    assert_eq!(seg, want);
    assert_eq!(s.segment(0, 2), Err(PartError::NotFound), "open segment");
    let pl = parse_media(&s.renditions()[0].playlist().full).unwrap();
    assert_eq!(pl.segments.len(), 2);
    assert_eq!(pl.partial_segment.len(), 2);
    assert_eq!(pl.segments[0].map.as_ref().unwrap().uri, "init0.mp4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_never_lists_a_part_the_ring_lacks() {
    // checklist S-GEN-01, S-GEN-02
    let reg = Arc::new(registry());
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || publish(&s, 0, 400))
    };
    let mut checked = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !writer.is_finished() && Instant::now() < deadline {
        let r = s.renditions()[1].playlist();
        let pl = parse_media(&r.full).expect("every published version parses");
        let first = pl.first_listed_msn();
        for (i, seg) in pl.segments.iter().enumerate() {
            let msn = first + i as u64;
            for (p, _) in seg.parts.iter().enumerate() {
                let got = s
                    .wait_part(1, msn, p as u32, Instant::now())
                    .await
                    .expect("listed part is in the ring");
                assert_eq!(got, payload(1, msn * 5 + p as u64));
                checked += 1;
            }
        }
        for (p, _) in pl.partial_segment.iter().enumerate() {
            let msn = pl.next_msn();
            let got = s.wait_part(1, msn, p as u32, Instant::now()).await.unwrap();
            assert_eq!(got, payload(1, msn * 5 + p as u64));
            checked += 1;
        }
        tokio::task::yield_now().await;
    }
    writer.join().unwrap();
    assert!(checked > 100, "checked {checked} listed parts");
}

#[tokio::test]
async fn blocking_reload_waits_for_the_part_then_answers() {
    // checklist S-BLK-01, S-BLK-02, S-BLK-03, S-BLK-04
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    publish(&s, 0, 7); // segment 0 complete, parts 1.0 and 1.1
    let far = Instant::now() + Duration::from_secs(5);
    // Already there: at once, even for old MSNs (S-BLK-04).
    let r = s.wait_playlist(0, 0, Some(2), far).await.unwrap();
    assert_eq!(r.last, Some((1, Some(1))));
    assert!(s.wait_playlist(0, 0, None, far).await.is_ok());
    // Pending: resolves when 1.2 is published.
    let s2 = s.clone();
    let waiter = tokio::spawn(async move { s2.wait_playlist(0, 1, Some(2), far).await });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    s.publish_part(0, part(0, 7), Instant::now()).unwrap();
    let r = waiter.await.unwrap().unwrap();
    let pl = parse_media(&r.full).unwrap();
    assert_eq!(pl.last_part(), Some((1, Some(2))));
    // S-BLK-03: part 9 of segment 1 (which will have 5) is part 0 of segment 2.
    let s2 = s.clone();
    let waiter = tokio::spawn(async move { s2.wait_playlist(0, 1, Some(9), far).await });
    publish(&s, 8, 2); // 1.3, 1.4 (closes segment 1)
    tokio::task::yield_now().await;
    assert!(
        !waiter.is_finished(),
        "segment 1 closed but 2.0 not yet published"
    );
    s.publish_part(0, part(0, 10), Instant::now()).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap().last, Some((2, Some(0))));
}

#[tokio::test]
async fn too_far_ahead_and_timeout() {
    // checklist S-BLK-06, S-BLK-08
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    publish(&s, 0, 6);
    let far = Instant::now() + Duration::from_secs(5);
    assert_eq!(
        s.wait_playlist(0, 4, None, far).await.unwrap_err(),
        BlockingError::TooFarAhead,
        "msn > last + 2"
    );
    // Advance Part Limit at 200 ms: 15 parts.
    assert_eq!(
        s.wait_playlist(0, 1, Some(17), far).await.unwrap_err(),
        BlockingError::TooFarAhead
    );
    let soon = Instant::now() + Duration::from_millis(30);
    assert_eq!(
        s.wait_playlist(0, 3, None, soon).await.unwrap_err(),
        BlockingError::Timeout
    );
    assert_eq!(
        Registry::blocking_timeout(Duration::from_secs(1)),
        Duration::from_secs(3)
    );
}

#[tokio::test]
async fn ended_stream_answers_every_blocking_request() {
    // checklist S-BLK-05, P-END-01
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    publish(&s, 0, 3);
    let far = Instant::now() + Duration::from_secs(5);
    let s2 = s.clone();
    let waiter = tokio::spawn(async move { s2.wait_playlist(1, 2, Some(0), far).await });
    tokio::task::yield_now().await;
    reg.end_stream("live", Instant::now()).unwrap();
    let r = waiter.await.unwrap().unwrap();
    assert!(r.ended);
    let text = std::str::from_utf8(&r.full).unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert!(!text.contains("PRELOAD-HINT"));
    assert_eq!(
        s.publish_part(0, part(0, 3), Instant::now()),
        Err(Error::Ended)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_waiters_are_released_by_one_publish() {
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    publish(&s, 0, 3);
    let far = Instant::now() + Duration::from_secs(30);
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10_000 {
        let s = s.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let r = s.wait_playlist(0, 0, Some(3), far).await.unwrap();
            done.fetch_add(1, Ordering::Relaxed);
            r
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(done.load(Ordering::Relaxed), 0);
    let before = s.updates(0);
    s.publish_part(0, part(0, 3), Instant::now()).unwrap();
    assert_eq!(s.updates(0), before + 1, "one render for all waiters");
    let mut first = None;
    for t in tasks {
        let r = t.await.unwrap();
        // Every waiter got the very same rendered bytes (shared, not re-rendered).
        let f = first.get_or_insert_with(|| r.clone());
        assert!(Arc::ptr_eq(f, &r));
    }
    assert_eq!(done.load(Ordering::Relaxed), 10_000);
}

#[tokio::test]
async fn hinted_part_blocks_unknown_part_is_404() {
    // checklist P-HINT-04, P-HINT-05, P-HINT-06
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    publish(&s, 0, 3);
    let far = Instant::now() + Duration::from_secs(5);
    // Far-future part: 404 at once, not a hang.
    assert_eq!(
        s.wait_part(0, 50, 0, far).await.unwrap_err(),
        PartError::NotFound
    );
    // The hinted part (0.3) parks until published, then arrives whole.
    let s2 = s.clone();
    let waiter = tokio::spawn(async move { s2.wait_part(0, 0, 3, far).await });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    s.publish_part(0, part(0, 3), Instant::now()).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), payload(0, 3));
    // A hint whose part never comes: the producer closes the segment early.
    let s2 = s.clone();
    let waiter = tokio::spawn(async move { s2.wait_part(0, 0, 5, far).await });
    tokio::task::yield_now().await;
    let mut p = part(0, 4);
    p.last_in_segment = true;
    s.publish_part(0, p, Instant::now()).unwrap();
    // 0.5 is no longer hinted (the hint moved to 1.0): answered 404.
    assert_eq!(waiter.await.unwrap().unwrap_err(), PartError::NotFound);
    // Timeout for a hinted part that does not arrive in time.
    let soon = Instant::now() + Duration::from_millis(20);
    assert_eq!(
        s.wait_part(0, 1, 0, soon).await.unwrap_err(),
        PartError::Timeout
    );
}

#[test]
fn rendition_reports_and_multivariant() {
    // checklist P-RR-01, P-RR-02, M-VAR-01, P-SC-05, P-TD-02
    let reg = registry();
    let mut sp = spec("live");
    sp.renditions.push(rendition("a160", 160_000));
    let s = reg.create_stream(sp, Instant::now()).unwrap();
    publish(&s, 0, 8);
    let pls: Vec<_> = (0..3)
        .map(|r| parse_media(&s.renditions()[r].playlist().full).unwrap())
        .collect();
    for (i, pl) in pls.iter().enumerate() {
        assert_eq!(pl.rendition_reports.len(), 2, "one per sibling");
        for rep in &pl.rendition_reports {
            let sib = rep
                .uri
                .trim_start_matches("../")
                .trim_end_matches("/index.m3u8");
            let j = (0..3)
                .find(|&j| s.renditions()[j].spec().name == sib)
                .unwrap();
            assert_ne!(i, j);
            let last = pls[j].last_part().unwrap();
            // ± 1 part: siblings later in the loop had not published this round yet.
            let rep_pos = rep.last_msn.unwrap() * 5 + rep.last_part.unwrap();
            let pos = last.0 * 5 + last.1.unwrap();
            assert!(pos - rep_pos <= 1, "{rep:?} vs {last:?}");
        }
        assert_eq!(pl.server_control, pls[0].server_control, "P-SC-05");
        assert_eq!(pl.target_duration, pls[0].target_duration, "P-TD-02");
    }
    let (mv, gz) = s.multivariant();
    let mvp = aulos_manifest::parse_multivariant(mv).unwrap();
    assert_eq!(mvp.variants.len(), 3);
    assert_eq!(mvp.variants[2].uri, "a160/index.m3u8");
    assert_eq!(mvp.variants[2].bandwidth, 160_000);
    assert_eq!(mvp.variants[2].codecs.as_deref(), Some("mp4a.40.2"));
    assert!(gz.len() > 10 && gz[0] == 0x1f);
}

#[test]
fn new_init_is_a_discontinuity_with_a_new_map() {
    // checklist P-DIS-01, P-MAP-01
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    s.set_init(0, Bytes::from_static(b"init-a")).unwrap();
    publish(&s, 0, 3);
    s.set_init(0, Bytes::from_static(b"init-b")).unwrap();
    s.publish_part(0, part(0, 3), Instant::now()).unwrap();
    let text = String::from_utf8(s.renditions()[0].playlist().full.to_vec()).unwrap();
    assert!(
        text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\""),
        "{text}"
    );
    assert_eq!(
        s.renditions()[0].init().unwrap(),
        (1, Bytes::from_static(b"init-b"))
    );
    // Setting the same init again changes nothing.
    let before = s.renditions()[0].playlist().full.clone();
    s.set_init(0, Bytes::from_static(b"init-b")).unwrap();
    assert_eq!(s.renditions()[0].playlist().full, before);
}

#[test]
fn lifecycle_idle_expiry_retention_and_restart() {
    // checklist P-DSN-01, S-GEN-08
    let reg = Registry::new(RegistryConfig {
        idle_timeout: Duration::from_secs(10),
        retain_after_end: Duration::from_secs(60),
        ..RegistryConfig::default()
    })
    .unwrap();
    let t0 = Instant::now();
    let s = reg.create_stream(spec("live"), t0).unwrap();
    assert!(matches!(
        reg.create_stream(spec("live"), t0),
        Err(Error::StreamExists(_))
    ));
    publish(&s, 0, 12);
    assert!(reg.tick(t0 + Duration::from_secs(5)).is_empty());
    assert!(!s.ended());
    // Idle for longer than idle_timeout: ended, still listed.
    assert!(reg.tick(t0 + Duration::from_secs(20)).is_empty());
    assert!(s.ended());
    assert!(reg.list()[0].ended);
    // Restart under the same name: numbering continues, discontinuity sequence +1.
    let s2 = reg.create_stream(spec("live"), t0).unwrap();
    let pl = parse_media(&s2.renditions()[0].playlist().full).unwrap();
    assert_eq!(
        pl.media_sequence, 3,
        "12 parts = segments 0..=1 + 2.0,2.1 closed at end"
    );
    assert_eq!(pl.discontinuity_sequence, 1);
    assert_eq!(reg.len(), 1);
    // The old stream object is gone from the registry; ending + retention removes.
    reg.end_stream("live", t0 + Duration::from_secs(30))
        .unwrap();
    assert!(reg.tick(t0 + Duration::from_secs(60)).is_empty());
    assert_eq!(
        reg.tick(t0 + Duration::from_secs(95)),
        vec!["live".to_owned()]
    );
    assert!(reg.get("live").is_none());
    assert_eq!(reg.ring().stats().streams_open, 0, "ring streams closed");
}

#[test]
fn limits_and_bad_input() {
    let reg = registry();
    for i in 0..4 {
        reg.create_stream(spec(&format!("s{i}")), Instant::now())
            .unwrap();
    }
    assert_eq!(
        reg.create_stream(spec("s4"), Instant::now()).unwrap_err(),
        Error::TooManyStreams(4)
    );
    let reg = registry();
    assert!(matches!(
        reg.create_stream(spec("../etc"), Instant::now()),
        Err(Error::InvalidName(_))
    ));
    let mut sp = spec("x");
    sp.renditions.clear();
    assert!(matches!(
        reg.create_stream(sp, Instant::now()),
        Err(Error::RenditionCount(_))
    ));
    let mut sp = spec("x");
    sp.renditions.push(rendition("a48", 1));
    assert!(matches!(
        reg.create_stream(sp, Instant::now()),
        Err(Error::DuplicateRendition(_))
    ));
    let s = reg.create_stream(spec("x"), Instant::now()).unwrap();
    let big = PublishPart {
        data: Bytes::from(vec![0u8; reg.config().max_part_bytes + 1]),
        ..part(0, 0)
    };
    assert!(matches!(
        s.publish_part(0, big, Instant::now()),
        Err(Error::PartTooLarge { .. })
    ));
    let long = PublishPart {
        duration: Duration::from_millis(250),
        ..part(0, 0)
    };
    assert!(matches!(
        s.publish_part(0, long, Instant::now()),
        Err(Error::Playlist(_))
    ));
    // Nothing was published by the refused calls.
    assert_eq!(s.renditions()[0].playlist().last, None);
    assert!(s.authorize(b"secret-key-1"));
    assert!(!s.authorize(b"secret-key-2"));
    assert!(!s.authorize(b""));
    // A ring too small for the window is refused up front.
    let small = Registry::new(RegistryConfig {
        ring_segments: 6,
        ..RegistryConfig::default()
    })
    .unwrap();
    assert!(matches!(
        small.create_stream(spec("x"), Instant::now()),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn parts_stay_downloadable_after_leaving_the_playlist() {
    // checklist P-PART-08, S-GEN-06, P-PART-04
    let reg = registry();
    let s = reg.create_stream(spec("live"), Instant::now()).unwrap();
    publish(&s, 0, 5 * 40);
    let pl = parse_media(&s.renditions()[0].playlist().full).unwrap();
    assert!(
        pl.segments
            .iter()
            .flat_map(|seg| seg.parts.iter())
            .chain(pl.partial_segment.iter())
            .all(|p| p.independent),
        "every AAC part is INDEPENDENT=YES"
    );
    // The newest segment whose parts are no longer listed, and one 3 target durations
    // (3 segments here) older than that: their parts still come out of the ring.
    let first_without_parts = pl
        .segments
        .iter()
        .rposition(|seg| seg.parts.is_empty())
        .map(|i| pl.first_listed_msn() + i as u64)
        .expect("old segments lose their parts");
    let far = Instant::now() + Duration::from_secs(1);
    for msn in first_without_parts.saturating_sub(3)..=first_without_parts {
        for p in 0..5u32 {
            let got = s.wait_part(0, msn, p, far).await;
            assert_eq!(got, Ok(payload(0, msn * 5 + u64::from(p))), "{msn}.{p}");
        }
        assert!(s.segment(0, msn).is_ok());
    }
    // Segments that slid out of the playlist window are still served for 3 TD too.
    let gone = pl.media_sequence - 1;
    assert!(
        s.segment(0, gone).is_ok(),
        "segment {gone} just left the window"
    );
}
