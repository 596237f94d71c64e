//! Framing of audio elementary streams: ADTS (AAC) and MPEG audio (MP3/MP2), with ID3 tags;
//! and Opus access units as MPEG-TS carries them (each behind an `opus_control_header`).
//!
//! Hand-written on purpose: symphonia's `AdtsReader`/`MpaReader` are whole-file format readers
//! over a seekable `MediaSourceStream`; here frames arrive in PES payloads and HLS chunks that
//! split frames anywhere, and each frame needs the PTS of the PES/ID3 that carried it. Header
//! parsing is 4-7 bytes of fixed bit fields (ISO/IEC 13818-7 §6.2, ISO/IEC 11172-3 §2.4.2.3),
//! so a small stateful framer is simpler than bending a file reader to a live stream.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use crate::codec::{AccessUnit, CodecConfig, OpusConfig};

/// Largest frame either syntax allows (ADTS: 13-bit length) — bounds the reassembly buffer.
const MAX_FRAME: usize = 8191;
/// Largest ID3 tag we reassemble; bigger tags are skipped without parsing.
const MAX_ID3: usize = 64 * 1024;
/// Reassembly buffer cap: a frame or tag plus one incoming payload is never more than this.
const MAX_PENDING: usize = 256 * 1024;

const ADTS_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The PRIV owner that carries the packed-audio timestamp (HLS spec §3.4).
const APPLE_TS_OWNER: &[u8] = b"com.apple.streaming.transportStreamTimestamp\0";

/// A parsed ADTS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdtsHeader {
    pub object_type: u8,
    pub rate_index: u8,
    pub channel_config: u8,
    pub header_len: usize,
    pub frame_len: usize,
    pub blocks: u8,
}

impl AdtsHeader {
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 7 || b[0] != 0xFF || b[1] & 0xF6 != 0xF0 {
            return None;
        }
        let protection_absent = b[1] & 1 == 1;
        let object_type = (b[2] >> 6) + 1;
        let rate_index = (b[2] >> 2) & 0x0F;
        let channel_config = ((b[2] & 1) << 2) | (b[3] >> 6);
        let frame_len =
            (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
        let header_len = if protection_absent { 7 } else { 9 };
        if usize::from(rate_index) >= ADTS_RATES.len() || frame_len < header_len {
            return None;
        }
        Some(Self {
            object_type,
            rate_index,
            channel_config,
            header_len,
            frame_len,
            blocks: (b[6] & 0x03) + 1,
        })
    }

    pub fn rate(&self) -> u32 {
        ADTS_RATES[usize::from(self.rate_index)]
    }

    /// The 2-byte AudioSpecificConfig equivalent of this header (ISO/IEC 14496-3 §1.6.2.1).
    pub fn asc(&self) -> Vec<u8> {
        vec![
            (self.object_type << 3) | (self.rate_index >> 1),
            ((self.rate_index & 1) << 7) | (self.channel_config << 3),
        ]
    }

    pub fn samples(&self) -> u32 {
        1024 * u32::from(self.blocks)
    }
}

/// A parsed MPEG audio frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MpaHeader {
    pub layer: u8,
    pub rate: u32,
    pub frame_len: usize,
    pub samples: u32,
}

impl MpaHeader {
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = (b[1] >> 3) & 0x03; // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
        let layer = match (b[1] >> 1) & 0x03 {
            1 => 3,
            2 => 2,
            3 => 1,
            _ => return None, // 0 is ADTS's layer field
        };
        let bitrate_index = usize::from(b[2] >> 4);
        let rate_index = usize::from((b[2] >> 2) & 0x03);
        let padding = usize::from((b[2] >> 1) & 1);
        if version == 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
            return None; // reserved, or "free format" which has no length in the header
        }
        const V1: [[u32; 15]; 3] = [
            [
                0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
            ],
            [
                0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
            ],
            [
                0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
            ],
        ];
        const V2: [[u32; 15]; 2] = [
            [
                0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
            ],
            [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
        ];
        let mpeg1 = version == 3;
        let kbps = if mpeg1 {
            V1[usize::from(layer - 1)][bitrate_index]
        } else {
            V2[usize::from(layer != 1)][bitrate_index]
        };
        let base_rate = [44100u32, 48000, 32000][rate_index];
        let rate = match version {
            3 => base_rate,
            2 => base_rate / 2,
            _ => base_rate / 4,
        };
        let bps = kbps as usize * 1000;
        let (frame_len, samples) = match layer {
            1 => ((12 * bps / rate as usize + padding) * 4, 384),
            2 => (144 * bps / rate as usize + padding, 1152),
            _ if mpeg1 => (144 * bps / rate as usize + padding, 1152),
            _ => (72 * bps / rate as usize + padding, 576),
        };
        if frame_len < 4 {
            return None;
        }
        Some(Self {
            layer,
            rate,
            frame_len,
            samples,
        })
    }
}

