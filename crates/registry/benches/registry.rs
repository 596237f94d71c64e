//! `cargo bench -p aulos-registry --bench registry`
//!
//! 1. Publish cost per part (ring put + builder + render + gzip of full and delta
//!    playlists + wake), with and without parked waiters.
//! 2. Publish → waiter wake latency with 10,000 parked blocking reloads on one
//!    rendition: time from the start of `publish_part` to each waiter's resolution
//!    (p50/p99/max over 5 rounds), on a 2-worker tokio runtime.

use aulos_manifest::LiveConfig;
use aulos_registry::*;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn part(n: u64) -> PublishPart {
    PublishPart {
        data: Bytes::from(vec![0u8; 2400]),
        duration: Duration::from_millis(192),
        independent: true,
        program_date_time: Some(SystemTime::now()),
        last_in_segment: n % 5 == 4,
    }
}

fn stream(reg: &Registry, name: &str) -> Arc<Stream> {
    reg.create_stream(
        StreamSpec {
            name: name.into(),
            key: None,
            renditions: ["a48", "a96", "a160"]
                .iter()
                .map(|n| RenditionSpec {
                    name: (*n).into(),
                    codecs: "mp4a.40.2".into(),
                    bandwidth: 100_000,
                    average_bandwidth: None,
                    channels: 2,
                    sample_rate: 48_000,
                })
                .collect(),
            live: LiveConfig::default(),
        },
        Instant::now(),
    )
    .expect("valid stream")
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let reg = Registry::new(RegistryConfig::default()).expect("valid config");
    let s = stream(&reg, "bench");
    // Warm the window up so playlists have their steady-state size.
    for n in 0..200 {
        s.publish_part(0, part(n), Instant::now()).expect("publish");
    }
    let n = 5000u64;
    let t = Instant::now();
    for i in 200..200 + n {
        s.publish_part(0, part(i), Instant::now()).expect("publish");
    }
    let per = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "publish_part (steady state, no waiters): {:.1} µs/part",
        per * 1e6
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut lat = Vec::new();
    let mut rss_delta = Vec::new();
    for round in 0..5u64 {
        let (msn, part_idx) = {
            let r = s.renditions()[0].playlist();
            let (m, p) = r.next.expect("live");
            (m, p)
        };
        let before = rss_kb();
        let waiters: Vec<_> = (0..10_000)
            .map(|_| {
                let s = s.clone();
                rt.spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    s.wait_playlist(0, msn, Some(part_idx), deadline)
                        .await
                        .expect("resolves");
                    Instant::now()
                })
            })
            .collect();
        // Let every waiter park.
        std::thread::sleep(Duration::from_millis(300));
        let parked = rss_kb().saturating_sub(before);
        rss_delta.push(parked as f64 * 1024.0 / 10_000.0);
        let t0 = Instant::now();
        s.publish_part(0, part(200 + n + round), Instant::now())
            .expect("publish");
        for w in waiters {
            let woke = rt.block_on(w).expect("task");
            lat.push(woke.duration_since(t0).as_secs_f64() * 1e3);
        }
    }
    let mut l2 = lat.clone();
    println!(
        "10k parked blocking reloads, publish -> waiter resolved (5 rounds, {} samples): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        pct(&mut l2, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0)
    );
    println!(
        "memory per parked request (RSS growth / 10k, task + future): ~{:.0} bytes",
        pct(&mut rss_delta, 0.5)
    );
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
