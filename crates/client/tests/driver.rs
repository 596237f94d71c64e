//! Driver integration tests: reqwest against real HTTP servers on 127.0.0.1:0.
//!
//! 1. An LL-HLS origin: the simulator's analytic origin served by axum in real time
//!    (blocking reloads and hinted parts are really held until the part exists).
//!    `aulos-manifest`'s builder had not landed when this was written; the sim origin
//!    renders its own playlists.
//! 2. VOD HLS written by `ffmpeg` (fMP4 and MPEG-TS) into a temp dir, served as files.
//! 3. Live HLS written in real time by ffmpeg (fMP4 and MPEG-TS) and by GStreamer's
//!    `hlssink2` (MPEG-TS), sliding windows, served as files while it is written: start position, reload timing, every
//!    segment to ENDLIST.

use aulos_client::sim::{OriginConfig, SimOrigin};
use aulos_client::{Driver, DriverConfig, Instant};
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn serve<F, Fut>(handler: F) -> std::net::SocketAddr
where
    F: Fn(String, Option<String>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let h = handler.clone();
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let range = req
            .headers()
            .get("range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        async move { h(pq, range).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn response(status: u16, body: bytes::Bytes, content_type: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("valid response")
}

/// The simulator's origin served over HTTP in real time (10 s of stream at start).
/// With `gzip`, playlists are sent with `Content-Encoding: gzip` (S-GEN-07).
async fn sim_server(gzip: bool) -> (std::net::SocketAddr, tokio::time::Instant, SimOrigin) {
    let cfg = OriginConfig {
        running_for: Duration::from_secs(10),
        renditions: vec![aulos_client::Bitrate::from_kbps(64)],
        ..OriginConfig::default()
    };
    let origin = Arc::new(Mutex::new(SimOrigin::new(cfg.clone())));
    let reference = SimOrigin::new(cfg);
    let epoch = tokio::time::Instant::now();
    let o = origin.clone();
    let addr = serve(move |pq: String, _range| {
        let o = o.clone();
        async move {
            let url = url::Url::parse(&format!("http://sim{pq}")).expect("url");
            let arrival = Instant::from_epoch(epoch.elapsed());
            let reply = o.lock().expect("origin lock").respond(&url, arrival);
            tokio::time::sleep_until(epoch + reply.ready_at.since_epoch()).await;
            let playlist = url.path().ends_with(".m3u8");
            let ct = if playlist {
                "application/vnd.apple.mpegurl"
            } else {
                "video/mp4"
            };
            if gzip && playlist && reply.status == 200 {
                use std::io::Write;
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&reply.body).expect("gzip into memory");
                let mut r = response(200, e.finish().expect("gzip finish").into(), ct);
                r.headers_mut().insert(
                    "content-encoding",
                    axum::http::HeaderValue::from_static("gzip"),
                );
                return r;
            }
            response(reply.status, reply.body, ct)
        }
    })
    .await;
    (addr, epoch, reference)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_origin_in_real_time() {
    // checklist C-START-01, C-BLK-01, C-HINT-01, P-HINT-04
    let (addr, epoch, reference) = sim_server(false).await;
    let (driver, mut chunks) =
        Driver::spawn(&format!("http://{addr}/main.m3u8"), DriverConfig::default())
            .expect("driver starts");
    let got = tokio::time::timeout(TEST_TIMEOUT, async {
        let mut got = Vec::new();
        let mut first_at = Duration::ZERO;
        while got.len() < 12 {
            match chunks.next().await {
                Some(d) => {
                    if got.is_empty() {
                        first_at = epoch.elapsed();
                    }
                    got.push(d)
                }
                None => break,
            }
        }
        (got, first_at)
    })
    .await
    .expect("12 chunks within the timeout");
    let (got, first_at) = got;
    assert_eq!(got.len(), 12);
    assert!(
        got[0].chunk.init.is_some(),
        "first chunk carries the init section"
    );
    assert!(got[1..].iter().all(|d| d.chunk.init.is_none()));
    // The stream's PART-HOLD-BACK (0.6 s here) travels with every chunk: the player's
    // latency target starts from it (issue #7).
    assert!(
        got.iter()
            .all(|d| d.hold_back == Some(Duration::from_millis(600))),
        "{:?}",
        got.iter().map(|d| d.hold_back).collect::<Vec<_>>()
    );
    for w in got.windows(2) {
        assert!(
            w[0].key < w[1].key,
            "playback order: {:?}",
            got.iter()
                .map(|d| (d.key.msn, d.key.part, d.chunk.discontinuity))
                .collect::<Vec<_>>()
        );
    }
    // Started PART-HOLD-BACK (3 parts of 200 ms) behind the live edge: compare the
    // first key with the parts complete when it arrived (10 s of stream before t=0).
    let edge = ((Duration::from_secs(10) + first_at).as_millis() / 200) as u64;
    let first = got[0].key.msn * 10 + u64::from(got[0].key.part);
    assert!(
        (2..=4).contains(&(edge - first)),
        "first {:?}, edge part {edge}",
        got[0].key
    );
    let (ring, stream) = driver.ring();
    for d in &got {
        let want = reference.part_body(0, d.key.msn, d.key.part);
        assert_eq!(d.chunk.data, want, "bytes of part {:?}", d.key);
        assert_eq!(
            ring.get(stream, d.key).map(|c| c.data),
            Some(want),
            "ring holds {:?}",
            d.key
        );
    }
    // Parts are single small frames: nothing joined, nothing copied.
    let st = driver.stats();
    assert!(st.responses.load(std::sync::atomic::Ordering::Relaxed) >= 12);
    assert_eq!(
        st.copied_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    driver.abort();
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    Fmp4,
    Ts,
    /// One `.ts` file, segments as EXT-X-BYTERANGE slices (fetched with Range).
    TsSingleFile,
}

fn ffmpeg_hls(dir: &Path, layout: Layout) -> bool {
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=4",
    ]);
    cmd.args([
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
    ]);
    match layout {
        Layout::Fmp4 => {
            cmd.args([
                "-hls_segment_type",
                "fmp4",
                "-hls_fmp4_init_filename",
                "init.mp4",
            ]);
        }
        Layout::TsSingleFile => {
            cmd.args(["-hls_flags", "single_file"]);
        }
        Layout::Ts => {}
    }
    cmd.arg(dir.join("index.m3u8"));
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aulos-client-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `bytes=a-b` → the slice (206), else the whole body.
fn ranged(body: Vec<u8>, range: Option<String>) -> Response<Body> {
    let parsed = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| {
            let (a, b) = r.split_once('-')?;
            let a: usize = a.parse().ok()?;
            let b: usize = if b.is_empty() {
                body.len().checked_sub(1)?
            } else {
                b.parse().ok()?
            };
            (a <= b && b < body.len()).then_some((a, b))
        });
    match (range, parsed) {
        (None, _) => response(200, body.into(), "application/octet-stream"),
        (Some(_), Some((a, b))) => response(
            206,
            bytes::Bytes::copy_from_slice(&body[a..=b]),
            "application/octet-stream",
        ),
        (Some(_), None) => response(416, bytes::Bytes::new(), "text/plain"),
    }
}

