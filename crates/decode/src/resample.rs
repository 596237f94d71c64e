//! Channel mapping and sample-rate conversion to the pipeline's output format (rubato).

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{
    Adjustable as _, Async, FixedAsync, Indexing, PolynomialDegree, Resampler as _,
    SincInterpolationParameters, SincInterpolationType, WindowFunction,
};

use crate::error::{Error, Result};

/// Frames per rubato call (input side).
const CHUNK: usize = 1024;
/// Largest relative ratio change we allow (playback rates 0.95..=1.05 need 0.952..=1.053).
const MAX_RELATIVE: f64 = 1.1;

/// Resampler quality / CPU trade-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResampleQuality {
    /// Cubic polynomial interpolation: cheapest (≈ 900× real time with AAC decode on this
    /// project's bench machine). The default: live playback converts between close rates
    /// (44.1 ↔ 48 kHz, ±5 % rate control), where a cubic's small high-frequency roll-off and
    /// imaging are inaudible next to AAC's own band limit.
    #[default]
    Fast,
    /// Windowed sinc, 64 taps, linear interpolation between oversampled sincs (≈ 2.3× the
    /// CPU of `Fast`).
    Balanced,
    /// Windowed sinc, 256 taps, cubic interpolation (rubato's recommended default).
    High,
}

/// Converts decoded planar audio to interleaved output at a fixed rate and channel count.
///
/// When input and output rates match and no rate adjustment was ever requested, audio passes
/// through without rubato. Once a resampler exists it stays until [`OutputConverter::reset`],
/// so a playback-rate change never makes the signal jump between the two paths.
pub(crate) struct OutputConverter {
    out_rate: u32,
    out_channels: usize,
    quality: ResampleQuality,
    adaptive: bool,
    in_rate: u32,
    resampler: Option<Async<f32>>,
    /// Planar input waiting for a full rubato chunk (already mapped to output channels).
    fifo: Vec<Vec<f32>>,
    out_buf: Vec<Vec<f32>>,
    /// Output frames still to drop to cancel the resampler's delay.
    delay_left: usize,
    /// Relative ratio currently applied (1 / playback rate).
    relative: f64,
    /// Output frames the input fed so far is worth (for the flush), and frames emitted.
    expected_out: f64,
    emitted: u64,
}

impl std::fmt::Debug for OutputConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputConverter")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .field("resampling", &self.resampler.is_some())
            .finish()
    }
}

impl OutputConverter {
    pub fn new(out_rate: u32, out_channels: u16, quality: ResampleQuality, adaptive: bool) -> Self {
        Self {
            out_rate,
            out_channels: usize::from(out_channels),
            quality,
            adaptive,
            in_rate: 0,
            resampler: None,
            fifo: vec![Vec::new(); usize::from(out_channels)],
            out_buf: Vec::new(),
            delay_left: 0,
            relative: 1.0,
            expected_out: 0.0,
            emitted: 0,
        }
    }

    /// Frames buffered inside the converter (input side), in input frames.
    pub fn pending_frames(&self) -> usize {
        self.fifo.first().map_or(0, Vec::len)
    }

    /// The input rate currently configured (0 before the first audio).
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Sets the playback rate (1.0 = real time, 1.05 = 5 % faster, fewer output frames).
    pub fn set_playback_rate(&mut self, rate: f64) -> Result<()> {
        let relative = 1.0 / rate.clamp(1.0 / MAX_RELATIVE + 0.001, MAX_RELATIVE - 0.001);
        if (relative - self.relative).abs() < 1e-9 {
            return Ok(());
        }
        self.relative = relative;
        if let Some(r) = &mut self.resampler {
            r.set_resample_ratio_relative(relative, true)
                .map_err(|e| Error::Resample(e.to_string()))?;
        }
        Ok(())
    }

    /// Drops all state (discontinuity): buffered input is discarded, not flushed.
    pub fn reset(&mut self) {
        self.resampler = None;
        for p in &mut self.fifo {
            p.clear();
        }
        self.in_rate = 0;
        self.expected_out = 0.0;
        self.emitted = 0;
        self.delay_left = 0;
    }

    fn build(&mut self) -> Result<()> {
        let ratio = f64::from(self.out_rate) / f64::from(self.in_rate);
        let ch = self.out_channels;
        let r = match self.quality {
            ResampleQuality::Fast => Async::new_poly(
                ratio,
                MAX_RELATIVE,
                PolynomialDegree::Cubic,
                CHUNK,
                ch,
                FixedAsync::Input,
            ),
            ResampleQuality::Balanced | ResampleQuality::High => {
                let (len, interp) = if self.quality == ResampleQuality::High {
                    (256, SincInterpolationType::Cubic)
                } else {
                    (64, SincInterpolationType::Linear)
                };
                let mut p = SincInterpolationParameters::new(len, WindowFunction::BlackmanHarris2);
                p.interpolation = interp;
                Async::new_sinc(ratio, MAX_RELATIVE, &p, CHUNK, ch, FixedAsync::Input)
            }
        };
        let mut r = r.map_err(|e| Error::Resample(e.to_string()))?;
        if (self.relative - 1.0).abs() > 1e-9 {
            r.set_resample_ratio_relative(self.relative, false)
                .map_err(|e| Error::Resample(e.to_string()))?;
        }
        self.delay_left = r.output_delay();
        self.out_buf = vec![vec![0.0; r.output_frames_max()]; ch];
        self.resampler = Some(r);
        self.expected_out = 0.0;
        self.emitted = 0;
        Ok(())
    }

