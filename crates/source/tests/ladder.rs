//! Ladder: parts for every rendition, continuous decode times, aligned parts, bitrate
//! ordering, and the output decodes.

mod common;

use std::time::{Duration, SystemTime};

use aulos_source::{Ladder, LadderConfig, Synth};

#[test]
fn ladder_emits_aligned_parts_with_bitrate_ordering() {
    let mut ladder = Ladder::new(LadderConfig::default()).unwrap();
    let names: Vec<&str> = ladder
        .renditions()
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["a48", "a96", "a160"]);
    for r in ladder.renditions() {
        assert_eq!(r.codecs, "mp4a.40.2");
        assert_eq!((r.sample_rate, r.channels), (48_000, 2));
        assert!(r.bandwidth > r.bitrate);
    }
    assert_eq!(LadderConfig::default().describe(), ladder.renditions());
    let inits = ladder.init_segments();
    assert_eq!(inits.len(), 3);

    let mut synth = Synth::new(48_000, 3);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let step = 960; // 20 ms
    let mut buf = vec![0.0f32; step * 2];
    let mut parts: Vec<Vec<aulos_packager::Part>> = vec![Vec::new(); 3];
    for i in 0..250u64 {
        // 5 s
        synth.fill(&mut buf);
        let t = t0 + Duration::from_millis(20 * i);
        for (r, part) in ladder.push_pcm(&buf, t).unwrap() {
            parts[r].push(part);
        }
    }
    for (r, p) in ladder.flush() {
        parts[r].push(p);
    }
    // 5 s = 240_000 samples -> 234 AUs (one per 1024 input samples; fdk's 2048-sample
    // delay shifts the audio, not the AU count) = exactly 26 parts of 9, per rendition.
    let counts: Vec<usize> = parts.iter().map(Vec::len).collect();
    assert_eq!(counts, [26, 26, 26]);

    for rendition in &parts {
        let mut next = 0u64;
        for (k, p) in rendition.iter().enumerate() {
            assert_eq!(p.decode_time, next, "continuous tfdt");
            assert_eq!(p.sequence, k as u32 + 1);
            next += p.samples;
            if k + 1 < rendition.len() {
                assert_eq!(p.samples, 9 * 1024);
                assert_eq!(p.last_in_segment, (k + 1) % 5 == 0);
            }
            // PDT follows media time: part k starts (k*9216 - 2048 delay) samples after t0.
            let pdt = p.program_date_time.unwrap();
            let expect_ns = (k as i64 * 9216 - 2048) * 1_000_000_000 / 48_000;
            let got_ns = match pdt.duration_since(t0) {
                Ok(d) => d.as_nanos() as i64,
                Err(e) => -(e.duration().as_nanos() as i64),
            };
            assert!(
                (got_ns - expect_ns).abs() < 100_000,
                "part {k}: {got_ns} vs {expect_ns}"
            );
        }
    }
    // Same cut points across renditions.
    for (a, b) in parts[0].iter().zip(&parts[2]) {
        assert_eq!(a.decode_time, b.decode_time);
        assert_eq!(a.samples, b.samples);
    }
    let bytes: Vec<usize> = parts
        .iter()
        .map(|r| r.iter().map(|p| p.data.len()).sum())
        .collect();
    assert!(bytes[2] > bytes[1] && bytes[1] > bytes[0], "{bytes:?}");
    // Each rendition's byte rate is near its nominal bitrate (CBR, 5 s): within 25 %.
    for (r, b) in bytes.iter().enumerate() {
        let secs = parts[r].iter().map(|p| p.samples).sum::<u64>() as f64 / 48_000.0;
        let kbps = *b as f64 * 8.0 / secs / 1000.0;
        let nominal = f64::from(ladder.renditions()[r].bitrate) / 1000.0;
        assert!(
            (kbps / nominal - 1.0).abs() < 0.25,
            "rendition {r}: {kbps:.1} vs {nominal}"
        );
    }

    // The highest rendition decodes through symphonia's fMP4 reader.
    let mut file = inits[2].to_vec();
    for p in &parts[2] {
        file.extend_from_slice(&p.data);
    }
    let total: u64 = parts[2].iter().map(|p| p.samples).sum();
    let (pcm, channels, rate, _) = common::decode_mp4(file);
    assert_eq!((channels, rate), (2, 48_000));
    assert_eq!(pcm.len() as u64, total * 2);
}

#[test]
fn ladder_config_validation() {
    let mut cfg = LadderConfig::default();
    cfg.renditions[1].name = "a48".into();
    assert!(Ladder::new(cfg).is_err());
    let cfg = LadderConfig {
        renditions: vec![],
        ..Default::default()
    };
    assert!(Ladder::new(cfg).is_err());
}
