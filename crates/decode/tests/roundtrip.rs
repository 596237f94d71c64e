//! Round trips through the whole Aulos media path: source PCM → encoder → packager
//! (CMAF parts, as the origin serves them) → aulos-decode, compared with the source:
//! by SNR at the best alignment for AAC (lossy), bit for bit for FLAC (lossless).

mod common;

use aulos_decode::{Container, DecodeStage, MediaChunk, PcmBlock, PipelineConfig, Stats};
use aulos_packager::{AccessUnit, AudioFormat, Codec, Packager, PackagerConfig};
use aulos_source::{AacEncoder, AacEncoderConfig};
use bytes::Bytes;
use common::{TempDir, have_ffmpeg};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

const RATE: u32 = 48_000;

/// Deterministic stereo test signal: two tones per channel plus a little noise.
fn signal(frames: usize) -> Vec<f32> {
    let mut seed = 0x2545_f491_u32;
    let mut out = Vec::with_capacity(frames * 2);
    for n in 0..frames {
        let t = n as f32 / RATE as f32;
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = ((seed >> 9) as f32 / (1 << 23) as f32 - 0.5) * 0.01;
        let l = 0.4 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            + 0.2 * (2.0 * std::f32::consts::PI * 1250.0 * t).sin();
        let r = 0.4 * (2.0 * std::f32::consts::PI * 660.0 * t).sin()
            + 0.15 * (2.0 * std::f32::consts::PI * 3100.0 * t).sin();
        out.push(l + noise);
        out.push(r - noise);
    }
    out
}

/// Package access units as the origin does, then decode init + parts as one stream.
fn package_and_decode(format: AudioFormat, aus: Vec<AccessUnit>) -> Vec<f32> {
    package_and_decode_blocks(format, aus, 1.0)
        .into_iter()
        .flat_map(|b| b.samples)
        .collect()
}

/// [`package_and_decode`] at playback `rate`, returning the blocks (one per part,
/// plus the flushed tail).
fn package_and_decode_blocks(
    format: AudioFormat,
    aus: Vec<AccessUnit>,
    rate: f64,
) -> Vec<PcmBlock> {
    let mut p = Packager::new(format, PackagerConfig::default()).expect("packager");
    let init = p.init_segment();
    let mut parts = Vec::new();
    for au in aus {
        parts.extend(p.push(au));
    }
    parts.extend(p.flush());
    assert!(parts.len() > 5, "several parts");
    let stats = Arc::new(Stats::default());
    let mut stage = DecodeStage::new(
        &PipelineConfig::default(),
        stats.clone(),
        Arc::new(AtomicU64::new(rate.to_bits())),
    );
    let mut blocks: Vec<PcmBlock> = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let chunk = MediaChunk {
            init: (i == 0).then(|| init.clone()),
            container: Container::Fmp4,
            ..MediaChunk::new(part.data)
        };
        stage.process(&chunk, &mut blocks);
    }
    blocks.extend(stage.finish());
    assert_eq!(
        stats.snapshot().decode_errors,
        0,
        "{:?}",
        stats.snapshot().last_error
    );
    assert!(blocks.iter().all(|b| b.rate == RATE && b.channels == 2));
    blocks
}

fn aac_units(secs: usize) -> (AudioFormat, Vec<AccessUnit>) {
    let mut enc = AacEncoder::new(AacEncoderConfig {
        bitrate: 96_000,
        sample_rate: RATE,
        channels: 2,
    })
    .expect("encoder");
    let aus = enc
        .encode_f32(&signal(RATE as usize * secs), None)
        .expect("encode");
    (enc.audio_format(), aus)
}

#[test]
fn pcm_blocks_are_allocated_to_their_size() {
    // The PCM queue holds several 200 ms blocks; grown unit by unit, each ended in an
    // allocation up to twice its audio (a 75 KiB block in 128 KiB), which the player's
    // RSS budget paid for. After the first part, each block is sized up front.
    for rate in [1.0, 1.05, 0.95] {
        let (format, aus) = aac_units(3);
        let blocks = package_and_decode_blocks(format, aus, rate);
        assert!(blocks.len() > 10, "{} blocks", blocks.len());
        // The first block has no estimate yet; the last is the flushed tail.
        for (i, b) in blocks[1..blocks.len() - 1].iter().enumerate() {
            let (len, cap) = (b.samples.len(), b.samples.capacity());
            assert!(
                cap <= len + len / 8,
                "rate {rate}, block {}: {len} samples in a capacity of {cap}",
                i + 1
            );
        }
    }
}

#[test]
fn aac_round_trip_keeps_the_signal() {
    let src = signal(RATE as usize * 3);
    let mut enc = AacEncoder::new(AacEncoderConfig {
        bitrate: 160_000,
        sample_rate: RATE,
        channels: 2,
    })
    .expect("encoder");
    let mut aus = enc.encode_f32(&src, None).expect("encode");
    // Push silence to flush the encoder's look-ahead.
    aus.extend(enc.encode_f32(&vec![0.0; 4096 * 2], None).expect("encode"));
    let format = enc.audio_format();
    let out = package_and_decode(format, aus);
    assert_matches(&src, &out, 20.0, 0.99);
}

