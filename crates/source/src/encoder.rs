//! AAC-LC encoder: interleaved PCM in, raw access units (no ADTS) + AudioSpecificConfig out.
//!
//! Why fdk-aac: it is the only maintained AAC *encoder* available as a Rust crate (symphonia
//! and the other pure-Rust crates decode only), and the Fraunhofer FDK AAC library is a
//! high-quality reference-grade encoder. Licence note: the FDK AAC code ships under the
//! "Software License for The Fraunhofer FDK AAC Codec Library for Android", which is free to
//! use but not an OSI licence and grants no patent rights; check it before distributing
//! binaries (see the crate README).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use aulos_packager::{AccessUnit, AudioFormat};
use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use crate::Error;

/// AAC-LC encoder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacEncoderConfig {
    /// Constant bitrate in bits/s (e.g. 96_000).
    pub bitrate: u32,
    /// Sample rate in Hz (an AAC standard rate, e.g. 48_000).
    pub sample_rate: u32,
    /// 1 or 2 (the fdk-aac crate opens the encoder for at most two channels).
    pub channels: u16,
}

impl Default for AacEncoderConfig {
    fn default() -> Self {
        Self {
            bitrate: 96_000,
            sample_rate: 48_000,
            channels: 2,
        }
    }
}

impl AacEncoderConfig {
    /// Checks channels (1..=2), a standard AAC sample rate and a bitrate in 8..=512 kb/s.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=2).contains(&self.channels) {
            return Err(Error::InvalidConfig(format!(
                "channels must be 1 or 2, got {}",
                self.channels
            )));
        }
        if aulos_packager::AudioSpecificConfig::build(2, self.sample_rate, 2).is_none() {
            return Err(Error::InvalidConfig(format!(
                "{} Hz is not a standard AAC sample rate",
                self.sample_rate
            )));
        }
        if !(8_000..=512_000).contains(&self.bitrate) {
            return Err(Error::InvalidConfig(format!(
                "bitrate {} out of 8000..=512000",
                self.bitrate
            )));
        }
        Ok(())
    }
}

/// AAC-LC encoder (fdk-aac, raw transport: `TT_MP4_RAW`, so output frames carry no ADTS
/// header and the AudioSpecificConfig comes from the encoder's `confBuf`).
///
/// Each produced [`AccessUnit`] has `captured` set to the wall-clock time of the input
/// sample its first decoded sample corresponds to, i.e. shifted back by the encoder delay.
pub struct AacEncoder {
    enc: Encoder,
    cfg: AacEncoderConfig,
    asc: Bytes,
    frame_len: u32,
    delay: u32,
    pending: Vec<i16>,
    out: Vec<u8>,
    /// Input frames handed to the encoder so far (per channel).
    fed: u64,
    /// Access units produced so far.
    produced: u64,
    /// (first input frame index, capture time) of recent pushes, to time-stamp AUs.
    clock: VecDeque<(u64, SystemTime)>,
    /// Input frames received so far (per channel), including those still pending.
    received: u64,
}

impl std::fmt::Debug for AacEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacEncoder")
            .field("cfg", &self.cfg)
            .field("asc", &self.asc)
            .field("delay", &self.delay)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

/// At most this many capture-time anchors are kept (one per push).
const MAX_CLOCK_ANCHORS: usize = 64;