/// Parses an ID3v2 tag at the start of `b`.
///
/// Returns `Some((tag_len, timestamp_90khz))` when a complete header is present; `tag_len` may
/// exceed `b.len()` (caller waits for more bytes or skips).
pub(crate) fn id3_tag(b: &[u8]) -> Option<(usize, Option<u64>)> {
    if b.len() < 10 || &b[..3] != b"ID3" {
        return None;
    }
    let syncsafe = |s: &[u8]| -> usize {
        s.iter()
            .fold(0usize, |acc, &x| (acc << 7) | usize::from(x & 0x7F))
    };
    let major = b[3];
    let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
    let len = 10 + syncsafe(&b[6..10]) + footer;
    if b.len() < len {
        return Some((len, None));
    }
    let mut frames = &b[10..len - footer];
    let mut ts = None;
    while frames.len() >= 10 && frames[0] != 0 {
        let size = if major >= 4 {
            syncsafe(&frames[4..8])
        } else {
            u32::from_be_bytes([frames[4], frames[5], frames[6], frames[7]]) as usize
        };
        let Some(body) = frames.get(10..10 + size) else {
            break;
        };
        if &frames[..4] == b"PRIV"
            && body.starts_with(APPLE_TS_OWNER)
            && body.len() >= APPLE_TS_OWNER.len() + 8
        {
            let raw = &body[APPLE_TS_OWNER.len()..APPLE_TS_OWNER.len() + 8];
            let v = u64::from_be_bytes(raw.try_into().expect("slice of 8 bytes"));
            ts = Some(v & ((1 << 33) - 1));
        }
        frames = &frames[10 + size..];
    }
    Some((len, ts))
}

/// Unwraps 33-bit 90 kHz MPEG timestamps into a monotonic media time.
#[derive(Debug, Default)]
pub(crate) struct TsUnwrapper {
    last: Option<u64>,
    offset: u64,
}

impl TsUnwrapper {
    pub fn unwrap(&mut self, ts90: u64) -> Duration {
        const WRAP: u64 = 1 << 33;
        if let Some(last) = self.last {
            if ts90 + WRAP / 2 < last {
                self.offset += WRAP;
            } else if ts90 > last + WRAP / 2 && self.offset >= WRAP {
                self.offset -= WRAP; // a late timestamp from before the wrap
            }
        }
        self.last = Some(ts90);
        let ticks = ts90 + self.offset;
        Duration::from_nanos(ticks.saturating_mul(100_000) / 9)
    }
}

/// Statistics a framer keeps about bytes it had to throw away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramerLoss {
    /// Bytes skipped while looking for a frame sync.
    pub skipped: u64,
}

/// Splits an ADTS or MPEG-audio elementary stream into access units.
#[derive(Debug, Default)]
pub(crate) struct EsFramer {
    pending: BytesMut,
    /// Media time of the next frame, advanced by each frame's duration.
    clock: Option<Duration>,
    /// A timestamp received while `pending` still held older bytes: applies at `at` bytes.
    deferred: Option<(usize, Duration)>,
    unwrap: TsUnwrapper,
    config: Option<Arc<CodecConfig>>,
    /// Set for an Opus stream: its configuration (the PMT gives the channels).
    opus: Option<Arc<CodecConfig>>,
    pub loss: FramerLoss,
}

