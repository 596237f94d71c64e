//! End-to-end decode tests on ffmpeg-made fixtures (skipped without ffmpeg unless CI=true).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use aulos_decode::{
    Container, DecodeStage, MediaChunk, PcmBlock, Pipeline, PipelineConfig, Stats, run_sink,
};
use bytes::Bytes;
use common::*;

const OUT: f64 = 48_000.0;

/// Runs chunks through a synchronous stage; returns blocks and stats.
fn decode_all(chunks: &[MediaChunk]) -> (Vec<PcmBlock>, Arc<Stats>) {
    let stats = Arc::new(Stats::default());
    let mut stage = DecodeStage::new(
        &PipelineConfig::default(),
        stats.clone(),
        Arc::new(AtomicU64::new(1.0f64.to_bits())),
    );
    let mut blocks = Vec::new();
    for c in chunks {
        stage.process(c, &mut blocks);
    }
    blocks.extend(stage.finish());
    (blocks, stats)
}

fn interleaved(blocks: &[PcmBlock]) -> Vec<f32> {
    blocks
        .iter()
        .flat_map(|b| b.samples.iter().copied())
        .collect()
}

/// Checks rate/channels, duration within `tol_frames` output frames, and the 440 Hz content.
fn check_sine(blocks: &[PcmBlock], expect_secs: f64, tol_frames: f64, freq: f64) {
    assert!(!blocks.is_empty(), "no audio decoded");
    assert!(
        blocks.iter().all(|b| b.rate == 48_000 && b.channels == 2),
        "output format"
    );
    let all = interleaved(blocks);
    let frames = (all.len() / 2) as f64;
    let want = expect_secs * OUT;
    assert!(
        (frames - want).abs() <= tol_frames,
        "decoded {frames} frames, expected {want} ± {tol_frames}"
    );
    let left = channel(&all, 2, 0);
    // Skip the first and last 0.25 s: encoder/decoder/resampler edges.
    let mid = &left[12_000..left.len() - 12_000];
    let dom = dominant_frequency(mid, OUT);
    assert!(
        (dom - freq).abs() <= 10.0,
        "dominant frequency {dom} Hz, expected {freq}"
    );
    let zc = zero_crossing_frequency(mid, OUT);
    assert!(
        (zc - freq).abs() < 1.0,
        "zero-crossing frequency {zc} Hz, expected {freq}"
    );
    let snr = sine_snr_db(mid, OUT, freq);
    assert!(
        snr > 30.0,
        "SNR {snr:.1} dB against an ideal {freq} Hz sine"
    );
}

/// 3 s of a 440 Hz tone at `rate`, encoded with `codec` into a VOD HLS of 1 s segments
/// (fMP4 or MPEG-TS) by ffmpeg and decoded with no error; `None` without ffmpeg.
fn decode_ffmpeg_hls(
    tag: &str,
    codec: &str,
    rate: u32,
    channels: u32,
    bitrate: &str,
    fmp4: bool,
) -> Option<Vec<PcmBlock>> {
    if !have_ffmpeg() {
        return None;
    }
    let dir = TempDir::new(tag);
    let pl = dir.path("a.m3u8");
    let mut args = vec![
        "-c:a",
        codec,
        "-b:a",
        bitrate,
        "-f",
        "hls",
        "-hls_time",
        "1",
    ];
    args.extend(["-hls_playlist_type", "vod"]);
    if fmp4 {
        args.extend(["-hls_segment_type", "fmp4"]);
    }
    ffmpeg_sine(440, rate, 3.0, channels, &args, &pl);
    let (init, segs) = read_hls(&pl);
    assert!(
        init.is_some() == fmp4 && segs.len() >= 3,
        "ffmpeg made {} segments",
        segs.len()
    );
    let container = if fmp4 {
        Container::Fmp4
    } else {
        Container::Sniff
    };
    let (blocks, stats) = decode_all(&hls_chunks(init, segs, container));
    assert_eq!(
        stats.snapshot().decode_errors,
        0,
        "{:?}",
        stats.snapshot().last_error
    );
    Some(blocks)
}

/// One AAC frame (1024 samples at 44.1 kHz) expressed in 48 kHz output frames.
const AAC_FRAME_OUT: f64 = 1024.0 * 48_000.0 / 44_100.0;

