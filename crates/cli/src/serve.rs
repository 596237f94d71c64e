//! `aulos serve`.

use anyhow::{Context, bail};
use aulos_origin::{DemoConfig, IngestStream, Origin, OriginConfig};
use aulos_registry::StreamKey;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `aulos serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Do not start the synthetic demo stream.
    #[arg(long)]
    no_demo: bool,
    /// Name of the demo stream.
    #[arg(long, default_value = "demo")]
    demo_name: String,
    /// Part target of the demo stream in milliseconds (parts are cut at AAC frame
    /// boundaries at or below it).
    #[arg(long, default_value_t = 200)]
    part_ms: u64,
    /// Accept ingest for a stream: `NAME=KEY` (passthrough) or `NAME=KEY:transcode`
    /// (passthrough + AAC ladder). Publish ADTS, MP3 or Ogg Opus, e.g.
    /// `ffmpeg -re -i in.wav -c:a aac -f adts -method PUT http://HOST/ingest/KEY`
    /// (Opus: `-c:a libopus -page_duration 20000 -f ogg`).
    /// Repeatable.
    #[arg(long = "stream-key", value_name = "NAME=KEY[:transcode]")]
    stream_keys: Vec<String>,
    /// Most live streams at once.
    #[arg(long, default_value_t = 64)]
    max_streams: usize,
    /// TLS certificate chain (PEM); with --tls-key serves HTTPS with HTTP/2 (ALPN).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Stop after this many seconds (for scripted runs); default: until Ctrl-C.
    #[arg(long)]
    duration_secs: Option<u64>,
    /// On shutdown, keep serving this many milliseconds after ending every stream
    /// (ENDLIST), so players that reload on a timer read the final playlist. A
    /// second Ctrl-C stops at once.
    #[arg(long, default_value_t = 2000)]
    end_grace_ms: u64,
}

fn parse_key(s: &str) -> anyhow::Result<IngestStream> {
    let (name, rest) = s
        .split_once('=')
        .with_context(|| format!("--stream-key {s:?}: expected NAME=KEY[:transcode]"))?;
    let (key, transcode) = match rest.rsplit_once(':') {
        Some((k, "transcode")) => (k, true),
        Some((_, other)) => bail!("--stream-key {s:?}: unknown option {other:?}"),
        None => (rest, false),
    };
    Ok(IngestStream {
        name: name.to_owned(),
        key: StreamKey::new(key).map_err(|e| anyhow::anyhow!("--stream-key {name}: {e}"))?,
        transcode,
    })
}

/// Build the origin configuration from the flags.
pub fn config(args: &ServeArgs) -> anyhow::Result<OriginConfig> {
    if !(20..=2000).contains(&args.part_ms) {
        bail!("--part-ms must be in 20..=2000");
    }
    let mut cfg = OriginConfig {
        listen: args.listen,
        ingest: args
            .stream_keys
            .iter()
            .map(|s| parse_key(s))
            .collect::<anyhow::Result<_>>()?,
        demo: None,
        end_grace: Duration::from_millis(args.end_grace_ms),
        ..OriginConfig::default()
    };
    cfg.registry.max_streams = args.max_streams;
    if !args.no_demo {
        let mut demo = DemoConfig {
            name: args.demo_name.clone(),
            ..DemoConfig::default()
        };
        demo.source.ladder.packager.part_target = Duration::from_millis(args.part_ms);
        // Segments of about one second.
        demo.source.ladder.packager.parts_per_segment = (1000 / args.part_ms).max(1) as u32;
        cfg.demo = Some(demo);
    }
    Ok(cfg)
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(aulos_origin::tls_acceptor(c, k)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let origin = Origin::start(cfg.clone(), tls).await?;
    eprintln!("aulos origin on {scheme}://{}/", origin.addr);
    if let Some(d) = &cfg.demo {
        eprintln!(
            "  demo stream: {scheme}://{}/{}/master.m3u8",
            origin.addr, d.name
        );
    }
    for s in &cfg.ingest {
        eprintln!(
            "  ingest {}: PUT {scheme}://{}/ingest/<key> (ADTS, MP3 or Ogg Opus)",
            s.name, origin.addr
        );
    }
    let stop = async {
        match args.duration_secs {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    stop.await;
    eprintln!(
        "shutting down: streams ended (ENDLIST), serving {} ms more",
        args.end_grace_ms
    );
    tokio::select! {
        r = origin.shutdown() => r?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopped"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: ServeArgs,
    }

    #[test]
    fn flags_become_config() {
        let t = T::parse_from([
            "x",
            "--listen",
            "127.0.0.1:0",
            "--part-ms",
            "100",
            "--stream-key",
            "radio=secret-key-1:transcode",
            "--stream-key",
            "talk=another-key-2",
        ]);
        let c = config(&t.a).unwrap();
        assert_eq!(c.ingest.len(), 2);
        assert!(c.ingest[0].transcode && !c.ingest[1].transcode);
        assert_eq!(c.ingest[1].name, "talk");
        let d = c.demo.unwrap();
        assert_eq!(
            d.source.ladder.packager.part_target,
            Duration::from_millis(100)
        );
        assert_eq!(d.source.ladder.packager.parts_per_segment, 10);
    }

    #[test]
    fn bad_flags_are_clear_errors() {
        for args in [
            vec!["x", "--stream-key", "noequals"],
            vec!["x", "--stream-key", "a=short"],
            vec!["x", "--stream-key", "a=long-enough-key:bogus"],
            vec!["x", "--part-ms", "5"],
        ] {
            let t = T::parse_from(args.clone());
            assert!(config(&t.a).is_err(), "{args:?}");
        }
        let t = T::parse_from(["x", "--no-demo"]);
        assert!(config(&t.a).unwrap().demo.is_none());
    }
}
