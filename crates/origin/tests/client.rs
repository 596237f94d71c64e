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