/// What a [`serve_dir`] server answered: playlists with their bodies, and when each
/// other file was asked for.
#[derive(Default)]
struct ServedLog {
    playlists: Vec<PlaylistGet>,
    media: Vec<(String, std::time::Instant)>,
}

/// A plain file server for `root` (as a CDN in front of a packager's directory):
/// Range requests, 404 for what is missing, 400 for `..` and for files still being
/// written (`.tmp`). Logs what it served.
async fn serve_dir(root: PathBuf) -> (std::net::SocketAddr, Arc<Mutex<ServedLog>>) {
    let log: Arc<Mutex<ServedLog>> = Arc::default();
    let served = log.clone();
    let addr = serve(move |pq: String, range: Option<String>| {
        let (root, log) = (root.clone(), served.clone());
        async move {
            let path = pq.split('?').next().unwrap_or("").trim_start_matches('/');
            if path.contains("..") || path.ends_with(".tmp") {
                return response(400, bytes::Bytes::new(), "text/plain");
            }
            let Ok(b) = tokio::fs::read(root.join(path)).await else {
                return response(404, bytes::Bytes::new(), "text/plain");
            };
            let at = std::time::Instant::now();
            let mut log = log.lock().unwrap();
            if path.ends_with(".m3u8") {
                let body = String::from_utf8_lossy(&b).into_owned();
                log.playlists.push(PlaylistGet { at, body });
            } else {
                log.media.push((path.to_string(), at));
            }
            drop(log);
            ranged(b, range)
        }
    })
    .await;
    (addr, log)
}

