//! Fragmented MP4 / CMAF: one continuous byte stream of `ftyp`/`moov` then `moof`+`mdat`.
//!
//! We parse boxes with `mp4-atom` and hand each sample to the codec decoder ourselves instead
//! of feeding symphonia's `IsoMp4Reader` a growing stream: the reader wants a seekable source
//! and reads ahead (blocking or failing at the live edge), treats a truncated fragment as end of
//! stream, and cannot be told "a new init section applies from here". Walking `moof/traf/trun`
//! is a few dozen lines, gives exact per-sample timing from `tfdt`, and lets one bad fragment
//! fail alone while the next one decodes.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use mp4_atom::{Codec, Decode, Encode, Moof, Moov};

use crate::codec::{AccessUnit, CodecConfig, OpusConfig, unsupported};
use crate::error::{Error, Result};

/// Cap on a box we are willing to reassemble across chunks (a fragment of live audio is KBs).
const MAX_BOX: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Track {
    id: u32,
    timescale: u32,
    config: Arc<CodecConfig>,
    sample_rate: u32,
    default_duration: u32,
    default_size: u32,
    /// Edit-list start (`elst` media_time) in timescale units: encoder delay to trim.
    media_time: u64,
}

/// Stateful fMP4 demuxer.
#[derive(Debug, Default)]
pub(crate) struct Fmp4Demuxer {
    track: Option<Track>,
    /// Incomplete top-level box carried to the next push.
    pending: BytesMut,
    /// A `moof` waiting for its `mdat`.
    moof: Option<Moof>,
    moof_len: usize,
}

fn err(reason: impl Into<String>) -> Error {
    Error::demux("fmp4", reason)
}

impl Fmp4Demuxer {
    /// Forgets fragment state but keeps the init section (bad data, discontinuity).
    pub fn reset_fragment(&mut self) {
        self.pending.clear();
        self.moof = None;
    }

    /// Feeds bytes (init section or media); appends the samples of complete fragments.
    ///
    /// Zero-copy when chunks hold whole boxes (the HLS case): samples are slices of the chunk.
    /// A box split across chunks is copied once into `pending`.
    pub fn push(&mut self, data: Bytes, out: &mut Vec<AccessUnit>) -> Result<()> {
        // A chunk that starts a new fragment while a box is still incomplete means the previous
        // chunk was truncated: drop the partial box (reported after this chunk is demuxed).
        let mut truncated = None;
        if !self.pending.is_empty() && starts_fragment(&data) {
            truncated = Some(self.pending.len());
            self.reset_fragment();
        }
        let mut data = if self.pending.is_empty() {
            data
        } else {
            self.pending.extend_from_slice(&data);
            self.pending.split().freeze()
        };
        while let Some((kind, header_len, total)) = box_header(&data)? {
            if total > data.len() {
                if total > MAX_BOX {
                    self.reset_fragment();
                    return Err(err(format!(
                        "box {kind:?} of {total} bytes exceeds the cap"
                    )));
                }
                break;
            }
            let body = data.slice(header_len..total);
            let whole = data.slice(..total);
            data.advance(total);
            match &kind {
                b"moov" => self.apply_init(&whole)?,
                b"moof" => {
                    let moof =
                        Moof::decode(&mut &whole[..]).map_err(|e| err(format!("moof: {e}")))?;
                    self.moof = Some(moof);
                    self.moof_len = total;
                }
                b"mdat" => {
                    let Some(moof) = self.moof.take() else {
                        return Err(err("mdat without a preceding moof"));
                    };
                    self.samples(&moof, self.moof_len + header_len, &body, out)?;
                }
                _ => {} // ftyp, styp, sidx, prft, emsg, free: nothing to decode
            }
        }
        if !data.is_empty() {
            self.pending.extend_from_slice(&data);
        }
        match truncated {
            Some(n) => Err(err(format!(
                "previous chunk ended inside a box ({n} bytes dropped)"
            ))),
            None => Ok(()),
        }
    }

