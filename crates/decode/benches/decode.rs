//! Decode + resample speed for AAC fMP4 (goal ≥ 800× real time on one core).
//!
//! `cargo bench -p aulos-decode --bench decode`. Fixture: 60 s of 44.1 kHz stereo AAC-LC
//! 128 kb/s as HLS fMP4 (1 s segments) made with ffmpeg; output 48 kHz stereo, so every
//! sample goes through rubato. Prints × real time per resampler quality.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use aulos_decode::{Container, DecodeStage, MediaChunk, PipelineConfig, ResampleQuality, Stats};
use bytes::Bytes;

const SECS: f64 = 60.0;

fn main() {
    let dir = std::env::temp_dir().join(format!("aulos-decode-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pl = dir.join("a.m3u8");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("sine=f=440:sample_rate=44100:d={SECS}"))
        .args([
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "hls",
            "-hls_segment_type",
            "fmp4",
        ])
        .args(["-hls_time", "1", "-hls_playlist_type", "vod"])
        .arg(&pl)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: ffmpeg not available");
        return;
    }
    let text = std::fs::read_to_string(&pl).expect("playlist");
    let mut init = None;
    let mut chunks = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let uri = rest.split('"').next().expect("uri");
            init = Some(Bytes::from(std::fs::read(dir.join(uri)).expect("init")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let data = Bytes::from(std::fs::read(dir.join(line)).expect("segment"));
            chunks.push(MediaChunk {
                init: init.take(),
                container: Container::Fmp4,
                ..MediaChunk::new(data)
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    for quality in [
        ResampleQuality::Fast,
        ResampleQuality::Balanced,
        ResampleQuality::High,
    ] {
        let cfg = PipelineConfig {
            quality,
            ..PipelineConfig::default()
        };
        let mut best = f64::MAX;
        let mut frames = 0;
        for _ in 0..5 {
            let stats = Arc::new(Stats::default());
            let mut stage = DecodeStage::new(
                &cfg,
                stats.clone(),
                Arc::new(AtomicU64::new(1f64.to_bits())),
            );
            let mut out = Vec::new();
            let t = Instant::now();
            for c in &chunks {
                stage.process(c, &mut out);
                out.clear();
            }
            out.extend(stage.finish());
            best = best.min(t.elapsed().as_secs_f64());
            frames = stats.snapshot().frames;
            assert_eq!(stats.snapshot().decode_errors, 0);
        }
        let audio = frames as f64 / 48_000.0;
        println!(
            "aac fMP4 44.1k stereo -> 48k stereo, {quality:?}: {audio:.1} s of audio in {:.1} ms = {:.0}x real time",
            best * 1000.0,
            audio / best
        );
    }
    // Decode only (no resampling): input already at the output rate.
    let cfg = PipelineConfig {
        out_rate: 44_100,
        adaptive_rate: false,
        ..PipelineConfig::default()
    };
    let stats = Arc::new(Stats::default());
    let mut stage = DecodeStage::new(
        &cfg,
        stats.clone(),
        Arc::new(AtomicU64::new(1f64.to_bits())),
    );
    let mut out = Vec::new();
    let t = Instant::now();
    for c in &chunks {
        stage.process(c, &mut out);
        out.clear();
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "aac fMP4 decode only (passthrough): {:.0}x real time",
        stats.snapshot().frames as f64 / 44_100.0 / el
    );
}