#[test]
fn fmp4_hls_aac_decodes_to_right_duration_and_tone() {
    let Some(blocks) = decode_ffmpeg_hls("fmp4", "aac", 44100, 2, "128k", true) else {
        return;
    };
    // ffmpeg's HLS fMP4 writes an edit list with media_time 0 (no priming signalled), so the
    // 1024 priming frames are decoded; the last frame's padding stays within the tolerance.
    check_sine(&blocks, 3.0 + 1024.0 / 44_100.0, AAC_FRAME_OUT, 440.0);
    // Media time from tfdt: blocks are in order and start at 0.
    assert!(
        blocks[0].pts < Duration::from_millis(30),
        "first pts {:?}",
        blocks[0].pts
    );
    assert!(blocks.windows(2).all(|w| w[1].pts > w[0].pts));
}

#[test]
fn mpegts_hls_aac_decodes() {
    let Some(blocks) = decode_ffmpeg_hls("ts", "aac", 44100, 1, "96k", false) else {
        return;
    };
    // TS cannot signal the AAC encoder delay: the 1024 priming frames are decoded too.
    check_sine(&blocks, 3.0 + 1024.0 / 44_100.0, AAC_FRAME_OUT, 440.0);
}

#[test]
fn mpegts_hls_opus_decodes() {
    // ffmpeg's default HLS segments with Opus: private PES with the `Opus` registration,
    // each packet behind an opus_control_header; the first carries the pre-skip as
    // start trim.
    let Some(blocks) = decode_ffmpeg_hls("ts-opus", "libopus", 48000, 2, "128k", false) else {
        return;
    };
    check_sine(&blocks, 3.0, 960.0, 440.0);
}

#[test]
fn packed_adts_split_anywhere_with_id3_timestamps() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("adts");
    let f = dir.path("a.aac");
    ffmpeg_sine(440, 44100, 3.0, 2, &["-c:a", "aac", "-f", "adts"], &f);
    let data = std::fs::read(&f).unwrap();
    // Three chunks cut at arbitrary byte offsets (frames straddle chunks); the first two carry
    // an ID3 PRIV timestamp as HLS packed audio does (10 s = 900000 ticks at 90 kHz).
    let cuts = [0, data.len() / 3 + 7, 2 * data.len() / 3 - 11, data.len()];
    let mut chunks = Vec::new();
    for (i, w) in cuts.windows(2).enumerate() {
        let mut bytes = Vec::new();
        if i == 0 {
            bytes.extend(id3_with_timestamp(900_000));
        }
        bytes.extend_from_slice(&data[w[0]..w[1]]);
        chunks.push(MediaChunk {
            container: Container::PackedAudio,
            ..MediaChunk::new(bytes)
        });
    }
    let (blocks, stats) = decode_all(&chunks);
    assert_eq!(
        stats.snapshot().decode_errors,
        0,
        "{:?}",
        stats.snapshot().last_error
    );
    check_sine(&blocks, 3.0 + 1024.0 / 44_100.0, AAC_FRAME_OUT, 440.0);
    assert_eq!(
        blocks[0].pts,
        Duration::from_secs(10),
        "ID3 timestamp is the media time"
    );
    let expect_second = Duration::from_secs(10) + blocks[0].duration();
    let diff = blocks[1].pts.abs_diff(expect_second);
    assert!(
        diff < Duration::from_millis(25),
        "second block pts {:?} vs {expect_second:?}",
        blocks[1].pts
    );
}

/// An ID3v2.4 tag with the Apple transport-stream timestamp PRIV frame (built here by hand,
/// independently of the crate's parser).
fn id3_with_timestamp(ts90: u64) -> Vec<u8> {
    let mut body = b"com.apple.streaming.transportStreamTimestamp\0".to_vec();
    body.extend_from_slice(&ts90.to_be_bytes());
    let ss = |n: usize| {
        [
            (n >> 21) as u8 & 0x7F,
            (n >> 14) as u8 & 0x7F,
            (n >> 7) as u8 & 0x7F,
            n as u8 & 0x7F,
        ]
    };
    let mut frame = b"PRIV".to_vec();
    frame.extend_from_slice(&ss(body.len()));
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&body);
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend_from_slice(&ss(frame.len()));
    tag.extend_from_slice(&frame);
    tag
}

