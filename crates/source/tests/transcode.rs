//! Transcoder round trips from ffmpeg-made files: a 44.1 kHz ADTS file (AdtsReader →
//! symphonia AAC decode → rubato 44.1→48 kHz → ladder) and a 48 kHz Ogg Opus file
//! (OggOpusReader → opus-pure → ladder), each to fMP4 that decodes to a 440 Hz tone.

mod common;

use aulos_packager::{AccessUnit, AdtsReader, AudioFormat, OggOpusReader};
use aulos_source::{LadderConfig, Transcoder};

#[test]
fn adts_44k1_to_48k_ladder() {
    if !common::have("ffmpeg") {
        return;
    }
    let data = ffmpeg_tone(
        "aac",
        44_100,
        &["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
    );

    let mut reader = AdtsReader::new();
    reader.push(&data[..data.len().min(60_000)]).unwrap();
    let mut rest = &data[data.len().min(60_000)..];
    let mut frames = Vec::new();
    loop {
        while let Some(f) = reader.pop().unwrap() {
            frames.push(f);
        }
        if rest.is_empty() {
            break;
        }
        let n = rest.len().min(4096);
        reader.push(&rest[..n]).unwrap();
        rest = &rest[n..];
    }
    reader.finish();
    while let Some(f) = reader.pop().unwrap() {
        frames.push(f);
    }
    assert_eq!(frames[0].header.sample_rate, 44_100);

    let aus: Vec<AccessUnit> = frames.iter().map(|f| f.access_unit(None)).collect();
    let in_secs = (frames.len() * 1024) as f64 / 44_100.0;
    ladder_plays_the_tone(&frames[0].header.audio_format(), &aus, in_secs);
}

#[test]
fn ogg_opus_to_48k_ladder() {
    if !common::have("ffmpeg") {
        return;
    }
    let data = ffmpeg_tone(
        "opus",
        48_000,
        &["-c:a", "libopus", "-b:a", "128k", "-f", "ogg"],
    );
    let (head, aus, in_secs) = read_ogg_opus(&data);
    ladder_plays_the_tone(&head.audio_format(), &aus, in_secs);
}

/// The identification header, access units and seconds of an Ogg Opus file, read in
/// 4 kB chunks as an ingest body arrives.
fn read_ogg_opus(data: &[u8]) -> (aulos_packager::OpusHead, Vec<AccessUnit>, f64) {
    let mut reader = OggOpusReader::new();
    let mut aus = Vec::new();
    for chunk in data.chunks(4096) {
        reader.push(chunk).unwrap();
        while let Some(p) = reader.pop().unwrap() {
            aus.push(p.access_unit(None));
        }
    }
    let in_secs = aus.iter().map(|a| u64::from(a.samples)).sum::<u64>() as f64 / 48_000.0;
    (reader.head().expect("OpusHead"), aus, in_secs)
}

#[test]
fn surround_ogg_opus_is_downmixed_into_the_stereo_ladder() {
    // 5.1 Opus (mapping family 1, Vorbis channel order: L C R RL RR LFE) with the tone
    // in the centre only: the ladder's left channel carries it only if the decoder's
    // channels are put in order and the centre is mixed into both sides.
    if !common::have("ffmpeg") {
        return;
    }
    let data = ffmpeg_tone_in(
        "opus51",
        48_000,
        6,
        4.0,
        &["-c:a", "libopus", "-b:a", "256k", "-f", "ogg"],
    );
    let (head, aus, in_secs) = read_ogg_opus(&data);
    assert_eq!((head.channels, head.mapping_family), (6, 1));
    ladder_plays_the_tone(&head.audio_format(), &aus, in_secs);
}

/// 2 s of a 440 Hz stereo tone at `rate`, encoded by ffmpeg as `args` say.
fn ffmpeg_tone(tag: &str, rate: u32, args: &[&str]) -> Vec<u8> {
    ffmpeg_tone_in(tag, rate, 2, 1.0, args)
}

/// 2 s of a 440 Hz tone at `rate` and `volume` (1.0: lavfi's 1/8 of full scale) in
/// `channels` (ffmpeg puts a mono tone in the centre of 3.0 and up), encoded as `args` say.
fn ffmpeg_tone_in(tag: &str, rate: u32, channels: u32, volume: f32, args: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("aulos-source-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in");
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("sine=f=440:d=2:sample_rate={rate},volume={volume}"))
        .arg("-ac")
        .arg(channels.to_string())
        .args(args)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    data
}

/// Runs `aus` through a default ladder: every rendition's parts are continuous and as
/// long as the input (within a resampler chunk and a frame), no AU fails to decode,
/// and the a160 rendition decodes to the 440 Hz tone.
fn ladder_plays_the_tone(format: &AudioFormat, aus: &[AccessUnit], in_secs: f64) {
    let mut t = Transcoder::new(format, LadderConfig::default()).unwrap();
    let mut parts: Vec<Vec<aulos_packager::Part>> = vec![Vec::new(); 3];
    for au in aus {
        for (r, p) in t.push(au).unwrap() {
            parts[r].push(p);
        }
    }
    for (r, p) in t.flush().unwrap() {
        parts[r].push(p);
    }
    assert_eq!(t.decode_errors(), 0);
    // Output: the input's duration at 48 kHz, in whole AAC frames, within a resampler
    // chunk (flush pads the last one) and a frame.
    for r in &parts {
        let mut next = 0;
        for p in r {
            assert_eq!(p.decode_time, next);
            next += p.samples;
        }
        let out_samples = next as f64;
        let expected = in_secs * 48_000.0;
        assert!(
            (out_samples - expected).abs() < 2048.0 + 1024.0,
            "{out_samples} vs {expected}"
        );
    }

    // Decode the a160 rendition and count zero crossings of the left channel: a 440 Hz
    // tone has 880 per second. Skip the first 0.2 s (encoder/resampler warm-up).
    let mut file = t.ladder().init_segments()[2].to_vec();
    for p in &parts[2] {
        file.extend_from_slice(&p.data);
    }
    let (pcm, channels, rate, _) = common::decode_mp4(file);
    assert_eq!((channels, rate), (2, 48_000));
    let left = common::channel(&pcm, 2, 0);
    let start = 9_600;
    let end = left.len() - 4_800;
    let crossings = left[start..end]
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let secs = (end - start) as f64 / 48_000.0;
    let freq = crossings as f64 / 2.0 / secs;
    assert!((freq - 440.0).abs() < 5.0, "decoded tone at {freq:.1} Hz");
    let rms = (left[start..end].iter().map(|x| x * x).sum::<f32>() / (end - start) as f32).sqrt();
    assert!(rms > 0.05, "rms {rms}");
}
