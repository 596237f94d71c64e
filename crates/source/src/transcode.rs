//! Optional transcode ladder for ingest: AAC/MP3 access units → symphonia decode (Opus:
//! `aulos-decode`'s Opus decoder, the player's) → downmix (`aulos-decode`'s) → rubato
//! resample to the ladder rate →
//! [`Ladder`]. (Passthrough ingest does not come here: the origin packages ingested
//! AUs directly with its stream readers + `Packager`.)

use std::time::{Duration, SystemTime};

use aulos_decode::downmix_interleaved;
use aulos_packager::{AccessUnit, AudioFormat, Codec, Part};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::audioadapter_buffers::owned::InterleavedOwned;
use rubato::{Fft, FixedSync, Resampler};
use symphonia::core::audio::Channels;
use symphonia::core::audio::Position;
use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_MP3};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration as TsDuration, Timestamp};

use crate::Error;
use crate::ladder::{Ladder, LadderConfig};

/// Resampler chunk (input frames per rubato call).
const RESAMPLE_CHUNK: usize = 1024;

/// The input decoder.
enum Decoder {
    Symphonia(Box<dyn AudioDecoder>),
    /// Opus (48 kHz, WAVE channel order, output gain applied).
    Opus(Box<aulos_decode::OpusDecoder>),
}

impl Decoder {
    fn opus(head: &aulos_packager::OpusHead) -> Result<Self, Error> {
        let ch = usize::from(head.channels);
        let config = aulos_decode::OpusConfig {
            channels: head.channels,
            output_gain: head.output_gain,
            family: head.mapping_family,
            streams: head.stream_count,
            coupled: head.coupled_count,
            mapping: head.mapping[..ch].to_vec(),
        };
        aulos_decode::OpusDecoder::new(&config)
            .map(|d| Decoder::Opus(Box::new(d)))
            .map_err(|e| Error::Decoder(e.to_string()))
    }
}

/// Decodes AAC, MP3 or Opus access units and re-encodes them through a [`Ladder`].
pub struct Transcoder {
    decoder: Decoder,
    resampler: Option<Fft<f32>>,
    ladder: Ladder,
    in_channels: usize,
    out_rate: u32,
    /// Decoded, channel-mapped PCM at the input rate waiting for the resampler.
    pending: Vec<f32>,
    /// Scratch buffers.
    decoded: Vec<f32>,
    out_frames: u64,
    next_pts: i64,
    anchor: Option<SystemTime>,
    decode_errors: u64,
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("ladder", &self.ladder)
            .field("resampling", &self.resampler.is_some())
            .field("decode_errors", &self.decode_errors)
            .finish_non_exhaustive()
    }
}

