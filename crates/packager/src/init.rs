//! The CMAF init segment: `ftyp` + `moov` for one audio track (checklist P-MAP-02).

use bytes::Bytes;
use mp4_atom as m;
use mp4_atom::Encode;

use crate::{AudioFormat, Codec, Error};

/// Default sample flags for audio: `sample_depends_on = 2` (depends on no other sample),
/// i.e. every sample is a sync sample (ISO/IEC 14496-12 §8.8.3.1).
pub(crate) const AUDIO_SAMPLE_FLAGS: u32 = 0x0200_0000;

/// Parsed FLAC STREAMINFO (RFC 9639 §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    pub min_block: u16,
    pub max_block: u16,
    pub min_frame: u32,
    pub max_frame: u32,
    pub sample_rate: u32,
    pub channels_minus_one: u8,
    pub bits_minus_one: u8,
    pub total_samples: u64,
    pub md5: [u8; 16],
}

impl StreamInfo {
    pub(crate) fn parse(b: &[u8]) -> Result<Self, Error> {
        if b.len() != 34 {
            return Err(Error::InvalidStreamInfo("STREAMINFO must be 34 bytes"));
        }
        let u24 = |i: usize| u32::from_be_bytes([0, b[i], b[i + 1], b[i + 2]]);
        let packed = u64::from_be_bytes([b[10], b[11], b[12], b[13], b[14], b[15], b[16], b[17]]);
        let mut md5 = [0u8; 16];
        md5.copy_from_slice(&b[18..34]);
        let si = Self {
            min_block: u16::from_be_bytes([b[0], b[1]]),
            max_block: u16::from_be_bytes([b[2], b[3]]),
            min_frame: u24(4),
            max_frame: u24(7),
            sample_rate: (packed >> 44) as u32,
            channels_minus_one: ((packed >> 41) & 0x7) as u8,
            bits_minus_one: ((packed >> 36) & 0x1f) as u8,
            total_samples: packed & 0x0f_ffff_ffff,
            md5,
        };
        if si.sample_rate == 0 {
            return Err(Error::InvalidStreamInfo("sample rate 0"));
        }
        if si.min_block < 16 || si.max_block < si.min_block {
            return Err(Error::InvalidStreamInfo("block sizes out of range"));
        }
        Ok(si)
    }
}

