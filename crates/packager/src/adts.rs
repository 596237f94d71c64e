//! ADTS (Audio Data Transport Stream, ISO/IEC 14496-3 §1.A.2) splitter: AAC access units
//! out of a byte stream, the AudioSpecificConfig derived from the header.

use bytes::Bytes;

use crate::format::AAC_SAMPLE_RATES;
use crate::scanner::{Found, FrameSyntax, ScanError, Scanner};
use crate::{AccessUnit, AudioFormat, AudioSpecificConfig, Codec};

/// Default bound of the internal buffer.
pub const ADTS_DEFAULT_BUFFER: usize = 64 * 1024;
/// Default largest frame accepted. The 13-bit `aac_frame_length` cannot exceed 8191, so this
/// default only documents the bound; a smaller limit can be set with [`AdtsReader::with_limits`].
pub const ADTS_DEFAULT_MAX_FRAME: usize = 8 * 1024;

/// Errors of [`AdtsReader`]. All but `BufferFull` are reported once and the reader then
/// resynchronises on its own: keep calling [`AdtsReader::pop`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdtsError {
    /// `push` would overflow the bounded buffer; pop frames first (nothing was consumed).
    #[error("ADTS buffer full: {buffered} buffered + {chunk} new > capacity {capacity}")]
    BufferFull {
        /// Bytes already buffered.
        buffered: usize,
        /// Size of the rejected chunk.
        chunk: usize,
        /// Buffer capacity.
        capacity: usize,
    },
    /// No sync word where the next frame should start; resyncing.
    #[error("ADTS sync lost: no 0xFFF sync word after the previous frame")]
    LostSync,
    /// A sync word where a frame should start, but the header is invalid; resyncing.
    #[error("invalid ADTS header: {0}")]
    InvalidHeader(&'static str),
    /// A header claims a frame longer than the limit.
    #[error("ADTS frame claims {len} bytes, limit is {max}")]
    FrameTooLarge {
        /// Claimed frame length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// The frame packs several raw data blocks; only one block per frame is supported
    /// (what every AAC-LC encoder writes). The frame was dropped.
    #[error("ADTS frame with {blocks} raw data blocks is not supported")]
    MultipleRawDataBlocks {
        /// `number_of_raw_data_blocks_in_frame + 1`.
        blocks: u8,
    },
}

impl From<ScanError> for AdtsError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::BufferFull {
                buffered,
                chunk,
                capacity,
            } => AdtsError::BufferFull {
                buffered,
                chunk,
                capacity,
            },
            ScanError::LostSync => AdtsError::LostSync,
            ScanError::InvalidHeader(r) => AdtsError::InvalidHeader(r),
            ScanError::TooLarge { len, max } => AdtsError::FrameTooLarge { len, max },
        }
    }
}

/// The fields of an ADTS header that matter downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// `ID`: true for MPEG-2, false for MPEG-4 (no difference for AAC-LC).
    pub mpeg2: bool,
    /// Whether a 16-bit CRC follows the 7-byte header (`protection_absent == 0`).
    pub has_crc: bool,
    /// audioObjectType (`profile + 1`): 1 Main, 2 LC, 3 SSR, 4 LTP.
    pub object_type: u8,
    /// `sampling_frequency_index`.
    pub sampling_index: u8,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// `channel_configuration` (1..=7).
    pub channel_config: u8,
    /// Total frame length including the header.
    pub frame_len: usize,
    /// `number_of_raw_data_blocks_in_frame + 1`.
    pub raw_blocks: u8,
}

impl AdtsHeader {
    /// Header length: 7, or 9 with CRC.
    pub fn header_len(&self) -> usize {
        if self.has_crc { 9 } else { 7 }
    }

    /// Channel count (channel configuration 7 is 7.1 = 8 channels).
    pub fn channels(&self) -> u16 {
        match self.channel_config {
            7 => 8,
            c => u16::from(c),
        }
    }

