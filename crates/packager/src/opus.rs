//! Opus in Ogg (RFC 7845) for ingest: the `OpusHead` identification header, the
//! duration of a packet from its TOC byte (RFC 6716 §3.1), and a push-based reader
//! that turns a chunked Ogg body into Opus packets.
//!
//! Ogg pages (capture pattern, lacing, CRC, packets across pages) are the `ogg`
//! crate's `PageParser` / `BasePacketReader`; its `PacketReader` needs `Read + Seek`,
//! and an ingest body arrives in chunks that must never block, so the buffering and
//! resynchronisation around them are here. Packet durations come from the TOC through
//! `opus-pure`'s packet helpers (no decoding).

use bytes::Bytes;
use ogg::reading::{BasePacketReader, OggReadError, PageParser};

use crate::{AccessUnit, AudioFormat};

/// Default bound of the internal buffer: two of the largest possible Ogg pages
/// (27 + 255 + 255 × 255 bytes each).
pub const OGG_DEFAULT_BUFFER: usize = 2 * 65_307;

/// Opus always runs (and is timed in MP4) at 48 kHz, whatever rate it was fed.
pub const OPUS_RATE: u32 = 48_000;

/// Errors of [`OggOpusReader`]. All but `BufferFull` and `NotOpus` are reported once
/// and the reader goes on with the next good page: keep calling `pop`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OggOpusError {
    /// `push` would overflow the bounded buffer; pop packets first (nothing was consumed).
    #[error("Ogg buffer full: {buffered} buffered + {chunk} new > capacity {capacity}")]
    BufferFull {
        /// Bytes already buffered.
        buffered: usize,
        /// Size of the rejected chunk.
        chunk: usize,
        /// Buffer capacity.
        capacity: usize,
    },
    /// Bytes that are not an Ogg page where one should start; skipped to the next
    /// capture pattern.
    #[error("Ogg sync lost: {0} bytes skipped to the next page")]
    LostSync(usize),
    /// A page failed its CRC or structure checks; skipped.
    #[error("corrupt Ogg page: {0}")]
    CorruptPage(String),
    /// The Ogg stream does not carry Opus (e.g. Vorbis or FLAC in Ogg).
    #[error("the Ogg stream is not Opus (first packet is not OpusHead)")]
    NotOpus,
    /// An `OpusHead` that cannot be used.
    #[error("invalid OpusHead: {0}")]
    InvalidHead(&'static str),
    /// An audio packet whose TOC gives no valid duration; skipped.
    #[error("invalid Opus packet ({0} bytes)")]
    InvalidPacket(usize),
}

/// The Opus identification header (RFC 7845 §5.1), for channel mapping families 0
/// (mono, stereo) and 1 (up to 8 channels, Vorbis order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpusHead {
    /// Output channel count.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// The encoder's input sample rate (informational; playback is at 48 kHz).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family (0 or 1).
    pub mapping_family: u8,
    /// Opus streams per packet (family 1; 1 for family 0).
    pub stream_count: u8,
    /// How many of the streams are coupled (stereo).
    pub coupled_count: u8,
    /// Decoded channel for each output channel (first `channels` entries; family 1).
    pub mapping: [u8; 8],
}

impl OpusHead {
    /// Parses the `OpusHead` packet.
    pub fn parse(b: &[u8]) -> Result<Self, OggOpusError> {
        if b.len() < 19 || &b[..8] != b"OpusHead" {
            return Err(OggOpusError::InvalidHead("no OpusHead magic or too short"));
        }
        // Version: major 0 (upper nibble) is the only one a reader may accept.
        if b[8] & 0xF0 != 0 {
            return Err(OggOpusError::InvalidHead("unsupported major version"));
        }
        let channels = b[9];
        let mut head = Self {
            channels,
            pre_skip: u16::from_le_bytes([b[10], b[11]]),
            input_sample_rate: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            output_gain: i16::from_le_bytes([b[16], b[17]]),
            mapping_family: b[18],
            stream_count: 1,
            coupled_count: u8::from(channels == 2),
            mapping: [0; 8],
        };
        match head.mapping_family {
            0 if channels == 1 || channels == 2 => {}
            0 => return Err(OggOpusError::InvalidHead("family 0 needs 1 or 2 channels")),
            1 => {
                if !(1..=8).contains(&channels) {
                    return Err(OggOpusError::InvalidHead("family 1 needs 1 to 8 channels"));
                }
                let table = b
                    .get(19..21 + usize::from(channels))
                    .ok_or(OggOpusError::InvalidHead("channel mapping table cut short"))?;
                head.stream_count = table[0];
                head.coupled_count = table[1];
                let streams = u16::from(head.stream_count) + u16::from(head.coupled_count);
                if head.stream_count == 0 || head.coupled_count > head.stream_count {
                    return Err(OggOpusError::InvalidHead("stream counts out of range"));
                }
                for (i, &m) in table[2..].iter().enumerate() {
                    if m != 255 && u16::from(m) >= streams {
                        return Err(OggOpusError::InvalidHead("mapping names no stream"));
                    }
                    head.mapping[i] = m;
                }
            }
            _ => {
                return Err(OggOpusError::InvalidHead(
                    "only channel mapping families 0 and 1 are supported",
                ));
            }
        }
        Ok(head)
    }