/// Builds `ftyp` + `moov` for `format` on track `track_id`, timescale = sample rate.
pub(crate) fn build_init_segment(format: &AudioFormat, track_id: u32) -> Result<Bytes, Error> {
    // `Audio::sample_rate` is a 16.16 fixed-point field: rates above 65535 Hz do not fit.
    // ISO/IEC 14496-12 says to put the rate there "if it fits"; the real rate is the
    // track timescale (and the codec configuration), which is what players use.
    let entry_rate = u16::try_from(format.sample_rate).unwrap_or(0);
    let audio = m::Audio {
        data_reference_index: 1,
        channel_count: format.channels,
        sample_size: 16,
        sample_rate: entry_rate.into(),
    };

    let (sample_entry, mut brands): (m::Codec, Vec<m::FourCC>) = match &format.codec {
        Codec::Aac { asc } => (
            m::Mp4a {
                audio,
                esds: esds(0x40, Some(asc)),
                btrt: None,
                taic: None,
            }
            .into(),
            vec![b"caac".into()],
        ),
        Codec::Mp3 => (
            // MP3 in ISO BMFF per ISO/IEC 14496-12 + MP4RA: `mp4a` entry, objectTypeIndication
            // 0x6B (MPEG-1 audio; decoders handle MPEG-2 LSF frames under it too) and no
            // DecoderSpecificInfo. (mp4-atom's `.mp3` entry is the QuickTime form, not CMAF.)
            m::Mp4a {
                audio,
                esds: esds(0x6B, None),
                btrt: None,
                taic: None,
            }
            .into(),
            vec![],
        ),
        Codec::Flac { streaminfo } => {
            let si = StreamInfo::parse(streaminfo)?;
            let block = m::FlacMetadataBlock::StreamInfo {
                minimum_block_size: si.min_block,
                maximum_block_size: si.max_block,
                minimum_frame_size: si
                    .min_frame
                    .try_into()
                    .map_err(|_| Error::InvalidStreamInfo("frame size"))?,
                maximum_frame_size: si
                    .max_frame
                    .try_into()
                    .map_err(|_| Error::InvalidStreamInfo("frame size"))?,
                sample_rate: si.sample_rate,
                num_channels_minus_one: si.channels_minus_one,
                bits_per_sample_minus_one: si.bits_minus_one,
                number_of_interchannel_samples: si.total_samples,
                md5_checksum: si.md5.to_vec(),
            };
            let mut audio = audio;
            audio.sample_size = u16::from(si.bits_minus_one) + 1;
            (
                m::Flac {
                    audio,
                    dfla: m::Dfla {
                        blocks: vec![block],
                    },
                }
                .into(),
                vec![],
            )
        }
        Codec::Opus { head } => {
            let channel_mapping = (head.mapping_family != 0).then(|| m::OpusChannelMapping {
                family: head.mapping_family,
                stream_count: head.stream_count,
                coupled_count: head.coupled_count,
                channel_mapping: head.mapping[..usize::from(head.channels)].to_vec(),
            });
            // The pre-skip travels in `dOps`; an edit list would trim it at the very
            // start of a file, which a live stream joined mid-way never plays.
            (
                m::Opus {
                    audio,
                    dops: m::Dops {
                        output_channel_count: head.channels,
                        pre_skip: head.pre_skip,
                        input_sample_rate: head.input_sample_rate,
                        output_gain: head.output_gain,
                        channel_mapping,
                    },
                    btrt: None,
                }
                .into(),
                vec![b"Opus".into()],
            )
        }
    };

    let mut compatible: Vec<m::FourCC> = vec![b"iso6".into(), b"cmfc".into()];
    compatible.append(&mut brands);
    let ftyp = m::Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: compatible,
    };

    let moov = m::Moov {
        mvhd: m::Mvhd {
            creation_time: 0,
            modification_time: 0,
            timescale: format.sample_rate,
            duration: 0,
            rate: 1.into(),
            volume: 1.into(),
            matrix: Default::default(),
            next_track_id: track_id.saturating_add(1),
        },
        mvex: Some(m::Mvex {
            mehd: None,
            trex: vec![m::Trex {
                track_id,
                default_sample_description_index: 1,
                default_sample_duration: format.frame_samples,
                default_sample_size: 0,
                default_sample_flags: AUDIO_SAMPLE_FLAGS,
            }],
        }),
        trak: vec![m::Trak {
            tkhd: m::Tkhd {
                track_id,
                enabled: true,
                in_movie: true,
                volume: 1.into(),
                ..Default::default()
            },
            mdia: m::Mdia {
                mdhd: m::Mdhd {
                    timescale: format.sample_rate,
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: m::Hdlr {
                    handler: b"soun".into(),
                    name: "Aulos audio".into(),
                },
                minf: m::Minf {
                    smhd: Some(m::Smhd { balance: 0.into() }),
                    dinf: m::Dinf {
                        dref: m::Dref {
                            entries: vec![
                                m::Url {
                                    location: String::new(),
                                }
                                .into(),
                            ],
                        },
                    },
                    stbl: m::Stbl {
                        stsd: m::Stsd {
                            codecs: vec![sample_entry],
                        },
                        stco: Some(m::Stco::default()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        }],
        ..Default::default()
    };

    let mut out = Vec::with_capacity(1024);
    ftyp.encode(&mut out)?;
    moov.encode(&mut out)?;
    Ok(Bytes::from(out))
}

fn esds(object_type_indication: u8, asc: Option<&Bytes>) -> m::Esds {
    m::Esds {
        es_desc: m::esds::EsDescriptor {
            es_id: 0,
            dec_config: m::esds::DecoderConfig {
                object_type_indication,
                stream_type: 5, // AudioStream
                up_stream: 0,
                buffer_size_db: Default::default(),
                max_bitrate: 0,
                avg_bitrate: 0,
                dec_specific: asc.map(|asc| m::esds::DecoderSpecific {
                    profile: 0,
                    freq_index: 0,
                    chan_conf: 0,
                    raw: asc.to_vec(),
                }),
            },
            ..Default::default()
        },
    }
}
