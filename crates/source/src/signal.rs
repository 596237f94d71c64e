//! Deterministic synthetic programme material.

use std::f64::consts::TAU;

/// Deterministic, music-like synthetic stereo signal.
///
/// A steady tone, a slow chord progression (one chord every 2 s, soft attack), and
/// low-pass-filtered noise bursts every 250 ms whose level follows a pseudo-random pattern,
/// so the encoded AAC bitrate moves like real music. Output depends only on the seed and
/// the sample position: filling in any chunk sizes gives identical samples.
///
/// ```
/// use aulos_source::signal::Synth;
/// let mut a = Synth::new(48_000, 1);
/// let mut buf = vec![0.0f32; 960 * 2];
/// a.fill(&mut buf);
/// assert!(buf.iter().any(|&s| s != 0.0));
/// ```
#[derive(Debug, Clone)]
pub struct Synth {
    rate: u32,
    /// Frames produced so far.
    pos: u64,
    tone_hz: f64,
    seed: u64,
    rng: u64,
    lp: [f64; 2],
}

/// A-major I–V–vi–IV in Hz (A3 C#4 E4 / E3 G#3 B3 / F#3 A3 C#4 / D3 F#3 A3).
const CHORDS: [[f64; 3]; 4] = [
    [220.00, 277.18, 329.63],
    [164.81, 207.65, 246.94],
    [185.00, 220.00, 277.18],
    [146.83, 185.00, 220.00],
];
const CHORD_SECS: f64 = 2.0;
const BURST_SECS: f64 = 0.25;

impl Synth {
    /// A synth at `sample_rate` with a 440 Hz tone; `seed` varies the noise bursts.
    pub fn new(sample_rate: u32, seed: u64) -> Self {
        Self::with_tone(sample_rate, seed, 440.0)
    }

    /// Like [`Synth::new`] with a chosen tone frequency.
    pub fn with_tone(sample_rate: u32, seed: u64, tone_hz: f64) -> Self {
        Self {
            rate: sample_rate.max(1),
            pos: 0,
            tone_hz,
            seed,
            rng: splitmix(seed),
            lp: [0.0; 2],
        }
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Frames generated so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Fills `out` with interleaved stereo samples in [-1, 1] (a trailing odd sample gets
    /// the left channel of the next frame and the frame is not counted).
    pub fn fill(&mut self, out: &mut [f32]) {
        for frame in out.chunks_mut(2) {
            let (l, r) = self.next_frame();
            frame[0] = l;
            if let Some(s) = frame.get_mut(1) {
                *s = r;
            } else {
                break;
            }
        }
    }

    fn next_frame(&mut self) -> (f32, f32) {
        let t = self.pos as f64 / f64::from(self.rate);
        let tone = 0.15 * (TAU * self.tone_hz * t).sin();

        // Chord: three notes with a second harmonic, soft 300 ms attack, panned L/C/R.
        let chord_idx = (t / CHORD_SECS) as usize % CHORDS.len();
        let in_chord = t % CHORD_SECS;
        let env = (in_chord / 0.3).min(1.0) * (1.0 - 0.4 * in_chord / CHORD_SECS);
        let mut cl = 0.0;
        let mut cr = 0.0;
        for (i, f) in CHORDS[chord_idx].iter().enumerate() {
            let v = 0.07 * env * ((TAU * f * t).sin() + 0.3 * (TAU * 2.0 * f * t).sin());
            let pan = i as f64 / 2.0;
            cl += v * (1.0 - pan * 0.6);
            cr += v * (0.4 + pan * 0.6);
        }

        // Noise bursts: level per burst from a hash of (seed, burst index), fast decay.
        let burst = (t / BURST_SECS) as u64;
        let level = (splitmix(self.seed ^ burst.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 1000) as f64
            / 1000.0;
        let level = level * level * 0.5;
        let in_burst = t % BURST_SECS;
        let benv = level * (-in_burst * 12.0).exp();
        self.rng = splitmix(self.rng);
        let n0 = (self.rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        self.rng = splitmix(self.rng);
        let n1 = (self.rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        // One-pole low-pass (~3 kHz at 48 kHz) so the bursts sound like brushed percussion.
        self.lp[0] += 0.35 * (n0 - self.lp[0]);
        self.lp[1] += 0.35 * (n1 - self.lp[1]);

        self.pos += 1;
        let l = tone + cl + benv * self.lp[0];
        let r = tone + cr + benv * self.lp[1];
        (l.clamp(-1.0, 1.0) as f32, r.clamp(-1.0, 1.0) as f32)
    }
}

/// SplitMix64 step: a tiny, well-known, deterministic mixer (hand-written: four lines,
/// and the output must never change with a dependency upgrade).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_chunking_invariant() {
        let mut a = Synth::new(48_000, 7);
        let mut whole = vec![0.0f32; 48_000 * 2];
        a.fill(&mut whole);
        let mut b = Synth::new(48_000, 7);
        let mut pieces = vec![0.0f32; 48_000 * 2];
        for chunk in pieces.chunks_mut(2 * 331) {
            b.fill(chunk);
        }
        assert_eq!(whole, pieces);
        assert_eq!(a.position(), 48_000);

        let mut c = Synth::new(48_000, 8);
        let mut other = vec![0.0f32; 48_000 * 2];
        c.fill(&mut other);
        assert_ne!(whole, other, "the seed changes the noise");
    }

    #[test]
    fn level_varies_between_bursts() {
        let mut s = Synth::new(48_000, 1);
        let mut buf = vec![0.0f32; 48_000 * 2 * 4];
        s.fill(&mut buf);
        assert!(buf.iter().all(|x| x.abs() <= 1.0));
        // RMS per 250 ms window must differ clearly across windows (music-like dynamics).
        let rms: Vec<f32> = buf
            .chunks(12_000 * 2)
            .map(|w| (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt())
            .collect();
        let max = rms.iter().cloned().fold(0.0, f32::max);
        let min = rms.iter().cloned().fold(f32::MAX, f32::min);
        assert!(min > 0.05, "never silent: {min}");
        assert!(max / min > 1.2, "dynamics: {rms:?}");
    }
}