impl AacEncoder {
    /// Opens an AAC-LC CBR encoder.
    pub fn new(cfg: AacEncoderConfig) -> Result<Self, Error> {
        cfg.validate()?;
        let enc = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(cfg.bitrate),
            sample_rate: cfg.sample_rate,
            transport: Transport::Raw,
            channels: if cfg.channels == 1 {
                ChannelMode::Mono
            } else {
                ChannelMode::Stereo
            },
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| Error::Encoder(e.to_string()))?;
        let info = enc.info().map_err(|e| Error::Encoder(e.to_string()))?;
        let conf_len = (info.confSize as usize).min(info.confBuf.len());
        let asc = Bytes::copy_from_slice(&info.confBuf[..conf_len]);
        if asc.is_empty() {
            return Err(Error::Encoder(
                "encoder returned no AudioSpecificConfig".into(),
            ));
        }
        let max_out = (info.maxOutBufBytes as usize).max(8192);
        Ok(Self {
            enc,
            frame_len: info.frameLength.max(1),
            delay: info.nDelay,
            asc,
            pending: Vec::with_capacity(4096),
            out: vec![0; max_out],
            fed: 0,
            produced: 0,
            clock: VecDeque::new(),
            received: 0,
            cfg,
        })
    }

    /// The AudioSpecificConfig (2 bytes for AAC-LC).
    pub fn asc(&self) -> Bytes {
        self.asc.clone()
    }

    /// The packager format for this encoder's output.
    pub fn audio_format(&self) -> AudioFormat {
        AudioFormat {
            codec: aulos_packager::Codec::Aac {
                asc: self.asc.clone(),
            },
            sample_rate: self.cfg.sample_rate,
            channels: self.cfg.channels,
            frame_samples: self.frame_len,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AacEncoderConfig {
        &self.cfg
    }

    /// Encoder delay in samples per channel (decoded output lags the input by this much).
    pub fn delay_samples(&self) -> u32 {
        self.delay
    }

    /// Encodes interleaved f32 PCM (clamped to [-1, 1]). `captured` is the wall-clock time
    /// of the first frame of `pcm`.
    pub fn encode_f32(
        &mut self,
        pcm: &[f32],
        captured: Option<SystemTime>,
    ) -> Result<Vec<AccessUnit>, Error> {
        self.note_capture(pcm.len(), captured);
        self.pending.extend(
            pcm.iter()
                .map(|s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16),
        );
        self.drain()
    }

    /// Encodes interleaved i16 PCM. `captured` is the wall-clock time of the first frame.
    pub fn encode_i16(
        &mut self,
        pcm: &[i16],
        captured: Option<SystemTime>,
    ) -> Result<Vec<AccessUnit>, Error> {
        self.note_capture(pcm.len(), captured);
        self.pending.extend_from_slice(pcm);
        self.drain()
    }

    fn note_capture(&mut self, samples: usize, captured: Option<SystemTime>) {
        if let Some(t) = captured {
            self.clock.push_back((self.received, t));
            if self.clock.len() > MAX_CLOCK_ANCHORS {
                self.clock.pop_front();
            }
        }
        self.received += (samples / usize::from(self.cfg.channels)) as u64;
    }

    /// Capture time of input frame `index` (may be before the first anchor: the encoder's
    /// priming output maps to times before the first input sample).
    fn time_of(&self, index: i64) -> Option<SystemTime> {
        let &(start, t) = self
            .clock
            .iter()
            .rev()
            .find(|(s, _)| (*s as i64) <= index)
            .or(self.clock.front())?;
        let rate = f64::from(self.cfg.sample_rate);
        let offset = (index - start as i64) as f64 / rate;
        if offset >= 0.0 {
            Some(t + Duration::from_secs_f64(offset))
        } else {
            t.checked_sub(Duration::from_secs_f64(-offset))
        }
    }

    fn drain(&mut self) -> Result<Vec<AccessUnit>, Error> {
        let ch = usize::from(self.cfg.channels);
        let block = self.frame_len as usize * ch;
        let mut aus = Vec::new();
        while self.pending.len() >= block {
            let info = self
                .enc
                .encode(&self.pending[..block], &mut self.out)
                .map_err(|e| Error::Encoder(e.to_string()))?;
            if info.input_consumed == 0 && info.output_size == 0 {
                return Err(Error::Encoder("encoder made no progress".into()));
            }
            let consumed = info.input_consumed.min(self.pending.len());
            self.pending.drain(..consumed);
            self.fed += (consumed / ch) as u64;
            if info.output_size > 0 {
                let first =
                    self.produced as i64 * i64::from(self.frame_len) - i64::from(self.delay);
                aus.push(AccessUnit {
                    data: Bytes::copy_from_slice(&self.out[..info.output_size]),
                    samples: self.frame_len,
                    captured: self.time_of(first),
                });
                self.produced += 1;
            }
        }
        Ok(aus)
    }
}