/// Plays `http://{addr}/index.m3u8` with the default driver until the stream ends
/// (fails after [`TEST_TIMEOUT`]): the driver, to join, and every chunk delivered.
async fn play_to_end(addr: std::net::SocketAddr) -> (Driver, Vec<aulos_client::Delivered>) {
    let (driver, mut chunks) = Driver::spawn(
        &format!("http://{addr}/index.m3u8"),
        DriverConfig::default(),
    )
    .expect("driver starts");
    let got = tokio::time::timeout(TEST_TIMEOUT, async {
        let mut got = Vec::new();
        while let Some(d) = chunks.next().await {
            got.push(d);
        }
        got
    })
    .await
    .expect("the stream played to its end");
    (driver, got)
}

async fn play_ffmpeg_vod(layout: Layout) {
    let fmp4 = layout == Layout::Fmp4;
    let dir = temp_dir(match layout {
        Layout::Fmp4 => "fmp4",
        Layout::Ts => "ts",
        Layout::TsSingleFile => "ts1",
    });
    if !ffmpeg_hls(&dir, layout) {
        panic!("ffmpeg failed to write HLS (is ffmpeg installed?)");
    }
    let (addr, _) = serve_dir(dir.clone()).await;
    let playlist = std::fs::read_to_string(dir.join("index.m3u8")).expect("playlist");
    // (file, byte range) per segment, straight from ffmpeg's playlist.
    let mut segments: Vec<(&str, Option<(usize, usize)>)> = Vec::new();
    let mut range = None;
    for l in playlist.lines() {
        if let Some(r) = l.strip_prefix("#EXT-X-BYTERANGE:") {
            let (n, o) = r.split_once('@').expect("ffmpeg writes offsets");
            range = Some((o.parse().expect("offset"), n.parse().expect("length")));
        } else if !l.is_empty() && !l.starts_with('#') {
            segments.push((l, range.take()));
        }
    }
    assert!(segments.len() >= 3, "{playlist}");
    // Bounded: the VOD has a handful of segments; the stream ends after them.
    let (driver, got) = play_to_end(addr).await;
    assert_eq!(got.len(), segments.len(), "one chunk per segment");
    // VOD: nothing to hold back from.
    assert!(got.iter().all(|d| d.hold_back.is_none()));
    assert_eq!(
        layout == Layout::TsSingleFile,
        segments.iter().all(|s| s.1.is_some())
    );
    for (d, (name, range)) in got.iter().zip(&segments) {
        let file = std::fs::read(dir.join(name)).expect("segment file");
        let want = match range {
            Some((off, len)) => &file[*off..off + len],
            None => &file[..],
        };
        assert_eq!(d.chunk.data.as_ref(), want, "segment {name} {range:?}");
        assert_eq!(d.chunk.part, None);
    }
    if fmp4 {
        let init = std::fs::read(dir.join("init.mp4")).expect("init");
        assert_eq!(got[0].chunk.init.as_deref(), Some(init.as_slice()));
    } else {
        assert!(got[0].chunk.init.is_none());
    }
    tokio::time::timeout(TEST_TIMEOUT, driver.join())
        .await
        .expect("driver ends")
        .expect("session ended cleanly");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_fmp4_vod() {
    play_ffmpeg_vod(Layout::Fmp4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_single_file_byteranges() {
    // checklist P-BYTE-01 (client side): segments fetched with Range requests.
    play_ffmpeg_vod(Layout::TsSingleFile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_mpegts_vod() {
    play_ffmpeg_vod(Layout::Ts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_when_the_server_speaks_it() {
    // checklist S-GEN-09 (client side): h2c prior knowledge against axum/hyper;
    // S-GEN-07: gzip'd playlists decoded by the driver.
    let (addr, _, _) = sim_server(true).await;
    let cfg = DriverConfig {
        http2_prior_knowledge: true,
        ..DriverConfig::default()
    };
    let (driver, mut chunks) =
        Driver::spawn(&format!("http://{addr}/main.m3u8"), cfg).expect("driver starts");
    let n = tokio::time::timeout(TEST_TIMEOUT, async {
        let mut n = 0;
        while n < 6 && chunks.next().await.is_some() {
            n += 1;
        }
        n
    })
    .await
    .expect("chunks over HTTP/2");
    assert_eq!(n, 6);
    let st = driver.stats();
    let h2 = st
        .http2_responses
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        h2,
        st.responses.load(std::sync::atomic::Ordering::Relaxed),
        "every response over HTTP/2"
    );
    assert!(h2 >= 6);
    assert!(
        st.gzip_bodies.load(std::sync::atomic::Ordering::Relaxed) >= 2,
        "gzip'd playlists decoded"
    );
    driver.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_stops_the_driver() {
    // A decoder that does not read: the driver must stop at the channel bound
    // instead of buffering (nothing unbounded on the media path).
    let (addr, _, _) = sim_server(false).await;
    let cfg = DriverConfig {
        channel_capacity: 2,
        ..DriverConfig::default()
    };
    let (driver, mut chunks) =
        Driver::spawn(&format!("http://{addr}/main.m3u8"), cfg).expect("driver starts");
    // Wait (bounded) until the driver has put 3 chunks: 2 queued + 1 blocked in send.
    let st = driver.stats();
    let put = || st.chunks.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::timeout(TEST_TIMEOUT, async {
        while put() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("first chunks arrive");
    // More parts are produced meanwhile; none of them may be pushed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(put(), 3, "driver stopped at the bound");
    // Reading resumes the flow.
    let more = tokio::time::timeout(TEST_TIMEOUT, async {
        let mut n = 0;
        while n < 6 && chunks.next().await.is_some() {
            n += 1;
        }
        n
    })
    .await
    .expect("flow resumes");
    assert_eq!(more, 6);
    driver.abort();
}

/// One playlist GET as the file server saw it: when, and the body it answered.
struct PlaylistGet {
    at: std::time::Instant,
    body: String,
}

/// One segment of a media playlist: media sequence number, duration (s), URI.
type Seg = (u64, f64, String);

/// Every segment of a media playlist, and its target duration (s).
fn segments_of(playlist: &str) -> (Vec<Seg>, f64) {
    let mut msn = 0u64;
    let mut target = 0.0;
    let mut out = Vec::new();
    let mut dur = None;
    for l in playlist.lines() {
        if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            msn = v.trim().parse().expect("media sequence");
        } else if let Some(v) = l.strip_prefix("#EXT-X-TARGETDURATION:") {
            target = v.trim().parse().expect("target duration");
        } else if let Some(v) = l.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("");
            dur = Some(d.trim().parse::<f64>().expect("EXTINF"));
        } else if !l.is_empty() && !l.starts_with('#') {
            out.push((msn, dur.take().expect("EXTINF before URI"), l.to_string()));
            msn += 1;
        }
    }
    (out, target)
}

/// Who writes the live stream (in real time, into a directory served as files).
#[derive(Clone, Copy, Debug, PartialEq)]
enum LiveWriter {
    /// ffmpeg's HLS muxer (`-re`), fMP4 or MPEG-TS segments, sliding window of five.
    Ffmpeg(Layout),
    /// GStreamer's `hlssink2` (a live `audiotestsrc` → `avenc_aac` → MPEG-TS).
    Hlssink2,
}

impl LiveWriter {
    /// The writer's process for `secs` seconds of stream, playlist `dir/index.m3u8`.
    fn command(self, dir: &Path, secs: u32) -> std::process::Command {
        let playlist = dir.join("index.m3u8");
        match self {
            LiveWriter::Ffmpeg(layout) => {
                let mut cmd = std::process::Command::new("ffmpeg");
                cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-re"])
                    .args(["-f", "lavfi", "-i"])
                    .arg(format!("sine=frequency=440:duration={secs}"))
                    .args(["-c:a", "aac", "-b:a", "64k", "-f", "hls", "-hls_time", "1"])
                    // Old segments stay on disk (no delete_segments) so the test can
                    // compare every delivered chunk with the file written.
                    .args(["-hls_list_size", "5", "-hls_flags", "temp_file"]);
                if layout == Layout::Fmp4 {
                    cmd.args(["-hls_segment_type", "fmp4"])
                        .args(["-hls_fmp4_init_filename", "init.mp4"]);
                }
                cmd.arg(playlist);
                cmd
            }
            LiveWriter::Hlssink2 => {
                // 1600 samples at 44.1 kHz per buffer; max-files=0 keeps every segment.
                let buffers = secs * 44_100 / 1600;
                let mut cmd = std::process::Command::new("gst-launch-1.0");
                cmd.args(["-q", "-e", "audiotestsrc", "is-live=true"])
                    .arg(format!("num-buffers={buffers}"))
                    .args(["samplesperbuffer=1600", "freq=440", "!", "audioconvert"])
                    .args(["!", "avenc_aac", "!", "aacparse", "!", "hlssink2"])
                    .arg(format!("location={}", dir.join("seg%05d.ts").display()))
                    .arg(format!("playlist-location={}", playlist.display()))
                    .args(["target-duration=1", "max-files=0", "playlist-length=5"]);
                cmd
            }
        }
    }
}

/// A live HLS stream written in real time by another implementation (playlist
/// rewritten every segment, sliding window, ENDLIST at the end), served as plain
/// files while it is written: the client must start behind the live edge, follow the
/// stream by reloading no faster than the rules allow, deliver every segment from its
/// start to the end exactly as written, and end on ENDLIST.
async fn play_live(writer: LiveWriter) {
    const SECS: u32 = 12;
    let fmp4 = writer == LiveWriter::Ffmpeg(Layout::Fmp4);
    let dir = temp_dir(match writer {
        LiveWriter::Ffmpeg(Layout::Fmp4) => "live-fmp4",
        LiveWriter::Ffmpeg(_) => "live-ts",
        LiveWriter::Hlssink2 => "live-gst",
    });
    let mut producer = writer
        .command(&dir, SECS)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{writer:?} runs (scripts/system-deps.sh test): {e}"));
    let (addr, log) = serve_dir(dir.clone()).await;
    // Bounded wait until the writer lists four segments, so that starting three target
    // durations behind the live edge is a real choice.
    let deadline = std::time::Instant::now() + TEST_TIMEOUT;
    loop {
        let listed = std::fs::read_to_string(dir.join("index.m3u8"))
            .map(|p| segments_of(&p).0.len())
            .unwrap_or(0);
        if listed >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never listed four segments"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Bounded: the stream lasts SECS seconds, then the writer lists ENDLIST.
    let (driver, got) = play_to_end(addr).await;
    assert!(producer.wait().expect("the writer exits").success());
    tokio::time::timeout(TEST_TIMEOUT, driver.join())
        .await
        .expect("driver ends")
        .expect("session ended cleanly on ENDLIST");

    let log = std::mem::take(&mut *log.lock().unwrap());
    let gets = log.playlists;
    let last = &gets.last().expect("playlist fetched").body;
    assert!(
        last.contains("#EXT-X-ENDLIST"),
        "ended on the final playlist"
    );
    let (last_segments, target) = segments_of(last);
    let end_msn = last_segments.last().expect("segments").0;
    // Every segment from the first delivered one to the end, in order, no gap, each
    // exactly the file written (URIs as the served playlists listed them).
    let msns: Vec<u64> = got.iter().map(|d| d.chunk.msn).collect();
    let first = msns[0];
    assert_eq!(
        msns,
        (first..=end_msn).collect::<Vec<_>>(),
        "contiguous segments to the end"
    );
    let uris: std::collections::HashMap<u64, String> = gets
        .iter()
        .flat_map(|g| segments_of(&g.body).0)
        .map(|(msn, _, uri)| (msn, uri))
        .collect();
    for d in &got {
        let file = std::fs::read(dir.join(&uris[&d.chunk.msn])).expect("segment file");
        assert_eq!(d.chunk.data.as_ref(), &file[..], "segment {}", d.chunk.msn);
        assert_eq!(d.chunk.part, None);
    }
    if fmp4 {
        let init = std::fs::read(dir.join("init.mp4")).expect("init");
        assert_eq!(got[0].chunk.init.as_deref(), Some(init.as_slice()));
    }
    // checklist C-START-01: no closer to the live edge than three target durations
    // of the playlist it tuned in with (or its first segment, when shorter).
    let (tune_in, _) = segments_of(&gets[0].body);
    let behind: f64 = tune_in.iter().filter(|s| s.0 >= first).map(|s| s.1).sum();
    let listed: f64 = tune_in.iter().map(|s| s.1).sum();
    assert!(listed >= 3.0 * target, "tuned in with {listed:.2} s listed");
    let first_dur = tune_in.iter().find(|s| s.0 == first).expect("listed").1;
    assert!(
        behind >= 3.0 * target - 1e-6 && behind - first_dur < 3.0 * target,
        "started {behind:.2} s from the live edge: not the latest start at least three \
         target durations ({target} s) back"
    );
    // Live, not caught up at the end: most segments were fetched before the server
    // first answered with the final (ENDLIST) playlist.
    let live_until = gets
        .iter()
        .find(|g| g.body.contains("#EXT-X-ENDLIST"))
        .expect("final playlist served")
        .at;
    let live = log
        .media
        .iter()
        .filter(|(path, at)| uris.values().any(|u| u == path) && *at < live_until)
        .count();
    assert!(
        live * 2 >= got.len(),
        "only {live} of {} segments fetched while live",
        got.len()
    );
    // checklist C-RELOAD-01: after a changed playlist, no reload before the last
    // segment's duration has passed; after an unchanged one, not before half the
    // target duration. (Intervals between request arrivals at the server, which
    // include the response time, so they are an upper bound on the client's wait.)
    let slack = 0.03;
    for w in gets.windows(3) {
        if w[1].body.contains("#EXT-X-ENDLIST") {
            continue;
        }
        let changed = w[1].body != w[0].body;
        let min = if changed {
            segments_of(&w[1].body).0.last().map_or(0.0, |s| s.1)
        } else {
            target / 2.0
        };
        let waited = (w[2].at - w[1].at).as_secs_f64();
        assert!(
            waited + slack >= min,
            "reloaded {waited:.3} s after a {} playlist (minimum {min:.3} s)",
            if changed { "changed" } else { "unchanged" }
        );
    }
    assert!(
        gets.len() as f64 >= f64::from(SECS) / target / 2.0,
        "the client followed the stream: {} playlist loads in {SECS} s",
        gets.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_live_fmp4_followed_while_written() {
    play_live(LiveWriter::Ffmpeg(Layout::Fmp4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_live_mpegts_followed_while_written() {
    play_live(LiveWriter::Ffmpeg(Layout::Ts)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_hlssink2_live_followed_while_written() {
    play_live(LiveWriter::Hlssink2).await;
}
