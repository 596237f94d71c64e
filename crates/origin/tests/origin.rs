//! The origin over real HTTP on 127.0.0.1:0: conformance per checklist item, blocking
//! semantics, parts and hints, gzip, CORS, errors, ingest, shutdown.

use aulos_manifest::{LiveConfig, parse_media, parse_multivariant};
use aulos_origin::{IngestStream, Origin, OriginConfig};
use aulos_registry::{PublishPart, RenditionSpec, Stream, StreamKey, StreamSpec};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const PART: Duration = Duration::from_millis(192);

async fn origin() -> Origin {
    origin_with_grace(Duration::ZERO).await
}

async fn origin_with_grace(end_grace: Duration) -> Origin {
    let cfg = OriginConfig {
        end_grace,
        ..ingest_config(false)
    };
    Origin::start(cfg, None).await.unwrap()
}

/// An origin on 127.0.0.1:0 with no demo and one ingest stream, `pushed`, keyed
/// `ingest-key-123`, with or without the transcode ladder.
fn ingest_config(transcode: bool) -> OriginConfig {
    OriginConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        demo: None,
        ingest: vec![IngestStream {
            name: "pushed".into(),
            key: StreamKey::new("ingest-key-123").unwrap(),
            transcode,
        }],
        ..OriginConfig::default()
    }
}

fn stream(o: &Origin) -> Arc<Stream> {
    let s = o
        .registry
        .create_stream(
            StreamSpec {
                name: "live".into(),
                key: None,
                renditions: ["a48", "a96"]
                    .iter()
                    .map(|n| RenditionSpec {
                        name: (*n).into(),
                        codecs: "mp4a.40.2".into(),
                        bandwidth: 100_000,
                        average_bandwidth: Some(90_000),
                        channels: 2,
                        sample_rate: 48_000,
                    })
                    .collect(),
                live: LiveConfig::default(),
            },
            Instant::now(),
        )
        .unwrap();
    for r in 0..2 {
        s.set_init(r, Bytes::from(format!("init-{r}"))).unwrap();
    }
    s
}

fn payload(r: usize, n: u64) -> Bytes {
    Bytes::from(format!("part-r{r}-n{n};").repeat(20))
}