#[test]
fn packed_mp3_decodes() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("mp3");
    let f = dir.path("a.mp3");
    ffmpeg_sine(
        440,
        44100,
        3.0,
        2,
        &[
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-write_xing",
            "0",
            "-id3v2_version",
            "0",
        ],
        &f,
    );
    let data = Bytes::from(std::fs::read(&f).unwrap());
    let mid = data.len() / 2;
    let chunks = vec![
        MediaChunk::new(data.slice(..mid)),
        MediaChunk::new(data.slice(mid..)),
    ];
    let (blocks, stats) = decode_all(&chunks);
    assert_eq!(
        stats.snapshot().decode_errors,
        0,
        "{:?}",
        stats.snapshot().last_error
    );
    // Without a LAME tag the 576+529 frame codec delay stays in; the last frame is padded.
    let frame_out = 1152.0 * 48_000.0 / 44_100.0;
    check_sine(&blocks, 3.0 + 1105.0 / 44_100.0, frame_out, 440.0);
}

#[test]
fn fmp4_hls_opus_decodes_to_right_duration_and_tone() {
    // ffmpeg's HLS with Opus in fMP4 (`Opus`/`dOps`; the same sample entry the
    // packager writes), decoded by opus-pure.
    let Some(blocks) = decode_ffmpeg_hls("opus", "libopus", 48000, 2, "128k", true) else {
        return;
    };
    check_sine(&blocks, 3.0, 960.0, 440.0);
    assert!(blocks.windows(2).all(|w| w[1].pts > w[0].pts));
}

#[test]
fn fmp4_hls_surround_opus_decodes() {
    // 5.1 Opus: channel mapping family 1, four streams of which two coupled, in `dOps`;
    // decoded by opus-pure's multistream decoder and mapped down to stereo.
    let Some(blocks) = decode_ffmpeg_hls("opus51", "libopus", 48000, 6, "256k", true) else {
        return;
    };
    check_sine(&blocks, 3.0, 960.0, 440.0);
}

#[test]
fn fmp4_flac_decodes() {
    decode_fmp4_flac("flac", 2);
}

#[test]
fn fmp4_surround_flac_decodes_with_the_centre_on_both_sides() {
    // 5.1 FLAC (FL FR FC LFE BL BR) with the tone in the centre only (ffmpeg's upmix of
    // a mono source): it reaches the stereo output only through the downmix.
    decode_fmp4_flac("flac51", 6);
}

/// 3 s of a 440 Hz tone in `channels` at 44.1 kHz, FLAC in fragmented MP4 (`dfLa`),
/// decoded to 48 kHz stereo with no error and the tone on the left.
fn decode_fmp4_flac(tag: &str, channels: u32) {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new(tag);
    let f = dir.path("a.mp4");
    ffmpeg_sine(
        440,
        44100,
        3.0,
        channels,
        &[
            "-c:a",
            "flac",
            "-strict",
            "-2",
            "-f",
            "mp4",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-frag_duration",
            "1000000",
        ],
        &f,
    );
    let data = Bytes::from(std::fs::read(&f).unwrap());
    let (blocks, stats) = decode_all(&[MediaChunk::new(data)]);
    assert_eq!(
        stats.snapshot().decode_errors,
        0,
        "{:?}",
        stats.snapshot().last_error
    );
    check_sine(&blocks, 3.0, 4608.0 * 48_000.0 / 44_100.0, 440.0);
}

#[test]
fn rate_change_across_discontinuity() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("disc");
    let a = dir.path("a.aac");
    let b = dir.path("b.aac");
    ffmpeg_sine(440, 44100, 2.0, 2, &["-c:a", "aac", "-f", "adts"], &a);
    ffmpeg_sine(1000, 48000, 2.0, 2, &["-c:a", "aac", "-f", "adts"], &b);
    let pdt = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let chunks = vec![
        MediaChunk {
            program_date_time: Some(pdt),
            ..MediaChunk::new(std::fs::read(&a).unwrap())
        },
        MediaChunk {
            discontinuity: true,
            program_date_time: Some(pdt + Duration::from_secs(2)),
            ..MediaChunk::new(std::fs::read(&b).unwrap())
        },
    ];
    let (blocks, stats) = decode_all(&chunks);
    assert_eq!(
        stats.snapshot().decode_errors,
        0,
        "{:?}",
        stats.snapshot().last_error
    );
    assert!(blocks.iter().all(|b| b.rate == 48_000));
    // Blocks before the 2nd chunk's PDT are the 44.1 kHz part; the rest the 48 kHz part.
    let split = blocks
        .iter()
        .position(|b| b.program_date_time >= Some(pdt + Duration::from_secs(2)))
        .expect("second part");
    assert_eq!(blocks[0].program_date_time, Some(pdt));
    let first = channel(&interleaved(&blocks[..split]), 2, 0);
    let second = channel(&interleaved(&blocks[split..]), 2, 0);
    let f1 = (first.len() as f64) / OUT;
    let f2 = (second.len() as f64) / OUT;
    assert!(
        (f1 - (2.0 + 1024.0 / 44100.0)).abs() < 0.03,
        "first part {f1} s"
    );
    assert!(
        (f2 - (2.0 + 1024.0 / 48000.0)).abs() < 0.03,
        "second part {f2} s"
    );
    assert_eq!(
        dominant_frequency(&first[6000..first.len() - 6000], OUT),
        440.0
    );
    assert_eq!(
        dominant_frequency(&second[6000..second.len() - 6000], OUT),
        1000.0
    );
}

