//! MPEG-1/2/2.5 audio layer III frame splitter (ISO/IEC 11172-3, 13818-3): frame sync,
//! bitrate/sample-rate tables, ID3v2/ID3v1 tags and the LAME/Xing info frame skipped.

use bytes::Bytes;

use crate::scanner::{Found, FrameSyntax, Metadata, ScanError, Scanner};
use crate::{AccessUnit, AudioFormat, Codec};

/// Default bound of the internal buffer.
pub const MP3_DEFAULT_BUFFER: usize = 64 * 1024;
/// Default largest frame accepted (a layer III frame is at most 1441 bytes; free-format
/// streams, which could be longer, are not supported).
pub const MP3_DEFAULT_MAX_FRAME: usize = 8 * 1024;

/// Layer III bitrates in kb/s for MPEG-1, by `bitrate_index` (0 = free format, 15 = bad).
const BITRATES_V1: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
/// Layer III bitrates in kb/s for MPEG-2 and MPEG-2.5 (LSF).
const BITRATES_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// Errors of [`Mp3FrameReader`]; like [`crate::AdtsError`], all but `BufferFull` are
/// reported once and the reader resynchronises: keep calling `pop`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mp3Error {
    /// `push` would overflow the bounded buffer; pop frames first (nothing was consumed).
    #[error("MP3 buffer full: {buffered} buffered + {chunk} new > capacity {capacity}")]
    BufferFull {
        /// Bytes already buffered.
        buffered: usize,
        /// Size of the rejected chunk.
        chunk: usize,
        /// Buffer capacity.
        capacity: usize,
    },
    /// No frame sync where the next frame should start; resyncing.
    #[error("MP3 sync lost: no frame sync after the previous frame")]
    LostSync,
    /// A frame sync where a frame should start but the header is invalid or unsupported.
    #[error("invalid MP3 frame header: {0}")]
    InvalidHeader(&'static str),
    /// A header claims a frame longer than the limit.
    #[error("MP3 frame claims {len} bytes, limit is {max}")]
    FrameTooLarge {
        /// Claimed frame length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
}

impl From<ScanError> for Mp3Error {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::BufferFull {
                buffered,
                chunk,
                capacity,
            } => Mp3Error::BufferFull {
                buffered,
                chunk,
                capacity,
            },
            ScanError::LostSync => Mp3Error::LostSync,
            ScanError::InvalidHeader(r) => Mp3Error::InvalidHeader(r),
            ScanError::TooLarge { len, max } => Mp3Error::FrameTooLarge { len, max },
        }
    }
}

/// MPEG audio version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpegVersion {
    /// MPEG-1 (32, 44.1, 48 kHz; 1152 samples per layer III frame).
    Mpeg1,
    /// MPEG-2 LSF (16, 22.05, 24 kHz; 576 samples).
    Mpeg2,
    /// MPEG-2.5 (8, 11.025, 12 kHz; 576 samples).
    Mpeg25,
}

/// A parsed layer III frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Header {
    /// MPEG version.
    pub version: MpegVersion,
    /// Whether a 16-bit CRC follows the header.
    pub has_crc: bool,
    /// Bitrate in kb/s.
    pub bitrate_kbps: u32,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Padding slot present.
    pub padding: bool,
    /// 1 (mono) or 2.
    pub channels: u16,
    /// Frame length in bytes, header included.
    pub frame_len: usize,
    /// Samples per channel: 1152 (MPEG-1) or 576.
    pub samples: u32,
}

impl Mp3Header {
    /// Parses the 4-byte header at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, Mp3Error> {
        Mp3::parse(b).map_err(Mp3Error::InvalidHeader)
    }

    /// The [`AudioFormat`] for a [`crate::Packager`].
    pub fn audio_format(&self) -> AudioFormat {
        AudioFormat {
            codec: Codec::Mp3,
            sample_rate: self.sample_rate,
            channels: self.channels,
            frame_samples: self.samples,
        }
    }

    /// Offset of the Xing/Info tag inside the frame: after header, CRC and side info.
    fn info_tag_offset(&self) -> usize {
        let side_info = match (self.version, self.channels) {
            (MpegVersion::Mpeg1, 1) => 17,
            (MpegVersion::Mpeg1, _) => 32,
            (_, 1) => 9,
            _ => 17,
        };
        4 + if self.has_crc { 2 } else { 0 } + side_info
    }
}

struct Mp3;

impl FrameSyntax for Mp3 {
    type Header = Mp3Header;
    const HEADER_LEN: usize = 4;

    fn is_sync(b: &[u8]) -> bool {
        b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0
    }

