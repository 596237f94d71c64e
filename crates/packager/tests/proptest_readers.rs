//! Property tests: arbitrary bytes never panic the readers, whatever the chunking, and
//! whatever they return is consistent; arbitrary access units never panic the packager.

use aulos_packager::{
    AccessUnit, AdtsHeader, AdtsReader, AudioFormat, Mp3FrameReader, Mp3Header, Packager,
    PackagerConfig,
};
use bytes::Bytes;
use proptest::prelude::*;

fn chunks(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let end = (pos + n).min(data.len());
        out.push(data[pos..end].to_vec());
        pos = end;
        i += 1;
    }
    out
}

/// Arbitrary bytes with some real sync patterns sprinkled in, so the header paths run.
fn noisy_stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<u8>().prop_map(|b| vec![b]),
            1 => Just(vec![0xFF, 0xF1, 0x4C, 0x80, 0x01, 0x5F, 0xFC]),
            1 => Just(vec![0xFF, 0xFB, 0x90, 0x00]),
            1 => Just(b"ID3\x03\x00\x00\x00\x00\x00\x20".to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..64),
        ],
        0..200,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn adts_reader_never_panics(data in noisy_stream(), sizes in prop::collection::vec(1usize..300, 1..8)) {
        let mut r = AdtsReader::with_limits(4096, 2048);
        let mut out_bytes = 0usize;
        let mut consumed = 0usize;
        for c in chunks(&data, &sizes) {
            if r.push(&c).is_err() {
                break;
            }
            consumed += c.len();
            for _ in 0..10_000 {
                match r.pop() {
                    Ok(Some(f)) => {
                        prop_assert_eq!(f.data.len() + f.header.header_len(), f.header.frame_len);
                        prop_assert!(AdtsHeader::parse(&[0u8; 7]).is_err());
                        out_bytes += f.header.frame_len;
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
        }
        r.finish();
        for _ in 0..10_000 {
            match r.pop() {
                Ok(Some(f)) => out_bytes += f.header.frame_len,
                Ok(None) => break,
                Err(_) => {}
            }
        }
        prop_assert!(out_bytes + r.skipped_total() as usize <= consumed);
    }

    #[test]
    fn mp3_reader_never_panics(data in noisy_stream(), sizes in prop::collection::vec(1usize..300, 1..8)) {
        let mut r = Mp3FrameReader::with_limits(4096, 2048);
        let mut consumed = 0usize;
        let mut out_bytes = 0usize;
        for c in chunks(&data, &sizes) {
            if r.push(&c).is_err() {
                break;
            }
            consumed += c.len();
            for _ in 0..10_000 {
                match r.pop() {
                    Ok(Some(f)) => {
                        prop_assert_eq!(f.data.len(), f.header.frame_len);
                        prop_assert_eq!(Mp3Header::parse(&f.data).ok(), Some(f.header));
                        out_bytes += f.data.len();
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
        }
        prop_assert!(out_bytes <= consumed);
    }

    #[test]
    fn packager_never_panics_and_keeps_time(aus in prop::collection::vec((0usize..3000, 0u32..5000), 0..200)) {
        let format = AudioFormat::aac(Bytes::from_static(&[0x11, 0x90])).unwrap();
        let mut p = Packager::new(format, PackagerConfig::default()).unwrap();
        let mut next = 0u64;
        let mut accepted = 0u64;
        let mut check = |part: aulos_packager::Part| -> Result<(), TestCaseError> {
            prop_assert_eq!(part.decode_time, next);
            next += part.samples;
            Ok(())
        };
        for (len, samples) in aus {
            let valid = len > 0 && samples > 0;
            if valid { accepted += u64::from(samples); }
            if let Some(part) = p.push(AccessUnit { data: Bytes::from(vec![7u8; len]), samples, captured: None }) {
                check(part)?;
            }
        }
        if let Some(part) = p.flush() {
            check(part)?;
        }
        prop_assert_eq!(next, accepted);
    }
}