    /// Appends decoded audio (`planes` at `rate`) and writes converted frames to `out`.
    ///
    /// A rate change flushes what is buffered at the old rate first.
    pub fn push(&mut self, planes: &[Vec<f32>], rate: u32, out: &mut Vec<f32>) -> Result<()> {
        let frames = planes.first().map_or(0, Vec::len);
        if frames == 0 || planes.is_empty() {
            return Ok(());
        }
        if rate == 0 {
            return Err(Error::Resample("decoded audio has sample rate 0".into()));
        }
        if rate != self.in_rate {
            self.flush(out)?;
            self.resampler = None;
            self.in_rate = rate;
        }
        let need_resampler =
            rate != self.out_rate || self.adaptive && (self.relative - 1.0).abs() > 1e-9;
        if self.resampler.is_none() && need_resampler {
            self.build()?;
        }
        // Channel mapping: mono to both sides, stereo to mono as the mean, surround
        // (WAVE order) downmixed (`channels.rs`).
        crate::channels::downmix_planes(planes, &mut self.fifo);
        if self.resampler.is_none() {
            self.drain_passthrough(out);
            return Ok(());
        }
        self.expected_out +=
            frames as f64 * f64::from(self.out_rate) / f64::from(rate) * self.relative;
        self.run(out, false)
    }

    fn drain_passthrough(&mut self, out: &mut Vec<f32>) {
        let n = self.pending_frames();
        out.reserve(n * self.out_channels);
        for i in 0..n {
            for p in &self.fifo {
                out.push(p[i]);
            }
        }
        for p in &mut self.fifo {
            p.clear();
        }
    }

    /// Runs full chunks through rubato; with `flush`, also the partial tail plus silence until
    /// the output accounts for every input frame.
    fn run(&mut self, out: &mut Vec<f32>, flush: bool) -> Result<()> {
        let Some(r) = self.resampler.as_mut() else {
            return Ok(());
        };
        let ch = self.out_channels;
        let mut offset = 0;
        let total = self.fifo.first().map_or(0, Vec::len);
        loop {
            let need = r.input_frames_next();
            let avail = total - offset;
            let partial = if avail >= need {
                None
            } else if flush && (avail > 0 || (self.emitted as f64) < self.expected_out.round()) {
                Some(avail)
            } else {
                break;
            };
            let input = SequentialSliceOfVecs::new(&self.fifo, ch, total)
                .map_err(|e| Error::Resample(e.to_string()))?;
            let out_len = self.out_buf[0].len();
            let mut output = SequentialSliceOfVecs::new_mut(&mut self.out_buf, ch, out_len)
                .map_err(|e| Error::Resample(e.to_string()))?;
            let mut idx = Indexing::new().input_offset(offset);
            if let Some(p) = partial {
                idx = idx.partial_len(p);
            }
            let (used, produced) = r
                .process_into_buffer(&input, &mut output, Some(&idx))
                .map_err(|e| Error::Resample(e.to_string()))?;
            offset += used.min(avail);
            let skip = self.delay_left.min(produced);
            self.delay_left -= skip;
            let mut emit = produced - skip;
            if flush {
                let left = (self.expected_out.round() - self.emitted as f64).max(0.0) as usize;
                emit = emit.min(left);
            }
            out.reserve(emit * ch);
            for i in skip..skip + emit {
                for p in &self.out_buf {
                    out.push(p[i]);
                }
            }
            self.emitted += emit as u64;
            if partial.is_some()
                && (flush && (self.emitted as f64) >= self.expected_out.round() || produced == 0)
            {
                break;
            }
        }
        for p in &mut self.fifo {
            p.drain(..offset.min(p.len()));
        }
        Ok(())
    }

    /// Emits everything still buffered (end of stream or before a rate change).
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<()> {
        if self.resampler.is_some() {
            self.run(out, true)?;
            self.resampler = None;
            for p in &mut self.fifo {
                p.clear();
            }
        } else {
            self.drain_passthrough(out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn upsample_mono_to_stereo_keeps_duration() {
        let mut c = OutputConverter::new(48000, 2, ResampleQuality::Balanced, true);
        let mut out = Vec::new();
        for _ in 0..10 {
            c.push(&[sine(44100, 440.0, 4410)], 44100, &mut out)
                .unwrap();
        }
        c.flush(&mut out).unwrap();
        assert_eq!(out.len() % 2, 0);
        let frames = out.len() / 2;
        assert!(
            (frames as i64 - 48000).abs() <= 1,
            "got {frames} frames for 1 s"
        );
        assert!(
            out.chunks(2).all(|f| f[0] == f[1]),
            "mono copied to both channels"
        );
    }

    #[test]
    fn passthrough_is_exact() {
        let mut c = OutputConverter::new(48000, 2, ResampleQuality::Balanced, true);
        let mut out = Vec::new();
        let l = vec![0.25f32; 100];
        let r = vec![-0.5f32; 100];
        c.push(&[l, r], 48000, &mut out).unwrap();
        assert_eq!(out.len(), 200);
        assert_eq!(&out[..4], &[0.25, -0.5, 0.25, -0.5]);
    }

    #[test]
    fn faster_playback_gives_fewer_frames() {
        let mut c = OutputConverter::new(48000, 1, ResampleQuality::Fast, true);
        c.set_playback_rate(1.05).unwrap();
        let mut out = Vec::new();
        for _ in 0..10 {
            c.push(&[sine(48000, 440.0, 4800)], 48000, &mut out)
                .unwrap();
        }
        c.flush(&mut out).unwrap();
        let expect = 48000.0 / 1.05;
        assert!(
            (out.len() as f64 - expect).abs() < 2.0,
            "got {} want {expect}",
            out.len()
        );
    }
}
