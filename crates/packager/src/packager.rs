//! The packager: access units in, frame-aligned CMAF fragments (LL-HLS parts) out.

use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use mp4_atom as m;
use mp4_atom::Encode;

use crate::init::build_init_segment;
use crate::{AudioFormat, Error};

/// Largest access unit accepted (a `trun` sample size is 32 bits; anything near this is a bug
/// upstream, a real audio frame is a few KB at most).
pub const MAX_ACCESS_UNIT_BYTES: usize = 1 << 20;

/// Packager settings. Checked once by [`PackagerConfig::validate`] in [`Packager::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagerConfig {
    /// Upper bound for a part's duration (the playlist's `PART-TARGET`). Default 200 ms.
    pub part_target: Duration,
    /// Parts per media segment. Default 5 (1 s segments with 200 ms parts).
    pub parts_per_segment: u32,
    /// Track ID in `tkhd`/`trex`/`tfhd`. Default 1.
    pub track_id: u32,
}

impl Default for PackagerConfig {
    fn default() -> Self {
        Self {
            part_target: Duration::from_millis(200),
            parts_per_segment: 5,
            track_id: 1,
        }
    }
}

impl PackagerConfig {
    /// Rejects a zero part target, zero parts per segment and track ID 0.
    pub fn validate(&self) -> Result<(), Error> {
        if self.part_target.is_zero() {
            return Err(Error::InvalidConfig("part_target must be > 0"));
        }
        if self.part_target > Duration::from_secs(60) {
            return Err(Error::InvalidConfig("part_target must be <= 60 s"));
        }
        if self.parts_per_segment == 0 {
            return Err(Error::InvalidConfig("parts_per_segment must be > 0"));
        }
        if self.track_id == 0 {
            return Err(Error::InvalidConfig("track_id must be > 0"));
        }
        Ok(())
    }
}

/// One coded audio frame (AAC raw data block, MP3 frame with header, FLAC frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// The coded frame, without any transport header (no ADTS).
    pub data: Bytes,
    /// Samples per channel the frame decodes to; usually [`AudioFormat::frame_samples`].
    pub samples: u32,
    /// Wall-clock time of the frame's first sample, if known (becomes program-date-time).
    pub captured: Option<SystemTime>,
}

/// One CMAF fragment (`moof` + `mdat`): an LL-HLS part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `moof` + `mdat` bytes, one fragment.
    pub data: Bytes,
    /// Duration (`samples / sample_rate`, rounded to the nanosecond).
    pub duration: Duration,
    /// Samples per channel in this part.
    pub samples: u64,
    /// `tfdt` base media decode time in sample-rate ticks: the sum of all previous parts' samples.
    pub decode_time: u64,
    /// Whether the part starts with an independent frame: always true for audio (P-PART-04).
    pub independent: bool,
    /// The segment closes after this part (every `parts_per_segment` parts, and at flush).
    pub last_in_segment: bool,
    /// Capture time of the part's first access unit.
    pub program_date_time: Option<SystemTime>,
    /// `mfhd` sequence number: 1 for the first part, then +1 per part.
    pub sequence: u32,
}

/// Frame-aligned CMAF audio packager for one track.
///
/// **Part cutting rule:** a part holds whole frames, and the number of frames per part is
/// the largest whole number of frames whose duration does not exceed `part_target`:
/// `frames = floor(part_target * sample_rate / frame_samples)` (at least one frame, else
/// [`Packager::new`] fails). For AAC-LC at 48 kHz and 200 ms that is 9 frames = 192 ms.
/// A part is emitted by the [`push`](Packager::push) that brings the buffered samples to
/// `frames * frame_samples` or more (so access units shorter than `frame_samples` just
/// make more of them fit). Every `parts_per_segment`-th part has `last_in_segment`.
///
/// ```
/// use aulos_packager::{AccessUnit, AudioFormat, Packager, PackagerConfig};
/// let format = AudioFormat::aac(bytes::Bytes::from_static(&[0x11, 0x90])).unwrap();
/// let mut p = Packager::new(format, PackagerConfig::default()).unwrap();
/// assert_eq!(p.frames_per_part(), 9);
/// let init = p.init_segment();
/// assert_eq!(&init[4..8], b"ftyp");
/// let mut parts = Vec::new();
/// for _ in 0..20 {
///     let au = AccessUnit { data: bytes::Bytes::from_static(&[0x21, 0x10, 0x04]), samples: 1024, captured: None };
///     parts.extend(p.push(au));
/// }
/// parts.extend(p.flush());
/// assert_eq!(parts.iter().map(|p| p.samples).sum::<u64>(), 20 * 1024);
/// ```
#[derive(Debug)]
pub struct Packager {
    format: AudioFormat,
    cfg: PackagerConfig,
    init: Bytes,
    frames_per_part: u32,
    part_samples: u64,
    pending: Vec<AccessUnit>,
    pending_samples: u64,
    next_decode_time: u64,
    next_sequence: u32,
    parts_in_segment: u32,
    rejected: u64,
}