impl Transcoder {
    /// A transcoder for `input` (AAC with its ASC, MP3, or Opus) into a ladder.
    pub fn new(input: &AudioFormat, ladder: LadderConfig) -> Result<Self, Error> {
        input.validate()?;
        let mut params = AudioCodecParameters::new();
        params.with_sample_rate(input.sample_rate);
        let position = match input.channels {
            1 => Position::FRONT_CENTER,
            _ => Position::FRONT_LEFT | Position::FRONT_RIGHT,
        };
        params.with_channels(Channels::Positioned(position));
        let symphonia = |params: &AudioCodecParameters| {
            symphonia::default::get_codecs()
                .make_audio_decoder(params, &AudioDecoderOptions::default())
                .map(Decoder::Symphonia)
                .map_err(|e| Error::Decoder(e.to_string()))
        };
        let decoder = match &input.codec {
            Codec::Aac { asc } => {
                params.codec = CODEC_ID_AAC;
                params.with_extra_data(asc.to_vec().into_boxed_slice());
                symphonia(&params)?
            }
            Codec::Mp3 => {
                params.codec = CODEC_ID_MP3;
                symphonia(&params)?
            }
            Codec::Opus { head } => Decoder::opus(head)?,
            Codec::Flac { .. } => {
                return Err(Error::InvalidConfig(
                    "the transcoder takes AAC, MP3 or Opus input".into(),
                ));
            }
        };
        let out_rate = ladder.sample_rate;
        let ladder = Ladder::new(ladder)?;
        let resampler = if input.sample_rate == out_rate {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    input.sample_rate as usize,
                    out_rate as usize,
                    RESAMPLE_CHUNK,
                    usize::from(ladder.config().channels),
                    FixedSync::Input,
                )
                .map_err(|e| Error::Resampler(e.to_string()))?,
            )
        };
        Ok(Self {
            decoder,
            resampler,
            ladder,
            in_channels: usize::from(input.channels),
            out_rate,
            pending: Vec::new(),
            decoded: Vec::new(),
            out_frames: 0,
            next_pts: 0,
            anchor: None,
            decode_errors: 0,
        })
    }

    /// The ladder (rendition descriptions, init segments).
    pub fn ladder(&self) -> &Ladder {
        &self.ladder
    }

    /// Access units that failed to decode so far (they are skipped).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Decodes one access unit and pushes the audio through the ladder.
    ///
    /// A corrupt AU is counted in [`decode_errors`](Self::decode_errors) and skipped (the
    /// output timeline simply continues). Capture time: the first AU with `captured` set
    /// anchors the timeline; later capture times follow by sample count.
    pub fn push(&mut self, au: &AccessUnit) -> Result<Vec<(usize, Part)>, Error> {
        if self.anchor.is_none() {
            self.anchor = au.captured;
        }
        let pts = self.next_pts;
        self.next_pts += i64::from(au.samples);
        // Decoded PCM goes straight into the downmix to the ladder's channels.
        let (in_ch, out_ch) = (self.in_channels, usize::from(self.ladder.config().channels));
        let decoded = match &mut self.decoder {
            Decoder::Symphonia(d) => {
                let packet = Packet::new(
                    0,
                    Timestamp::new(pts),
                    TsDuration::new(u64::from(au.samples)),
                    au.data.to_vec(),
                );
                d.decode(&packet)
                    .map(|buf| {
                        self.decoded.clear();
                        buf.copy_to_vec_interleaved(&mut self.decoded);
                        downmix_interleaved(&self.decoded, in_ch, out_ch, &mut self.pending);
                    })
                    .map_err(|e| e.to_string())
            }
            Decoder::Opus(d) => d
                .decode(&au.data)
                .map(|pcm| downmix_interleaved(pcm, in_ch, out_ch, &mut self.pending))
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = decoded {
            self.decode_errors += 1;
            tracing::debug!(error = %e, "transcoder: AU failed to decode, skipped");
            return Ok(Vec::new());
        }
        self.run(false)
    }

    /// Pushes the remaining buffered audio (zero-padded to a resampler chunk) and flushes
    /// the ladder's short parts.
    pub fn flush(&mut self) -> Result<Vec<(usize, Part)>, Error> {
        let mut parts = self.run(true)?;
        parts.extend(self.ladder.flush());
        Ok(parts)
    }

    fn run(&mut self, last: bool) -> Result<Vec<(usize, Part)>, Error> {
        let ch = usize::from(self.ladder.config().channels);
        let mut parts = Vec::new();
        let Some(resampler) = self.resampler.as_mut() else {
            let pcm = std::mem::take(&mut self.pending);
            if !pcm.is_empty() {
                parts.extend(self.push_out(&pcm)?);
            }
            return Ok(parts);
        };
        let mut resampled = Vec::new();
        loop {
            let need = resampler.input_frames_next();
            let have = self.pending.len() / ch;
            if have < need && !(last && have > 0) {
                break;
            }
            let frames = have.min(need);
            let input = InterleavedSlice::new(&self.pending[..frames * ch], ch, frames)
                .map_err(|e| Error::Resampler(e.to_string()))?;
            let mut out = InterleavedOwned::new(0.0f32, ch, resampler.output_frames_max());
            let indexing = (frames < need).then(|| rubato::Indexing::new().partial_len(frames));
            let (used, written) = resampler
                .process_into_buffer(&input, &mut out, indexing.as_ref())
                .map_err(|e| Error::Resampler(e.to_string()))?;
            self.pending.drain(..used.min(frames) * ch);
            let data = out.take_data();
            resampled.extend_from_slice(&data[..(written * ch).min(data.len())]);
            if frames < need {
                break;
            }
        }
        if !resampled.is_empty() {
            parts.extend(self.push_out(&resampled)?);
        }
        Ok(parts)
    }

    fn push_out(&mut self, pcm: &[f32]) -> Result<Vec<(usize, Part)>, Error> {
        let ch = usize::from(self.ladder.config().channels);
        let anchor = self.anchor.unwrap_or(SystemTime::UNIX_EPOCH);
        let captured = anchor
            + Duration::from_nanos(
                u64::try_from(
                    u128::from(self.out_frames) * 1_000_000_000 / u128::from(self.out_rate),
                )
                .unwrap_or(u64::MAX),
            );
        self.out_frames += (pcm.len() / ch) as u64;
        self.ladder.push_pcm(pcm, captured)
    }
}
