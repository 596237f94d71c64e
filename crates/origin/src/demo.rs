//! The embedded demo stream: the synthetic live source (`aulos-source`) encoded to the
//! AAC ladder and published into the registry as it is produced.

use aulos_manifest::LiveConfig;
use aulos_registry::{Registry, RenditionSpec, StreamSpec};
use aulos_source::{SourceEvent, spawn_synthetic};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Settings of the demo stream.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Stream name.
    pub name: String,
    /// Source settings (ladder; the part length follows `ladder.packager.part_target`,
    /// cut at AAC frame boundaries).
    pub source: aulos_source::LiveConfig,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            name: "demo".into(),
            source: aulos_source::LiveConfig::default(),
        }
    }
}

/// Create the demo stream and spawn the task that feeds it. The task ends (and the
/// stream gets ENDLIST) when the source fails or the stream is ended by shutdown.
pub fn spawn_demo(registry: Arc<Registry>, cfg: DemoConfig) -> Result<JoinHandle<()>, String> {
    let ladder = aulos_source::Ladder::new(cfg.source.ladder.clone()).map_err(|e| e.to_string())?;
    // PART-TARGET is the parts' real, frame-aligned duration (192 ms for AAC at 48 kHz
    // and a 200 ms target), not the configured target: PART-HOLD-BACK (3 × PART-TARGET)
    // is then exactly three parts, and a client can start three parts from the end
    // instead of four (a part of latency saved).
    let pk = ladder.packager(0).ok_or("ladder without renditions")?;
    let part_target = pk.part_duration();
    let segment_target = pk.segment_duration();
    let renditions = ladder
        .renditions()
        .iter()
        .map(|r| RenditionSpec {
            name: r.name.clone(),
            codecs: r.codecs.clone(),
            bandwidth: u64::from(r.bandwidth),
            average_bandwidth: Some(u64::from(r.bitrate)),
            channels: r.channels,
            sample_rate: r.sample_rate,
        })
        .collect();
    drop(ladder);
    let stream = registry
        .create_stream(
            StreamSpec {
                name: cfg.name.clone(),
                key: None,
                renditions,
                live: LiveConfig {
                    part_target,
                    segment_target: segment_target.max(Duration::from_millis(1)),
                    ..LiveConfig::default()
                },
            },
            Instant::now(),
        )
        .map_err(|e| e.to_string())?;
    // Bounded: the source waits (and catches up on the clock) if publishing lags.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let source = spawn_synthetic(cfg.source, tx);
    Ok(tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if stream.ended() {
                break;
            }
            let res = match ev {
                SourceEvent::Init { rendition, data } => stream.set_init(rendition, data),
                SourceEvent::Part { rendition, part } => {
                    crate::publish_packaged(&stream, rendition, part)
                }
            };
            if let Err(e) = res {
                tracing::warn!(stream = %stream.name(), error = %e, "demo publish failed");
                break;
            }
        }
        drop(rx);
        match source.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "demo source stopped"),
            Err(e) => tracing::warn!(error = %e, "demo source task failed"),
            Ok(Ok(())) => {}
        }
        stream.end(Instant::now());
    }))
}
