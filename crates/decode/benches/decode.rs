//! Decode + resample speed for AAC fMP4 (goal ≥ 800× real time on one core), and Opus.
//!
//! `cargo bench -p aulos-decode --bench decode`. Fixture: 60 s of 44.1 kHz stereo AAC-LC
//! 128 kb/s as HLS fMP4 (1 s segments) made with ffmpeg; output 48 kHz stereo, so every
//! sample goes through rubato. Prints × real time per resampler quality. Then Opus in
//! fMP4 (48 kHz stereo 96 kb/s, and 5.1 at 256 kb/s downmixed to stereo), decode only.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use aulos_decode::{Container, DecodeStage, MediaChunk, PipelineConfig, ResampleQuality, Stats};
use bytes::Bytes;

const SECS: f64 = 60.0;

/// `SECS` of a 440 Hz tone (`channels`, `rate`) encoded by ffmpeg with `codec` at
/// `bitrate` into fMP4 HLS of 1 s segments, as media chunks; `None` without ffmpeg.
fn fixture(codec: &str, rate: u32, channels: u32, bitrate: &str) -> Option<Vec<MediaChunk>> {
    let dir = std::env::temp_dir().join(format!(
        "aulos-decode-bench-{}-{codec}-{channels}",
        std::process::id()
    ));
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
        .arg(format!("sine=f=440:sample_rate={rate}:d={SECS}"))
        .args(["-ac", &channels.to_string(), "-c:a", codec, "-b:a", bitrate])
        .args(["-f", "hls", "-hls_segment_type", "fmp4"])
        .args(["-hls_time", "1", "-hls_playlist_type", "vod"])
        .arg(&pl)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
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
    Some(chunks)
}

/// Best of five decodes of `chunks` with `cfg`: (seconds, output frames).
fn best_of_five(cfg: &PipelineConfig, chunks: &[MediaChunk]) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut frames = 0;
    for _ in 0..5 {
        let stats = Arc::new(Stats::default());
        let mut stage =
            DecodeStage::new(cfg, stats.clone(), Arc::new(AtomicU64::new(1f64.to_bits())));
        let mut out = Vec::new();
        let t = Instant::now();
        for c in chunks {
            stage.process(c, &mut out);
            out.clear();
        }
        out.extend(stage.finish());
        best = best.min(t.elapsed().as_secs_f64());
        frames = stats.snapshot().frames;
        assert_eq!(stats.snapshot().decode_errors, 0);
    }
    (best, frames)
}

fn main() {
    let Some(chunks) = fixture("aac", 44_100, 2, "128k") else {
        println!("SKIP: ffmpeg not available");
        return;
    };
    for quality in [
        ResampleQuality::Fast,
        ResampleQuality::Balanced,
        ResampleQuality::High,
    ] {
        let cfg = PipelineConfig {
            quality,
            ..PipelineConfig::default()
        };
        let (best, frames) = best_of_five(&cfg, &chunks);
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
    let (el, frames) = best_of_five(&cfg, &chunks);
    println!(
        "aac fMP4 decode only (passthrough): {:.0}x real time",
        frames as f64 / 44_100.0 / el
    );
    // Opus: decoded at 48 kHz, so no resampling; 5.1 is downmixed to stereo.
    let cfg = PipelineConfig {
        out_rate: 48_000,
        adaptive_rate: false,
        ..PipelineConfig::default()
    };
    for (channels, bitrate) in [(2, "96k"), (6, "256k")] {
        let Some(chunks) = fixture("libopus", 48_000, channels, bitrate) else {
            continue;
        };
        let (el, frames) = best_of_five(&cfg, &chunks);
        let audio = frames as f64 / 48_000.0;
        println!(
            "opus fMP4 {channels} ch {bitrate} decode only: {audio:.1} s in {:.1} ms = {:.0}x real time, {:.1} us per 20 ms packet",
            el * 1000.0,
            audio / el,
            el * 1e6 / (audio * 50.0)
        );
    }
}