    fn parse(b: &[u8]) -> Result<Mp3Header, &'static str> {
        if b.len() < 4 {
            return Err("shorter than 4 bytes");
        }
        if !Self::is_sync(b) {
            return Err("no 11-bit frame sync");
        }
        let version = match (b[1] >> 3) & 0x03 {
            0 => MpegVersion::Mpeg25,
            2 => MpegVersion::Mpeg2,
            3 => MpegVersion::Mpeg1,
            _ => return Err("reserved MPEG version"),
        };
        if (b[1] >> 1) & 0x03 != 0x01 {
            return Err("not layer III");
        }
        let has_crc = b[1] & 0x01 == 0;
        let bitrate_index = usize::from(b[2] >> 4);
        if bitrate_index == 0 {
            return Err("free-format bitrate is not supported");
        }
        let bitrate_kbps = *match version {
            MpegVersion::Mpeg1 => BITRATES_V1.get(bitrate_index),
            _ => BITRATES_V2.get(bitrate_index),
        }
        .ok_or("bad bitrate index 15")?;
        let sr_index = usize::from((b[2] >> 2) & 0x03);
        let base = [44100u32, 48000, 32000]
            .get(sr_index)
            .copied()
            .ok_or("reserved sample rate index")?;
        let sample_rate = match version {
            MpegVersion::Mpeg1 => base,
            MpegVersion::Mpeg2 => base / 2,
            MpegVersion::Mpeg25 => base / 4,
        };
        let padding = b[2] & 0x02 != 0;
        let channels = if b[3] >> 6 == 3 { 1 } else { 2 };
        let (samples, coeff) = match version {
            MpegVersion::Mpeg1 => (1152, 144_000),
            _ => (576, 72_000),
        };
        let frame_len = (coeff * bitrate_kbps / sample_rate) as usize + usize::from(padding);
        Ok(Mp3Header {
            version,
            has_crc,
            bitrate_kbps,
            sample_rate,
            padding,
            channels,
            frame_len,
            samples,
        })
    }

    fn frame_len(h: &Mp3Header) -> usize {
        h.frame_len
    }

    fn same_stream(a: &Mp3Header, b: &Mp3Header) -> bool {
        a.version == b.version && a.sample_rate == b.sample_rate && a.channels == b.channels
    }

    fn metadata(b: &[u8]) -> Metadata {
        // ID3v2 (id3.org/id3v2.4.0-structure §3.1): "ID3", version, flags, syncsafe size.
        if b.starts_with(b"ID3") || (b.len() < 3 && b"ID3".starts_with(b)) {
            if b.len() < 10 {
                return Metadata::NeedMore;
            }
            let size = &b[6..10];
            if b[3] == 0xFF || b[4] == 0xFF || size.iter().any(|&x| x & 0x80 != 0) {
                return Metadata::None;
            }
            let len = size.iter().fold(0usize, |a, &x| (a << 7) | usize::from(x));
            let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
            return Metadata::Skip(10 + len + footer);
        }
        // ID3v1: 128 bytes starting "TAG", at the end of a file.
        if b.starts_with(b"TAG") {
            return Metadata::Skip(128);
        }
        Metadata::None
    }
}

/// One MPEG audio layer III frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp3Frame {
    /// The parsed header.
    pub header: Mp3Header,
    /// The whole frame including its header (MP4 stores MP3 frames with headers).
    pub data: Bytes,
    /// Garbage bytes skipped before this frame (tags not counted).
    pub skipped: usize,
}

impl Mp3Frame {
    /// The access unit for [`crate::Packager::push`].
    pub fn access_unit(&self, captured: Option<std::time::SystemTime>) -> AccessUnit {
        AccessUnit {
            data: self.data.clone(),
            samples: self.header.samples,
            captured,
        }
    }
}

/// Push-based MP3 frame splitter, same contract as [`crate::AdtsReader`]: push chunks, pop
/// frames until `Ok(None)`, [`finish`](Self::finish) at end of input. ID3v2 tags (of any
/// size: they are discarded as they stream past) and ID3v1 tags are skipped, and so is the
/// LAME/Xing/VBRI info frame, which carries metadata and decodes to silence.
#[derive(Debug)]
pub struct Mp3FrameReader {
    scanner: Scanner,
    info_frames: u64,
}

impl Default for Mp3FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl Mp3FrameReader {
    /// A reader with [`MP3_DEFAULT_BUFFER`] capacity and [`MP3_DEFAULT_MAX_FRAME`].
    pub fn new() -> Self {
        Self::with_limits(MP3_DEFAULT_BUFFER, MP3_DEFAULT_MAX_FRAME)
    }

    /// A reader with a buffer bound and frame limit (capacity raised to `2 * max_frame + 16`).
    pub fn with_limits(capacity: usize, max_frame: usize) -> Self {
        let max_frame = max_frame.max(16);
        Self {
            scanner: Scanner::new(capacity.max(2 * max_frame + 16), max_frame),
            info_frames: 0,
        }
    }

