//! The fdk-aac wrapper's output decodes (with symphonia, configured from our ASC alone)
//! back to the sine we fed in.

mod common;

use std::f64::consts::TAU;
use std::time::{Duration, SystemTime};

use aulos_source::{AacEncoder, AacEncoderConfig};
use common::*;

fn sine(freq: f64, rate: u32, frames: usize, amp: f64) -> Vec<f64> {
    (0..frames)
        .map(|n| amp * (TAU * freq * n as f64 / f64::from(rate)).sin())
        .collect()
}

fn check_roundtrip(channels: u16, bitrate: u32) {
    let rate = 48_000;
    let frames = rate as usize * 2;
    let want = sine(1000.0, rate, frames, 0.5);
    // Right channel (if any) carries a different tone so channel order is checked too.
    let want_r = sine(1500.0, rate, frames, 0.3);
    let mut pcm = Vec::with_capacity(frames * usize::from(channels));
    for n in 0..frames {
        pcm.push(want[n] as f32);
        if channels == 2 {
            pcm.push(want_r[n] as f32);
        }
    }
    let mut enc = AacEncoder::new(AacEncoderConfig {
        bitrate,
        sample_rate: rate,
        channels,
    })
    .unwrap();
    let asc = enc.asc();
    // AAC-LC (object type 2), 48 kHz (index 3), channel config = channels.
    assert_eq!(asc[0] >> 3, 2);
    assert_eq!(((asc[0] & 7) << 1) | (asc[1] >> 7), 3);
    assert_eq!((asc[1] >> 3) & 0xF, channels as u8);

    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut aus = Vec::new();
    for (i, chunk) in pcm.chunks(960 * usize::from(channels)).enumerate() {
        let t = t0 + Duration::from_millis(20 * i as u64);
        aus.extend(enc.encode_f32(chunk, Some(t)).unwrap());
    }
    let n = aus.len();
    assert!(n >= frames / 1024 - 3 && n <= frames / 1024, "{n} AUs");
    for au in &aus {
        assert_eq!(au.samples, 1024);
        // Raw transport: no ADTS sync word at the start.
        assert!(!(au.data.len() > 1 && au.data[0] == 0xFF && au.data[1] & 0xF0 == 0xF0));
    }
    // Capture times: AU k starts at input frame k*1024 - delay.
    let delay = i64::from(enc.delay_samples());
    for (k, au) in aus.iter().enumerate().skip(3).take(5) {
        let frame = k as i64 * 1024 - delay;
        let expect = t0 + Duration::from_nanos((frame as u64) * 1_000_000_000 / 48_000);
        let got = au.captured.unwrap();
        let diff = got.duration_since(expect).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_micros(50), "AU {k}: off by {diff:?}");
    }
    let data: Vec<Vec<u8>> = aus.iter().map(|a| a.data.to_vec()).collect();
    let decoded = decode_raw_aac(&asc, channels, rate, &data);
    assert_eq!(decoded.len(), n * 1024 * usize::from(channels));
    let left = channel(&decoded, usize::from(channels), 0);
    let want32: Vec<f32> = want.iter().map(|&x| x as f32).collect();
    let (lag, corr) = best_alignment(&left, &want32, 4096, 48_000);
    assert!(corr > 0.99, "left correlation {corr} at lag {lag}");
    // SNR at that alignment.
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for i in 0..48_000 {
        let w = want[i];
        sig += w * w;
        err += (f64::from(left[lag + i]) - w).powi(2);
    }
    let snr = 10.0 * (sig / err).log10();
    assert!(snr > 20.0, "SNR {snr:.1} dB");
    // The decoded signal lags by the encoder delay the wrapper reports (mod the 48-sample
    // period of a 1 kHz sine at 48 kHz, which is all a sine can tell).
    assert_eq!(lag % 48, delay as usize % 48, "left lag {lag}");
    if channels == 2 {
        let right = channel(&decoded, 2, 1);
        let want_r32: Vec<f32> = want_r.iter().map(|&x| x as f32).collect();
        let (lag_r, corr_r) = best_alignment(&right, &want_r32, 4096, 48_000);
        assert!(corr_r > 0.99, "right correlation {corr_r}");
        // A sine only pins the lag modulo its period (32 samples at 1500 Hz).
        assert_eq!(lag_r % 32, delay as usize % 32, "right lag {lag_r}");
    }
}

#[test]
fn stereo_sine_roundtrip() {
    check_roundtrip(2, 128_000);
}

#[test]
fn mono_sine_roundtrip() {
    check_roundtrip(1, 64_000);
}

#[test]
fn rejects_bad_config() {
    for cfg in [
        AacEncoderConfig {
            channels: 3,
            ..Default::default()
        },
        AacEncoderConfig {
            sample_rate: 47_000,
            ..Default::default()
        },
        AacEncoderConfig {
            bitrate: 1_000,
            ..Default::default()
        },
    ] {
        assert!(AacEncoder::new(cfg).is_err());
    }
}