    fn apply_init(&mut self, moov_box: &[u8]) -> Result<()> {
        let moov = Moov::decode(&mut &moov_box[..]).map_err(|e| err(format!("moov: {e}")))?;
        let trak = moov
            .trak
            .iter()
            .find(|t| &<[u8; 4]>::from(t.mdia.hdlr.handler) == b"soun")
            .ok_or_else(|| err("init section has no audio track"))?;
        let codec = trak
            .mdia
            .minf
            .stbl
            .stsd
            .codecs
            .first()
            .ok_or_else(|| err("audio track has no sample entry"))?;
        let (config, sample_rate) = match codec {
            Codec::Mp4a(mp4a) => {
                let dc = &mp4a.esds.es_desc.dec_config;
                let rate = u32::from(mp4a.audio.sample_rate.integer());
                match dc.object_type_indication {
                    0x40 | 0x66..=0x68 => {
                        let asc = dc
                            .dec_specific
                            .as_ref()
                            .map(|d| d.raw.clone())
                            .filter(|raw| raw.len() >= 2)
                            .ok_or_else(|| err("esds has no AudioSpecificConfig"))?;
                        (CodecConfig::Aac { asc }, rate)
                    }
                    0x69 | 0x6B => (CodecConfig::Mpa { layer: 3 }, rate),
                    other => return Err(unsupported(format!("mp4a object type 0x{other:02x}"))),
                }
            }
            Codec::Mp3(mp3) => (
                CodecConfig::Mpa { layer: 3 },
                u32::from(mp3.audio.sample_rate.integer()),
            ),
            Codec::Flac(flac) => {
                // dfLa body = FullBox header (4) + metadata blocks (4-byte header each); symphonia
                // wants the bare 34-byte STREAMINFO, so re-encode and cut it out.
                let mut buf = Vec::new();
                flac.dfla
                    .encode(&mut buf)
                    .map_err(|e| err(format!("dfLa: {e}")))?;
                let si = buf
                    .get(16..16 + 34)
                    .ok_or_else(|| err("dfLa without STREAMINFO"))?;
                let rate =
                    (u32::from(si[10]) << 12) | (u32::from(si[11]) << 4) | (u32::from(si[12]) >> 4);
                (
                    CodecConfig::Flac {
                        streaminfo: si.to_vec(),
                    },
                    rate,
                )
            }
            Codec::Opus(opus) => {
                let d = &opus.dops;
                let (family, streams, coupled, mapping) = match &d.channel_mapping {
                    Some(m) => (
                        m.family,
                        m.stream_count,
                        m.coupled_count,
                        m.channel_mapping.clone(),
                    ),
                    None => (0, 1, u8::from(d.output_channel_count == 2), Vec::new()),
                };
                (
                    CodecConfig::Opus(OpusConfig {
                        channels: d.output_channel_count,
                        output_gain: d.output_gain,
                        family,
                        streams,
                        coupled,
                        mapping,
                    }),
                    48_000,
                )
            }
            other => {
                return Err(unsupported(
                    format!("sample entry {other:?}")
                        .chars()
                        .take(80)
                        .collect::<String>(),
                ));
            }
        };
        let id = trak.tkhd.track_id;
        let trex = moov
            .mvex
            .as_ref()
            .and_then(|m| m.trex.iter().find(|t| t.track_id == id));
        let media_time = trak
            .edts
            .as_ref()
            .and_then(|e| e.elst.as_ref())
            .and_then(|l| l.entries.iter().find_map(|e| e.media_time))
            .unwrap_or(0);
        let timescale = trak.mdia.mdhd.timescale;
        if timescale == 0 {
            return Err(err("mdhd timescale is 0"));
        }
        self.track = Some(Track {
            id,
            timescale,
            config: Arc::new(config),
            sample_rate,
            default_duration: trex.map_or(0, |t| t.default_sample_duration),
            default_size: trex.map_or(0, |t| t.default_sample_size),
            media_time,
        });
        self.moof = None;
        Ok(())
    }

