//! Input and output types of the decode pipeline.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// Container of a [`MediaChunk`]; a hint from the playlist (`EXT-X-MAP`, URI extension).
///
/// [`Container::Sniff`] lets the demuxer decide from the first bytes (see [`Container::sniff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Container {
    /// Fragmented MP4 / CMAF: an init section (`ftyp`+`moov`) then `moof`+`mdat` fragments.
    Fmp4,
    /// MPEG-2 transport stream carrying AAC (ADTS) or MPEG audio in PES packets.
    MpegTs,
    /// HLS packed audio: an ADTS or MP3 elementary stream, each segment starting with an ID3
    /// tag holding the `com.apple.streaming.transportStreamTimestamp` PRIV frame.
    PackedAudio,
    /// Decide from the bytes.
    #[default]
    Sniff,
}

impl Container {
    /// Guesses the container from the first bytes of a chunk (or of its init section).
    ///
    /// Returns `None` when nothing matches; never panics on short input.
    pub fn sniff(data: &[u8]) -> Option<Container> {
        if data.len() >= 8 {
            let kind = &data[4..8];
            if matches!(
                kind,
                b"ftyp" | b"styp" | b"moov" | b"moof" | b"mdat" | b"sidx" | b"prft" | b"emsg"
            ) {
                return Some(Container::Fmp4);
            }
        }
        if data.first() == Some(&0x47) && (data.len() < 189 || data[188] == 0x47) {
            return Some(Container::MpegTs);
        }
        if data.starts_with(b"ID3") {
            return Some(Container::PackedAudio);
        }
        if data.len() >= 2 && data[0] == 0xFF && data[1] & 0xE0 == 0xE0 {
            return Some(Container::PackedAudio);
        }
        None
    }
}

/// One media chunk (HLS segment or partial segment) in playback order.
///
/// Mirrors the client's output type; `aulos-decode` does not depend on `aulos-client`.
#[derive(Debug, Clone)]
pub struct MediaChunk {
    /// The chunk's bytes (fMP4 fragment(s), TS packets or packed audio).
    pub data: Bytes,
    /// A new init section (`EXT-X-MAP`) to apply before `data`.
    pub init: Option<Bytes>,
    /// `EXT-X-DISCONTINUITY` before this chunk: the decoder is reset first.
    pub discontinuity: bool,
    /// Playlist duration of the chunk (`EXTINF` / `EXT-X-PART:DURATION`).
    pub duration: Duration,
    /// Wall-clock time of the chunk's first sample (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time: Option<SystemTime>,
    /// Container hint.
    pub container: Container,
}

impl MediaChunk {
    /// A chunk with only data, container sniffed, no init, no timing information.
    pub fn new(data: impl Into<Bytes>) -> Self {
        Self {
            data: data.into(),
            init: None,
            discontinuity: false,
            duration: Duration::ZERO,
            program_date_time: None,
            container: Container::Sniff,
        }
    }
}

/// Decoded, resampled audio: one block per decoded chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct PcmBlock {
    /// Interleaved samples, `channels` per frame.
    pub samples: Vec<f32>,
    /// Channel count (the pipeline's output channel count).
    pub channels: u16,
    /// Sample rate in Hz (the pipeline's output rate).
    pub rate: u32,
    /// Media time of the first frame (from `tfdt`, PES PTS or the ID3 timestamp).
    pub pts: Duration,
    /// Wall-clock time of the first frame, when the playlist gave one.
    pub program_date_time: Option<SystemTime>,
}

impl PcmBlock {
    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        if self.channels == 0 {
            0
        } else {
            self.samples.len() / usize::from(self.channels)
        }
    }

    /// Playback duration of the block at its rate.
    pub fn duration(&self) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.frames() as f64 / f64::from(self.rate))
    }
}
