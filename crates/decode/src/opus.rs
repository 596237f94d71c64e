//! Opus decoding: symphonia has none, so Opus goes to `opus-pure` (pure Rust, no
//! dependencies, checked against libopus by its authors; ≈ 50 µs per 20 ms stereo
//! packet here, `benches/decode.rs`). `opus-decoder` 0.1, used before, computes its FFT
//! as a plain O(n²) DFT and took ≈ 10 ms per packet, half of real time.
//!
//! Public so that the origin's transcoder (`aulos-source`) decodes Opus ingest with
//! the same code as the player.

use crate::channels::VORBIS_TO_WAVE;
use crate::error::{Error, Result};

/// The longest Opus packet, 120 ms at 48 kHz, in samples per channel.
const MAX_FRAMES: usize = opus_pure::MAX_PACKET_SAMPLES;

/// Opus always decodes at 48 kHz here (the rate MP4 and Ogg time it in).
pub const OPUS_RATE: u32 = 48_000;

/// What an Opus decoder needs: the `dOps` box (Encapsulation of Opus in ISOBMFF
/// §4.3.2) or the Ogg `OpusHead` (RFC 7845 §5.1) carry the same fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusConfig {
    /// Output channels.
    pub channels: u8,
    /// Output gain, Q7.8 dB (RFC 7845 §5.1: a player applies it).
    pub output_gain: i16,
    /// Channel mapping family (0: mono or stereo, one stream; 1: Vorbis surround
    /// order, up to 8 channels).
    pub family: u8,
    /// Streams in a packet, and how many of them are coupled (stereo) streams.
    pub streams: u8,
    pub coupled: u8,
    /// For each output channel, the decoded channel that feeds it (family 0: empty or
    /// the identity).
    pub mapping: Vec<u8>,
}

enum Engine {
    Single(Box<opus_pure::OpusDecoder>),
    Multi(Box<opus_pure::OpusMSDecoder>),
}

