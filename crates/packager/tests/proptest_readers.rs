//! Property tests: arbitrary bytes never panic the readers, whatever the chunking, and
//! whatever they return is consistent (the Ogg Opus reader: only packets that were sent,
//! in order, whatever bytes are damaged); arbitrary access units never panic the packager.

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

/// A valid Ogg Opus stream of `n` numbered CELT 20 ms packets (two bytes: TOC, index),
/// pages of up to three packets.
fn ogg_opus(n: u8) -> (Vec<u8>, Vec<Vec<u8>>) {
    use ogg::writing::{PacketWriteEndInfo, PacketWriter};
    let mut head = b"OpusHead\x01\x02".to_vec();
    head.extend_from_slice(&[0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 0]);
    let mut w = PacketWriter::new(Vec::new());
    w.write_packet(head, 3, PacketWriteEndInfo::EndPage, 0)
        .unwrap();
    w.write_packet(
        b"OpusTags\0\0\0\0\0\0\0\0".to_vec(),
        3,
        PacketWriteEndInfo::EndPage,
        0,
    )
    .unwrap();
    let packets: Vec<Vec<u8>> = (0..n).map(|i| vec![31 << 3, i]).collect();
    for (i, p) in packets.iter().enumerate() {
        let end = if i + 1 == packets.len() {
            PacketWriteEndInfo::EndStream
        } else if i % 3 == 2 {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        w.write_packet(p.clone(), 3, end, 960 * (i as u64 + 1))
            .unwrap();
    }
    (w.into_inner(), packets)
}

proptest! {
    #[test]
    fn ogg_opus_reader_returns_sent_packets_in_order_whatever_the_damage(
        n in 1u8..60,
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0usize..3), 0..4),
        sizes in prop::collection::vec(1usize..500, 1..8),
    ) {
        let (mut data, packets) = ogg_opus(n);
        // Damage: overwrite a byte, or insert junk before it.
        for (at, byte, kind) in &damage {
            let i = at.index(data.len());
            match kind {
                0 => data[i] ^= byte | 1,
                _ => data.splice(i..i, std::iter::repeat_n(*byte, 1 + *kind * 7)).for_each(drop),
            }
        }
        let mut r = aulos_packager::OggOpusReader::new();
        let mut got = Vec::new();
        for c in chunks(&data, &sizes) {
            r.push(&c).unwrap();
            for _ in 0..10_000 {
                match r.pop() {
                    Ok(Some(p)) => got.push(p),
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
        }
        r.finish();
        for _ in 0..10_000 {
            match r.pop() {
                Ok(Some(p)) => got.push(p),
                Ok(None) => break,
                Err(_) => {}
            }
        }
        // What comes out is packets that were sent, in order, each timed from its TOC;
        // pages CRC-checked, so nothing damaged gets through.
        let mut next = 0;
        for p in &got {
            let i = packets[next..].iter().position(|q| q[..] == p.data[..]);
            prop_assert!(i.is_some(), "invented or reordered packet {:?}", p.data);
            next += i.unwrap() + 1;
            prop_assert_eq!(p.samples, 960);
        }
        if damage.is_empty() {
            prop_assert_eq!(got.len(), packets.len());
            prop_assert_eq!(r.skipped_total(), 0);
        }
    }
}
