//! Glass-to-glass latency bench: the in-process origin's synthetic demo stream (PDT = the
//! wall clock at which the source made the PCM) played over loopback by `aulos-player`
//! into the real-time null sink; latency = wall clock − PDT of each PCM block as it leaves
//! the decoder.
//!
//! ```sh
//! cargo bench -p aulos-player --bench latency                         # 60 s per scenario
//! AULOS_BENCH_SECS=300 cargo bench -p aulos-player --bench latency    # the issue's >= 5 min
//! AULOS_BENCH_SECS=300 AULOS_BENCH_SCENARIOS=2 cargo bench ...        # only the two part sizes
//! AULOS_BENCH_PICK=3 cargo bench -p aulos-player --bench latency       # only the third
//! ```
//! Scenarios: 200 ms and 100 ms part targets (cut at AAC frame boundaries: 192 / 96 ms),
//! then 200 ms parts with the player *not* reporting its buffer to the client
//! (`PlayerConfig::report_buffer`, on by default). For each: time to first PCM on a cold
//! origin (the first part must be made first) and on a warm one (a second player joining a
//! running stream for 3 s), latency p50/p99/max, stalls, peak RSS of the process (origin
//! and player together) and the bytes copied between socket and decoder.
//! Prints a Markdown table for docs/performance.md.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use aulos_origin::{DemoConfig, Origin, OriginConfig};
use aulos_player::{Player, PlayerConfig, Report, SinkChoice};

struct Scenario {
    name: &'static str,
    part: Duration,
    report_buffer: bool,
}

struct Row {
    name: &'static str,
    cold: Report,
    warm: Report,
    rss_peak_kib: u64,
}

/// Resident set size of this process from /proc/self/status (KiB); 0 where unavailable.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn run(s: &Scenario, secs: u64) -> Row {
    let mut demo = DemoConfig::default();
    demo.source.ladder.packager.part_target = s.part;
    // Segments of about one second whatever the part size (as `aulos serve --part-ms`).
    demo.source.ladder.packager.parts_per_segment = (1000 / s.part.as_millis().max(1)) as u32;
    let origin = Origin::start(
        OriginConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo: Some(demo),
            ..OriginConfig::default()
        },
        None,
    )
    .await
    .expect("origin starts");
    let url = format!("http://{}/demo/master.m3u8", origin.addr);
    let cfg = |d: u64| PlayerConfig {
        sink: SinkChoice::Null,
        duration: Some(Duration::from_secs(d)),
        report_buffer: s.report_buffer,
        ..PlayerConfig::default()
    };
    let player = Player::start(&url, cfg(secs)).await.expect("player starts");
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(), Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let mut status = player.status_updates();
    let printer = tokio::spawn(async move {
        let mut n = 0u64;
        while status.changed().await.is_ok() {
            n += 1;
            if n.is_multiple_of(10) {
                eprintln!("  {}", *status.borrow());
            }
        }
    });
    let cold = player.wait().await.expect("cold playback");
    printer.abort();
    sampler.abort();
    let rss_peak_kib = peak.load(Relaxed).max(rss_kib());
    // A viewer joining the running stream: its join position, not the cold start's,
    // is what a real viewer gets.
    let warm = Player::start(&url, cfg(15))
        .await
        .expect("player starts")
        .wait()
        .await
        .expect("warm playback");
    origin.shutdown().await.expect("origin shuts down");
    Row {
        name: s.name,
        cold,
        warm,
        rss_peak_kib,
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{}", d.as_millis()))
}

fn main() {
    let secs: u64 = std::env::var("AULOS_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // `cargo test --benches` runs benches once with `--bench` absent: keep that quick.
    let secs = if std::env::args().any(|a| a == "--bench") {
        secs
    } else {
        5
    };
    let scenarios = [
        Scenario {
            name: "200 ms parts",
            part: Duration::from_millis(200),
            report_buffer: true,
        },
        Scenario {
            name: "100 ms parts",
            part: Duration::from_millis(100),
            report_buffer: true,
        },
        Scenario {
            name: "200 ms parts, buffer not reported to client",
            part: Duration::from_millis(200),
            report_buffer: false,
        },
    ];
    // AULOS_BENCH_SCENARIOS=2 runs only the first two (the issue's two part sizes).
    let take = std::env::var("AULOS_BENCH_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(scenarios.len());
    let scenarios = &scenarios[..take.clamp(1, 3)];
    // AULOS_BENCH_PICK=3 runs only the third (1-based).
    let pick: Option<usize> = std::env::var("AULOS_BENCH_PICK")
        .ok()
        .and_then(|v| v.parse().ok());
    let scenarios: Vec<&Scenario> = scenarios
        .iter()
        .enumerate()
        .filter(|(i, _)| pick.is_none_or(|p| p == i + 1))
        .map(|(_, s)| s)
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    for s in scenarios {
        eprintln!("{}: {secs} s of playback...", s.name);
        let row = rt.block_on(run(s, secs));
        eprintln!("{}\n", row.cold);
        rows.push(row);
    }
    println!(
        "| scenario | played s | first PCM cold ms | first PCM warm ms | latency p50 ms | p99 ms | max ms | joining viewer p50 / p99 ms (15 s) | target ms | stalls (ms) | jumps | peak RSS MiB | copied / received bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let c = &r.cold;
        println!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} / {} | {} | {} ({}) | {} | {:.1} | {} / {} |",
            r.name,
            c.played().as_secs_f64(),
            ms(c.time_to_first_pcm),
            ms(r.warm.time_to_first_pcm),
            ms(c.latency_p50),
            ms(c.latency_p99),
            ms(c.latency_max),
            ms(r.warm.latency_p50),
            ms(r.warm.latency_p99),
            c.target_latency.as_millis(),
            c.stalls,
            c.stalled.as_millis(),
            c.jumps,
            r.rss_peak_kib as f64 / 1024.0,
            c.copied_bytes,
            c.body_bytes,
        );
    }
}