impl Packager {
    /// Validates `format` and `cfg` and builds the init segment.
    pub fn new(format: AudioFormat, cfg: PackagerConfig) -> Result<Packager, Error> {
        cfg.validate()?;
        format.validate()?;
        let target_ticks =
            cfg.part_target.as_nanos() * u128::from(format.sample_rate) / 1_000_000_000;
        let frames = target_ticks / u128::from(format.frame_samples);
        if frames == 0 {
            return Err(Error::PartTargetTooShort {
                part_target_us: cfg.part_target.as_micros(),
                frame_samples: format.frame_samples,
                sample_rate: format.sample_rate,
            });
        }
        // part_target <= 60 s, so this fits easily.
        let frames_per_part = u32::try_from(frames).unwrap_or(u32::MAX);
        let init = build_init_segment(&format, cfg.track_id)?;
        Ok(Packager {
            part_samples: u64::from(frames_per_part) * u64::from(format.frame_samples),
            frames_per_part,
            format,
            cfg,
            init,
            pending: Vec::with_capacity(frames_per_part as usize),
            pending_samples: 0,
            next_decode_time: 0,
            next_sequence: 1,
            parts_in_segment: 0,
            rejected: 0,
        })
    }

    /// The init segment (`ftyp` + `moov`), timescale = sample rate. Cheap to clone.
    pub fn init_segment(&self) -> Bytes {
        self.init.clone()
    }

    /// The audio format this packager was built for.
    pub fn format(&self) -> &AudioFormat {
        &self.format
    }

    /// The configuration this packager was built with.
    pub fn config(&self) -> &PackagerConfig {
        &self.cfg
    }

    /// Frames in a full part (see the cutting rule on [`Packager`]).
    pub fn frames_per_part(&self) -> u32 {
        self.frames_per_part
    }

    /// Duration of a full part: `frames_per_part * frame_samples / sample_rate`.
    pub fn part_duration(&self) -> Duration {
        ticks_to_duration(self.part_samples, self.format.sample_rate)
    }

    /// Duration of a full segment: `parts_per_segment` full parts.
    pub fn segment_duration(&self) -> Duration {
        ticks_to_duration(
            self.part_samples * u64::from(self.cfg.parts_per_segment),
            self.format.sample_rate,
        )
    }

    /// Decode time (sample-rate ticks) the next part will start at.
    pub fn next_decode_time(&self) -> u64 {
        self.next_decode_time
    }

    /// Access units dropped by [`push`](Packager::push) because they were invalid.
    pub fn rejected_access_units(&self) -> u64 {
        self.rejected
    }

    /// Adds an access unit; returns a finished part when it completes one.
    ///
    /// An invalid access unit (empty, zero samples, larger than [`MAX_ACCESS_UNIT_BYTES`])
    /// is dropped and counted in [`rejected_access_units`](Packager::rejected_access_units);
    /// use [`try_push`](Packager::try_push) to get the error instead.
    pub fn push(&mut self, au: AccessUnit) -> Option<Part> {
        match self.try_push(au) {
            Ok(part) => part,
            Err(_) => {
                self.rejected += 1;
                None
            }
        }
    }

    /// Like [`push`](Packager::push) but returns an error for an invalid access unit
    /// (which is then not buffered).
    pub fn try_push(&mut self, au: AccessUnit) -> Result<Option<Part>, Error> {
        if au.data.is_empty() {
            return Err(Error::InvalidAccessUnit("empty data"));
        }
        if au.samples == 0 {
            return Err(Error::InvalidAccessUnit("zero samples"));
        }
        if au.data.len() > MAX_ACCESS_UNIT_BYTES {
            return Err(Error::InvalidAccessUnit(
                "larger than MAX_ACCESS_UNIT_BYTES",
            ));
        }
        self.pending_samples += u64::from(au.samples);
        self.pending.push(au);
        if self.pending_samples >= self.part_samples {
            Ok(Some(self.cut(false)))
        } else {
            Ok(None)
        }
    }

