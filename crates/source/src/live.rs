//! The wall-clock paced synthetic live source (a thin tokio driver around [`Ladder`]).

use std::time::{Duration, SystemTime};

use aulos_packager::Part;
use bytes::Bytes;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::Error;
use crate::ladder::{Ladder, LadderConfig};
use crate::signal::Synth;

/// What the live source emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// The init segment of a rendition; sent once per rendition before any part.
    Init {
        /// Rendition index (position in [`Ladder::renditions`]).
        rendition: usize,
        /// `ftyp` + `moov`.
        data: Bytes,
    },
    /// A finished part of a rendition.
    Part {
        /// Rendition index.
        rendition: usize,
        /// The part (`program_date_time` = capture time of its first sample).
        part: Part,
    },
}

/// Settings of the synthetic live source.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    /// The ladder to encode into.
    pub ladder: LadderConfig,
    /// PCM generation step. Default 20 ms.
    pub step: Duration,
    /// Seed of the synthetic signal.
    pub seed: u64,
    /// Tone frequency of the synthetic signal. Default 440 Hz.
    pub tone_hz: f64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            ladder: LadderConfig::default(),
            step: Duration::from_millis(20),
            seed: 1,
            tone_hz: 440.0,
        }
    }
}

impl LiveConfig {
    /// Checks the ladder and a step in 1 ms..=1 s.
    pub fn validate(&self) -> Result<(), Error> {
        self.ladder.validate()?;
        if self.step < Duration::from_millis(1) || self.step > Duration::from_secs(1) {
            return Err(Error::InvalidConfig("step must be in 1 ms..=1 s".into()));
        }
        if !(self.tone_hz > 0.0 && self.tone_hz < f64::from(self.ladder.sample_rate) / 2.0) {
            return Err(Error::InvalidConfig(
                "tone_hz must be in (0, rate/2)".into(),
            ));
        }
        Ok(())
    }
}

/// Spawns the synthetic live source on the current tokio runtime.
///
/// It sends [`SourceEvent::Init`] for every rendition, then generates PCM in `step`-sized
/// blocks following the clock: the number of frames generated is always
/// `floor(elapsed / step) * step * rate` measured from the start instant, so a late wake-up
/// is caught up at once and rounding never accumulates (no drift). Capture time of frame `n`
/// is `start_wall_clock + n / rate`. Encoding runs inline (a few ms per step for three
/// renditions). The task ends with `Ok(())` when `tx` is closed, or with the error that
/// stopped it. Uses `tokio::time`, so tests can drive it with `tokio::time::pause()`.
///
/// ```no_run
/// # async fn demo() {
/// use aulos_source::{LiveConfig, SourceEvent, spawn_synthetic};
/// let (tx, mut rx) = tokio::sync::mpsc::channel(64);
/// let task = spawn_synthetic(LiveConfig::default(), tx);
/// while let Some(ev) = rx.recv().await {
///     match ev {
///         SourceEvent::Init { rendition, data } => { /* store the EXT-X-MAP */ }
///         SourceEvent::Part { rendition, part } => { /* append to the rendition */ }
///     }
/// }
/// # drop(task); }
/// ```
pub fn spawn_synthetic(cfg: LiveConfig, tx: Sender<SourceEvent>) -> JoinHandle<Result<(), Error>> {
    tokio::spawn(run(cfg, tx))
}

async fn run(cfg: LiveConfig, tx: Sender<SourceEvent>) -> Result<(), Error> {
    cfg.validate()?;
    let mut ladder = Ladder::new(cfg.ladder.clone())?;
    for (rendition, data) in ladder.init_segments().into_iter().enumerate() {
        if tx
            .send(SourceEvent::Init { rendition, data })
            .await
            .is_err()
        {
            return Ok(());
        }
    }
    let rate = u64::from(cfg.ladder.sample_rate);
    let channels = usize::from(cfg.ladder.channels);
    let step_frames = (cfg.step.as_nanos() * u128::from(rate) / 1_000_000_000).max(1) as u64;
    let mut synth = Synth::with_tone(cfg.ladder.sample_rate, cfg.seed, cfg.tone_hz);
    let mut stereo = vec![0.0f32; step_frames as usize * 2];
    let mut pcm = vec![0.0f32; step_frames as usize * channels];
    let frames_to_time = |frames: u64| {
        Duration::from_nanos(
            u64::try_from(u128::from(frames) * 1_000_000_000 / u128::from(rate))
                .unwrap_or(u64::MAX),
        )
    };

    let start = Instant::now();
    let wall0 = SystemTime::now();
    let mut generated: u64 = 0;
    tracing::debug!(
        renditions = ladder.renditions().len(),
        step_frames,
        "synthetic source started"
    );
    loop {
        let due = u64::try_from(start.elapsed().as_nanos() * u128::from(rate) / 1_000_000_000)
            .unwrap_or(u64::MAX);
        while generated + step_frames <= due {
            synth.fill(&mut stereo);
            let block: &[f32] = if channels == 2 {
                &stereo
            } else {
                // Mono ladder: average the synth's two channels.
                for (o, f) in pcm.iter_mut().zip(stereo.chunks(2)) {
                    *o = 0.5 * (f[0] + f[1]);
                }
                &pcm
            };
            let captured = wall0 + frames_to_time(generated);
            for (rendition, part) in ladder.push_pcm(block, captured)? {
                if tx
                    .send(SourceEvent::Part { rendition, part })
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            generated += step_frames;
        }
        let next = start + frames_to_time(generated + step_frames);
        tokio::select! {
            _ = sleep_until(next) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}