impl EsFramer {
    /// Drops buffered bytes and timing (discontinuity).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.clock = None;
        self.deferred = None;
        self.unwrap = TsUnwrapper::default();
    }

    /// The stream is Opus with `channels` (1 or 2): frame it by control headers.
    pub fn opus(&mut self, channels: u8) {
        self.opus = Some(Arc::new(CodecConfig::Opus(OpusConfig {
            channels,
            output_gain: 0,
            family: 0,
            streams: 1,
            coupled: u8::from(channels == 2),
            mapping: Vec::new(),
        })));
    }

    /// Appends `data` whose first byte has 90 kHz timestamp `ts90` (PES PTS), if known.
    ///
    /// Copies `data` once into the reassembly buffer (frames straddle payloads); the emitted
    /// units are zero-copy slices of that buffer.
    pub fn push(&mut self, data: &[u8], ts90: Option<u64>, out: &mut Vec<AccessUnit>) {
        if let Some(ts) = ts90 {
            let t = self.unwrap.unwrap(ts);
            if self.pending.is_empty() {
                self.clock = Some(t);
            } else {
                self.deferred = Some((self.pending.len(), t));
            }
        }
        if self.pending.len() + data.len() > MAX_PENDING {
            // Only reachable with a stream of garbage that never syncs: drop the old bytes.
            self.loss.skipped += self.pending.len() as u64;
            self.pending.clear();
            self.deferred = None;
        }
        self.pending.extend_from_slice(data);
        self.drain(out);
    }

    fn consume(&mut self, n: usize) -> Bytes {
        if let Some((at, _)) = &mut self.deferred {
            *at = at.saturating_sub(n);
        }
        self.pending.split_to(n).freeze()
    }

    fn skip(&mut self, n: usize) {
        self.loss.skipped += n as u64;
        let _ = self.consume(n);
    }

    fn apply_deferred(&mut self) {
        if let Some((0, t)) = self.deferred {
            self.clock = Some(t);
            self.deferred = None;
        }
    }

    fn drain(&mut self, out: &mut Vec<AccessUnit>) {
        if let Some(config) = self.opus.clone() {
            return self.drain_opus(&config, out);
        }
        loop {
            self.apply_deferred();
            let b = &self.pending[..];
            if b.len() < 4 {
                return;
            }
            if b.starts_with(b"ID3") {
                match id3_tag(b) {
                    None => return, // fewer than 10 bytes yet
                    Some((len, ts)) if len <= b.len() => {
                        let _ = self.consume(len);
                        if let Some(ts) = ts {
                            let t = self.unwrap.unwrap(ts);
                            self.clock = Some(t);
                        }
                        continue;
                    }
                    Some((len, _)) if len > MAX_ID3 => {
                        // Too big to buffer: skip what we have; the rest fails sync and is skipped.
                        let n = b.len();
                        self.skip(n);
                        return;
                    }
                    Some(_) => return, // wait for the whole tag
                }
            }
            if b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
                let next = b[1..]
                    .iter()
                    .position(|&x| x == 0xFF || x == b'I')
                    .map_or(b.len(), |p| p + 1);
                self.skip(next);
                continue;
            }
            let adts = b[1] & 0x06 == 0;
            if adts && b.len() < 7 {
                return; // header split across pushes: wait for the rest
            }
            let frame = if adts {
                AdtsHeader::parse(b).map(|h| {
                    let asc = h.asc();
                    (
                        h.frame_len,
                        h.header_len,
                        h.samples(),
                        h.rate(),
                        CodecConfig::Aac { asc },
                    )
                })
            } else {
                MpaHeader::parse(b).map(|h| {
                    (
                        h.frame_len,
                        0,
                        h.samples,
                        h.rate,
                        CodecConfig::Mpa { layer: h.layer },
                    )
                })
            };
            let Some((frame_len, header_len, samples, rate, config)) = frame else {
                self.skip(1);
                continue;
            };
            if frame_len > MAX_FRAME {
                self.skip(1);
                continue;
            }
            if b.len() < frame_len {
                return;
            }
            // Resync check: when the next frame's start is present it must be a sync too, or
            // this "header" was a false positive inside garbage.
            if b.len() >= frame_len + 2 {
                let n = &b[frame_len..];
                let sync = (n[0] == 0xFF && n[1] & 0xE0 == 0xE0) || n.starts_with(b"ID");
                if !sync {
                    self.skip(1);
                    continue;
                }
            }
            let config = match &self.config {
                Some(c) if **c == config => c.clone(),
                _ => {
                    let c = Arc::new(config);
                    self.config = Some(c.clone());
                    c
                }
            };
            let mut data = self.consume(frame_len);
            data.advance(header_len);
            let pts = self.clock.unwrap_or_default();
            let dur = Duration::from_nanos(u64::from(samples) * 1_000_000_000 / u64::from(rate));
            self.clock = Some(pts + dur);
            out.push(AccessUnit {
                data,
                pts,
                trim_start: 0,
                config,
            });
        }
    }
}

