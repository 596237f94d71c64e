//! `aulos`: the command-line front of the Aulos stack.
//!
//! Owns argument parsing, logging setup and process lifetime (signals). `aulos serve`
//! runs the LL-HLS origin (`aulos-origin`) with the embedded synthetic demo stream and
//! HTTP ingest; `aulos play` plays a stream through `aulos-player`. Depends on the crates
//! it drives; holds no protocol logic of its own.

mod play;
mod serve;

use clap::{Parser, Subcommand};

/// Live low-latency audio over HLS.
#[derive(Debug, Parser)]
#[command(name = "aulos", version, about)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `aulos_origin=debug`.
    #[arg(long, global = true, default_value = "info", env = "AULOS_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the LL-HLS origin.
    Serve(serve::ServeArgs),
    /// Play a live HLS audio stream (speaker, or WAV / null sink).
    Play(play::PlayArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => rt.block_on(serve::run(args)),
        Command::Play(args) => rt.block_on(play::run(args)),
    }
}