    /// Emits whatever is buffered as a (short) part, marked `last_in_segment` because the
    /// stream ends or is interrupted here. Returns `None` when nothing is buffered.
    pub fn flush(&mut self) -> Option<Part> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.cut(true))
    }

    fn cut(&mut self, force_segment_end: bool) -> Part {
        let aus = std::mem::take(&mut self.pending);
        let samples = std::mem::take(&mut self.pending_samples);
        let decode_time = self.next_decode_time;
        let sequence = self.next_sequence;
        let data = encode_fragment(self.cfg.track_id, sequence, decode_time, &aus);
        self.next_decode_time += samples;
        self.next_sequence = self.next_sequence.wrapping_add(1).max(1);
        self.parts_in_segment += 1;
        let last_in_segment =
            force_segment_end || self.parts_in_segment >= self.cfg.parts_per_segment;
        if last_in_segment {
            self.parts_in_segment = 0;
        }
        let program_date_time = aus.first().and_then(|au| au.captured);
        // Reuse the allocation for the next part.
        self.pending = aus;
        self.pending.clear();
        Part {
            data,
            duration: ticks_to_duration(samples, self.format.sample_rate),
            samples,
            decode_time,
            independent: true,
            last_in_segment,
            program_date_time,
            sequence,
        }
    }
}

fn ticks_to_duration(ticks: u64, rate: u32) -> Duration {
    let nanos = (u128::from(ticks) * 1_000_000_000 + u128::from(rate) / 2) / u128::from(rate);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Encodes `moof` (mp4-atom) + `mdat` (header by hand, then the payloads).
///
/// `mdat` is written by hand because `mp4_atom::Mdat` owns a `Vec<u8>`: building it would
/// copy every payload once more. One copy remains: access units into the part buffer.
fn encode_fragment(track_id: u32, sequence: u32, decode_time: u64, aus: &[AccessUnit]) -> Bytes {
    let entries: Vec<m::TrunEntry> = aus
        .iter()
        .map(|au| m::TrunEntry {
            duration: Some(au.samples),
            // Bounded by MAX_ACCESS_UNIT_BYTES in try_push.
            size: Some(au.data.len() as u32),
            flags: None,
            cts: None,
        })
        .collect();
    let mut moof = m::Moof {
        mfhd: m::Mfhd {
            sequence_number: sequence,
        },
        traf: vec![m::Traf {
            tfhd: m::Tfhd {
                track_id,
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(m::Tfdt {
                base_media_decode_time: decode_time,
            }),
            trun: vec![m::Trun {
                data_offset: Some(0),
                samples: entries.into(),
            }],
            ..Default::default()
        }],
    };
    let payload: usize = aus.iter().map(|au| au.data.len()).sum();
    let mut moof_bytes = Vec::with_capacity(256);
    moof.encode(&mut moof_bytes)
        .expect("moof fields are plain integers within their box widths");
    // data_offset is relative to the moof start (default-base-is-moof): moof size + mdat header.
    // The offset field has a fixed width, so re-encoding does not change the moof size.
    let large = u32::try_from(8 + payload).is_err();
    let mdat_header = if large { 16 } else { 8 };
    let data_offset = moof_bytes.len() + mdat_header;
    moof.traf[0].trun[0].data_offset = Some(i32::try_from(data_offset).unwrap_or(i32::MAX));
    moof_bytes.clear();
    moof.encode(&mut moof_bytes)
        .expect("moof fields are plain integers within their box widths");

    let mdat_size = mdat_header + payload;
    let mut out = BytesMut::with_capacity(moof_bytes.len() + mdat_size);
    out.put_slice(&moof_bytes);
    // A 32-bit size covers any sane part; the 64-bit `largesize` form covers the rest.
    if large {
        out.put_u32(1);
        out.put_slice(b"mdat");
        out.put_u64(mdat_size as u64);
    } else {
        out.put_u32(mdat_size as u32);
        out.put_slice(b"mdat");
    }
    for au in aus {
        out.put_slice(&au.data);
    }
    out.freeze()
}
