//! The player on a live stream it did not make: plain (not low-latency) live HLS,
//! MPEG-TS or fMP4 segments written by ffmpeg in real time and served as files while
//! they are written. Played to the end (ENDLIST) into a WAV, which must hold the whole tone
//! from the start segment on, resampled to 48 kHz, without a gap.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aulos_player::{EndReason, Player, PlayerConfig, SinkChoice, SinkKind};
use axum::body::Body;
use axum::http::{Request, StatusCode};

/// Upper bound on any wait here (nothing is a timed assertion).
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
const SECS: u32 = 10;
const TONE_HZ: f64 = 440.0;

/// Serves `root` as plain files (a CDN in front of the packager's directory).
async fn serve_dir(root: PathBuf) -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let root = root.clone();
        async move {
            let path = req.uri().path().trim_start_matches('/').to_string();
            if path.contains("..") || path.ends_with(".tmp") {
                return Err(StatusCode::BAD_REQUEST);
            }
            std::fs::read(root.join(&path)).map_err(|_| StatusCode::NOT_FOUND)
        }
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

fn listed_segments(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("index.m3u8"))
        .map(|p| p.lines().filter(|l| l.starts_with("#EXTINF")).count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_live_mpegts_plays_to_its_end_without_a_gap() {
    play_ffmpeg_live(false, "aac").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_live_fmp4_plays_to_its_end_without_a_gap() {
    play_ffmpeg_live(true, "aac").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_live_mpegts_opus_plays_to_its_end_without_a_gap() {
    play_ffmpeg_live(false, "libopus").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_live_fmp4_opus_plays_to_its_end_without_a_gap() {
    play_ffmpeg_live(true, "libopus").await;
}

/// ffmpeg writes a live HLS stream of a tone (`codec`: `aac` or `libopus`) while the
/// player plays it into a WAV.
async fn play_ffmpeg_live(fmp4: bool, codec: &str) {
    let dir = std::env::temp_dir().join(format!(
        "aulos-player-live-{}-{codec}-{}",
        if fmp4 { "fmp4" } else { "ts" },
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut ffmpeg = std::process::Command::new("ffmpeg");
    ffmpeg
        .args(["-hide_banner", "-loglevel", "error", "-y", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={TONE_HZ}:duration={SECS}"))
        .args(["-c:a", codec, "-b:a", "96k", "-f", "hls", "-hls_time", "1"])
        .args(["-hls_list_size", "5", "-hls_flags", "temp_file"]);
    if fmp4 {
        ffmpeg.args(["-hls_segment_type", "fmp4"]);
    }
    let mut ffmpeg = ffmpeg
        .arg(dir.join("index.m3u8"))
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg runs (scripts/system-deps.sh test)");
    let addr = serve_dir(dir.clone()).await;
    // Bounded wait until a few segments are listed: the player then starts three
    // target durations behind the live edge, with segments still to come.
    let deadline = std::time::Instant::now() + TEST_TIMEOUT;
    while listed_segments(&dir) < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "ffmpeg listed no segments"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wav = dir.join("out.wav");
    let player = Player::start(
        &format!("http://{addr}/index.m3u8"),
        PlayerConfig {
            sink: SinkChoice::Wav(wav.clone()),
            ..PlayerConfig::default()
        },
    )
    .await
    .expect("player starts");
    let report = tokio::time::timeout(TEST_TIMEOUT, player.wait())
        .await
        .expect("the live stream plays to its end")
        .expect("playback succeeds");
    println!("{report}");
    assert!(ffmpeg.wait().expect("ffmpeg exits").success());
    assert_eq!(report.end, EndReason::StreamEnded, "{report}");
    assert_eq!(report.sink, SinkKind::Wav(wav.clone()));
    assert_eq!(report.decode_errors, 0, "{report}");
    assert_eq!(report.stalls, 0, "{report}");

    let reader = hound::WavReader::open(&wav).expect("WAV decodes");
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (48_000, 2));
    let left: Vec<f32> = reader
        .into_samples::<f32>()
        .step_by(2)
        .collect::<Result<_, _>>()
        .expect("samples read");
    let secs = left.len() as f64 / 48_000.0;
    // Started about three segments behind a stream four to five segments old, then
    // played everything written after: more than half the stream.
    assert!(
        secs > f64::from(SECS) / 2.0 && secs < f64::from(SECS) + 1.0,
        "WAV lasts {secs:.2} s"
    );
    // The tone throughout (codec priming and the final frame aside): every 10 ms window
    // carries signal, so no segment was lost, repeated as silence, or cut short...
    let win = 480;
    let body = &left[4_800..left.len() - 4_800];
    let quiet = body
        .chunks(win)
        .filter(|w| w.len() == win)
        .filter(|w| (w.iter().map(|s| s * s).sum::<f32>() / win as f32).sqrt() < 0.05)
        .count();
    assert_eq!(quiet, 0, "{quiet} silent 10 ms windows inside the stream");
    // ... and one unbroken tone at the right speed: every period between rising zero
    // crossings lasts 48000 / 440 samples. A lost, repeated or reordered segment puts
    // a phase jump (a period off by many samples) where the segments meet; a wrong
    // resampling ratio moves them all.
    let rising: Vec<f64> = body
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, w)| i as f64 + f64::from(w[0] / (w[0] - w[1])))
        .collect();
    let period = 48_000.0 / TONE_HZ;
    let off: Vec<f64> = rising
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|p| (p - period).abs() > 2.0)
        .collect();
    assert!(rising.len() as f64 > secs * TONE_HZ * 0.9, "tone missing");
    assert!(
        off.is_empty(),
        "periods off the tone's {period:.2} samples: {off:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
