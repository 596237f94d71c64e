//! Part cutting, decode-time continuity and box structure of the packager output,
//! checked by parsing it back with mp4-atom (no external tools).

use std::time::{Duration, SystemTime};

use aulos_packager::{AccessUnit, AudioFormat, Codec, Error, Packager, PackagerConfig, Part};
use bytes::Bytes;
use mp4_atom::{Any, Decode, Ftyp, Moof, Moov};

fn aac_48k() -> AudioFormat {
    AudioFormat::aac(Bytes::from_static(&[0x11, 0x90])).unwrap()
}

fn au(len: usize, samples: u32, tag: u8) -> AccessUnit {
    AccessUnit {
        data: Bytes::from(vec![tag; len]),
        samples,
        captured: None,
    }
}

/// Splits a part into (moof, mdat payload), checking the box layout.
fn parse_part(part: &Part) -> (Moof, Vec<u8>) {
    let mut buf = &part.data[..];
    let moof = match Any::decode(&mut buf).expect("moof") {
        Any::Moof(m) => m,
        other => panic!("expected moof, got {other:?}"),
    };
    let moof_len = part.data.len() - buf.len();
    let mdat = match Any::decode(&mut buf).expect("mdat") {
        Any::Mdat(m) => m,
        other => panic!("expected mdat, got {other:?}"),
    };
    assert!(buf.is_empty(), "exactly moof + mdat");
    // P-FRAG-01: tfdt present, moof-relative data offset pointing at the mdat payload.
    let traf = &moof.traf[0];
    assert!(traf.tfhd.default_base_is_moof);
    assert!(traf.tfdt.is_some());
    assert_eq!(
        traf.trun[0].data_offset,
        Some((moof_len + 8) as i32),
        "data_offset = moof size + mdat header"
    );
    (moof, mdat.data)
}

// checklist P-MAP-02
#[test]
fn init_segment_structure() {
    let p = Packager::new(aac_48k(), PackagerConfig::default()).unwrap();
    let init = p.init_segment();
    let mut buf = &init[..];
    let ftyp = Ftyp::decode(&mut buf).unwrap();
    assert_eq!(ftyp.major_brand, b"iso6".into());
    assert!(ftyp.compatible_brands.contains(&b"cmfc".into()));
    let moov = Moov::decode(&mut buf).unwrap();
    assert!(buf.is_empty());
    assert_eq!(moov.mvhd.duration, 0);
    let trak = &moov.trak[0];
    assert_eq!(trak.tkhd.duration, 0);
    assert_eq!(trak.tkhd.track_id, 1);
    assert_eq!(trak.mdia.mdhd.timescale, 48000);
    assert_eq!(trak.mdia.hdlr.handler, b"soun".into());
    assert_eq!(moov.mvex.as_ref().unwrap().trex[0].track_id, 1);
    // Fragmented: no samples in the sample table.
    assert!(matches!(
        &trak.mdia.minf.stbl.stsz.samples,
        mp4_atom::StszSamples::Different { sizes } if sizes.is_empty()
    ));
    match &trak.mdia.minf.stbl.stsd.codecs[0] {
        mp4_atom::Codec::Mp4a(m) => {
            let dc = &m.esds.es_desc.dec_config;
            assert_eq!(dc.object_type_indication, 0x40);
            assert_eq!(dc.dec_specific.as_ref().unwrap().raw, vec![0x11, 0x90]);
            assert_eq!(m.audio.channel_count, 2);
        }
        other => panic!("expected mp4a, got {other:?}"),
    }
}

