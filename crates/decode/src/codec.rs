//! Codec configuration found by the demuxers and the symphonia decoder built from it.

use std::sync::Arc;

use bytes::Bytes;
use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_FLAC, CODEC_ID_MP3};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::PacketRef;
use symphonia::core::units::{Duration as SymDuration, Timestamp};

use crate::error::{Error, Result};
pub(crate) use crate::opus::OpusConfig;
use crate::opus::{OPUS_RATE, OpusDecoder};

/// How to build the codec decoder; demuxers emit it with every access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodecConfig {
    /// AAC with its AudioSpecificConfig (from `esds` or synthesised from an ADTS header).
    Aac { asc: Vec<u8> },
    /// MPEG-1/2 audio layer I/II/III; symphonia reads everything else from each frame header.
    Mpa { layer: u8 },
    /// FLAC with its 34-byte STREAMINFO block (from `dfLa`).
    Flac { streaminfo: Vec<u8> },
    /// Opus with its `dOps` fields (always decoded at 48 kHz).
    Opus(OpusConfig),
}

/// The decoder for one configuration.
enum Engine {
    Symphonia(Box<dyn AudioDecoder>),
    Opus(Box<OpusDecoder>),
}

/// One coded audio frame ready for the codec decoder.
#[derive(Debug, Clone)]
pub(crate) struct AccessUnit {
    /// The coded frame (a slice of the chunk or of the demuxer's reassembly buffer).
    pub data: Bytes,
    /// Media time of the first decoded frame (after `trim_start`).
    pub pts: std::time::Duration,
    /// Decoded frames to drop from the start (edit list / encoder delay).
    pub trim_start: u32,
    /// The codec configuration this unit needs.
    pub config: Arc<CodecConfig>,
}

/// Planar f32 output of one access unit.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub planes: Vec<Vec<f32>>,
    pub rate: u32,
}

impl Decoded {
    pub fn frames(&self) -> usize {
        self.planes.first().map_or(0, Vec::len)
    }
}

/// A symphonia codec decoder rebuilt whenever the configuration changes.
pub(crate) struct CodecDecoder {
    config: Option<Arc<CodecConfig>>,
    decoder: Option<Engine>,
}

impl std::fmt::Debug for CodecDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodecDecoder")
            .field("config", &self.config)
            .finish()
    }
}

impl CodecDecoder {
    pub fn new() -> Self {
        Self {
            config: None,
            decoder: None,
        }
    }

    /// Forget decoder state (discontinuity); the next unit rebuilds it.
    pub fn reset(&mut self) {
        self.config = None;
        self.decoder = None;
    }

    fn build(config: &CodecConfig) -> Result<Engine> {
        let mut params = AudioCodecParameters::new();
        match config {
            CodecConfig::Aac { asc } => {
                params
                    .for_codec(CODEC_ID_AAC)
                    .with_extra_data(asc.clone().into_boxed_slice());
            }
            CodecConfig::Mpa { layer } => {
                use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP1, CODEC_ID_MP2};
                let id = match layer {
                    1 => CODEC_ID_MP1,
                    2 => CODEC_ID_MP2,
                    _ => CODEC_ID_MP3,
                };
                params.for_codec(id);
            }
            CodecConfig::Flac { streaminfo } => {
                params
                    .for_codec(CODEC_ID_FLAC)
                    .with_extra_data(streaminfo.clone().into_boxed_slice());
            }
            CodecConfig::Opus(c) => return Ok(Engine::Opus(Box::new(OpusDecoder::new(c)?))),
        }
        let registry = symphonia::default::get_codecs();
        Ok(Engine::Symphonia(registry.make_audio_decoder(
            &params,
            &AudioDecoderOptions::default(),
        )?))
    }

    /// Decodes one access unit into `out` (planes resized to the decoded frame count).
    pub fn decode(&mut self, au: &AccessUnit, out: &mut Decoded) -> Result<()> {
        let same = self.config.as_ref().is_some_and(|c| **c == *au.config);
        if !same || self.decoder.is_none() {
            self.decoder = None;
            self.decoder = Some(Self::build(&au.config)?);
            self.config = Some(au.config.clone());
        }
        match self.decoder.as_mut().expect("decoder built just above") {
            Engine::Symphonia(decoder) => {
                let packet = PacketRef::new(0, Timestamp::new(0), SymDuration::new(0), &au.data);
                let buf: GenericAudioBufferRef<'_> = match decoder.decode_ref(&packet) {
                    Ok(buf) => buf,
                    Err(e) => {
                        // A failed packet can leave the codec in a bad state: rebuild on
                        // the next unit.
                        self.decoder = None;
                        return Err(e.into());
                    }
                };
                out.rate = buf.spec().rate();
                buf.copy_to_vecs_planar::<f32>(&mut out.planes);
            }
            Engine::Opus(d) => {
                // A packet that fails leaves the Opus decoder usable: no rebuild.
                let channels = d.channels();
                let samples = d.decode(&au.data)?;
                out.rate = OPUS_RATE;
                out.planes.resize_with(channels, Vec::new);
                for (c, plane) in out.planes.iter_mut().enumerate() {
                    plane.clear();
                    plane.extend(samples.iter().skip(c).step_by(channels));
                }
            }
        }
        let trim = (au.trim_start as usize).min(out.frames());
        if trim > 0 {
            for plane in &mut out.planes {
                plane.drain(..trim);
            }
        }
        Ok(())
    }
}

/// Maps a symphonia "unsupported" into our error with the codec named.
pub(crate) fn unsupported(what: impl Into<String>) -> Error {
    Error::UnsupportedCodec(what.into())
}