    /// The packager's format for this stream (48 kHz; frames of 20 ms nominal, the
    /// duration of each packet comes from its TOC).
    pub fn audio_format(&self) -> AudioFormat {
        AudioFormat::opus(*self)
    }
}

/// Samples per channel (at 48 kHz) that an Opus packet decodes to, from its TOC byte
/// and frame count (RFC 6716 §3.1); `None` for a malformed packet. For a multistream
/// packet (mapping family 1) the first stream's TOC gives the duration of all.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    opus_pure::packet::samples_48k(packet)
        .ok()
        .and_then(|n| u32::try_from(n).ok())
}

/// One Opus audio packet out of the Ogg stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusPacket {
    /// The identification header in force for this packet.
    pub head: OpusHead,
    /// The packet (one access unit).
    pub data: Bytes,
    /// Samples per channel at 48 kHz.
    pub samples: u32,
}

impl OpusPacket {
    /// The packet as an access unit for the [`crate::Packager`].
    pub fn access_unit(&self, captured: Option<std::time::SystemTime>) -> AccessUnit {
        AccessUnit {
            data: self.data.clone(),
            samples: self.samples,
            captured,
        }
    }
}

/// Push-based Ogg Opus reader: `push` body chunks, `pop` packets until `Ok(None)`.
///
/// Follows one logical Opus stream; a new `OpusHead` (a chained stream, as Icecast
/// sources send at a track change) takes over, and the packets after it carry its
/// header, so the caller sees a format change. Comment headers (`OpusTags`) and other
/// multiplexed logical streams are skipped. Bad bytes and corrupt pages are skipped
/// with an error from `pop`, once each; nothing after them is lost.
pub struct OggOpusReader {
    buf: Vec<u8>,
    capacity: usize,
    finished: bool,
    pages: BasePacketReader,
    serial: Option<u32>,
    head: Option<OpusHead>,
    skipped: u64,
    packets: u64,
}

impl std::fmt::Debug for OggOpusReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusReader")
            .field("buffered", &self.buf.len())
            .field("serial", &self.serial)
            .field("head", &self.head)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

impl Default for OggOpusReader {
    fn default() -> Self {
        Self::new()
    }
}

impl OggOpusReader {
    /// A reader with the default buffer bound ([`OGG_DEFAULT_BUFFER`]).
    pub fn new() -> Self {
        Self::with_capacity(OGG_DEFAULT_BUFFER)
    }