fn publish(s: &Stream, from: u64, count: u64) {
    for n in from..from + count {
        for r in 0..2 {
            s.publish_part(
                r,
                PublishPart {
                    data: payload(r, n),
                    duration: PART,
                    independent: true,
                    program_date_time: Some(SystemTime::now()),
                    last_in_segment: n % 5 == 4,
                },
                Instant::now(),
            )
            .unwrap();
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn url(o: &Origin, path: &str) -> String {
    format!("http://{}{path}", o.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlists_content_type_cors_cache_control_gzip() {
    // checklist P-TXT-03, M-VAR-01, S-GEN-07, S-CC-01, S-CC-03, S-CC-05
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 12);
    let c = client();
    let r = c.get(url(&o, "/live/master.m3u8")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let mv = parse_multivariant(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(mv.variants.len(), 2);
    assert!(
        mv.variants
            .iter()
            .all(|v| v.codecs.as_deref() == Some("mp4a.40.2"))
    );

    let r = c.get(url(&o, "/live/a48/index.m3u8")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=1",
        "½ TD, min 1 s"
    );
    assert!(r.headers().get("content-encoding").is_none());
    let plain = r.bytes().await.unwrap();
    let pl = parse_media(&plain).unwrap();
    assert_eq!(pl.last_part(), Some((2, Some(1))));
    assert_eq!(pl.rendition_reports.len(), 1);

    // gzip when accepted, identical content.
    let r = c
        .get(url(&o, "/live/a48/index.m3u8"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["vary"], "Accept-Encoding");
    let gz = r.bytes().await.unwrap();
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
    assert_eq!(back, plain);

    // Blocking responses are cacheable for ~6 TD and byte-identical (S-BLK-10).
    let a = c
        .get(url(&o, "/live/a48/index.m3u8?_HLS_msn=1&_HLS_part=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.headers()["cache-control"], "public, max-age=6");
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_reload_is_held_until_the_part_is_published() {
    // checklist S-BLK-02, S-GEN-01, P-PART-09
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 3);
    let c = client();
    let req = tokio::spawn(
        c.get(url(&o, "/live/a96/index.m3u8?_HLS_msn=0&_HLS_part=4"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!req.is_finished(), "held while 0.4 is missing");
    publish(&s, 3, 2);
    let r = req.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let pl = parse_media(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(pl.last_part(), Some((0, Some(4))));
    // S-GEN-01: the part it lists is there, whole.
    let part = c.get(url(&o, "/live/a96/0.4.m4s")).send().await.unwrap();
    assert_eq!(part.headers()["content-type"], "audio/mp4");
    assert_eq!(part.bytes().await.unwrap(), payload(1, 4));
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directive_errors_and_limits() {
    // checklist S-BLK-04, S-BLK-06, S-BLK-07, S-BLK-08, S-BLK-09, S-DIR-01
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 8);
    let c = client();
    let status = |q: &'static str| {
        let c = c.clone();
        let u = url(&o, &format!("/live/a48/index.m3u8{q}"));
        async move { c.get(u).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("?_HLS_part=1").await, 400, "S-BLK-07");
    assert_eq!(status("?_HLS_msn=abc").await, 400, "S-BLK-09");
    assert_eq!(status("?_HLS_msn=-1").await, 400, "S-BLK-09");
    assert_eq!(status("?_HLS_msn=99999999999999999999999").await, 400);
    assert_eq!(status("?_HLS_skip=maybe").await, 400);
    assert_eq!(status("?_HLS_msn=9").await, 400, "S-BLK-06: > last + 2");
    assert_eq!(
        status("?_HLS_msn=1&_HLS_part=30").await,
        400,
        "beyond part limit"
    );
    assert_eq!(status("?_HLS_foo=1&x=y").await, 200, "S-DIR-01");
    assert_eq!(status("?_HLS_msn=0&_HLS_part=0").await, 200, "S-BLK-04");
    // S-BLK-08: no update for 3 × TD → 503.
    let t = Instant::now();
    assert_eq!(status("?_HLS_msn=2&_HLS_part=0").await, 503);
    assert!(t.elapsed() >= Duration::from_millis(2900));
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_updates_combine_with_blocking() {
    // checklist S-SKIP-01, S-SKIP-05
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 5 * 20);
    let c = client();
    let r = c
        .get(url(
            &o,
            "/live/a48/index.m3u8?_HLS_msn=19&_HLS_part=4&_HLS_skip=YES",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = parse_media(&r.bytes().await.unwrap()).unwrap();
    assert!(d.skip.as_ref().unwrap().skipped_segments > 0);
    let full = c
        .get(url(&o, "/live/a48/index.m3u8"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let full = parse_media(&full).unwrap();
    assert!(full.skip.is_none());
    // Merged into the full playlist fetched after it, the delta gives it back.
    assert_eq!(aulos_manifest::merge_delta(&full, &d).unwrap(), full);
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_hints_segments_init_and_404s() {
    // checklist P-HINT-04, P-HINT-05, P-PART-05, P-MAP-01
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 7);
    let c = client();
    // The hinted part (1.2) is held, then sent whole.
    let req = tokio::spawn(c.get(url(&o, "/live/a48/1.2.m4s")).send());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!req.is_finished());
    publish(&s, 7, 1);
    let r = req.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), payload(0, 7));
    // Not hinted: 404 at once.
    let t = Instant::now();
    let r = c.get(url(&o, "/live/a48/51.0.m4s")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(t.elapsed() < Duration::from_secs(2));
    // A whole segment is its parts, concatenated.
    let r = c.get(url(&o, "/live/a96/0.m4s")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let want: Vec<u8> = (0..5).flat_map(|n| payload(1, n).to_vec()).collect();
    assert_eq!(
        r.headers()["content-length"],
        want.len().to_string().as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), want);
    assert_eq!(
        c.get(url(&o, "/live/a96/1.m4s"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Init.
    let r = c.get(url(&o, "/live/a96/init0.mp4")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), "init-1");
    assert_eq!(
        c.get(url(&o, "/live/a96/init1.mp4"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Unknown stream / rendition / path traversal.
    for p in [
        "/nope/master.m3u8",
        "/live/a999/index.m3u8",
        "/live/a48/..%2f..%2fetc%2fpasswd",
        "/live/a48/../../x",
        "/live/a48/01.m4s",
        "/a/b/c/d",
    ] {
        assert_eq!(c.get(url(&o, p)).send().await.unwrap().status(), 404, "{p}");
    }
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_and_answers_parked_requests() {
    // checklist P-END-01, S-BLK-05
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 3);
    let c = client();
    let req = tokio::spawn(
        c.get(url(&o, "/live/a48/index.m3u8?_HLS_msn=0&_HLS_part=4"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = o.addr;
    o.shutdown().await.unwrap();
    let r = req.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert!(!text.contains("PRELOAD-HINT"));
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "listener closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_begins_players_on_a_reload_timer_still_read_the_final_playlist() {
    // checklist P-END-01: a player that reloads on a timer (no blocking request
    // parked at the moment of shutdown) must still see ENDLIST, not a closed port.
    let o = origin_with_grace(Duration::from_millis(1500)).await;
    let s = stream(&o);
    publish(&s, 0, 3);
    let addr = o.addr;
    let c = client();
    let live = c
        .get(url(&o, "/live/a48/index.m3u8"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!live.contains("#EXT-X-ENDLIST"), "{live}");
    let health = c.get(url(&o, "/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let shutdown = tokio::spawn(o.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The same keep-alive connection, and a new one, both get the final playlist
    // and the media it lists.
    for c in [c, reqwest::Client::new()] {
        let r = c
            .get(format!("http://{addr}/live/a48/index.m3u8"))
            .send()
            .await
            .expect("still serving during the grace");
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
        assert!(!text.contains("PRELOAD-HINT"), "{text}");
        let part = c
            .get(format!("http://{addr}/live/a48/0.1.m4s"))
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 200);
    }
    // Meanwhile the origin says it is draining, and refuses new publishers.
    let c = client();
    let health = c
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    assert_eq!(health.text().await.unwrap(), "draining\n");
    let put = c
        .put(format!("http://{addr}/ingest/ingest-key-123"))
        .body(vec![0xFFu8, 0xF1, 0x50, 0x80])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 503, "no new ingest while draining");
    assert!(!shutdown.is_finished(), "shutdown waits for the grace");
    shutdown.await.unwrap().unwrap();
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "listener closed after the grace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_list_metrics_health() {
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 2);
    let c = client();
    let page = c
        .get(url(&o, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("hls.min.js"));
    let js = c.get(url(&o, "/hls.min.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.text().await.unwrap().len() > 100_000);
    // A viewer shows up in the list after a playlist request.
    c.get(url(&o, "/live/a48/index.m3u8")).send().await.unwrap();
    let list = c
        .get(url(&o, "/streams.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v[0]["name"], "live");
    assert_eq!(v[0]["renditions"][1], "a96");
    assert_eq!(v[0]["viewers"], 1);
    assert_eq!(
        c.get(url(&o, "/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok\n"
    );
    let m = c
        .get(url(&o, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("aulos_streams 1"), "{m}");
    assert!(m.contains("aulos_viewers 1"));
    assert!(m.contains("aulos_ring_chunks 4"));
    assert!(m.contains("kind=\"playlist\",status=\"200\""));
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_publisher_is_cut_off_and_the_stream_ends() {
    // Slow/stalled ingest client: after the idle timeout the origin answers 408,
    // and the stream gets ENDLIST (P-END-01) instead of hanging live.
    let mut cfg = ingest_config(false);
    cfg.ingest_limits.idle_timeout = Duration::from_millis(500);
    let o = Origin::start(cfg, None).await.unwrap();
    let adts = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../decode/tests/fixtures/sine-48k-mono-0.1s.aac"
    ))
    .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tx.send(Ok(adts)).await.unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let url = url(&o, "/ingest/ingest-key-123");
    let put = tokio::spawn(async move { client().put(url).body(body).send().await });
    let t = Instant::now();
    let r = put.await.unwrap().unwrap();
    assert_eq!(r.status(), 408);
    assert!(t.elapsed() >= Duration::from_millis(450));
    let s = o
        .registry
        .get("pushed")
        .expect("went live on the first frame");
    assert!(s.ended());
    let pl = parse_media(&s.renditions()[0].playlist().full).unwrap();
    assert!(pl.end_list);
    assert!(!pl.segments.is_empty(), "the frames it sent were published");
    drop(tx);
    o.shutdown().await.unwrap();
}

/// An Ogg Opus body with identification header `head`: OpusTags, then 3 s of CELT
/// 20 ms packets (TOC config 31, one frame, 80 bytes, packet *i* filled with `i % 251`),
/// five per page, the last page ending the stream.
fn ogg_opus_body(head: Vec<u8>) -> Vec<u8> {
    use ogg::writing::{PacketWriteEndInfo, PacketWriter};
    let mut w = PacketWriter::new(Vec::new());
    w.write_packet(head, 1, PacketWriteEndInfo::EndPage, 0)
        .unwrap();
    w.write_packet(
        b"OpusTags\0\0\0\0\0\0\0\0".to_vec(),
        1,
        PacketWriteEndInfo::EndPage,
        0,
    )
    .unwrap();
    for i in 0..150u64 {
        let mut p = vec![(i % 251) as u8; 80];
        p[0] = 31 << 3;
        let end = match i {
            149 => PacketWriteEndInfo::EndStream,
            i if i % 5 == 4 => PacketWriteEndInfo::EndPage,
            _ => PacketWriteEndInfo::NormalPacket,
        };
        w.write_packet(p, 1, end, 312 + 960 * (i + 1)).unwrap();
    }
    w.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_the_ladder_cannot_decode_still_goes_live_as_passthrough() {
    // A stream key that asks for the transcode ladder, and Opus whose channel mapping
    // the decoder does not take (family 1, stereo as two uncoupled streams: valid Opus,
    // not the family's standard layout). The ladder is left out (logged); the
    // passthrough goes live as for any key, instead of the whole ingest being refused.
    let o = Origin::start(ingest_config(true), None).await.unwrap();
    let mut head = b"OpusHead\x01\x02".to_vec();
    head.extend_from_slice(&312u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    // Gain 0, family 1, two streams, none coupled, channel i from stream i.
    head.extend_from_slice(&[0, 0, 1, 2, 0, 0, 1]);
    let r = client()
        .put(url(&o, "/ingest/ingest-key-123"))
        .body(ogg_opus_body(head))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let s = o.registry.get("pushed").expect("went live");
    let names: Vec<String> = s
        .renditions()
        .iter()
        .map(|r| r.spec().name.clone())
        .collect();
    assert_eq!(names, ["src"], "passthrough only");
    let pl = parse_media(&s.renditions()[0].playlist().full).unwrap();
    assert!(pl.end_list);
    assert_eq!(
        pl.segments.iter().map(|s| s.duration).sum::<Duration>(),
        Duration::from_secs(3)
    );
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_opus_ingest_goes_live_as_opus_in_fmp4() {
    // An Ogg Opus body (what `ffmpeg -c:a libopus -f ogg -method PUT` sends) is
    // packaged as Opus in fMP4: CODECS="opus", 200 ms parts of ten 20 ms packets, an
    // `Opus`/`dOps` init section, the packets untouched. (The transcode ladder from
    // Opus is checked with real audio in interop.rs.)
    use ogg::writing::{PacketWriteEndInfo, PacketWriter};
    let o = origin().await;
    let mut head = b"OpusHead\x01\x02".to_vec();
    head.extend_from_slice(&312u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]); // gain 0, mapping family 0
    let body = ogg_opus_body(head);
    // Ogg that is not Opus (a Vorbis identification header): refused as such, and
    // nothing goes live.
    let mut vorbis = PacketWriter::new(Vec::new());
    vorbis
        .write_packet(b"\x01vorbis".to_vec(), 2, PacketWriteEndInfo::EndStream, 0)
        .unwrap();
    let r = client()
        .put(url(&o, "/ingest/ingest-key-123"))
        .body(vorbis.into_inner())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(r.text().await.unwrap().contains("not Opus"));
    assert!(o.registry.get("pushed").is_none());
    let r = client()
        .put(url(&o, "/ingest/ingest-key-123"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let c = client();
    let text = |path: &'static str| {
        let (c, u) = (c.clone(), url(&o, path));
        async move { c.get(u).send().await.unwrap().text().await.unwrap() }
    };
    let master = text("/pushed/master.m3u8").await;
    let mv = parse_multivariant(master.as_bytes()).unwrap();
    assert_eq!(mv.variants.len(), 1, "{master}");
    assert!(master.contains("CODECS=\"opus\""), "{master}");
    let pl = parse_media(text("/pushed/src/index.m3u8").await.as_bytes()).unwrap();
    assert!(pl.end_list, "the end of the body ended the stream");
    let parts: Vec<_> = pl.segments.iter().flat_map(|s| s.parts.iter()).collect();
    let total: Duration = pl.segments.iter().map(|s| s.duration).sum();
    assert_eq!(total, Duration::from_secs(3));
    assert_eq!(parts.len(), 15);
    assert!(
        parts
            .iter()
            .all(|p| p.duration == Duration::from_millis(200)),
        "{parts:?}"
    );
    let map = pl.segments[0].map.as_ref().expect("EXT-X-MAP").uri.clone();
    let init = fetch(c.clone(), url(&o, &format!("/pushed/src/{map}")), false)
        .await
        .2;
    let has = |b: &[u8], box_type: &[u8]| b.windows(4).any(|w| w == box_type);
    assert!(
        has(&init, b"Opus") && has(&init, b"dOps"),
        "Opus sample entry"
    );
    let last = pl.segments.last().unwrap();
    let part = fetch(
        c.clone(),
        url(&o, &format!("/pushed/src/{}", last.parts[4].uri)),
        false,
    )
    .await
    .2;
    assert!(has(&part, b"moof") && has(&part, b"mdat"));
    // The last part carries packets 140..150 as sent.
    let mut tail = vec![149u8; 80];
    tail[0] = 31 << 3;
    assert!(part.ends_with(&tail), "the packets travel untouched");
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icecast_sources_stream_after_a_head_without_framing() {
    // What ffmpeg's `icecast://` output sends: a PUT with `Expect: 100-continue`, Basic
    // auth (the stream key as password, the stream name in the path), no
    // Content-Length, no chunking; once answered `100 Continue`, raw audio until it
    // closes. A wrong key gets 401 and never `100 Continue`.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let o = origin().await;
    let adts = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../decode/tests/fixtures/sine-48k-mono-0.1s.aac"
    ))
    .unwrap();
    let head = |key: &str| {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("source:{key}"));
        format!(
            "PUT /ingest/pushed HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
             Content-Type: audio/mpeg\r\nIce-Public: 0\r\nAuthorization: Basic {auth}\r\n\r\n"
        )
    };
    let mut bad = tokio::net::TcpStream::connect(o.addr).await.unwrap();
    bad.write_all(head("wrong-key-000").as_bytes())
        .await
        .unwrap();
    let mut reply = String::new();
    bad.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    assert!(!reply.contains("100 Continue"), "{reply}");

    let mut src = tokio::net::TcpStream::connect(o.addr).await.unwrap();
    src.write_all(head("ingest-key-123").as_bytes())
        .await
        .unwrap();
    let mut cont = [0u8; 25];
    src.read_exact(&mut cont).await.unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    // The audio in two pieces, the second while the stream is already live.
    let (a, b) = adts.split_at(adts.len() / 2);
    src.write_all(a).await.unwrap();
    src.write_all(b).await.unwrap();
    src.shutdown().await.unwrap();
    let mut reply = String::new();
    src.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let s = o.registry.get("pushed").expect("the source went live");
    assert!(s.ended(), "its end ended the stream");
    let pl = parse_media(&s.renditions()[0].playlist().full).unwrap();
    assert!(pl.end_list && !pl.segments.is_empty());
    // An ordinary request on the same port, peeked at and handed to HTTP as usual.
    let r = client().get(url(&o, "/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    o.shutdown().await.unwrap();
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Status, headers (sorted, without `date`) and body of a GET; `gzip` sends
/// `Accept-Encoding: gzip`.
async fn fetch(
    c: reqwest::Client,
    u: String,
    gzip: bool,
) -> (reqwest::StatusCode, Vec<(String, String)>, Bytes) {
    let mut req = c.get(u);
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let mut headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .filter(|(k, _)| *k != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (status, headers, r.bytes().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_gets_ahead_of_the_router_answer_exactly_as_the_router() {
    // Plain part GETs take a hot path ahead of axum's router; a query string sends
    // the same request through the router. Status, headers (CORS, Cache-Control,
    // content type and length) and body must not differ, for a part that exists, a
    // hinted one that is held, and one that is neither (P-HINT-04, P-HINT-05).
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 7);
    let c = client();
    let get = |path: String| fetch(c.clone(), url(&o, &path), false);
    for path in [
        "/live/a96/0.4.m4s",
        "/live/a48/1.1.m4s",
        "/live/a48/51.0.m4s",
    ] {
        let fast = get(path.to_owned()).await;
        let routed = get(format!("{path}?via=router")).await;
        assert_eq!(fast, routed, "{path}");
        assert!(
            fast.1
                .iter()
                .any(|(k, v)| k == "access-control-allow-origin" && v == "*")
        );
        assert!(fast.1.iter().any(|(k, _)| k == "cache-control"));
    }
    assert_eq!(get("/live/a96/0.4.m4s".into()).await.2, payload(1, 4));
    assert_eq!(get("/live/a48/51.0.m4s".into()).await.0, 404);
    // The hinted part is held on the hot path too, then sent whole.
    let held = tokio::spawn(get("/live/a48/1.2.m4s".into()));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!held.is_finished());
    publish(&s, 7, 1);
    let (status, _, body) = held.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, payload(0, 7));
    // Both paths count in the same series.
    let m = c
        .get(url(&o, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = m
        .lines()
        .find(|l| l.contains("kind=\"part\"") && l.contains("status=\"200\""))
        .unwrap();
    // 0.4 and 1.1 by both paths, 0.4 once more, the held 1.2.
    assert!(line.ends_with(" 6"), "{line}");
    o.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_playlists_ahead_of_the_router_answer_exactly_as_the_router() {
    // Media playlist GETs with no query or only `_HLS_` directives take the hot path;
    // any other query parameter sends the same request through the router. Status,
    // headers and body must not differ: plain and gzip, delta (S-SKIP-01), blocking
    // already satisfied and held until a publish (S-BLK-02), the directive errors
    // (S-BLK-06, S-BLK-07, S-DIR-01) and unknown names.
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 12);
    let c = client();
    let get = |path: String, gzip: bool| fetch(c.clone(), url(&o, &path), gzip);
    let via = |path: &str| {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}via=router")
    };
    // The router's handlers learn the viewer's address from the request (the peer
    // extension the listener inserts): a routed playlist request alone counts a viewer.
    assert_eq!(get(via("/live/a48/index.m3u8"), false).await.0, 200);
    let m = get("/metrics".into(), false).await.2;
    let m = std::str::from_utf8(&m).unwrap();
    assert!(m.contains("aulos_viewers 1"), "{m}");
    for path in [
        "/live/a48/index.m3u8",
        "/live/a96/index.m3u8?_HLS_skip=YES",
        "/live/a48/index.m3u8?_HLS_msn=1&_HLS_part=1",
        "/live/a48/index.m3u8?_HLS_msn=1&_HLS_part=1&_HLS_skip=v2",
        "/live/a48/index.m3u8?_HLS_part=1",
        "/live/a48/index.m3u8?_HLS_msn=x",
        "/live/a48/index.m3u8?_HLS_msn=9",
        "/live/a48/index.m3u8?_HLS_bogus=1",
        "/live/a12/index.m3u8",
        "/nope/a48/index.m3u8?_HLS_msn=1",
    ] {
        for gzip in [false, true] {
            let fast = get(path.to_owned(), gzip).await;
            let routed = get(via(path), gzip).await;
            assert_eq!(fast, routed, "{path} gzip={gzip}");
            if fast.0 == 200 {
                assert!(
                    fast.1
                        .contains(&("access-control-allow-origin".into(), "*".into()))
                );
                assert_eq!(
                    fast.1
                        .iter()
                        .any(|(k, v)| k == "content-encoding" && v == "gzip"),
                    gzip,
                    "{path}"
                );
            }
        }
    }
    assert_eq!(
        get("/live/a48/index.m3u8?_HLS_msn=x".into(), false).await.0,
        400
    );
    assert_eq!(get("/live/a12/index.m3u8".into(), false).await.0, 404);
    // Held on both paths until the part is published, then the same bytes.
    let next = "/live/a48/index.m3u8?_HLS_msn=2&_HLS_part=2";
    let held_fast = tokio::spawn(get(next.to_owned(), true));
    let held_routed = tokio::spawn(get(via(next), true));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!held_fast.is_finished() && !held_routed.is_finished());
    publish(&s, 12, 1);
    let (fast, routed) = (held_fast.await.unwrap(), held_routed.await.unwrap());
    assert_eq!(fast.0, 200);
    assert_eq!(fast, routed);
    // Both paths count viewers and requests in the same series.
    let m = get("/metrics".into(), false).await.2;
    let m = std::str::from_utf8(&m).unwrap();
    let line = m
        .lines()
        .find(|l| l.contains("kind=\"playlist\"") && l.contains("status=\"200\""))
        .unwrap();
    // 5 paths × 2 encodings × 2 routes (plain, delta, two satisfied blocking, an
    // ignored `_HLS_` name; the bare `_HLS_part`, `x` and the far `_HLS_msn` are
    // 400s) + the 2 held + the routed one that counted the viewer.
    assert!(line.ends_with(" 23"), "{line}");
    o.shutdown().await.unwrap();
}

/// Polls `/metrics` until at least `n` requests are parked (fails after 10 s).
async fn until_parked(c: &reqwest::Client, o: &Origin, n: u64) {
    let t = std::time::Instant::now();
    while parked(c, o).await < n {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "fewer than {n} parked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `aulos_parked_requests` from `/metrics`.
async fn parked(c: &reqwest::Client, o: &Origin) -> u64 {
    let m = c
        .get(url(o, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("aulos_parked_requests "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_of_one_connection_are_released_together_and_never_wait_for_each_other() {
    // The HTTP/2 streams of a connection run inside the connection's task (listener.rs).
    // Parked streams must not hold up the others on the same connection, one publish
    // must release them all, and shutdown must still answer the ones parked then.
    // checklist S-BLK-02, P-HINT-04, P-END-01
    let o = origin().await;
    let s = stream(&o);
    publish(&s, 0, 3);
    let c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_gzip()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let reload = url(&o, "/live/a96/index.m3u8?_HLS_msn=0&_HLS_part=4");
    let waiting: Vec<_> = (0..200)
        .map(|_| tokio::spawn(c.get(&reload).send()))
        .collect();
    let hinted = tokio::spawn(c.get(url(&o, "/live/a96/0.3.m4s")).send());
    until_parked(&c, &o, 201).await;
    // Other streams of the same connection are answered meanwhile.
    let r = c.get(url(&o, "/live/a96/index.m3u8")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let part = c.get(url(&o, "/live/a96/0.1.m4s")).send().await.unwrap();
    assert_eq!(part.bytes().await.unwrap(), payload(1, 1));
    assert!(waiting.iter().all(|w| !w.is_finished()) && !hinted.is_finished());
    publish(&s, 3, 2);
    let mut bodies = Vec::new();
    for w in waiting {
        let r = w.await.unwrap().unwrap();
        assert_eq!(r.status(), 200);
        bodies.push(r.bytes().await.unwrap());
    }
    assert_eq!(
        parse_media(&bodies[0]).unwrap().last_part(),
        Some((0, Some(4)))
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]), "S-BLK-10");
    let r = hinted.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), payload(1, 3));
    // Parked when shutdown begins: answered with the final playlist.
    let late = tokio::spawn(
        c.get(url(&o, "/live/a96/index.m3u8?_HLS_msn=1&_HLS_part=0"))
            .send(),
    );
    until_parked(&c, &o, 1).await;
    o.shutdown().await.unwrap();
    let r = late.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_queues_thousands_of_simultaneous_connections() {
    // tokio's default backlog of 1024 made the 1025th of 10,000 players connecting at
    // once wait 1-3 s for a SYN retry (origin bench, `--conns 10000`). The kernel caps
    // the backlog at net.core.somaxconn; `ss` shows a listening socket's as Send-Q.
    let o = origin().await;
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", o.addr.port())])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let backlog: u32 = text
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no listening socket in {text:?}"));
    assert_eq!(backlog, somaxconn.min(8192), "{text}");
    o.shutdown().await.unwrap();
}
