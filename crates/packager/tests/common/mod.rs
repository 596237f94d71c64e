//! Shared helpers for the packager integration tests: ffmpeg/ffprobe, temp dirs, symphonia.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// True if `tool` runs. Missing tool: prints a skip message, or panics when CI=true.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is required when CI=true but is not on PATH");
        }
        eprintln!("SKIP: {tool} not on PATH");
    }
    ok
}

/// A temporary directory removed when dropped.
#[derive(Debug)]
pub struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temporary directory for one test.
pub fn tmpdir(tag: &str) -> TmpDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "aulos-packager-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TmpDir(dir)
}

/// Runs ffmpeg with `args`; returns false (after printing stderr) if it fails.
pub fn ffmpeg(args: &[&str]) -> bool {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("spawn ffmpeg");
    if !out.status.success() {
        eprintln!("ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

/// Whether ffmpeg has an encoder by that name.
pub fn ffmpeg_has_encoder(name: &str) -> bool {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .expect("spawn ffmpeg");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(name))
}

/// `ffprobe -show_entries <entries>` as key=value pairs (first stream / format).
pub fn ffprobe(path: &Path, extra: &[&str], entries: &str) -> Vec<(String, String)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(extra)
        .args(["-show_entries", entries, "-of", "default=nw=1"])
        .arg(path)
        .output()
        .expect("spawn ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Looks up `key` in ffprobe output.
pub fn get<'a>(kv: &'a [(String, String)], key: &str) -> &'a str {
    kv.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("ffprobe output lacks {key}: {kv:?}"))
}

/// What symphonia saw in a file.
#[derive(Debug)]
pub struct Decoded {
    pub packets: Vec<Vec<u8>>,
    pub packet_dts: Vec<i64>,
    pub frames: usize,
    pub sample_rate: u32,
    pub channels: usize,
    pub decode_errors: usize,
    /// Interleaved f32 samples.
    pub pcm: Vec<f32>,
}

/// Demuxes `data` with symphonia (format picked by probing) and decodes every packet.
pub fn symphonia_decode(data: Vec<u8>, ext: &str) -> Decoded {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(data)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("symphonia probes the file");
    let track = format
        .default_track(TrackType::Audio)
        .expect("an audio track");
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .expect("codec params")
        .audio()
        .expect("audio params")
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .expect("symphonia has a decoder for the codec");
    let mut d = Decoded {
        packets: Vec::new(),
        packet_dts: Vec::new(),
        frames: 0,
        sample_rate: params.sample_rate.unwrap_or(0),
        channels: params.channels.as_ref().map_or(0, |c| c.count()),
        decode_errors: 0,
        pcm: Vec::new(),
    };
    while let Some(packet) = format.next_packet().expect("demux") {
        if packet.track_id != track_id {
            continue;
        }
        d.packets.push(packet.data.to_vec());
        d.packet_dts.push(packet.dts.get());
        match decoder.decode(&packet) {
            Ok(buf) => {
                d.frames += buf.frames();
                let mut v: Vec<f32> = Vec::new();
                buf.copy_to_vec_interleaved(&mut v);
                d.pcm.extend(v);
            }
            Err(_) => d.decode_errors += 1,
        }
    }
    d
}

/// Decodes the whole file with ffmpeg (`-f null`); panics with ffmpeg's messages if it
/// reports any error.
pub fn assert_ffmpeg_decodes(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("spawn ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg decode of {}: {stderr}",
        path.display()
    );
}