    /// Appends a chunk (copied once into the internal buffer, unless inside a skipped tag).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Mp3Error> {
        Ok(self.scanner.push(chunk)?)
    }

    /// Marks the end of input.
    pub fn finish(&mut self) {
        self.scanner.finish();
    }

    /// The next audio frame, `Ok(None)` if more input is needed, or a recovered error.
    pub fn pop(&mut self) -> Result<Option<Mp3Frame>, Mp3Error> {
        loop {
            let Some(Found {
                header,
                frame,
                skipped,
            }) = self.scanner.pop::<Mp3>()?
            else {
                return Ok(None);
            };
            let off = header.info_tag_offset();
            let is_info = |at: usize| {
                frame
                    .get(at..at + 4)
                    .is_some_and(|t| t == b"Xing" || t == b"Info" || t == b"VBRI")
            };
            if is_info(off) || is_info(36) {
                self.info_frames += 1;
                continue;
            }
            return Ok(Some(Mp3Frame {
                header,
                data: frame,
                skipped,
            }));
        }
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.scanner.buffered()
    }

    /// Total garbage bytes skipped so far (tags not counted).
    pub fn skipped_total(&self) -> u64 {
        self.scanner.skipped_total
    }

    /// Total bytes of ID3 tags skipped so far.
    pub fn tag_bytes_total(&self) -> u64 {
        self.scanner.metadata_total
    }

    /// Xing/Info/VBRI frames skipped so far.
    pub fn info_frames_skipped(&self) -> u64 {
        self.info_frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MPEG-1 layer III, 128 kb/s, 44.1 kHz, stereo, no CRC: 417 (+1 padded) bytes.
    fn frame(fill: u8, padding: bool) -> Vec<u8> {
        let mut f = vec![0xFF, 0xFB, 0x90 | if padding { 2 } else { 0 }, 0x00];
        let len = 144_000 * 128 / 44_100 + usize::from(padding);
        f.resize(len, fill);
        f
    }

    #[test]
    fn header_tables() {
        let h = Mp3Header::parse(&[0xFF, 0xFB, 0x90, 0x00]).unwrap();
        assert_eq!(h.version, MpegVersion::Mpeg1);
        assert_eq!(h.bitrate_kbps, 128);
        assert_eq!(h.sample_rate, 44100);
        assert_eq!(h.frame_len, 417);
        assert_eq!(h.samples, 1152);
        // MPEG-2, 64 kb/s (index 8), 24 kHz (index 1), mono: 72000*64/24000 = 192.
        let h = Mp3Header::parse(&[0xFF, 0xF3, 0x84, 0xC0]).unwrap();
        assert_eq!(h.version, MpegVersion::Mpeg2);
        assert_eq!(h.bitrate_kbps, 64);
        assert_eq!(h.sample_rate, 24000);
        assert_eq!(h.channels, 1);
        assert_eq!(h.frame_len, 192);
        assert_eq!(h.samples, 576);
        assert!(Mp3Header::parse(&[0xFF, 0xFD, 0x90, 0x00]).is_err()); // layer II
        assert!(Mp3Header::parse(&[0xFF, 0xFB, 0xF0, 0x00]).is_err()); // bitrate 15
        assert!(Mp3Header::parse(&[0xFF, 0xFB, 0x0C, 0x00]).is_err()); // free format
    }

    #[test]
    fn skips_id3v2_info_frame_and_id3v1() {
        let mut data = b"ID3\x04\x00\x00\x00\x00\x01\x00".to_vec(); // 128-byte tag body
        data.extend(std::iter::repeat_n(0xFFu8, 128)); // tag body full of fake syncs
        let mut info = frame(0, false);
        info[4 + 32..4 + 36].copy_from_slice(b"Info");
        data.extend(info);
        for i in 1..=4u8 {
            data.extend(frame(i, i % 2 == 0));
        }
        data.extend(b"TAG");
        data.extend([0u8; 125]);
        let mut r = Mp3FrameReader::new();
        let mut got = Vec::new();
        for chunk in data.chunks(50) {
            r.push(chunk).unwrap();
            while let Some(f) = r.pop().unwrap() {
                got.push(f);
            }
        }
        r.finish();
        while let Some(f) = r.pop().unwrap() {
            got.push(f);
        }
        assert_eq!(got.len(), 4);
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f.data[5], i as u8 + 1);
            assert_eq!(f.skipped, 0);
        }
        assert_eq!(r.info_frames_skipped(), 1);
        assert_eq!(r.tag_bytes_total(), 138 + 128);
        assert_eq!(r.skipped_total(), 0);
    }
}