    /// The 2-byte AudioSpecificConfig equivalent to this header.
    pub fn audio_specific_config(&self) -> Bytes {
        AudioSpecificConfig::build(self.object_type, self.sample_rate, self.channel_config)
            .expect("header parsing only accepts standard rates and channel configs 1..=7")
    }

    /// The [`AudioFormat`] for a [`crate::Packager`] (1024 samples per frame).
    pub fn audio_format(&self) -> AudioFormat {
        AudioFormat {
            codec: Codec::Aac {
                asc: self.audio_specific_config(),
            },
            sample_rate: self.sample_rate,
            channels: self.channels(),
            frame_samples: 1024,
        }
    }

    /// Parses a header from the first 7 bytes of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, AdtsError> {
        Adts::parse(b).map_err(AdtsError::InvalidHeader)
    }
}

struct Adts;

impl FrameSyntax for Adts {
    type Header = AdtsHeader;
    const HEADER_LEN: usize = 7;

    fn is_sync(b: &[u8]) -> bool {
        b.len() >= 2 && b[0] == 0xFF && b[1] & 0xF0 == 0xF0
    }

    fn parse(b: &[u8]) -> Result<AdtsHeader, &'static str> {
        if b.len() < 7 {
            return Err("shorter than 7 bytes");
        }
        if !Self::is_sync(b) {
            return Err("no 0xFFF sync word");
        }
        if b[1] & 0x06 != 0 {
            return Err("layer must be 0");
        }
        let has_crc = b[1] & 0x01 == 0;
        let object_type = (b[2] >> 6) + 1;
        if object_type == 4 {
            // profile 3 is "reserved" for MPEG-2 and LTP for MPEG-4; LTP is not supported
            // by any decoder we target.
            return Err("profile 3 (reserved / AAC-LTP) is not supported");
        }
        let sampling_index = (b[2] >> 2) & 0x0F;
        let sample_rate = *AAC_SAMPLE_RATES
            .get(usize::from(sampling_index))
            .ok_or("reserved sampling_frequency_index")?;
        let channel_config = ((b[2] & 0x01) << 2) | (b[3] >> 6);
        if channel_config == 0 {
            return Err("channel_configuration 0 (PCE) is not supported");
        }
        let frame_len =
            (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
        let header_len = if has_crc { 9 } else { 7 };
        if frame_len <= header_len {
            return Err("aac_frame_length does not exceed the header length");
        }
        Ok(AdtsHeader {
            mpeg2: b[1] & 0x08 != 0,
            has_crc,
            object_type,
            sampling_index,
            sample_rate,
            channel_config,
            frame_len,
            raw_blocks: (b[6] & 0x03) + 1,
        })
    }

    fn frame_len(h: &AdtsHeader) -> usize {
        h.frame_len
    }

    fn same_stream(a: &AdtsHeader, b: &AdtsHeader) -> bool {
        a.object_type == b.object_type
            && a.sampling_index == b.sampling_index
            && a.channel_config == b.channel_config
    }
}

/// One AAC access unit from an ADTS stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdtsFrame {
    /// The parsed header.
    pub header: AdtsHeader,
    /// The raw AAC frame without the ADTS header (and CRC): a slice of the buffer, no copy.
    pub data: Bytes,
    /// Garbage bytes skipped before this frame (since the previous frame).
    pub skipped: usize,
}

impl AdtsFrame {
    /// The access unit for [`crate::Packager::push`] (1024 samples).
    pub fn access_unit(&self, captured: Option<std::time::SystemTime>) -> AccessUnit {
        AccessUnit {
            data: self.data.clone(),
            samples: 1024,
            captured,
        }
    }
}