impl EsFramer {
    /// Opus access units, each behind an `opus_control_header` (0x7FE0 | flags, the
    /// size as 0xFF-continued bytes, optional start/end trim and extension).
    fn drain_opus(&mut self, config: &Arc<CodecConfig>, out: &mut Vec<AccessUnit>) {
        loop {
            self.apply_deferred();
            let b = &self.pending[..];
            if b.len() < 2 {
                return;
            }
            if b[0] != 0x7F || b[1] & 0xE0 != 0xE0 {
                let next = b[1..]
                    .iter()
                    .position(|&x| x == 0x7F)
                    .map_or(b.len(), |p| p + 1);
                self.skip(next);
                continue;
            }
            let (start_trim, end_trim, extension) =
                (b[1] & 0x10 != 0, b[1] & 0x08 != 0, b[1] & 0x04 != 0);
            let mut i = 2;
            let mut size = 0usize;
            loop {
                let Some(&x) = b.get(i) else { return };
                i += 1;
                size += usize::from(x);
                if x != 0xFF {
                    break;
                }
            }
            let mut trim = 0u32;
            if start_trim {
                let Some(t) = b.get(i..i + 2) else { return };
                trim = u32::from(u16::from_be_bytes([t[0], t[1]]));
                i += 2;
            }
            if end_trim {
                i += 2;
            }
            if extension {
                let Some(&len) = b.get(i) else { return };
                i += 1 + usize::from(len);
            }
            if size == 0 || size > MAX_FRAME {
                self.skip(1);
                continue;
            }
            if b.len() < i + size {
                return;
            }
            let Some(samples) = opus_samples(&b[i..i + size]) else {
                self.skip(1);
                continue;
            };
            let mut data = self.consume(i + size);
            data.advance(i);
            let pts = self.clock.unwrap_or_default();
            self.clock = Some(pts + Duration::from_nanos(u64::from(samples) * 1_000_000 / 48));
            out.push(AccessUnit {
                data,
                pts,
                trim_start: trim.min(samples),
                config: config.clone(),
            });
        }
    }
}

