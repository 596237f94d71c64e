//! Baseline: hls.js's `abr-controller` bandwidth rule, reduced to what applies to
//! audio parts. Source: video-dev/hls.js `src/controller/abr-controller.ts` and
//! `src/utils/ewma-bandwidth-estimator.ts` (defaults `abrEwmaFastLive: 3`,
//! `abrEwmaSlowLive: 9`, `abrEwmaDefaultEstimate: 5e5`, `abrBandWidthFactor: 0.95`,
//! `abrBandWidthUpFactor: 0.7`, minimum sample delay 50 ms).
//!
//! Differences from hls.js (stated so the comparison is honest): no buffer-starvation
//! term (with a sub-second LL buffer it almost never changes the pick), no fragment
//! abandon rule, and the sample duration is first-to-last byte (hls.js subtracts its
//! TTFB estimate from the load time, which for a held hint request is the same idea).

use super::{AbrContext, AbrRule, Bitrate, Ewma, TransferKind, TransferSample};
use std::time::Duration;

/// Tunables of the baseline, defaults as in hls.js.
#[derive(Debug, Clone, PartialEq)]
pub struct HlsJsConfig {
    /// Fast EWMA half-life (`abrEwmaFastLive`).
    pub fast_half_life: Duration,
    /// Slow EWMA half-life (`abrEwmaSlowLive`).
    pub slow_half_life: Duration,
    /// Estimate used before any sample (`abrEwmaDefaultEstimate`).
    pub default_estimate: Bitrate,
    /// Factor applied to the estimate to stay or switch down (`abrBandWidthFactor`).
    pub bandwidth_factor: f64,
    /// Factor applied to the estimate to switch up (`abrBandWidthUpFactor`).
    pub bandwidth_up_factor: f64,
    /// Samples shorter than this are counted as this long (`minDelayMs`).
    pub min_delay: Duration,
}

impl Default for HlsJsConfig {
    fn default() -> Self {
        HlsJsConfig {
            fast_half_life: Duration::from_secs(3),
            slow_half_life: Duration::from_secs(9),
            default_estimate: Bitrate(500_000),
            bandwidth_factor: 0.95,
            bandwidth_up_factor: 0.7,
            min_delay: Duration::from_millis(50),
        }
    }
}

impl HlsJsConfig {
    /// Check the values are usable.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let ok = self.bandwidth_factor > 0.0
            && self.bandwidth_up_factor > 0.0
            && !self.fast_half_life.is_zero()
            && !self.slow_half_life.is_zero();
        if ok {
            Ok(())
        } else {
            Err(crate::Error::Config("HlsJsConfig out of range"))
        }
    }
}

/// The hls.js baseline rule.
#[derive(Debug, Clone)]
pub struct HlsJsRule {
    cfg: HlsJsConfig,
    fast: Ewma,
    slow: Ewma,
}

impl HlsJsRule {
    /// A new rule.
    pub fn new(cfg: HlsJsConfig) -> Self {
        HlsJsRule {
            fast: Ewma::new(cfg.fast_half_life),
            slow: Ewma::new(cfg.slow_half_life),
            cfg,
        }
    }
}

impl AbrRule for HlsJsRule {
    fn name(&self) -> &'static str {
        "hls.js"
    }

    fn on_transfer(&mut self, s: &TransferSample) {
        // hls.js samples fragments and parts, not playlists.
        if s.kind != TransferKind::Media || s.bytes == 0 {
            return;
        }
        let d = s.transfer_time().max(self.cfg.min_delay);
        let bw = s.bytes as f64 * 8.0 / d.as_secs_f64();
        self.fast.sample(d, bw);
        self.slow.sample(d, bw);
    }

    fn choose(&mut self, ctx: &AbrContext<'_>) -> usize {
        let bw = self.estimate().unwrap_or(self.cfg.default_estimate).bps() as f64;
        for i in (0..ctx.ladder.len()).rev() {
            let factor = if i <= ctx.current {
                self.cfg.bandwidth_factor
            } else {
                self.cfg.bandwidth_up_factor
            };
            if factor * bw >= ctx.ladder[i].bps() as f64 {
                return i;
            }
        }
        0
    }

    fn estimate(&self) -> Option<Bitrate> {
        let f = self.fast.estimate()?;
        let s = self.slow.estimate()?;
        Some(Bitrate(f.min(s) as u64))
    }
}