/// Push-based ADTS splitter.
///
/// Push arbitrary byte chunks with [`push`](Self::push), take frames with
/// [`pop`](Self::pop) until it returns `Ok(None)`. Garbage between frames is skipped and
/// reported in [`AdtsFrame::skipped`]; while not locked on a stream, a header is only trusted
/// once the following header confirms it (call [`finish`](Self::finish) at end of input to
/// accept a lone last frame). The CRC of protected frames is skipped, not verified
/// (verifying needs the raw data block's bit layout). Memory is bounded by the capacity.
///
/// ```
/// use aulos_packager::AdtsReader;
/// let mut r = AdtsReader::new();
/// // 7-byte header (AAC-LC, 48 kHz, stereo, frame_length 10) + 3 payload bytes, twice.
/// let frame = [0xFF, 0xF1, 0x4C, 0x80, 0x01, 0x5F, 0xFC, 0x21, 0x10, 0x04];
/// r.push(&[0x00, 0x42]).unwrap(); // garbage
/// r.push(&frame).unwrap();
/// r.push(&frame).unwrap();
/// r.finish();
/// let first = r.pop().unwrap().unwrap();
/// assert_eq!(first.skipped, 2);
/// assert_eq!(&first.data[..], &[0x21, 0x10, 0x04]);
/// assert_eq!(first.header.sample_rate, 48000);
/// assert!(r.pop().unwrap().is_some());
/// assert!(r.pop().unwrap().is_none());
/// ```
#[derive(Debug)]
pub struct AdtsReader {
    scanner: Scanner,
}

impl Default for AdtsReader {
    fn default() -> Self {
        Self::new()
    }
}

impl AdtsReader {
    /// A reader with [`ADTS_DEFAULT_BUFFER`] capacity and [`ADTS_DEFAULT_MAX_FRAME`].
    pub fn new() -> Self {
        Self::with_limits(ADTS_DEFAULT_BUFFER, ADTS_DEFAULT_MAX_FRAME)
    }

    /// A reader with a buffer bound and a frame length limit. The capacity is raised to
    /// at least `2 * max_frame + 16` so that a frame and its confirming header always fit.
    pub fn with_limits(capacity: usize, max_frame: usize) -> Self {
        let max_frame = max_frame.max(16);
        Self {
            scanner: Scanner::new(capacity.max(2 * max_frame + 16), max_frame),
        }
    }

