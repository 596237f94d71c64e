//! Play a live (LL-)HLS audio stream: client → decoder → speaker, with a status line a second.
//!
//! ```sh
//! cargo run --release --example hls_decode                       # embedded origin + demo stream
//! cargo run --release --example hls_decode -- URL [--wav out.wav] [--null] [--duration 30s] [--latency 800ms]
//! ```
//! With no URL an origin with the synthetic demo stream (3 AAC renditions, 200 ms parts)
//! starts in-process on 127.0.0.1 and is played. Without an audio device (headless machine)
//! the player says so and plays into a real-time null sink; `--wav` writes the audio instead.
//! Ctrl-C stops and prints the report (time to first PCM, latency p50/p99, stalls, copies).

use std::time::Duration;

use anyhow::{Context, bail};
use aulos_origin::{DemoConfig, Origin, OriginConfig};
use aulos_player::{Player, PlayerConfig, SinkChoice, parse_duration};

const USAGE: &str =
    "usage: hls_decode [URL] [--wav out.wav] [--null] [--duration 30s] [--latency 800ms]";

struct Args {
    url: Option<String>,
    sink: SinkChoice,
    duration: Option<Duration>,
    latency: Option<Duration>,
}

/// Plain argument parsing: five options do not need clap in an example.
fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: None,
        sink: SinkChoice::Speaker,
        duration: None,
        latency: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--wav" => args.sink = SinkChoice::Wav(value("--wav")?.into()),
            "--null" => args.sink = SinkChoice::Null,
            "--duration" => args.duration = Some(parse_duration(&value("--duration")?)?),
            "--latency" => args.latency = Some(parse_duration(&value("--latency")?)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            s if args.url.is_none() => args.url = Some(s.to_string()),
            s => bail!("unexpected argument {s}\n{USAGE}"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let (origin, url) = match args.url {
        Some(url) => (None, url),
        None => {
            let origin = Origin::start(
                OriginConfig {
                    listen: ([127, 0, 0, 1], 0).into(),
                    demo: Some(DemoConfig::default()),
                    ..OriginConfig::default()
                },
                None,
            )
            .await
            .context("starting the embedded origin")?;
            let url = format!("http://{}/demo/master.m3u8", origin.addr);
            (Some(origin), url)
        }
    };
    if origin.is_some() {
        println!("embedded origin with the demo stream: {url}");
    }
    let cfg = PlayerConfig {
        sink: args.sink,
        target_latency: args.latency,
        duration: args.duration,
        ..PlayerConfig::default()
    };
    let player = Player::start(&url, cfg)
        .await
        .context("starting the player")?;
    match player.sink_fallback() {
        Some(why) => println!(
            "no audio output device ({why}): playing into a null sink at real time (--wav out.wav keeps the audio)"
        ),
        None => println!("playing {url} into {}", player.sink()),
    }
    let mut status = player.status_updates();
    let printer = tokio::spawn(async move {
        while status.changed().await.is_ok() {
            println!("{}", *status.borrow_and_update());
        }
    });
    let stopper = player.stop_handle();
    let wait = player.wait();
    tokio::pin!(wait);
    let report = tokio::select! {
        r = &mut wait => r,
        _ = tokio::signal::ctrl_c() => {
            println!("stopping");
            stopper.stop();
            wait.await
        }
    };
    printer.abort();
    let report = report.context("playback failed")?;
    println!("\n{report}");
    if let Some(o) = origin {
        o.shutdown().await.context("origin shutdown")?;
    }
    Ok(())
}
