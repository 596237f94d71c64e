//! Audio format description: codec, configuration record and frame size.

use bytes::Bytes;

use crate::Error;

/// Sampling frequencies indexed by the 4-bit `samplingFrequencyIndex` of AAC
/// (ISO/IEC 14496-3 Table 1.18), shared by the ADTS header.
pub(crate) const AAC_SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The codec of an audio track and its out-of-band configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// MPEG-4 AAC; `asc` is the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1),
    /// stored in the `esds` DecoderSpecificInfo.
    Aac {
        /// AudioSpecificConfig bytes (2 bytes for AAC-LC).
        asc: Bytes,
    },
    /// MPEG-1/2 audio layer III, carried in `mp4a` with objectTypeIndication 0x6B.
    Mp3,
    /// FLAC, carried in an `fLaC` sample entry with a `dfLa` box.
    Flac {
        /// The 34-byte STREAMINFO metadata block body (without the 4-byte block header).
        streaminfo: Bytes,
    },
    /// Opus, carried in an `Opus` sample entry with a `dOps` box (Encapsulation of
    /// Opus in ISO Base Media File Format, §4.3).
    Opus {
        /// The stream's identification header.
        head: crate::OpusHead,
    },
}

/// A parsed view of an AAC AudioSpecificConfig (the prefix we need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// audioObjectType (2 = AAC-LC, 5 = SBR/HE-AAC, 29 = PS).
    pub object_type: u8,
    /// Sampling frequency in Hz.
    pub sample_rate: u32,
    /// channelConfiguration (0 = defined in a program config element).
    pub channel_config: u8,
}

impl AudioSpecificConfig {
    /// Parses the object type, sample rate and channel configuration of an ASC.
    pub fn parse(asc: &[u8]) -> Result<Self, Error> {
        let mut r = BitReader::new(asc);
        let mut object_type = r.bits(5).ok_or(Error::InvalidAsc("too short"))? as u8;
        if object_type == 31 {
            object_type = 32 + r.bits(6).ok_or(Error::InvalidAsc("too short"))? as u8;
        }
        if object_type == 0 {
            return Err(Error::InvalidAsc("audioObjectType 0 is invalid"));
        }
        let index = r.bits(4).ok_or(Error::InvalidAsc("too short"))? as usize;
        let sample_rate = match index {
            15 => r.bits(24).ok_or(Error::InvalidAsc("too short"))?,
            i if i < AAC_SAMPLE_RATES.len() => AAC_SAMPLE_RATES[i],
            _ => return Err(Error::InvalidAsc("reserved samplingFrequencyIndex")),
        };
        if sample_rate == 0 {
            return Err(Error::InvalidAsc("sample rate 0"));
        }
        let channel_config = r.bits(4).ok_or(Error::InvalidAsc("too short"))? as u8;
        Ok(Self {
            object_type,
            sample_rate,
            channel_config,
        })
    }

    /// Builds the 2-byte ASC for an object type, a standard sample rate and a channel
    /// configuration (as found in an ADTS header). Returns `None` for a non-standard rate.
    pub fn build(object_type: u8, sample_rate: u32, channel_config: u8) -> Option<Bytes> {
        let index = AAC_SAMPLE_RATES.iter().position(|&r| r == sample_rate)? as u8;
        if object_type == 0 || object_type >= 31 || channel_config > 15 {
            return None;
        }
        let b0 = (object_type << 3) | (index >> 1);
        let b1 = ((index & 1) << 7) | (channel_config << 3);
        Some(Bytes::copy_from_slice(&[b0, b1]))
    }
}

/// Everything the packager needs to know about the audio it packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFormat {
    /// Codec and its configuration record.
    pub codec: Codec,
    /// Sample rate in Hz; also the track timescale.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
    /// Samples per channel in one codec frame (1024 AAC-LC, 1152 MPEG-1 layer III,
    /// 576 MPEG-2 layer III, the block size for FLAC).
    pub frame_samples: u32,
}

impl AudioFormat {
    /// AAC format from an AudioSpecificConfig: rate and channels come from the ASC.
    ///
    /// `frame_samples` is 1024 (AAC-LC; for HE-AAC the core rate and frame count apply).
    pub fn aac(asc: Bytes) -> Result<Self, Error> {
        let parsed = AudioSpecificConfig::parse(&asc)?;
        if parsed.channel_config == 0 || parsed.channel_config > 7 {
            return Err(Error::InvalidAsc(
                "channelConfiguration must be 1..=7 (PCE-defined layouts unsupported)",
            ));
        }
        let channels = match parsed.channel_config {
            7 => 8,
            c => u16::from(c),
        };
        Ok(Self {
            codec: Codec::Aac { asc },
            sample_rate: parsed.sample_rate,
            channels,
            frame_samples: 1024,
        })
    }

