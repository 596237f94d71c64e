//! AAC end to end against ffmpeg-made ADTS: AdtsReader vs ffprobe, packaged fMP4 read back
//! by ffprobe and by symphonia's isomp4 reader. Skips (with a message) without ffmpeg,
//! unless CI=true.

mod common;

use std::time::Duration;

use aulos_packager::{AdtsReader, Packager, PackagerConfig};
use common::*;

/// Makes a 2 s, 48 kHz stereo AAC-LC ADTS file with ffmpeg.
fn make_adts(tag: &str) -> Option<Vec<u8>> {
    if !have("ffmpeg") || !have("ffprobe") {
        return None;
    }
    let dir = tmpdir(tag);
    let path = dir.join("out.aac");
    assert!(ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:sample_rate=48000",
        "-ac",
        "2",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-f",
        "adts",
        path.to_str().expect("utf-8 temp path"),
    ]));
    Some(std::fs::read(&path).expect("read adts"))
}

fn read_all(data: &[u8]) -> Vec<aulos_packager::AdtsFrame> {
    let mut r = AdtsReader::new();
    let mut frames = Vec::new();
    // Uneven chunk sizes so frames straddle pushes.
    let mut pos = 0;
    let mut step = 1;
    while pos < data.len() {
        let end = (pos + step).min(data.len());
        r.push(&data[pos..end])
            .expect("bounded buffer never fills when popping");
        pos = end;
        step = step * 7 % 1013 + 1;
        while let Some(f) = r.pop().expect("ffmpeg ADTS is clean") {
            frames.push(f);
        }
    }
    r.finish();
    while let Some(f) = r.pop().expect("ffmpeg ADTS is clean") {
        frames.push(f);
    }
    assert_eq!(r.skipped_total(), 0);
    frames
}

#[test]
fn adts_reader_agrees_with_ffprobe() {
    let Some(data) = make_adts("adts-probe") else {
        return;
    };
    let dir = tmpdir("adts-probe-file");
    let path = dir.join("in.aac");
    std::fs::write(&path, &data).expect("write");
    let probe = ffprobe(
        &path,
        &["-count_packets"],
        "stream=nb_read_packets,sample_rate,channels,codec_name",
    );
    let frames = read_all(&data);
    assert_eq!(
        frames.len(),
        get(&probe, "nb_read_packets").parse::<usize>().unwrap()
    );
    assert_eq!(get(&probe, "codec_name"), "aac");
    for f in &frames {
        assert_eq!(f.header.sample_rate.to_string(), get(&probe, "sample_rate"));
        assert_eq!(f.header.channels().to_string(), get(&probe, "channels"));
        assert_eq!(f.header.object_type, 2);
        assert_eq!(f.data.len() + 7, f.header.frame_len);
    }
    // Payload bytes are exactly the file minus the 7-byte headers.
    let payload: usize = frames.iter().map(|f| f.data.len()).sum();
    assert_eq!(payload + 7 * frames.len(), data.len());
}

#[test]
fn packaged_aac_is_readable_by_ffprobe_and_symphonia() {
    let Some(data) = make_adts("aac-pack") else {
        return;
    };
    let frames = read_all(&data);
    assert!(frames.len() > 90, "2 s of 48 kHz AAC is ~94 frames");
    let format = frames[0].header.audio_format();
    let mut p = Packager::new(format, PackagerConfig::default()).unwrap();
    let mut file = p.init_segment().to_vec();
    let mut parts = Vec::new();
    for f in &frames {
        parts.extend(p.push(f.access_unit(None)));
    }
    parts.extend(p.flush());
    for part in &parts {
        file.extend_from_slice(&part.data);
    }
    let n = frames.len();
    let expected_secs = (n * 1024) as f64 / 48000.0;

    let dir = tmpdir("aac-pack-file");
    let path = dir.join("out.mp4");
    std::fs::write(&path, &file).expect("write");
    let probe = ffprobe(
        &path,
        &["-count_packets"],
        "stream=codec_name,sample_rate,channels,nb_read_packets:format=duration",
    );
    assert_eq!(get(&probe, "codec_name"), "aac");
    assert_eq!(get(&probe, "sample_rate"), "48000");
    assert_eq!(get(&probe, "channels"), "2");
    assert_eq!(get(&probe, "nb_read_packets"), n.to_string());
    assert_ffmpeg_decodes(&path);
    let duration: f64 = get(&probe, "duration").parse().unwrap();
    assert!(
        (duration - expected_secs).abs() < 0.002,
        "ffprobe duration {duration} vs {expected_secs}"
    );

    let d = symphonia_decode(file, "mp4");
    assert_eq!(d.sample_rate, 48000);
    assert_eq!(d.channels, 2);
    assert_eq!(d.decode_errors, 0);
    assert_eq!(d.packets.len(), n);
    assert_eq!(d.frames, n * 1024, "every AU decodes to 1024 frames");
    for (i, (pkt, f)) in d.packets.iter().zip(&frames).enumerate() {
        assert_eq!(pkt.as_slice(), &f.data[..], "packet {i} bytes");
        assert_eq!(d.packet_dts[i], (i * 1024) as i64, "packet {i} dts");
    }
    // Decoded audio is a 440 Hz tone, not silence: RMS well above zero.
    let rms = (d.pcm.iter().map(|x| x * x).sum::<f32>() / d.pcm.len() as f32).sqrt();
    assert!(rms > 0.05, "rms {rms}");

    // Part cutting: 9 frames (192 ms) per part, last one shorter.
    assert_eq!(parts.len(), n.div_ceil(9));
    for part in &parts[..parts.len() - 1] {
        assert_eq!(part.samples, 9 * 1024);
        assert_eq!(part.duration, Duration::from_millis(192));
    }
}
