//! The Aulos client (`aulos-client` driver) against the Aulos origin on 127.0.0.1,
//! both in one process: live-edge start, blocking reloads, parts in playback order,
//! the bytes the origin published, program-date-time close to the wall clock.
//! (Issue 6: "driver integration test against the Aulos origin".)

use aulos_client::{Driver, DriverConfig};
use aulos_origin::{DemoConfig, Origin, OriginConfig};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

/// An origin with the demo stream (given 2 s to build a window) and a client
/// driver playing it.
async fn demo_and_client() -> (Origin, Driver, aulos_client::ChunkStream) {
    let o = Origin::start(
        OriginConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo: Some(DemoConfig::default()),
            ..OriginConfig::default()
        },
        None,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (driver, chunks) = Driver::spawn(
        &format!("http://{}/demo/master.m3u8", o.addr),
        DriverConfig::default(),
    )
    .expect("driver starts");
    (o, driver, chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aulos_client_plays_the_aulos_origin_at_the_live_edge() {
    // checklist C-START-01, C-BLK-01, C-HINT-01, P-HINT-04, S-GEN-01
    let (o, driver, mut chunks) = demo_and_client().await;
    let mut got = Vec::new();
    let mut lags = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while got.len() < 15 {
            let Some(d) = chunks.next().await else { break };
            if let Some(pdt) = d.chunk.program_date_time {
                // How far behind the capture clock the part arrives (part duration +
                // hold-back + transfer).
                lags.push(SystemTime::now().duration_since(pdt).unwrap_or_default());
            }
            got.push(d);
        }
    })
    .await
    .expect("15 parts within 20 s");
    assert_eq!(got.len(), 15);
    assert!(got[0].chunk.init.is_some(), "first chunk carries the init");
    assert!(
        got.iter().all(|d| d.chunk.part.is_some()),
        "LL parts, not segments"
    );
    for w in got.windows(2) {
        assert!(w[0].key < w[1].key, "playback order");
    }
    // The bytes are what the origin's ring holds for that rendition and key.
    let s = o.registry.get("demo").unwrap();
    for d in &got {
        let rend = &s.renditions()[d.chunk.rendition];
        let want = o
            .registry
            .ring()
            .get(rend.ring_stream(), d.key)
            .map(|c| c.data);
        if let Some(want) = want {
            assert_eq!(d.chunk.data, want, "part {:?}", d.key);
        }
    }
    // Parts arrive within about a part + PART-HOLD-BACK of capture, not seconds late.
    lags.sort();
    let median = lags[lags.len() / 2];
    assert!(
        median < Duration::from_millis(1500),
        "median lag {median:?}"
    );
    let st = driver.stats();
    assert!(st.responses.load(Ordering::Relaxed) >= 15);
    assert_eq!(
        st.copied_bytes.load(Ordering::Relaxed),
        0,
        "parts arrive as one frame"
    );
    driver.abort();
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aulos_client_finishes_when_the_stream_ends() {
    // checklist P-END-01 from the client's side: after ENDLIST (with a short final
    // segment) the client delivers what is left and its chunk stream ends.
    let (o, driver, mut chunks) = demo_and_client().await;
    let mut n = 0;
    while n < 5 {
        chunks.next().await.expect("live parts");
        n += 1;
    }
    // End mid-segment (the demo is wall-clock paced, parts every 192 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    o.registry
        .end_stream("demo", std::time::Instant::now())
        .unwrap();
    let drained = tokio::time::timeout(Duration::from_secs(15), async {
        let mut rest = 0;
        while chunks.next().await.is_some() {
            rest += 1;
        }
        rest
    })
    .await;
    assert!(drained.is_ok(), "client did not finish after ENDLIST");
    driver.abort();
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_renditions_are_aligned_and_playlists_idempotent() {
    // checklist M-VAR-02, M-VAR-03, M-VAR-05, P-TD-02, S-GEN-05, S-GEN-10, P-BR-01
    let o = Origin::start(
        OriginConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo: Some(DemoConfig::default()),
            ..OriginConfig::default()
        },
        None,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let c = reqwest::Client::new();
    let get = |path: String| {
        let c = c.clone();
        async move { c.get(path).send().await.unwrap().bytes().await.unwrap() }
    };
    let base = format!("http://{}/demo", o.addr);
    let mv = aulos_manifest::parse_multivariant(&get(format!("{base}/master.m3u8")).await).unwrap();
    // M-VAR-05: every variant is on this server (relative URIs).
    assert_eq!(mv.variants.len(), 3);
    assert!(mv.variants.iter().all(|v| !v.uri.contains("://")));
    // Blocking on the same next segment aligns the three snapshots.
    let first =
        aulos_manifest::parse_media(&get(format!("{base}/{}", mv.variants[0].uri)).await).unwrap();
    let target = first.next_msn() + 1;
    let mut pls = Vec::new();
    for v in &mv.variants {
        let b = get(format!("{base}/{}?_HLS_msn={target}", v.uri)).await;
        pls.push(aulos_manifest::parse_media(&b).unwrap());
    }
    for pl in &pls {
        assert_eq!(
            pl.target_duration, pls[0].target_duration,
            "P-TD-02 / M-VAR-03"
        );
        assert_eq!(
            pl.discontinuity_sequence, pls[0].discontinuity_sequence,
            "M-VAR-02"
        );
        assert!(
            pl.segments.iter().all(|s| s.bitrate.is_none()),
            "P-BR-01: no EXT-X-BITRATE to get wrong"
        );
    }
    // M-VAR-02/03: the same MSN has the same program-date-time in every rendition
    // (one capture clock, same frame-aligned cutting).
    for pl in &pls[1..] {
        for (i, s) in pl.segments.iter().enumerate() {
            let msn = pl.media_sequence + i as u64;
            let Some(j) = msn.checked_sub(pls[0].media_sequence) else {
                continue;
            };
            let Some(other) = pls[0].segments.get(j as usize) else {
                continue;
            };
            assert_eq!(s.program_date_time, other.program_date_time, "MSN {msn}");
            assert_eq!(s.duration, other.duration, "MSN {msn}");
        }
    }
    // S-GEN-05: while live, a new segment at least every 1.5 × TARGETDURATION.
    let td = Duration::from_secs(pls[0].target_duration);
    let before = pls[0].next_msn();
    tokio::time::sleep(td.mul_f64(1.5)).await;
    let now =
        aulos_manifest::parse_media(&get(format!("{base}/{}", mv.variants[0].uri)).await).unwrap();
    assert!(now.next_msn() > before, "no new segment in 1.5 TD");
    // S-GEN-10: a playlist GET has no side effects: with publishing paused (stream
    // ended), repeated GETs and HEADs give the same bytes.
    o.registry
        .end_stream("demo", std::time::Instant::now())
        .unwrap();
    let url = format!("{base}/{}", mv.variants[1].uri);
    let a = get(url.clone()).await;
    let h = c.head(&url).send().await.unwrap();
    assert_eq!(h.status(), 200);
    let b = get(url).await;
    assert_eq!(a, b);
    o.shutdown().await.unwrap();
}