    /// Opus format from its identification header: 48 kHz (Opus's only output rate and
    /// its MP4 timescale), 20 ms nominal frames (each packet's own duration comes from
    /// its TOC, see [`crate::opus_packet_samples`]).
    pub fn opus(head: crate::OpusHead) -> Self {
        Self {
            codec: Codec::Opus { head },
            sample_rate: crate::OPUS_RATE,
            channels: u16::from(head.channels),
            frame_samples: 960,
        }
    }

    /// The RFC 6381 `CODECS` value for an HLS playlist (`mp4a.40.2`, `mp4a.40.34`,
    /// `fLaC`, `opus`).
    pub fn codecs_string(&self) -> String {
        match &self.codec {
            Codec::Aac { asc } => match AudioSpecificConfig::parse(asc) {
                Ok(p) => format!("mp4a.40.{}", p.object_type),
                Err(_) => "mp4a.40.2".to_owned(),
            },
            // Apple's HLS authoring spec and hls.js both use mp4a.40.34 for MP3.
            Codec::Mp3 => "mp4a.40.34".to_owned(),
            Codec::Flac { .. } => "fLaC".to_owned(),
            // MP4RA registers `Opus`, but browsers' MSE expect it lowercase (hls.js
            // accepts both).
            Codec::Opus { .. } => "opus".to_owned(),
        }
    }

    /// Checks the fields that the container needs.
    pub fn validate(&self) -> Result<(), Error> {
        if self.sample_rate == 0 {
            return Err(Error::InvalidFormat("sample_rate must be > 0"));
        }
        if self.channels == 0 {
            return Err(Error::InvalidFormat("channels must be > 0"));
        }
        if self.frame_samples == 0 {
            return Err(Error::InvalidFormat("frame_samples must be > 0"));
        }
        match &self.codec {
            Codec::Aac { asc } => {
                AudioSpecificConfig::parse(asc)?;
            }
            Codec::Mp3 => {}
            Codec::Flac { streaminfo } => {
                let si = crate::init::StreamInfo::parse(streaminfo)?;
                if si.sample_rate != self.sample_rate {
                    return Err(Error::InvalidStreamInfo(
                        "STREAMINFO sample rate differs from AudioFormat::sample_rate",
                    ));
                }
                if u16::from(si.channels_minus_one) + 1 != self.channels {
                    return Err(Error::InvalidStreamInfo(
                        "STREAMINFO channel count differs from AudioFormat::channels",
                    ));
                }
            }
            Codec::Opus { head } => {
                if self.sample_rate != crate::OPUS_RATE {
                    return Err(Error::InvalidFormat("Opus in MP4 is timed at 48000 Hz"));
                }
                if u16::from(head.channels) != self.channels {
                    return Err(Error::InvalidFormat(
                        "OpusHead channel count differs from AudioFormat::channels",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Minimal MSB-first bit reader for configuration records and headers.
///
/// Hand-written: a few lines, and pulling a bit-reader crate for three fields is not worth it.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Reads `n <= 32` bits, or `None` past the end.
    pub(crate) fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v: u32 = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_aac_lc_48k_stereo() {
        // 0x11 0x90: object type 2, index 3 (48000), channel config 2 (ISO/IEC 14496-3 layout).
        let p = AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(
            p,
            AudioSpecificConfig {
                object_type: 2,
                sample_rate: 48000,
                channel_config: 2
            }
        );
        assert_eq!(
            AudioSpecificConfig::build(2, 48000, 2).unwrap().as_ref(),
            &[0x11, 0x90]
        );
        // 44.1 kHz mono: 0x12 0x08
        assert_eq!(
            AudioSpecificConfig::build(2, 44100, 1).unwrap().as_ref(),
            &[0x12, 0x08]
        );
    }

    #[test]
    fn asc_rejects_garbage() {
        assert!(AudioSpecificConfig::parse(&[]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x00, 0x00]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x17, 0x90]).is_err()); // index 14 reserved
        assert!(AudioFormat::aac(Bytes::from_static(&[0x11, 0x80])).is_err()); // channel config 0
    }

    #[test]
    fn codecs_strings() {
        let f = AudioFormat::aac(Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!(f.codecs_string(), "mp4a.40.2");
        assert_eq!(f.channels, 2);
        assert_eq!(f.sample_rate, 48000);
    }
}
