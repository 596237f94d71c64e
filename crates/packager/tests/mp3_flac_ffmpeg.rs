//! MP3 and FLAC in fMP4 against ffmpeg-made files: Mp3FrameReader vs ffprobe, packaged
//! output read back by ffprobe and symphonia. Skips without ffmpeg (fails when CI=true);
//! the MP3 fixture is skipped with a message when ffmpeg lacks libmp3lame.

mod common;

use aulos_packager::{AccessUnit, AudioFormat, Codec, Mp3FrameReader, Packager, PackagerConfig};
use bytes::Bytes;
use common::*;

fn package(format: AudioFormat, aus: &[AccessUnit]) -> Vec<u8> {
    let mut p = Packager::new(format, PackagerConfig::default()).unwrap();
    let mut file = p.init_segment().to_vec();
    for au in aus {
        if let Some(part) = p.push(au.clone()) {
            file.extend_from_slice(&part.data);
        }
    }
    if let Some(part) = p.flush() {
        file.extend_from_slice(&part.data);
    }
    file
}

#[test]
fn mp3_reader_and_mp3_in_fmp4() {
    if !have("ffmpeg") || !have("ffprobe") {
        return;
    }
    if !ffmpeg_has_encoder("libmp3lame") {
        eprintln!("SKIP: ffmpeg has no libmp3lame encoder; MP3 fixture not generated");
        return;
    }
    let dir = tmpdir("mp3");
    let path = dir.join("in.mp3");
    // ID3v2 tag (ffmpeg writes one by default) + LAME Info frame + audio frames.
    assert!(ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:sample_rate=44100",
        "-ac",
        "2",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        "-metadata",
        "title=aulos test",
        path.to_str().unwrap(),
    ]));
    let data = std::fs::read(&path).unwrap();
    assert!(data.starts_with(b"ID3"), "fixture has an ID3v2 tag");
    let probe = ffprobe(
        &path,
        &["-count_packets"],
        "stream=nb_read_packets,sample_rate,channels",
    );

    let mut r = Mp3FrameReader::new();
    let mut frames = Vec::new();
    for chunk in data.chunks(333) {
        r.push(chunk).unwrap();
        while let Some(f) = r.pop().expect("clean mp3") {
            frames.push(f);
        }
    }
    r.finish();
    while let Some(f) = r.pop().expect("clean mp3") {
        frames.push(f);
    }
    assert!(r.tag_bytes_total() > 10);
    assert_eq!(r.info_frames_skipped(), 1, "LAME writes one Info frame");
    assert_eq!(r.skipped_total(), 0);
    // ffprobe's mp3 demuxer also drops the Info frame.
    assert_eq!(
        frames.len().to_string(),
        get(&probe, "nb_read_packets"),
        "frame count"
    );
    for f in &frames {
        assert_eq!(f.header.sample_rate.to_string(), get(&probe, "sample_rate"));
        assert_eq!(f.header.channels.to_string(), get(&probe, "channels"));
        assert_eq!(f.header.samples, 1152);
    }

    let aus: Vec<AccessUnit> = frames.iter().map(|f| f.access_unit(None)).collect();
    let file = package(frames[0].header.audio_format(), &aus);
    let out = dir.join("out.mp4");
    std::fs::write(&out, &file).unwrap();
    let probe = ffprobe(
        &out,
        &["-count_packets"],
        "stream=codec_name,sample_rate,channels,nb_read_packets:format=duration",
    );
    assert_eq!(get(&probe, "codec_name"), "mp3");
    assert_ffmpeg_decodes(&out);
    assert_eq!(get(&probe, "sample_rate"), "44100");
    assert_eq!(get(&probe, "channels"), "2");
    assert_eq!(get(&probe, "nb_read_packets"), frames.len().to_string());
    let expected = (frames.len() * 1152) as f64 / 44100.0;
    let duration: f64 = get(&probe, "duration").parse().unwrap();
    assert!(
        (duration - expected).abs() < 0.002,
        "{duration} vs {expected}"
    );

    let d = symphonia_decode(file, "mp4");
    assert_eq!(d.packets.len(), frames.len());
    assert_eq!(d.decode_errors, 0);
    assert_eq!(d.frames, frames.len() * 1152);
}

#[test]
fn flac_in_fmp4() {
    if !have("ffmpeg") || !have("ffprobe") {
        return;
    }
    let dir = tmpdir("flac");
    let path = dir.join("in.flac");
    assert!(ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:sample_rate=48000",
        "-ac",
        "2",
        "-c:a",
        "flac",
        "-frame_size",
        "4096",
        path.to_str().unwrap(),
    ]));
    // Demux the FLAC frames with symphonia's native FLAC reader (a FLAC frame reader is not
    // part of this crate); extra_data is the STREAMINFO block.
    let src = symphonia_demux_flac(std::fs::read(&path).unwrap());
    assert_eq!(src.streaminfo.len(), 34);
    let total: u64 = src.frames.iter().map(|(_, n)| u64::from(*n)).sum();
    assert_eq!(total, 96_000, "2 s at 48 kHz");
    let format = AudioFormat {
        codec: Codec::Flac {
            streaminfo: Bytes::from(src.streaminfo.clone()),
        },
        sample_rate: 48000,
        channels: 2,
        frame_samples: 4096,
    };
    let aus: Vec<AccessUnit> = src
        .frames
        .iter()
        .map(|(data, n)| AccessUnit {
            data: Bytes::from(data.clone()),
            samples: *n,
            captured: None,
        })
        .collect();
    let file = package(format, &aus);
    let out = dir.join("out.mp4");
    std::fs::write(&out, &file).unwrap();
    let probe = ffprobe(
        &out,
        &["-count_packets"],
        "stream=codec_name,sample_rate,channels,nb_read_packets:format=duration",
    );
    assert_eq!(get(&probe, "codec_name"), "flac");
    assert_ffmpeg_decodes(&out);
    assert_eq!(get(&probe, "sample_rate"), "48000");
    assert_eq!(get(&probe, "channels"), "2");
    assert_eq!(get(&probe, "nb_read_packets"), aus.len().to_string());
    let duration: f64 = get(&probe, "duration").parse().unwrap();
    assert!((duration - 2.0).abs() < 0.002, "{duration}");

    let d = symphonia_decode(file, "mp4");
    assert_eq!(d.packets.len(), aus.len());
    assert_eq!(d.decode_errors, 0);
    assert_eq!(d.frames, 96_000);
}

struct FlacSource {
    streaminfo: Vec<u8>,
    frames: Vec<(Vec<u8>, u32)>,
}

fn symphonia_demux_flac(data: Vec<u8>) -> FlacSource {
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
        .unwrap();
    let track = format.default_track(TrackType::Audio).unwrap();
    let params = track.codec_params.as_ref().unwrap().audio().unwrap();
    let streaminfo = params.extra_data.as_ref().expect("STREAMINFO").to_vec();
    let mut frames = Vec::new();
    while let Some(p) = format.next_packet().unwrap() {
        frames.push((p.data.to_vec(), p.dur.get() as u32));
    }
    FlacSource { streaminfo, frames }
}
