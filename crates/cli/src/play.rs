//! `aulos play`: play a live (LL-)HLS audio stream through `aulos-player`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use aulos_player::{Player, PlayerConfig, SinkChoice, parse_duration};
use clap::Args;

/// Options of `aulos play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Multivariant or media playlist URL, e.g. http://127.0.0.1:8080/demo/master.m3u8.
    url: String,
    /// Write the audio to this WAV file (32-bit float) instead of the speaker.
    #[arg(long, value_name = "FILE", conflicts_with = "null")]
    wav: Option<PathBuf>,
    /// Discard the audio at real-time pace (what happens anyway without a speaker).
    #[arg(long)]
    null: bool,
    /// Stop after this much audio, e.g. 30s, 2m (default: until the stream ends or Ctrl-C).
    #[arg(long, value_parser = duration)]
    duration: Option<Duration>,
    /// Wanted live latency, e.g. 800ms (default: the stream's PART-HOLD-BACK + half a part).
    #[arg(long, value_parser = duration)]
    latency: Option<Duration>,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Plays until done; prints a status line per second and the report at the end.
pub async fn run(args: PlayArgs) -> anyhow::Result<()> {
    let sink = match (args.wav, args.null) {
        (Some(path), _) => SinkChoice::Wav(path),
        (None, true) => SinkChoice::Null,
        (None, false) => SinkChoice::Speaker,
    };
    let cfg = PlayerConfig {
        sink,
        target_latency: args.latency,
        duration: args.duration,
        ..PlayerConfig::default()
    };
    let player = Player::start(&args.url, cfg)
        .await
        .context("starting the player")?;
    match player.sink_fallback() {
        Some(why) => println!(
            "no audio output device ({why}): playing into a null sink at real time (--wav FILE keeps the audio)"
        ),
        None => println!("playing {} into {}", args.url, player.sink()),
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
            stopper.stop();
            wait.await
        }
    };
    printer.abort();
    let report = report.with_context(|| format!("playing {}", args.url))?;
    println!("\n{report}");
    Ok(())
}