#[test]
fn garbage_chunk_is_counted_and_next_chunk_decodes() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("garbage");
    let pl = dir.path("a.m3u8");
    ffmpeg_sine(
        440,
        44100,
        3.0,
        2,
        &[
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_segment_type",
            "fmp4",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
        ],
        &pl,
    );
    let (init, segs) = read_hls(&pl);
    let mut chunks = hls_chunks(init, segs, Container::Sniff);
    let good_frames = {
        let (b, _) = decode_all(&chunks);
        interleaved(&b).len() / 2
    };
    let lost = {
        let (b, _) = decode_all(&chunks[..2]);
        let with_two = interleaved(&b).len() / 2;
        let (b1, _) = decode_all(&chunks[..1]);
        with_two - interleaved(&b1).len() / 2
    };
    // Replace the 2nd segment with noise, and add a truncated fragment too.
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    chunks[1] = MediaChunk {
        container: Container::Fmp4,
        ..MediaChunk::new(noise)
    };
    let truncated = chunks[2].data.slice(..chunks[2].data.len() / 2);
    chunks.insert(
        2,
        MediaChunk {
            container: Container::Fmp4,
            ..MediaChunk::new(truncated)
        },
    );
    let (blocks, stats) = decode_all(&chunks);
    let s = stats.snapshot();
    assert!(s.decode_errors >= 1, "garbage must be counted: {s:?}");
    assert!(s.last_error.is_some());
    let frames = interleaved(&blocks).len() / 2;
    // Everything except the replaced segment still decodes (± one AAC frame at the seams).
    let want = (good_frames - lost) as f64;
    assert!(
        (frames as f64 - want).abs() <= 2.0 * AAC_FRAME_OUT,
        "{frames} vs {want}"
    );
    let last = blocks.last().unwrap();
    assert!(last.frames() > 0);
}

#[test]
fn threaded_pipeline_runs_sink_and_carries_pdt() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("pipe");
    let pl = dir.path("a.m3u8");
    ffmpeg_sine(
        440,
        44100,
        3.0,
        2,
        &[
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_segment_type",
            "fmp4",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
        ],
        &pl,
    );
    let (init, segs) = read_hls(&pl);
    let pdt0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut chunks = hls_chunks(init, segs, Container::Fmp4);
    for (i, c) in chunks.iter_mut().enumerate() {
        c.program_date_time = Some(pdt0 + Duration::from_secs(i as u64));
    }
    let (tx, rx, handle) = Pipeline::spawn(PipelineConfig::default()).unwrap();
    let producer = std::thread::spawn(move || {
        for c in chunks {
            tx.send(c).unwrap();
        }
    });
    let wav_path = dir.path("out.wav");
    let mut sink = aulos_decode::WavSink::create(&wav_path, 48_000, 2).unwrap();
    let frames = run_sink(&rx, &mut sink, &handle, None, |_| {}).unwrap();
    producer.join().unwrap();
    let s = handle.stats().snapshot();
    assert_eq!(s.frames, frames);
    assert_eq!(s.decode_errors, 0);
    handle.join().unwrap();
    let reader = hound::WavReader::open(&wav_path).unwrap();
    assert_eq!(reader.spec().sample_rate, 48_000);
    assert_eq!(u64::from(reader.duration()), frames);
    assert!((frames as f64 - (3.0 + 1024.0 / 44_100.0) * OUT).abs() <= AAC_FRAME_OUT);
}
