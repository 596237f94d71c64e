//! `cargo bench -p aulos-origin --bench origin [-- --secs 10]`
//!
//! 1. Part GETs/s over keep-alive HTTP/1.1, `wrk -t2 -c64`, against the origin and
//!    against nginx serving the same bytes from disk, in the same run (alternating,
//!    two rounds each). Needs `wrk` and `nginx` (scripts/system-deps.sh test).
//! 2. 10,000 parked blocking playlist reloads (`_HLS_msn`/`_HLS_part` of the next
//!    part) over 40 HTTP/2 connections × 250 streams, then over 10,000 connections
//!    (one viewer each; `--conns N` for one topology): time from the start of
//!    `publish_part` to each response's arrival (client: `h2load`, a separate
//!    process, or reqwest in this process when h2load is missing) and to its release
//!    by the origin, p50/p99/max over 3 rounds; RSS growth per parked request.
//! 3. Reference: the same h2load burst of 10,000 requests for a playlist that is
//!    already there, from the origin and from nginx (HTTP/2) serving the same bytes.

use aulos_manifest::LiveConfig;
use aulos_origin::{Origin, OriginConfig};
use aulos_registry::{PublishPart, RenditionSpec, Stream, StreamSpec};
use bytes::Bytes;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn part(n: u64, data: &Bytes) -> PublishPart {
    PublishPart {
        data: data.clone(),
        duration: Duration::from_millis(192),
        independent: true,
        program_date_time: Some(SystemTime::now()),
        last_in_segment: n % 5 == 4,
    }
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

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn wrk(url: &str, secs: u64) -> Option<f64> {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Requests/sec:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start nginx serving `root` on a free port; returns (port, child pid file dir).
/// nginx on a free port serving `root`; HTTP/2 (h2c prior knowledge) when `h2`.
fn nginx(root: &std::path::Path, h2: bool) -> Option<(u16, std::path::PathBuf)> {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("aulos-nginx-{}-{h2}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).ok()?;
    let conf = format!(
        "worker_processes 2;\ndaemon on;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n\
           client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           types {{ audio/mp4 m4s; }}\n\
           server {{ listen 127.0.0.1:{port}{h2}; http2_max_concurrent_streams 256; root {r}; location / {{ add_header Cache-Control \"public, max-age=6\"; }} }} }}\n",
        d = dir.display(),
        r = root.display(),
        h2 = if h2 { " http2" } else { "" },
    );
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let st = Command::new("nginx")
        .args(["-c", &dir.join("nginx.conf").display().to_string(), "-p"])
        .arg(&dir)
        .status()
        .ok()?;
    st.success().then_some((port, dir))
}

fn stop_nginx(dir: &std::path::Path) {
    let _ = Command::new("nginx")
        .args(["-c", &dir.join("nginx.conf").display().to_string(), "-p"])
        .arg(dir)
        .args(["-s", "stop"])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Polls `/metrics` until `n` requests are parked in the origin (at most 20 s).
fn wait_parked(crt: &tokio::runtime::Runtime, addr: SocketAddr, n: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        let m = crt.block_on(async {
            reqwest::get(format!("http://{addr}/metrics"))
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text")
        });
        let parked: u64 = m
            .lines()
            .find(|l| l.starts_with("aulos_parked_requests "))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        if parked >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One round with `h2load` (nghttp2's HTTP/2 load generator, a separate C process)
/// as the client: 10,000 requests on 40 connections × 250 streams; once all are
/// parked, `parked()` then `publish()`. `--log-file` gives each response's end
/// time: returns publish → end of each response, in ms.
fn h2load_parked(
    crt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    conns: usize,
    url: &str,
    parked: impl FnOnce(),
    publish: impl FnOnce(),
) -> Option<Vec<f64>> {
    let log = std::env::temp_dir().join(format!("aulos-h2load-{}.tsv", std::process::id()));
    let mut child = Command::new("h2load")
        .args([
            "-n10000",
            &format!("-c{conns}"),
            &format!("-m{}", 10_000usize.div_ceil(conns)),
        ])
        .args(["-t1", "-H", "accept-encoding: gzip"])
        .arg(format!("--log-file={}", log.display()))
        .arg(url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    wait_parked(crt, addr, 10_000);
    parked();
    let t0 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_micros() as f64;
    publish();
    let ok = child.wait().ok()?.success();
    let text = std::fs::read_to_string(&log).ok()?;
    let _ = std::fs::remove_file(&log);
    let ends: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let mut c = l.split('\t');
            let start: f64 = c.next()?.parse().ok()?;
            let status: u16 = c.next()?.parse().ok()?;
            let dur: f64 = c.next()?.parse().ok()?;
            (status == 200).then(|| (start + dur - t0) / 1e3)
        })
        .collect();
    (ok && ends.len() == 10_000).then_some(ends)
}

/// The same round with reqwest in this process (on `crt`) when h2load is missing.
fn reqwest_parked(
    crt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    url: &str,
    parked: impl FnOnce(),
    publish: impl FnOnce(),
) -> Option<Vec<f64>> {
    let clients: Vec<reqwest::Client> = (0..40)
        .map(|_| {
            reqwest::Client::builder()
                .http2_prior_knowledge()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client")
        })
        .collect();
    let tasks: Vec<_> = (0..10_000)
        .map(|i| {
            let c = clients[i % clients.len()].clone();
            let url = url.to_owned();
            crt.spawn(async move {
                let r = c.get(&url).send().await.ok()?;
                (r.status() == 200).then_some(())?;
                r.bytes().await.ok()?;
                Some(Instant::now())
            })
        })
        .collect();
    wait_parked(crt, addr, 10_000);
    parked();
    let t0 = Instant::now();
    publish();
    tasks
        .into_iter()
        .map(|t| {
            let done = crt.block_on(t).ok()??;
            Some(done.duration_since(t0).as_secs_f64() * 1e3)
        })
        .collect()
}

/// `h2load -n10000 -c40 -m250` against `url`: the time until all were answered, ms.
fn h2load_burst(url: &str) -> Option<f64> {
    let out = Command::new("h2load")
        .args(["-n10000", "-c40", "-m250", "-t1", url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find(|l| l.contains("10000 succeeded"))?;
    let line = text.lines().find(|l| l.starts_with("finished in"))?;
    let t = line.split_whitespace().nth(2)?.trim_end_matches(',');
    t.strip_suffix("ms")
        .and_then(|v| v.parse().ok())
        .or_else(|| t.strip_suffix('s')?.parse::<f64>().ok().map(|s| s * 1e3))
}

fn main() {
    let secs: u64 = std::env::args()
        .skip_while(|a| a != "--secs")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    // `--conns N`: the parked reloads over N HTTP/2 connections only (10,000 / N
    // streams each; h2load only). By default 40 and then 10,000 (one per viewer).
    let conns: usize = std::env::args()
        .skip_while(|a| a != "--conns")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|&n| (1..=10_000).contains(&n))
        .unwrap_or(40);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = OriginConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        demo: None,
        ..OriginConfig::default()
    };
    // Nothing is published while wrk runs: keep the stream from idling out.
    cfg.registry.idle_timeout = Duration::from_secs(3600);
    let origin = rt
        .block_on(Origin::start(cfg, None))
        .expect("origin starts");
    let stream: Arc<Stream> = origin
        .registry
        .create_stream(
            StreamSpec {
                name: "bench".into(),
                key: None,
                renditions: vec![RenditionSpec {
                    name: "a96".into(),
                    codecs: "mp4a.40.2".into(),
                    bandwidth: 113_600,
                    average_bandwidth: Some(96_000),
                    channels: 2,
                    sample_rate: 48_000,
                }],
                live: LiveConfig::default(),
            },
            Instant::now(),
        )
        .expect("stream");
    // A 96 kb/s part of 192 ms is ~2.3 kB.
    let data = Bytes::from(
        (0..2304u32)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    for n in 0..10 {
        stream
            .publish_part(0, part(n, &data), Instant::now())
            .expect("publish");
    }

    // 1. Part GETs/s vs nginx.
    println!("## part GETs/s (wrk -t2 -c64 -d{secs}s, keep-alive, 2.3 kB part)");
    let root = std::env::temp_dir().join(format!("aulos-nginx-root-{}", std::process::id()));
    std::fs::create_dir_all(root.join("bench/a96")).expect("root");
    std::fs::write(root.join("bench/a96/1.2.m4s"), &data).expect("part file");
    // `AULOS_BENCH_SKIP_WRK=1`: only the parked-reload figure (profiling).
    let have_tools = std::env::var_os("AULOS_BENCH_SKIP_WRK").is_none()
        && Command::new("wrk").arg("-v").output().is_ok()
        && Command::new("nginx").arg("-v").output().is_ok();
    if have_tools {
        if let Some((port, dir)) = nginx(&root, false) {
            let ours = format!("http://{}/bench/a96/1.2.m4s", origin.addr);
            let theirs = format!("http://127.0.0.1:{port}/bench/a96/1.2.m4s");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..2 {
                a.extend(wrk(&ours, secs));
                b.extend(wrk(&theirs, secs));
            }
            stop_nginx(&dir);
            let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
            println!("| server | req/s (best of 2) | all rounds |");
            println!("|---|---:|---|");
            println!("| aulos-origin | {:.0} | {a:.0?} |", best(&a));
            println!(
                "| nginx (sendfile, 2 workers) | {:.0} | {b:.0?} |",
                best(&b)
            );
            println!("ratio aulos/nginx: {:.2}×", best(&a) / best(&b).max(1.0));
        } else {
            println!("nginx did not start; skipped");
        }
    } else {
        println!("wrk or nginx not installed; skipped (scripts/system-deps.sh test)");
    }
    let _ = std::fs::remove_dir_all(&root);

    // 2. 10k parked blocking reloads.
    // `crt` runs the load generator when h2load is missing (and the `/metrics` polls):
    // its own runtime thread, so the origin's tasks are not queued behind the
    // client's; both still share the machine's 2 cores.
    let crt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load-generator")
        .enable_all()
        .build()
        .expect("client runtime");
    let h2load = Command::new("h2load").arg("--version").output().is_ok();
    // One viewer per connection is the realistic case; 250 streams per connection
    // (HTTP/2 multiplexing, e.g. a CDN edge in front) the best case.
    let topologies = match std::env::args().any(|a| a == "--conns") {
        true => vec![conns],
        false if h2load => vec![40, 10_000],
        false => vec![40],
    };
    for conns in topologies {
        println!(
            "\n## 10,000 parked blocking reloads, {} HTTP/2 connections x {} streams, client: {}",
            if h2load { conns } else { 40 },
            if h2load {
                10_000usize.div_ceil(conns)
            } else {
                250
            },
            if h2load {
                "h2load (separate process)"
            } else {
                "reqwest in this process (h2load not installed: scripts/system-deps.sh test)"
            }
        );
        let (mut lat, mut per_req) = (Vec::new(), Vec::new());
        origin.metrics.release.reset();
        for round in 0..3u64 {
            let (msn, p) = stream.renditions()[0].playlist().next.expect("live");
            let url = format!(
                "http://{}/bench/a96/index.m3u8?_HLS_msn={msn}&_HLS_part={p}",
                origin.addr
            );
            let before = rss_kb();
            let parked =
                || per_req.push(rss_kb().saturating_sub(before) as f64 * 1024.0 / 10_000.0);
            let publish = || {
                stream
                    .publish_part(0, part(10 + round, &data), Instant::now())
                    .expect("publish");
            };
            let got = if h2load {
                h2load_parked(&crt, origin.addr, conns, &url, parked, publish)
            } else {
                reqwest_parked(&crt, origin.addr, &url, parked, publish)
            };
            match got {
                Some(v) => lat.extend(v),
                None => println!("round {round} failed"),
            }
        }
        if !lat.is_empty() {
            let n = lat.len();
            let (p50, p99, max) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99), pct(&mut lat, 1.0));
            println!(
                "publish -> response received ({n} samples, 3 rounds): p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
            );
            let q = |p| {
                origin
                    .metrics
                    .release
                    .quantile(p)
                    .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
            };
            println!(
                "publish -> response released by the origin ({} samples): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                origin.metrics.release.count(),
                q(0.5),
                q(0.99),
                q(1.0)
            );
            println!(
                "RSS growth per parked request ({}): ~{:.0} bytes",
                if h2load {
                    "origin only"
                } else {
                    "origin + in-process client"
                },
                pct(&mut per_req, 0.5)
            );
        }
    }

    // 3. What 10,000 HTTP/2 responses cost this machine at all: the same h2load
    // burst (40 × 250 streams) for a playlist that is already there, from the origin
    // and from nginx serving the same bytes.
    println!("\n## reference: 10,000 HTTP/2 requests for a ready playlist (h2load burst)");
    if h2load {
        let plain = format!("http://{}/bench/a96/index.m3u8", origin.addr);
        let body = crt
            .block_on(async { reqwest::get(&plain).await?.bytes().await })
            .expect("playlist");
        let root = std::env::temp_dir().join(format!("aulos-nginx-h2-{}", std::process::id()));
        std::fs::create_dir_all(root.join("bench/a96")).expect("root");
        std::fs::write(root.join("bench/a96/index.m3u8"), &body).expect("playlist file");
        if let Some((port, dir)) = nginx(&root, true) {
            let theirs = format!("http://127.0.0.1:{port}/bench/a96/index.m3u8");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..3 {
                a.extend(h2load_burst(&plain));
                b.extend(h2load_burst(&theirs));
            }
            stop_nginx(&dir);
            let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            println!(
                "{} B playlist; all 10,000 answered in (ms, best of 3):",
                body.len()
            );
            println!("| server | best | all rounds |");
            println!("|---|---:|---|");
            println!("| aulos-origin | {:.1} | {a:.1?} |", best(&a));
            println!("| nginx (2 workers) | {:.1} | {b:.1?} |", best(&b));
        } else {
            println!("nginx did not start; skipped");
        }
        let _ = std::fs::remove_dir_all(&root);
    } else {
        println!("h2load not installed; skipped (scripts/system-deps.sh test)");
    }
    rt.block_on(origin.shutdown()).expect("shutdown");
}
