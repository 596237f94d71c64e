//! The rendition ladder: one PCM input → N AAC encoders → N packagers.

use std::time::SystemTime;

use aulos_packager::{Packager, PackagerConfig, Part};
use bytes::Bytes;

use crate::Error;
use crate::encoder::{AacEncoder, AacEncoderConfig};

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionConfig {
    /// Rendition name used in URLs and playlists (`a96`).
    pub name: String,
    /// AAC bitrate in bits/s.
    pub bitrate: u32,
}

/// Ladder settings: input format, renditions, packaging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderConfig {
    /// Input (and output) sample rate. Default 48 kHz.
    pub sample_rate: u32,
    /// Input (and output) channels. Default 2.
    pub channels: u16,
    /// The renditions, lowest bitrate first. Default a48/a96/a160.
    pub renditions: Vec<RenditionConfig>,
    /// Part/segment cutting shared by all renditions (so their parts line up).
    pub packager: PackagerConfig,
}

impl Default for LadderConfig {
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            channels: 2,
            renditions: [48_000, 96_000, 160_000]
                .into_iter()
                .map(|bitrate| RenditionConfig {
                    name: format!("a{}", bitrate / 1000),
                    bitrate,
                })
                .collect(),
            packager: PackagerConfig::default(),
        }
    }
}

impl LadderConfig {
    /// Checks that there is at least one rendition, names are unique and non-empty, and
    /// the packager config is valid (encoder settings are checked by [`Ladder::new`]).
    pub fn validate(&self) -> Result<(), Error> {
        if self.renditions.is_empty() {
            return Err(Error::InvalidConfig("ladder has no renditions".into()));
        }
        for (i, r) in self.renditions.iter().enumerate() {
            if r.name.is_empty() {
                return Err(Error::InvalidConfig(format!("rendition {i} has no name")));
            }
            if self.renditions[..i].iter().any(|o| o.name == r.name) {
                return Err(Error::InvalidConfig(format!(
                    "duplicate rendition name {}",
                    r.name
                )));
            }
        }
        self.packager.validate()?;
        Ok(())
    }

    /// The rendition descriptions a [`Ladder`] built from this config will report, without
    /// opening encoders (for a playlist that must exist before the first part; the codec is
    /// always AAC-LC, `mp4a.40.2`).
    pub fn describe(&self) -> Vec<RenditionInfo> {
        self.renditions
            .iter()
            .map(|r| self.info(r, "mp4a.40.2".to_owned()))
            .collect()
    }

    fn info(&self, r: &RenditionConfig, codecs: String) -> RenditionInfo {
        RenditionInfo {
            name: r.name.clone(),
            bandwidth: r.bitrate / 10 * 11 + 8_000,
            bitrate: r.bitrate,
            codecs,
            sample_rate: self.sample_rate,
            channels: self.channels,
        }
    }
}

/// What a playlist needs to know about a rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionInfo {
    /// Name (`a48`, `a96`, `a160`).
    pub name: String,
    /// Peak bits/s for `BANDWIDTH`: the AAC bitrate plus 10 % and 8 kb/s for fMP4 overhead
    /// (moof + mdat headers are ~200 bytes per 192 ms part ≈ 8 kb/s). An estimate; the
    /// registry can measure real segment bitrates.
    pub bandwidth: u32,
    /// Nominal AAC bitrate in bits/s.
    pub bitrate: u32,
    /// RFC 6381 codecs string (`mp4a.40.2`).
    pub codecs: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
}

struct Rung {
    encoder: AacEncoder,
    packager: Packager,
}

/// One PCM input encoded into N AAC renditions, each packaged into CMAF parts.
///
/// All renditions get the same PCM and the same packager settings, and AAC-LC frames are
/// 1024 samples everywhere, so part `k` of every rendition covers the same media time.
///
/// ```
/// use std::time::SystemTime;
/// use aulos_source::{Ladder, LadderConfig, Synth};
/// let mut ladder = Ladder::new(LadderConfig::default()).unwrap();
/// assert_eq!(ladder.renditions()[2].name, "a160");
/// let mut synth = Synth::new(48_000, 1);
/// let mut pcm = vec![0.0f32; 48_000 * 2]; // 1 s stereo
/// synth.fill(&mut pcm);
/// let parts = ladder.push_pcm(&pcm, SystemTime::now()).unwrap();
/// // 1 s = 46 whole AAC frames = 5 full 9-frame parts per rendition.
/// assert_eq!(parts.len(), 3 * 5);
/// ```
pub struct Ladder {
    cfg: LadderConfig,
    rungs: Vec<Rung>,
    infos: Vec<RenditionInfo>,
}

impl std::fmt::Debug for Ladder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ladder")
            .field("renditions", &self.infos)
            .finish_non_exhaustive()
    }
}

impl Ladder {
    /// Opens one encoder and one packager per rendition.
    pub fn new(cfg: LadderConfig) -> Result<Self, Error> {
        cfg.validate()?;
        let mut rungs = Vec::with_capacity(cfg.renditions.len());
        let mut infos = Vec::with_capacity(cfg.renditions.len());
        for r in &cfg.renditions {
            let encoder = AacEncoder::new(AacEncoderConfig {
                bitrate: r.bitrate,
                sample_rate: cfg.sample_rate,
                channels: cfg.channels,
            })?;
            let format = encoder.audio_format();
            infos.push(cfg.info(r, format.codecs_string()));
            let packager = Packager::new(format, cfg.packager.clone())?;
            rungs.push(Rung { encoder, packager });
        }
        Ok(Self { cfg, rungs, infos })
    }

    /// The configuration.
    pub fn config(&self) -> &LadderConfig {
        &self.cfg
    }

    /// Rendition descriptions, in ladder order (index = rendition number in events).
    pub fn renditions(&self) -> &[RenditionInfo] {
        &self.infos
    }

    /// Init segments, in ladder order.
    pub fn init_segments(&self) -> Vec<Bytes> {
        self.rungs
            .iter()
            .map(|r| r.packager.init_segment())
            .collect()
    }

    /// The packager of a rendition (part duration, frames per part, next decode time).
    pub fn packager(&self, rendition: usize) -> Option<&Packager> {
        self.rungs.get(rendition).map(|r| &r.packager)
    }

    /// Encodes interleaved f32 PCM (`channels` interleaved, `sample_rate`) into every
    /// rendition; returns the parts completed, as `(rendition index, part)`.
    /// `captured` is the wall-clock time of the first frame of `pcm`.
    pub fn push_pcm(
        &mut self,
        pcm: &[f32],
        captured: SystemTime,
    ) -> Result<Vec<(usize, Part)>, Error> {
        let mut parts = Vec::new();
        for (i, rung) in self.rungs.iter_mut().enumerate() {
            for au in rung.encoder.encode_f32(pcm, Some(captured))? {
                // Encoder AUs are never empty and carry 1024 samples; try_push cannot fail
                // for them, but surface it instead of dropping silently if it ever does.
                if let Some(part) = rung.packager.try_push(au)? {
                    parts.push((i, part));
                }
            }
        }
        Ok(parts)
    }

    /// Emits the buffered short part of every rendition (end of stream).
    pub fn flush(&mut self) -> Vec<(usize, Part)> {
        self.rungs
            .iter_mut()
            .enumerate()
            .filter_map(|(i, r)| r.packager.flush().map(|p| (i, p)))
            .collect()
    }
}