/// Samples per channel at 48 kHz of an Opus packet, from its TOC byte and frame count
/// (RFC 6716 §3.1); `None` if malformed.
fn opus_samples(packet: &[u8]) -> Option<u32> {
    opus_pure::packet::samples_48k(packet)
        .ok()
        .and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_control_headers_frame_units_split_anywhere() {
        // Unit 1: start trim 312, 300 bytes (size 0xFF 0x2D). Unit 2: end trim and a
        // 3-byte control extension, 10 bytes. Garbage in front is skipped.
        let mut es = vec![0x00, 0x12];
        es.extend_from_slice(&[0x7F, 0xF0, 0xFF, 0x2D, 0x01, 0x38]);
        let mut p1 = vec![0xAAu8; 300];
        p1[0] = 31 << 3; // CELT 20 ms, one frame
        es.extend_from_slice(&p1);
        es.extend_from_slice(&[0x7F, 0xEC, 10, 0x00, 0x20, 3, 1, 2, 3]);
        let mut p2 = vec![0xBBu8; 10];
        p2[0] = (31 << 3) | 1; // two 20 ms frames
        es.extend_from_slice(&p2);
        let mut f = EsFramer::default();
        f.opus(2);
        let mut out = Vec::new();
        f.push(&es[..1], Some(90_000), &mut out);
        for b in &es[1..] {
            f.push(std::slice::from_ref(b), None, &mut out);
        }
        assert_eq!(out.len(), 2);
        assert_eq!((&out[0].data[..], out[0].trim_start), (&p1[..], 312));
        assert_eq!((&out[1].data[..], out[1].trim_start), (&p2[..], 0));
        assert_eq!(out[1].pts - out[0].pts, Duration::from_millis(20));
        assert!(matches!(*out[0].config, CodecConfig::Opus(ref c) if c.channels == 2));
        assert_eq!(f.loss.skipped, 2);
    }

    #[test]
    fn adts_header_round_trip_fields() {
        // AAC-LC, 44.1 kHz (index 4), stereo, frame length 0x171 = 369, no CRC.
        let len = 369usize;
        let h = [
            0xFF,
            0xF1,
            (1 << 6) | (4 << 2),
            (2 << 6) | ((len >> 11) as u8 & 3),
            (len >> 3) as u8,
            ((len & 7) as u8) << 5 | 0x1F,
            0xFC,
        ];
        let p = AdtsHeader::parse(&h).expect("valid header");
        assert_eq!(
            (p.object_type, p.rate(), p.channel_config, p.frame_len),
            (2, 44100, 2, len)
        );
        assert_eq!(p.asc(), vec![0x12, 0x10]); // the well-known ASC of AAC-LC 44.1k stereo
    }

    #[test]
    fn mpa_header_128k_44100() {
        // MPEG-1 layer III, 128 kb/s, 44.1 kHz, no padding: 144*128000/44100 = 417 bytes.
        let p = MpaHeader::parse(&[0xFF, 0xFB, 0x90, 0x00]).expect("valid header");
        assert_eq!(
            (p.layer, p.rate, p.frame_len, p.samples),
            (3, 44100, 417, 1152)
        );
        assert!(
            MpaHeader::parse(&[0xFF, 0xFB, 0xF0, 0x00]).is_none(),
            "bad bitrate index"
        );
    }

    #[test]
    fn id3_priv_timestamp() {
        let mut body = APPLE_TS_OWNER.to_vec();
        body.extend_from_slice(&(900_000u64).to_be_bytes());
        let mut frame = b"PRIV".to_vec();
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes()); // v2.3: plain size
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&body);
        let mut tag = b"ID3\x03\x00\x00".to_vec();
        let n = frame.len();
        tag.extend_from_slice(&[
            (n >> 21) as u8 & 0x7F,
            (n >> 14) as u8 & 0x7F,
            (n >> 7) as u8 & 0x7F,
            n as u8 & 0x7F,
        ]);
        tag.extend_from_slice(&frame);
        assert_eq!(id3_tag(&tag), Some((tag.len(), Some(900_000))));
        assert_eq!(
            id3_tag(&tag[..12]).map(|t| t.0),
            Some(tag.len()),
            "length known early"
        );
    }

    #[test]
    fn unwrap_33_bit_wrap() {
        let mut u = TsUnwrapper::default();
        let a = u.unwrap((1 << 33) - 90_000);
        let b = u.unwrap(90_000);
        assert_eq!(b - a, Duration::from_secs(2));
    }

    #[test]
    fn header_split_across_pushes_is_not_lost() {
        // Two silent-ish ADTS frames of 10 bytes each, fed one byte at a time.
        let mut frame = vec![0xFF, 0xF1, 0x50, 0x80, 0x01, 0x5F, 0xFC];
        frame.extend_from_slice(&[0x21, 0x00, 0x03]);
        assert_eq!(AdtsHeader::parse(&frame).map(|h| h.frame_len), Some(10));
        let stream: Vec<u8> = frame.iter().chain(frame.iter()).copied().collect();
        let mut f = EsFramer::default();
        let mut out = Vec::new();
        for b in &stream {
            f.push(std::slice::from_ref(b), None, &mut out);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(f.loss.skipped, 0);
    }

    #[test]
    fn garbage_never_panics() {
        let mut f = EsFramer::default();
        let mut out = Vec::new();
        let mut x = 0x1234_5678u32;
        for _ in 0..200 {
            let chunk: Vec<u8> = (0..997)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8 | if x & 0x100 != 0 { 0xE0 } else { 0 }
                })
                .collect();
            f.push(&chunk, None, &mut out);
        }
        assert!(f.pending.len() <= MAX_PENDING);
    }
}