    /// Slices the samples of `moof` out of the following `mdat` body.
    ///
    /// `mdat_body_offset` is the distance from the start of the moof to the mdat payload, so a
    /// trun `data_offset` (relative to the moof, `default-base-is-moof` as CMAF requires)
    /// maps to `data_offset - mdat_body_offset` inside `mdat`.
    fn samples(
        &self,
        moof: &Moof,
        mdat_body_offset: usize,
        mdat: &Bytes,
        out: &mut Vec<AccessUnit>,
    ) -> Result<()> {
        let track = self.track.as_ref().ok_or(Error::MissingInit)?;
        for traf in moof.traf.iter().filter(|t| t.tfhd.track_id == track.id) {
            let mut dts = traf.tfdt.as_ref().map_or(0, |t| t.base_media_decode_time);
            let default_duration = traf
                .tfhd
                .default_sample_duration
                .unwrap_or(track.default_duration);
            let default_size = traf.tfhd.default_sample_size.unwrap_or(track.default_size);
            let mut pos: usize = 0; // offset inside mdat of the next sample
            for trun in &traf.trun {
                if let Some(off) = trun.data_offset {
                    let off = usize::try_from(off).map_err(|_| err("negative trun data_offset"))?;
                    pos = off
                        .checked_sub(mdat_body_offset)
                        .ok_or_else(|| err("trun data_offset points before the mdat payload"))?;
                }
                for entry in trun.samples.iter() {
                    let size = entry.size.unwrap_or(default_size) as usize;
                    let dur = entry.duration.unwrap_or(default_duration);
                    let end = pos
                        .checked_add(size)
                        .filter(|&e| e <= mdat.len())
                        .ok_or_else(|| {
                            err(format!(
                                "sample of {size} bytes at {pos} overruns mdat ({})",
                                mdat.len()
                            ))
                        })?;
                    let (pts, trim) = if dts < track.media_time {
                        let ticks = track.media_time - dts;
                        let frames =
                            ticks * u64::from(track.sample_rate) / u64::from(track.timescale);
                        (0, u32::try_from(frames).unwrap_or(u32::MAX))
                    } else {
                        (dts - track.media_time, 0)
                    };
                    out.push(AccessUnit {
                        data: mdat.slice(pos..end),
                        pts: ticks_to_duration(pts, track.timescale),
                        trim_start: trim,
                        config: track.config.clone(),
                    });
                    pos = end;
                    dts += u64::from(dur);
                }
            }
        }
        Ok(())
    }
}

fn ticks_to_duration(ticks: u64, timescale: u32) -> Duration {
    let ts = u64::from(timescale);
    Duration::from_secs(ticks / ts) + Duration::from_nanos((ticks % ts) * 1_000_000_000 / ts)
}

/// Whether `b` starts with a box that begins a fragment or an init section.
fn starts_fragment(b: &[u8]) -> bool {
    matches!(box_header(b), Ok(Some((kind, _, _))) if matches!(&kind, b"styp" | b"moof" | b"sidx" | b"prft" | b"emsg" | b"ftyp" | b"moov"))
}

/// Reads a top-level box header: `(kind, header_len, total_len)`; `None` if incomplete.
fn box_header(b: &[u8]) -> Result<Option<([u8; 4], usize, usize)>> {
    if b.len() < 8 {
        return Ok(None);
    }
    let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let kind: [u8; 4] = [b[4], b[5], b[6], b[7]];
    if !kind.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        return Err(err(format!("not an MP4 box (type bytes {kind:02x?})")));
    }
    match size {
        0 => Err(err(
            "box extending to end of file is not allowed in a live stream",
        )),
        1 => {
            if b.len() < 16 {
                return Ok(None);
            }
            let large = u64::from_be_bytes(b[8..16].try_into().expect("8 bytes"));
            let total = usize::try_from(large).map_err(|_| err("box too large"))?;
            if total < 16 {
                return Err(err("largesize box shorter than its header"));
            }
            Ok(Some((kind, 16, total)))
        }
        s if s < 8 => Err(err(format!("box size {s} shorter than its header"))),
        s => Ok(Some((kind, 8, s))),
    }
}