    /// A reader buffering at most `capacity` bytes (at least one maximal page).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::new(),
            capacity: capacity.max(OGG_DEFAULT_BUFFER / 2),
            finished: false,
            pages: BasePacketReader::new(),
            serial: None,
            head: None,
            skipped: 0,
            packets: 0,
        }
    }

    /// Appends body bytes; fails (consuming nothing) if the buffer would overflow.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), OggOpusError> {
        if self.buf.len() + chunk.len() > self.capacity {
            return Err(OggOpusError::BufferFull {
                buffered: self.buf.len(),
                chunk: chunk.len(),
                capacity: self.capacity,
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The body ended: a trailing partial page is dropped at the next `pop`.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Bytes buffered and not yet parsed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes skipped as garbage or corrupt pages so far.
    pub fn skipped_total(&self) -> u64 {
        self.skipped
    }

    /// The identification header of the current stream, once read.
    pub fn head(&self) -> Option<OpusHead> {
        self.head
    }

    /// The next audio packet; `Ok(None)` when more input is needed (or, after
    /// `finish`, at the end).
    pub fn pop(&mut self) -> Result<Option<OpusPacket>, OggOpusError> {
        loop {
            if let Some(p) = self.pages.read_packet() {
                if let Some(packet) = self.packet(p)? {
                    return Ok(Some(packet));
                }
                continue;
            }
            if !self.next_page()? {
                if self.finished {
                    self.skipped += self.buf.len() as u64;
                    self.buf.clear();
                }
                return Ok(None);
            }
        }
    }

    /// One packet from `ogg`: headers are taken in, audio comes out.
    fn packet(&mut self, p: ogg::Packet) -> Result<Option<OpusPacket>, OggOpusError> {
        let serial = p.stream_serial();
        if p.data.starts_with(b"OpusHead") {
            // The first stream, or a chained one replacing it.
            self.head = Some(OpusHead::parse(&p.data)?);
            self.serial = Some(serial);
            return Ok(None);
        }
        if self.serial.is_none() {
            // A first packet that is not OpusHead: Vorbis, FLAC, Speex... in Ogg.
            if p.first_in_stream() {
                return Err(OggOpusError::NotOpus);
            }
            return Ok(None); // joined mid-stream: wait for a header
        }
        if Some(serial) != self.serial || p.data.starts_with(b"OpusTags") {
            return Ok(None);
        }
        let Some(head) = self.head else {
            return Ok(None);
        };
        let samples =
            opus_packet_samples(&p.data).ok_or(OggOpusError::InvalidPacket(p.data.len()))?;
        self.packets += 1;
        Ok(Some(OpusPacket {
            head,
            data: Bytes::from(p.data),
            samples,
        }))
    }

    /// Parses one page off the front of the buffer into the packet reader. `false`
    /// when the buffer holds no whole page yet.
    fn next_page(&mut self) -> Result<bool, OggOpusError> {
        // Resynchronise on the capture pattern.
        match self.buf.windows(4).position(|w| w == b"OggS") {
            Some(0) => {}
            Some(n) => return Err(self.skip(n)),
            None => {
                // Keep a possible partial "OggS" at the end.
                let keep = self.buf.len().min(3);
                let n = self.buf.len() - keep;
                if n > 0 {
                    return Err(self.skip(n));
                }
                return Ok(false);
            }
        }
        let Some(header) = self.buf.get(..27) else {
            return Ok(false);
        };
        let header: [u8; 27] = header.try_into().expect("27 bytes");
        let (mut parser, segments) = match PageParser::new(header) {
            Ok(p) => p,
            Err(e) => return Err(self.corrupt(e)),
        };
        let Some(lacing) = self.buf.get(27..27 + segments) else {
            return Ok(false);
        };
        let body = parser.parse_segments(lacing.to_vec());
        let end = 27 + segments + body;
        let Some(data) = self.buf.get(27 + segments..end) else {
            return Ok(false);
        };
        // The one copy on this path: `ogg` takes pages as owned `Vec`s; its packets
        // then become the parts' `Bytes` without another.
        let page = match parser.parse_packet_data(data.to_vec()) {
            Ok(p) => p,
            Err(e) => return Err(self.corrupt(e)),
        };
        self.buf.drain(..end);
        if let Err(e) = self.pages.push_page(page) {
            // A page lost before this one broke a packet: forget the partial packet.
            self.pages.update_after_seek();
            return Err(OggOpusError::CorruptPage(format!("{e:?}")));
        }
        Ok(true)
    }

    fn skip(&mut self, n: usize) -> OggOpusError {
        self.buf.drain(..n);
        self.skipped += n as u64;
        self.pages.update_after_seek();
        OggOpusError::LostSync(n)
    }

    /// A page that failed its checks: drop its capture pattern and resync after it.
    fn corrupt(&mut self, e: OggReadError) -> OggOpusError {
        self.buf.drain(..4);
        self.skipped += 4;
        self.pages.update_after_seek();
        OggOpusError::CorruptPage(format!("{e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use ogg::writing::{PacketWriteEndInfo, PacketWriter};

    use super::*;

    fn head(channels: u8, family: u8, table: &[u8]) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.push(1);
        h.push(channels);
        h.extend_from_slice(&312u16.to_le_bytes());
        h.extend_from_slice(&44_100u32.to_le_bytes());
        h.extend_from_slice(&(-256i16).to_le_bytes());
        h.push(family);
        h.extend_from_slice(table);
        h
    }

    /// An audio packet of `n` bytes: CELT 20 ms, one frame (TOC config 31, code 0),
    /// tagged with `tag` so the order can be checked.
    fn audio(n: usize, tag: u8) -> Vec<u8> {
        let mut p = vec![tag; n];
        p[0] = 31 << 3;
        p
    }

    /// An Ogg Opus stream: head, tags, then `packets`, two per page.
    fn ogg(serial: u32, head_packet: &[u8], packets: &[Vec<u8>]) -> Vec<u8> {
        let mut w = PacketWriter::new(Vec::new());
        w.write_packet(head_packet.to_vec(), serial, PacketWriteEndInfo::EndPage, 0)
            .unwrap();
        w.write_packet(
            b"OpusTags\0\0\0\0\0\0\0\0".to_vec(),
            serial,
            PacketWriteEndInfo::EndPage,
            0,
        )
        .unwrap();
        for (i, p) in packets.iter().enumerate() {
            let end = if i + 1 == packets.len() {
                PacketWriteEndInfo::EndStream
            } else if i % 2 == 1 {
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            w.write_packet(p.clone(), serial, end, 960 * (i as u64 + 1))
                .unwrap();
        }
        w.into_inner()
    }

    fn drain(r: &mut OggOpusReader) -> (Vec<OpusPacket>, Vec<OggOpusError>) {
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        loop {
            match r.pop() {
                Ok(Some(p)) => out.push(p),
                Ok(None) => return (out, errs),
                Err(e) => errs.push(e),
            }
        }
    }

    #[test]
    fn toc_durations_follow_rfc6716() {
        // (TOC, second byte) -> samples at 48 kHz
        let cases: [(u8, u8, Option<u32>); 10] = [
            (0 << 3, 0, Some(480)),         // SILK NB 10 ms, one frame
            ((3 << 3) | 1, 0, Some(5760)),  // SILK NB 60 ms, two frames (120 ms)
            ((9 << 3) | 2, 0, Some(1920)),  // SILK WB 20 ms, two frames (VBR)
            (12 << 3, 0, Some(480)),        // Hybrid SWB 10 ms
            (15 << 3, 0, Some(960)),        // Hybrid FB 20 ms
            (16 << 3, 0, Some(120)),        // CELT NB 2.5 ms
            (31 << 3, 0, Some(960)),        // CELT FB 20 ms
            ((31 << 3) | 3, 3, Some(2880)), // code 3: three 20 ms frames
            ((31 << 3) | 3, 7, None),       // seven 20 ms frames = 140 ms > 120 ms
            ((16 << 3) | 3, 0, None),       // code 3 with zero frames
        ];
        for (toc, second, want) in cases {
            assert_eq!(opus_packet_samples(&[toc, second]), want, "TOC {toc:#04x}");
        }
        assert_eq!(
            opus_packet_samples(&[(31 << 3) | 3]),
            None,
            "code 3 needs a count"
        );
        assert_eq!(opus_packet_samples(&[]), None);
    }

    #[test]
    fn opus_head_parses_families_0_and_1_and_refuses_the_rest() {
        let h = OpusHead::parse(&head(2, 0, &[])).unwrap();
        assert_eq!(
            (h.channels, h.pre_skip, h.input_sample_rate),
            (2, 312, 44_100)
        );
        assert_eq!(
            (h.output_gain, h.stream_count, h.coupled_count),
            (-256, 1, 1)
        );
        // 5.1: 4 streams, 2 coupled, Vorbis order.
        let h = OpusHead::parse(&head(6, 1, &[4, 2, 0, 4, 1, 2, 3, 5])).unwrap();
        assert_eq!((h.stream_count, h.coupled_count), (4, 2));
        assert_eq!(&h.mapping[..6], &[0, 4, 1, 2, 3, 5]);
        for (bad, why) in [
            (head(3, 0, &[]), "family 0 with 3 channels"),
            (head(2, 1, &[1, 1, 0]), "table cut short"),
            (head(2, 1, &[1, 1, 0, 2]), "mapping names stream 2 of 2"),
            (head(2, 2, &[]), "family 2"),
            (b"OpusHeadX".to_vec(), "too short"),
        ] {
            assert!(
                matches!(OpusHead::parse(&bad), Err(OggOpusError::InvalidHead(_))),
                "{why}"
            );
        }
        let mut v2 = head(2, 0, &[]);
        v2[8] = 0x10;
        assert!(OpusHead::parse(&v2).is_err(), "major version 1");
    }

    #[test]
    fn packets_come_out_whole_and_in_order_whatever_the_chunking() {
        let packets: Vec<Vec<u8>> = (0..40).map(|i| audio(60 + i * 37, i as u8)).collect();
        let stream = ogg(7, &head(2, 0, &[]), &packets);
        for chunk in [1, 7, 27, 300, stream.len()] {
            let mut r = OggOpusReader::new();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                r.push(c).unwrap();
                let (p, e) = drain(&mut r);
                assert!(e.is_empty(), "{e:?}");
                got.extend(p);
            }
            r.finish();
            got.extend(drain(&mut r).0);
            assert_eq!(got.len(), packets.len(), "chunk {chunk}");
            for (g, want) in got.iter().zip(&packets) {
                assert_eq!(&g.data[..], &want[..]);
                assert_eq!(g.samples, 960);
                assert_eq!(g.head.channels, 2);
            }
            assert_eq!(r.skipped_total(), 0);
        }
    }

    #[test]
    fn garbage_and_a_corrupt_page_are_skipped_and_the_rest_is_kept() {
        let packets: Vec<Vec<u8>> = (0..10).map(|i| audio(100, i as u8)).collect();
        let stream = ogg(9, &head(1, 0, &[]), &packets);
        // Page starts, to cut the stream at page boundaries.
        let starts: Vec<usize> = stream
            .windows(4)
            .enumerate()
            .filter_map(|(i, w)| (w == b"OggS").then_some(i))
            .collect();
        // Pages: head, tags, then audio pages of two packets each.
        let mut bad = stream[..starts[3]].to_vec();
        bad.extend_from_slice(b"junk between pages");
        let mut corrupt = stream[starts[3]..starts[4]].to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xFF; // CRC no longer matches: packets 2 and 3 lost
        bad.extend_from_slice(&corrupt);
        bad.extend_from_slice(&stream[starts[4]..]);
        let mut r = OggOpusReader::new();
        r.push(&bad).unwrap();
        r.finish();
        let (got, errs) = drain(&mut r);
        assert!(
            errs.iter().any(|e| matches!(e, OggOpusError::LostSync(18))),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| matches!(e, OggOpusError::CorruptPage(_))),
            "{errs:?}"
        );
        let tags: Vec<u8> = got.iter().map(|p| p.data[1]).collect();
        assert_eq!(tags, [0, 1, 4, 5, 6, 7, 8, 9]);
        assert!(r.skipped_total() >= 18);
    }

    #[test]
    fn a_chained_stream_brings_its_own_head_and_other_codecs_are_refused() {
        let first = ogg(1, &head(2, 0, &[]), &[audio(50, 1), audio(50, 2)]);
        let second = ogg(2, &head(1, 0, &[]), &[audio(50, 3)]);
        let mut r = OggOpusReader::new();
        r.push(&first).unwrap();
        r.push(&second).unwrap();
        let (got, errs) = drain(&mut r);
        assert!(errs.is_empty(), "{errs:?}");
        let chans: Vec<(u8, u8)> = got.iter().map(|p| (p.data[1], p.head.channels)).collect();
        assert_eq!(chans, [(1, 2), (2, 2), (3, 1)]);

        let mut w = PacketWriter::new(Vec::new());
        w.write_packet(b"\x01vorbis".to_vec(), 5, PacketWriteEndInfo::EndPage, 0)
            .unwrap();
        let mut r = OggOpusReader::new();
        r.push(&w.into_inner()).unwrap();
        assert_eq!(r.pop(), Err(OggOpusError::NotOpus));
    }

    #[test]
    fn a_full_buffer_refuses_the_chunk_and_keeps_what_it_had() {
        let mut r = OggOpusReader::with_capacity(0); // raised to one maximal page
        let cap = OGG_DEFAULT_BUFFER / 2;
        r.push(&vec![0u8; cap - 10]).unwrap();
        assert_eq!(
            r.push(&[0u8; 11]),
            Err(OggOpusError::BufferFull {
                buffered: cap - 10,
                chunk: 11,
                capacity: cap
            })
        );
        assert_eq!(r.buffered(), cap - 10);
    }
}
