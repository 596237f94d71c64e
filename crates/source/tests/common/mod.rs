//! Shared test helpers: symphonia decode of raw AAC AUs / fMP4, ffmpeg presence.
#![allow(dead_code)]

use std::io::Cursor;
use std::process::Command;

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

/// Decodes raw AAC access units with symphonia's AAC decoder, configured only from the ASC.
/// Returns interleaved f32 PCM.
pub fn decode_raw_aac(asc: &[u8], channels: u16, rate: u32, aus: &[Vec<u8>]) -> Vec<f32> {
    let mut params = AudioCodecParameters::new();
    params.codec = CODEC_ID_AAC;
    params.with_sample_rate(rate);
    params.with_channels(Channels::Positioned(if channels == 1 {
        Position::FRONT_CENTER
    } else {
        Position::FRONT_LEFT | Position::FRONT_RIGHT
    }));
    params.with_extra_data(asc.to_vec().into_boxed_slice());
    let mut dec = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .expect("AAC decoder");
    let mut pcm = Vec::new();
    for (i, au) in aus.iter().enumerate() {
        let pkt = Packet::new(
            0,
            Timestamp::new(i as i64 * 1024),
            Duration::new(1024),
            au.clone(),
        );
        let buf = dec.decode(&pkt).expect("every AU decodes");
        let mut v: Vec<f32> = Vec::new();
        buf.copy_to_vec_interleaved(&mut v);
        pcm.extend(v);
    }
    pcm
}

/// Demuxes + decodes an fMP4 byte string; returns (interleaved PCM, channels, rate, packets).
pub fn decode_mp4(data: Vec<u8>) -> (Vec<f32>, usize, u32, usize) {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(data)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp4");
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("probe mp4");
    let track = format.default_track(TrackType::Audio).expect("audio track");
    let id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .unwrap()
        .audio()
        .unwrap()
        .clone();
    let mut dec = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .expect("decoder");
    let mut pcm = Vec::new();
    let mut packets = 0;
    let mut channels = 0;
    while let Some(p) = format.next_packet().expect("demux") {
        if p.track_id != id {
            continue;
        }
        packets += 1;
        let buf = dec.decode(&p).expect("decode");
        channels = buf.spec().channels().count();
        let mut v: Vec<f32> = Vec::new();
        buf.copy_to_vec_interleaved(&mut v);
        pcm.extend(v);
    }
    (pcm, channels, params.sample_rate.unwrap_or(0), packets)
}

/// True if `tool` runs; otherwise prints a skip message, or panics when CI=true.
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

/// Channel `c` of interleaved PCM.
pub fn channel(pcm: &[f32], channels: usize, c: usize) -> Vec<f32> {
    pcm.iter().skip(c).step_by(channels).copied().collect()
}

/// Best normalized correlation of `got` against `want` over lags 0..max_lag
/// (`got[lag + i]` vs `want[i]`), computed over `len` samples. Returns (lag, correlation).
pub fn best_alignment(got: &[f32], want: &[f32], max_lag: usize, len: usize) -> (usize, f64) {
    let mut best = (0, f64::MIN);
    for lag in 0..max_lag {
        if lag + len > got.len() || len > want.len() {
            break;
        }
        let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..len {
            let x = f64::from(got[lag + i]);
            let y = f64::from(want[i]);
            xy += x * y;
            xx += x * x;
            yy += y * y;
        }
        let c = xy / (xx.sqrt() * yy.sqrt()).max(1e-12);
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}