/// `out` is `src` delayed by the codec (found by cross-correlation over 0.1–0.3 s of
/// the left channel, up to 4096 frames), within `min_snr` dB and `min_corr` over the
/// 0.5–2.5 s stretch of both channels. Returns the delay in frames.
fn assert_matches(src: &[f32], out: &[f32], min_snr: f64, min_corr: f64) -> usize {
    assert!(
        out.len() >= src.len(),
        "decoded {} of {} samples",
        out.len(),
        src.len()
    );
    let frames = |v: &[f32], ch: usize, from: usize, n: usize| -> Vec<f32> {
        (from..from + n).map(|i| v[2 * i + ch]).collect()
    };
    let probe = frames(src, 0, 4800, 9600);
    let best = (0..4096)
        .max_by(|&a, &b| {
            let c = |lag: usize| -> f32 {
                probe
                    .iter()
                    .zip(frames(out, 0, 4800 + lag, 9600))
                    .map(|(x, y)| x * y)
                    .sum()
            };
            c(a).total_cmp(&c(b))
        })
        .expect("lags");
    for ch in 0..2 {
        let s = frames(src, ch, 24_000, 96_000);
        let o = frames(out, ch, 24_000 + best, 96_000);
        let sig: f64 = s.iter().map(|x| f64::from(*x).powi(2)).sum();
        let err: f64 = s
            .iter()
            .zip(&o)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum();
        let snr = 10.0 * (sig / err).log10();
        let corr: f64 = s.iter().zip(&o).map(|(x, y)| f64::from(x * y)).sum::<f64>()
            / (sig.sqrt() * o.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt());
        assert!(
            snr > min_snr,
            "channel {ch}: SNR {snr:.1} dB at delay {best}"
        );
        assert!(corr > min_corr, "channel {ch}: correlation {corr:.4}");
    }
    best
}

#[test]
fn opus_round_trip_keeps_the_signal() {
    if !have_ffmpeg() {
        return;
    }
    // PCM → WAV → ffmpeg libopus in Ogg (the Rust side has no Opus encoder) →
    // OggOpusReader → packager → aulos-decode (opus-pure).
    let src = signal(RATE as usize * 3);
    let dir = TempDir::new("opus-rt");
    let wav = dir.path("in.wav");
    write_wav(&wav, &src);
    let ogg = dir.path("in.opus");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "libopus", "-b:a", "192k", "-f", "ogg"])
        .arg(&ogg)
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    let mut r = aulos_packager::OggOpusReader::new();
    r.push(&std::fs::read(&ogg).expect("ogg")).expect("fits");
    r.finish();
    let mut aus = Vec::new();
    while let Some(p) = r.pop().expect("ffmpeg's Ogg is clean") {
        aus.push(p.access_unit(None));
    }
    let head = r.head().expect("OpusHead");
    let out = package_and_decode(head.audio_format(), aus);
    // 40 dB on this signal at 192 kb/s; a wrong channel order, gain or dropped
    // packet would be far below.
    let delay = assert_matches(&src, &out, 30.0, 0.999);
    // The stream is delayed by exactly the encoder's pre-skip (no edit list in a
    // live stream trims it): no sample lost or added on the way.
    assert_eq!(delay, usize::from(head.pre_skip));
}

#[test]
fn flac_round_trip_is_bit_exact() {
    if !have_ffmpeg() {
        return;
    }
    // 16-bit PCM, written as WAV, made FLAC by ffmpeg (the Rust side has no FLAC
    // encoder), demuxed into frames with symphonia, packaged by aulos-packager.
    let src = signal(RATE as usize * 2);
    let dir = TempDir::new("flac-rt");
    let wav = dir.path("in.wav");
    let pcm = write_wav(&wav, &src);
    let flac = dir.path("in.flac");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "flac", "-frame_size", "4096"])
        .arg(&flac)
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    let (streaminfo, frames) = demux_flac(std::fs::read(&flac).expect("flac"));
    let format = AudioFormat {
        codec: Codec::Flac {
            streaminfo: Bytes::from(streaminfo),
        },
        sample_rate: RATE,
        channels: 2,
        frame_samples: 4096,
    };
    let aus = frames
        .into_iter()
        .map(|(data, samples)| AccessUnit {
            data: Bytes::from(data),
            samples,
            captured: None,
        })
        .collect();
    let out = package_and_decode(format, aus);
    assert_eq!(out.len(), pcm.len(), "every sample, no more");
    let mismatches = pcm
        .iter()
        .zip(&out)
        .filter(|(a, b)| f32::from(**a) / 32768.0 != **b)
        .count();
    assert_eq!(mismatches, 0, "bit-exact");
}

/// Writes interleaved stereo `src` as a 16-bit WAV at `RATE`; returns the samples
/// as written.
fn write_wav(path: &std::path::Path, src: &[f32]) -> Vec<i16> {
    let pcm: Vec<i16> = src
        .iter()
        .map(|x| (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    let mut w = hound::WavWriter::create(
        path,
        hound::WavSpec {
            channels: 2,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .expect("wav");
    for s in &pcm {
        w.write_sample(*s).expect("write");
    }
    w.finalize().expect("finalize");
    pcm
}

fn demux_flac(data: Vec<u8>) -> (Vec<u8>, Vec<(Vec<u8>, u32)>) {
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(data)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("flac");
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("probe");
    let track = format.default_track(TrackType::Audio).expect("track");
    let params = track
        .codec_params
        .as_ref()
        .expect("params")
        .audio()
        .expect("audio");
    let streaminfo = params.extra_data.as_ref().expect("STREAMINFO").to_vec();
    let mut frames = Vec::new();
    while let Some(p) = format.next_packet().expect("packet") {
        frames.push((p.data.to_vec(), p.dur.get() as u32));
    }
    (streaminfo, frames)
}
