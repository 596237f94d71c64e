//! Opus in fMP4 from an ffmpeg-made Ogg Opus file: OggOpusReader against ffprobe, the
//! packaged output read back and decoded by ffmpeg. Skips without ffmpeg (fails when
//! CI=true), and with a message when ffmpeg lacks libopus.

mod common;

use aulos_packager::{AudioFormat, OggOpusReader, Packager, PackagerConfig};
use common::*;

#[test]
fn ogg_opus_read_and_packaged_as_opus_in_fmp4() {
    if !have("ffmpeg") || !have("ffprobe") {
        return;
    }
    if !ffmpeg_has_encoder("libopus") {
        eprintln!("SKIP: ffmpeg has no libopus encoder; Opus fixture not generated");
        return;
    }
    let dir = tmpdir("opus");
    let path = dir.join("in.opus");
    assert!(ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:sample_rate=48000",
        "-ac",
        "2",
        "-c:a",
        "libopus",
        "-b:a",
        "64k",
        "-f",
        "ogg",
        path.to_str().unwrap(),
    ]));
    let probe = ffprobe(&path, &["-count_packets"], "stream=nb_read_packets");
    let listed: usize = get(&probe, "nb_read_packets").parse().unwrap();

    // The body as an ingest sees it: arbitrary chunks.
    let data = std::fs::read(&path).unwrap();
    let mut r = OggOpusReader::new();
    let mut packets = Vec::new();
    for chunk in data.chunks(1_000) {
        r.push(chunk).unwrap();
        while let Some(p) = r.pop().expect("ffmpeg's Ogg is clean") {
            packets.push(p);
        }
    }
    r.finish();
    while let Some(p) = r.pop().expect("ffmpeg's Ogg is clean") {
        packets.push(p);
    }
    assert_eq!(packets.len(), listed, "every packet ffprobe counts");
    let head = r.head().expect("OpusHead read");
    assert_eq!(head.channels, 2);
    assert!(head.pre_skip > 0, "libopus always asks for a pre-skip");
    let total: u32 = packets.iter().map(|p| p.samples).sum();
    // 2 s of audio, plus the encoder's pre-skip, padded to whole 20 ms frames.
    let audio = 96_000 + u32::from(head.pre_skip);
    assert!(total >= audio && total < audio + 960, "{total} samples");

    let format = AudioFormat::opus(head);
    assert_eq!(format.codecs_string(), "opus");
    let mut p = Packager::new(format, PackagerConfig::default()).unwrap();
    assert_eq!(p.frames_per_part(), 10, "200 ms parts of 20 ms packets");
    let mut file = p.init_segment().to_vec();
    let mut parts = 0;
    for pk in &packets {
        if let Some(part) = p.push(pk.access_unit(None)) {
            assert_eq!(part.duration.as_millis(), 200);
            file.extend_from_slice(&part.data);
            parts += 1;
        }
    }
    if let Some(part) = p.flush() {
        file.extend_from_slice(&part.data);
        parts += 1;
    }
    assert_eq!(parts, packets.len().div_ceil(10));
    let out = dir.join("out.mp4");
    std::fs::write(&out, &file).unwrap();
    let probe = ffprobe(
        &out,
        &["-count_packets"],
        "stream=codec_name,sample_rate,channels,nb_read_packets:format=duration",
    );
    assert_eq!(get(&probe, "codec_name"), "opus");
    assert_eq!(get(&probe, "sample_rate"), "48000");
    assert_eq!(get(&probe, "channels"), "2");
    assert_eq!(get(&probe, "nb_read_packets"), packets.len().to_string());
    let duration: f64 = get(&probe, "duration").parse().unwrap();
    // Every packet's samples, the pre-skip included (no edit list trims it).
    let expected = f64::from(total) / 48_000.0;
    assert!(
        (duration - expected).abs() < 0.001,
        "{duration} vs {expected}"
    );
    assert_ffmpeg_decodes(&out);
}