// checklist P-FRAG-01 (tfdt per traf), P-PART-04 (INDEPENDENT), P-PART-05 (parts of a
// segment hold exactly its samples, in order), P-PDT-01 (PDT from capture time)
#[test]
fn parts_are_frame_aligned_with_continuous_tfdt() {
    let mut p = Packager::new(aac_48k(), PackagerConfig::default()).unwrap();
    assert_eq!(p.frames_per_part(), 9);
    assert_eq!(p.part_duration(), Duration::from_millis(192));
    assert_eq!(p.segment_duration(), Duration::from_millis(960));
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut parts = Vec::new();
    let n = 100usize;
    for i in 0..n {
        let mut a = au(100 + i % 17, 1024, i as u8);
        a.captured = Some(t0 + Duration::from_micros(i as u64 * 1024 * 1_000_000 / 48000));
        parts.extend(p.push(a));
    }
    parts.extend(p.flush());
    assert!(p.flush().is_none());
    assert_eq!(parts.len(), n.div_ceil(9));
    // Each part's bytes are their only handle: the ring keeps them as they are,
    // with no handle of its own, and releases them off the put's path
    // (aulos-ring `private_handle`; docs/performance.md, put latency).
    assert!(parts.iter().all(|p| p.data.is_unique()));

    let mut expected_tfdt = 0u64;
    let mut frame_index = 0usize;
    for (k, part) in parts.iter().enumerate() {
        let (moof, payload) = parse_part(part);
        assert_eq!(moof.mfhd.sequence_number, k as u32 + 1);
        assert_eq!(part.sequence, k as u32 + 1);
        let traf = &moof.traf[0];
        assert_eq!(
            traf.tfdt.as_ref().unwrap().base_media_decode_time,
            expected_tfdt
        );
        assert_eq!(part.decode_time, expected_tfdt);
        let entries: Vec<_> = traf.trun[0].samples.iter().collect();
        let full = k + 1 < parts.len();
        assert_eq!(entries.len(), if full { 9 } else { n - 9 * k });
        // Sample sizes and payload match the AUs pushed, in order.
        let mut off = 0;
        for e in &entries {
            let len = e.size.unwrap() as usize;
            assert_eq!(e.duration, Some(1024));
            assert_eq!(len, 100 + frame_index % 17);
            assert!(
                payload[off..off + len]
                    .iter()
                    .all(|&b| b == frame_index as u8)
            );
            off += len;
            frame_index += 1;
        }
        assert_eq!(off, payload.len());
        assert!(part.independent);
        assert_eq!(part.samples, 1024 * entries.len() as u64);
        // PDT of the part is the capture time of its first AU.
        let first = expected_tfdt / 1024;
        assert_eq!(
            part.program_date_time,
            Some(t0 + Duration::from_micros(first * 1024 * 1_000_000 / 48000))
        );
        // Segments close every 5 parts, and at flush.
        assert_eq!(part.last_in_segment, (k + 1) % 5 == 0 || !full, "part {k}");
        expected_tfdt += part.samples;
    }
    assert_eq!(expected_tfdt, n as u64 * 1024);
    assert_eq!(p.next_decode_time(), n as u64 * 1024);
}

// checklist P-PART-03: part duration <= PART-TARGET, and as close to it as whole frames allow
#[test]
fn part_length_rule_is_floor_of_target() {
    // (rate, frame, target ms) -> frames; computed by hand: floor(target*rate/frame).
    let cases = [
        (48000, 1024, 200, 9),   // 9.375
        (44100, 1024, 200, 8),   // 8.61
        (48000, 1024, 1000, 46), // 46.875
        (44100, 1152, 200, 7),   // 7.65 (MP3)
        (48000, 4096, 200, 2),   // 2.34 (FLAC)
        (48000, 1024, 192, 9),   // exactly 9: equality allowed
    ];
    for (rate, frame, ms, frames) in cases {
        let format = AudioFormat {
            codec: Codec::Mp3,
            sample_rate: rate,
            channels: 2,
            frame_samples: frame,
        };
        let cfg = PackagerConfig {
            part_target: Duration::from_millis(ms),
            ..Default::default()
        };
        let p = Packager::new(format, cfg).unwrap();
        assert_eq!(p.frames_per_part(), frames, "{rate} {frame} {ms}");
        assert!(p.part_duration() <= Duration::from_millis(ms));
    }
}

#[test]
fn bad_config_and_input_are_errors() {
    let cfg = PackagerConfig {
        part_target: Duration::from_millis(10),
        ..Default::default()
    };
    assert!(matches!(
        Packager::new(aac_48k(), cfg),
        Err(Error::PartTargetTooShort { .. })
    ));
    for cfg in [
        PackagerConfig {
            parts_per_segment: 0,
            ..Default::default()
        },
        PackagerConfig {
            track_id: 0,
            ..Default::default()
        },
        PackagerConfig {
            part_target: Duration::ZERO,
            ..Default::default()
        },
    ] {
        assert!(cfg.validate().is_err());
        assert!(Packager::new(aac_48k(), cfg).is_err());
    }
    let mut p = Packager::new(aac_48k(), PackagerConfig::default()).unwrap();
    assert!(p.try_push(au(0, 1024, 0)).is_err());
    assert!(p.try_push(au(10, 0, 0)).is_err());
    assert!(p.push(au(0, 1024, 0)).is_none());
    assert_eq!(p.rejected_access_units(), 1);
    assert!(p.flush().is_none(), "rejected AUs are not buffered");
}

#[test]
fn short_access_units_fill_parts_by_samples() {
    // 512-sample AUs: a part closes once it holds 9 * 1024 samples = 18 AUs.
    let mut p = Packager::new(aac_48k(), PackagerConfig::default()).unwrap();
    let parts: Vec<Part> = (0..36).filter_map(|i| p.push(au(10, 512, i))).collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1].decode_time, 9 * 1024);
    let (moof, _) = parse_part(&parts[0]);
    assert_eq!(moof.traf[0].trun[0].samples.len(), 18);
}