/// Decodes Opus packets into interleaved f32 at 48 kHz in WAVE channel order (FL, FR,
/// FC, LFE, BL, BR, SL, SR; see [`crate::downmix_planes`]), output gain applied.
pub struct OpusDecoder {
    engine: Engine,
    channels: usize,
    /// Linear output gain (1.0 when the header says 0 dB).
    gain: f32,
    /// Decoded channel for each WAVE-ordered output channel (family 1 with 3+ channels).
    reorder: Option<&'static [usize]>,
    /// The decoder's interleaved output of one packet (at most 120 ms), and the same
    /// reordered when `reorder` is set.
    scratch: Vec<f32>,
    out: Vec<f32>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("channels", &self.channels)
            .field("gain", &self.gain)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder for `c`. Family 0 (mono, stereo) and family 1 in its standard layout
    /// (RFC 7845 §5.1.1.2, what every encoder writes) are decoded; another layout is
    /// refused with [`Error::Opus`] rather than played with its channels mixed up.
    pub fn new(c: &OpusConfig) -> Result<Self> {
        let channels = usize::from(c.channels);
        let bad = |e: opus_pure::Error| Error::Opus(format!("decoder: {e}"));
        let engine = if c.family == 0 {
            Engine::Single(Box::new(
                opus_pure::OpusDecoder::new(OPUS_RATE as i32, channels).map_err(bad)?,
            ))
        } else {
            // opus-pure builds a multistream decoder from the family's standard layout.
            let layout = opus_pure::ChannelLayout::surround(channels, c.family).map_err(bad)?;
            if layout.nb_streams != usize::from(c.streams)
                || layout.nb_coupled_streams != usize::from(c.coupled)
                || layout.mapping[..] != c.mapping[..]
            {
                return Err(Error::Opus(format!(
                    "unsupported channel mapping: family {}, {} streams ({} coupled), mapping {:?}",
                    c.family, c.streams, c.coupled, c.mapping
                )));
            }
            Engine::Multi(Box::new(
                opus_pure::OpusMSDecoder::new(OPUS_RATE as i32, channels, c.family).map_err(bad)?,
            ))
        };
        let reorder = (c.family == 1 && channels >= 3)
            .then(|| VORBIS_TO_WAVE.get(channels - 3).copied())
            .flatten();
        Ok(Self {
            engine,
            channels,
            gain: 10f32.powf(f32::from(c.output_gain) / (20.0 * 256.0)),
            reorder,
            scratch: vec![0.0; MAX_FRAMES * channels],
            out: Vec::new(),
        })
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet; returns its samples, interleaved, in WAVE channel order.
    /// A packet that fails to decode is an [`Error::Opus`]; the decoder stays usable
    /// (the next packet decodes, with the codec's own concealment of the gap).
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32]> {
        let frames = match &mut self.engine {
            Engine::Single(d) => d.decode(packet, MAX_FRAMES, &mut self.scratch),
            Engine::Multi(d) => d.decode(packet, MAX_FRAMES, &mut self.scratch),
        }
        .map_err(|e| Error::Opus(format!("packet: {e}")))?;
        let gain = self.gain;
        let decoded = &mut self.scratch[..frames * self.channels];
        match self.reorder {
            None => {
                if gain != 1.0 {
                    decoded.iter_mut().for_each(|s| *s *= gain);
                }
                Ok(decoded)
            }
            Some(order) => {
                self.out.clear();
                for frame in decoded.chunks_exact(self.channels) {
                    self.out.extend(order.iter().map(|&i| frame[i] * gain));
                }
                Ok(&self.out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(channels: u8, family: u8, streams: u8, coupled: u8, mapping: &[u8]) -> OpusConfig {
        OpusConfig {
            channels,
            output_gain: 0,
            family,
            streams,
            coupled,
            mapping: mapping.to_vec(),
        }
    }

    #[test]
    fn standard_layouts_are_decoded_and_others_refused() {
        assert!(OpusDecoder::new(&config(2, 0, 1, 1, &[])).is_ok());
        // 5.1, family 1: four streams, two coupled (L/R, RL/RR), C and LFE mono.
        assert!(OpusDecoder::new(&config(6, 1, 4, 2, &[0, 4, 1, 2, 3, 5])).is_ok());
        // The same counts with the channels routed otherwise: refused, and says why.
        let e = OpusDecoder::new(&config(6, 1, 4, 2, &[0, 1, 2, 3, 4, 5])).unwrap_err();
        assert!(e.to_string().contains("unsupported channel mapping"), "{e}");
        let e = OpusDecoder::new(&config(2, 1, 2, 0, &[0, 1])).unwrap_err();
        assert!(e.to_string().contains("unsupported channel mapping"), "{e}");
    }

    #[test]
    fn a_broken_packet_is_an_error_and_the_next_one_decodes() {
        let mut enc =
            opus_pure::OpusEncoder::new(48_000, 2, opus_pure::Application::Audio).unwrap();
        let mut packet = vec![0u8; 4_000];
        let pcm: Vec<f32> = (0..1_920)
            .map(|i| ((i / 2) as f32 * 0.05).sin() * 0.3)
            .collect();
        let n = enc.encode(&pcm, 960, &mut packet).unwrap();
        let mut dec = OpusDecoder::new(&config(2, 0, 1, 1, &[])).unwrap();
        assert_eq!(dec.decode(&packet[..n]).unwrap().len(), 1_920);
        // Code 3 (arbitrary frame count) declaring zero frames: malformed.
        let e = dec.decode(&[0xFB, 0x00]).unwrap_err();
        assert!(matches!(e, Error::Opus(_)), "{e}");
        let n = enc.encode(&pcm, 960, &mut packet).unwrap();
        let out = dec.decode(&packet[..n]).unwrap();
        assert_eq!(out.len(), 1_920);
        assert!(
            out.iter().any(|s| s.abs() > 0.01),
            "the decoder still decodes"
        );
    }

    #[test]
    fn surround_comes_out_in_wave_order_with_the_gain_applied() {
        // Encode 5.1 where each Vorbis-ordered input channel holds its own DC level,
        // then check the decoder hands them back in WAVE order.
        let levels_vorbis = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.05]; // FL C FR RL RR LFE
        let mut enc =
            opus_pure::OpusMSEncoder::new(48_000, 6, 1, opus_pure::Application::Audio).unwrap();
        enc.set_bitrate(384_000);
        // +6.02 dB of output gain doubles every sample.
        let mut dec = OpusDecoder::new(&OpusConfig {
            output_gain: 6 * 256 + 5,
            ..config(6, 1, 4, 2, &[0, 4, 1, 2, 3, 5])
        })
        .unwrap();
        let mut packet = vec![0u8; 8_000];
        let mut last = Vec::new();
        for i in 0..50 {
            // A slow tone per channel, so the codec keeps it (DC is filtered out).
            let pcm: Vec<f32> = (0..960)
                .flat_map(|n| {
                    let t = (i * 960 + n) as f32 / 48_000.0;
                    let s = (2.0 * std::f32::consts::PI * 100.0 * t).sin();
                    levels_vorbis.map(|l| l * s)
                })
                .collect();
            let n = enc.encode(&pcm, 960, &mut packet).unwrap();
            last = dec.decode(&packet[..n]).unwrap().to_vec();
        }
        let rms = |c: usize| {
            let v: Vec<f32> = last.iter().skip(c).step_by(6).copied().collect();
            (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
        };
        // WAVE order: FL FR FC LFE BL BR; a sine's RMS is its level / √2, doubled.
        let want = [0.1f32, 0.3, 0.2, 0.05, 0.4, 0.5];
        for (c, w) in want.iter().enumerate() {
            let got = rms(c) / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
            assert!(
                (got - w).abs() < 0.1 * w + 0.01,
                "channel {c}: {got} vs {w}"
            );
        }
    }
}
