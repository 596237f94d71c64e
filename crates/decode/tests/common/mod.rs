//! Test fixtures made with ffmpeg at test time, and signal analysis written independently of
//! the crate under test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use aulos_decode::{Container, MediaChunk};
use bytes::Bytes;

/// `true` when ffmpeg runs; otherwise prints a skip message — or panics under `CI=true`.
pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("ffmpeg is required when CI=true");
        }
        eprintln!("SKIP: ffmpeg not on PATH");
    }
    ok
}

/// A fresh temporary directory (removed on drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "aulos-decode-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs ffmpeg with a lavfi sine source and the given output arguments.
pub fn ffmpeg_sine(freq: u32, rate: u32, secs: f64, channels: u32, out_args: &[&str], out: &Path) {
    let src = format!("sine=f={freq}:sample_rate={rate}:d={secs}");
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &src,
    ]);
    if channels > 1 {
        cmd.args(["-ac", &channels.to_string()]);
    }
    cmd.args(out_args).arg(out);
    let o = cmd.output().expect("run ffmpeg");
    assert!(
        o.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Reads an HLS media playlist written by ffmpeg: (init section, segments in order).
pub fn read_hls(playlist: &Path) -> (Option<Bytes>, Vec<Bytes>) {
    let dir = playlist.parent().expect("playlist dir");
    let text = std::fs::read_to_string(playlist).expect("read playlist");
    let mut init = None;
    let mut segs = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let uri = rest.split('"').next().expect("quoted URI");
            init = Some(Bytes::from(
                std::fs::read(dir.join(uri)).expect("read init"),
            ));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            segs.push(Bytes::from(
                std::fs::read(dir.join(line.trim())).expect("read segment"),
            ));
        }
    }
    (init, segs)
}

/// Chunks for an HLS rendition: the init section rides on the first chunk.
pub fn hls_chunks(init: Option<Bytes>, segs: Vec<Bytes>, container: Container) -> Vec<MediaChunk> {
    let mut init = init;
    segs.into_iter()
        .map(|data| MediaChunk {
            init: init.take(),
            container,
            ..MediaChunk::new(data)
        })
        .collect()
}

/// Goertzel power of `freq` in a mono signal.
pub fn goertzel(x: &[f32], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (x.len() as f64).powi(2)
}

/// Frequency in 10 Hz steps from 100 to 4000 Hz with the most Goertzel power.
pub fn dominant_frequency(x: &[f32], rate: f64) -> f64 {
    (10..=400)
        .map(|k| f64::from(k) * 10.0)
        .map(|f| (f, goertzel(x, rate, f)))
        .fold(
            (0.0, -1.0),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        )
        .0
}

/// Frequency from rising zero crossings (independent of Goertzel).
pub fn zero_crossing_frequency(x: &[f32], rate: f64) -> f64 {
    let crossings: Vec<usize> = (1..x.len())
        .filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0)
        .collect();
    if crossings.len() < 2 {
        return 0.0;
    }
    let span = (crossings[crossings.len() - 1] - crossings[0]) as f64;
    (crossings.len() - 1) as f64 * rate / span
}

/// SNR (dB) of `x` against the least-squares best sine at `freq` (any amplitude and phase).
pub fn sine_snr_db(x: &[f32], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let (mut ss, mut sc, mut cc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        ss += s * s;
        sc += s * c;
        cc += c * c;
        xs += f64::from(v) * s;
        xc += f64::from(v) * c;
    }
    let det = ss * cc - sc * sc;
    let a = (xs * cc - xc * sc) / det;
    let b = (xc * ss - xs * sc) / det;
    let (mut sig, mut err) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let fit = a * s + b * c;
        sig += fit * fit;
        err += (f64::from(v) - fit).powi(2);
    }
    10.0 * (sig / err.max(1e-30)).log10()
}

/// One channel of interleaved audio.
pub fn channel(samples: &[f32], channels: usize, c: usize) -> Vec<f32> {
    samples.chunks_exact(channels).map(|f| f[c]).collect()
}