    /// Appends a chunk (copied once into the internal buffer).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), AdtsError> {
        Ok(self.scanner.push(chunk)?)
    }

    /// Marks the end of input: a last frame no longer needs a following header to be trusted.
    pub fn finish(&mut self) {
        self.scanner.finish();
    }

    /// The next frame, `Ok(None)` if more input is needed, or an error that was recovered
    /// from (call again).
    pub fn pop(&mut self) -> Result<Option<AdtsFrame>, AdtsError> {
        let Some(Found {
            header,
            frame,
            skipped,
        }) = self.scanner.pop::<Adts>()?
        else {
            return Ok(None);
        };
        if header.raw_blocks != 1 {
            return Err(AdtsError::MultipleRawDataBlocks {
                blocks: header.raw_blocks,
            });
        }
        Ok(Some(AdtsFrame {
            data: frame.slice(header.header_len()..),
            header,
            skipped,
        }))
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.scanner.buffered()
    }

    /// Total garbage bytes skipped so far.
    pub fn skipped_total(&self) -> u64 {
        self.scanner.skipped_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an ADTS header by hand from the ISO/IEC 14496-3 field layout.
    pub(crate) fn header(profile: u8, sf: u8, ch: u8, len: usize, crc: bool) -> Vec<u8> {
        let len = len as u32;
        vec![
            0xFF,
            0xF0 | if crc { 0 } else { 1 },
            (profile << 6) | (sf << 2) | (ch >> 2),
            ((ch & 3) << 6) | ((len >> 11) & 3) as u8,
            ((len >> 3) & 0xFF) as u8,
            (((len & 7) << 5) as u8) | 0x1F,
            0xFC,
        ]
    }

    fn frame(payload: &[u8], crc: bool) -> Vec<u8> {
        let hl = if crc { 9 } else { 7 };
        let mut f = header(1, 3, 2, hl + payload.len(), crc);
        if crc {
            f.extend_from_slice(&[0xAB, 0xCD]);
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn parses_header_fields() {
        let h = AdtsHeader::parse(&header(1, 4, 1, 100, false)).unwrap();
        assert_eq!(h.object_type, 2);
        assert_eq!(h.sample_rate, 44100);
        assert_eq!(h.channel_config, 1);
        assert_eq!(h.frame_len, 100);
        assert!(!h.has_crc);
        assert_eq!(h.audio_specific_config().as_ref(), &[0x12, 0x08]);
    }

    #[test]
    fn crc_frames_strip_nine_bytes() {
        let mut r = AdtsReader::new();
        r.push(&frame(&[1, 2, 3, 4], true)).unwrap();
        r.push(&frame(&[5, 6], true)).unwrap();
        r.finish();
        assert_eq!(&r.pop().unwrap().unwrap().data[..], &[1, 2, 3, 4]);
        assert_eq!(&r.pop().unwrap().unwrap().data[..], &[5, 6]);
        assert!(r.pop().unwrap().is_none());
    }

    #[test]
    fn byte_by_byte_and_resync_after_garbage() {
        let mut stream = Vec::new();
        for i in 0..5u8 {
            stream.extend(frame(&[i; 20], false));
        }
        // Garbage with a fake sync word inside, between frame 4 and 5.
        let cut = 3 * 27;
        let mut data = stream[..cut].to_vec();
        data.extend_from_slice(&[0x12, 0xFF, 0xF1, 0x00, 0x33]);
        data.extend_from_slice(&stream[cut..]);
        let mut r = AdtsReader::new();
        let mut got = Vec::new();
        let mut errors = 0;
        for b in &data {
            r.push(std::slice::from_ref(b)).unwrap();
            loop {
                match r.pop() {
                    Ok(Some(f)) => got.push(f),
                    Ok(None) => break,
                    Err(_) => errors += 1,
                }
            }
        }
        r.finish();
        while let Some(f) = r.pop().unwrap() {
            got.push(f);
        }
        assert_eq!(got.len(), 5);
        assert_eq!(errors, 1, "one LostSync error where garbage starts");
        assert_eq!(got[3].skipped, 5);
        assert_eq!(r.skipped_total(), 5);
        for (i, f) in got.iter().enumerate() {
            assert_eq!(&f.data[..], &[i as u8; 20]);
        }
    }

    #[test]
    fn invalid_header_in_sync_is_reported() {
        let mut r = AdtsReader::new();
        r.push(&frame(&[1; 10], false)).unwrap();
        r.push(&frame(&[2; 10], false)).unwrap();
        let mut bad = header(1, 15, 2, 20, false); // reserved sampling index
        bad.extend_from_slice(&[0; 13]);
        r.push(&bad).unwrap();
        r.push(&frame(&[3; 10], false)).unwrap();
        r.push(&frame(&[4; 10], false)).unwrap();
        r.finish();
        assert!(r.pop().unwrap().is_some());
        assert!(r.pop().unwrap().is_some());
        assert!(matches!(r.pop(), Err(AdtsError::InvalidHeader(_))));
        let f = r.pop().unwrap().unwrap();
        assert_eq!(&f.data[..], &[3; 10]);
        assert_eq!(f.skipped, 20);
    }

    #[test]
    fn frame_limit_and_buffer_bound() {
        let mut r = AdtsReader::with_limits(0, 100);
        r.push(&frame(&[0; 200], false)).unwrap();
        assert!(matches!(
            r.pop(),
            Err(AdtsError::FrameTooLarge { len: 207, max: 100 })
        ));
        let mut r = AdtsReader::with_limits(0, 100);
        assert!(matches!(
            r.push(&[0u8; 1000]),
            Err(AdtsError::BufferFull { .. })
        ));
    }

    #[test]
    fn multiple_raw_blocks_rejected() {
        let mut f = frame(&[9; 10], false);
        f[6] |= 0x01;
        let mut r = AdtsReader::new();
        r.push(&f).unwrap();
        r.finish();
        assert_eq!(r.pop(), Err(AdtsError::MultipleRawDataBlocks { blocks: 2 }));
        assert!(r.pop().unwrap().is_none());
    }
}
