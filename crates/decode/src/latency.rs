//! Live-latency control: how fast to play so the output stays near a target behind live.
//!
//! Sans-IO: the caller passes "now" and the program-date-time of the audio being output and
//! applies the decision (playback rate to the pipeline, `Jump` to the client's jump-to-live).
//!
//! Two optional inputs arrive through a shared [`RateFeed`] written by other threads: audio
//! buffered ahead of the playhead (a low buffer slows playback down, LoL+'s buffer-aware
//! rate) and extra latency wanted on top of the target (the client's thin-link target,
//! stalls so far), which playback gains by playing slower (down to `min_rate`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

/// Tuning of the [`LatencyController`].
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyConfig {
    /// Wanted distance behind the live edge (wall clock minus PDT of the audio playing now).
    pub target: Duration,
    /// Latency error tolerated before speeding up (avoids hunting around the target). Once
    /// catching up, the controller keeps going until the target itself is reached.
    pub deadband: Duration,
    /// Lowest rate used while catching up, so the target is reached in finite time.
    pub min_catchup_rate: f64,
    /// Error at which the rate reaches `max_rate`; the rate rises linearly up to it.
    pub full_speed_error: Duration,
    /// Highest playback rate (≤ 1.05: pitch shift stays inaudible for most listeners).
    pub max_rate: f64,
    /// Lowest playback rate, used to gain latency ([`RateFeed::set_extra`]) or when the
    /// buffer runs low (within [0.95, 1.0]; 1.0: never slower than real time).
    pub min_rate: f64,
    /// Below this much audio buffered ([`RateFeed::set_buffer`]) play slower, down to
    /// `min_rate` at an empty buffer. Zero: off.
    pub low_buffer: Duration,
    /// Beyond `target + jump_after` (plus the extra latency a [`RateFeed`] asks for),
    /// catching up smoothly takes too long: signal a jump.
    pub jump_after: Duration,
    /// Smoothing factor of the latency estimate (0 < alpha ≤ 1; 1 = no smoothing).
    pub smoothing: f64,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        Self {
            target: Duration::from_secs(3),
            deadband: Duration::from_millis(100),
            min_catchup_rate: 1.01,
            full_speed_error: Duration::from_secs(1),
            max_rate: 1.05,
            min_rate: 1.0,
            low_buffer: Duration::ZERO,
            jump_after: Duration::from_secs(2),
            smoothing: 0.2,
        }
    }
}

impl LatencyConfig {
    /// Checks the ranges; called by [`LatencyController::new`].
    pub fn validate(&self) -> Result<(), crate::Error> {
        let bad = |m: &str| Err(crate::Error::Config(m.to_string()));
        if !(1.0..=1.05).contains(&self.max_rate) {
            return bad("max_rate must be within [1.0, 1.05]");
        }
        if !(0.95..=1.0).contains(&self.min_rate) {
            return bad("min_rate must be within [0.95, 1.0]");
        }
        if !(1.0..=self.max_rate).contains(&self.min_catchup_rate) {
            return bad("min_catchup_rate must be within [1.0, max_rate]");
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return bad("smoothing must be in (0, 1]");
        }
        if self.full_speed_error <= self.deadband {
            return bad("full_speed_error must exceed deadband");
        }
        Ok(())
    }
}

/// Inputs to a [`LatencyController`] that other threads update (the player's feeder and
/// sink): lock-free, read at every observation.
#[derive(Debug, Default)]
pub struct RateFeed {
    /// Audio buffered ahead of the playhead, µs; `u64::MAX`: unknown.
    buffer_us: AtomicU64,
    /// Extra latency wanted above the target, µs.
    extra_us: AtomicU64,
    /// Latency the stalls so far have added, µs (counted as extra latency: after a
    /// stall, the controller keeps at least the latency it cost instead of catching up
    /// into the next one; the player passes `aulos_client::stall_cushion`).
    stalled_us: AtomicU64,
}

impl RateFeed {
    /// A feed with nothing known yet.
    pub fn new() -> Arc<Self> {
        Arc::new(RateFeed {
            buffer_us: AtomicU64::new(u64::MAX),
            ..RateFeed::default()
        })
    }

    /// Audio buffered ahead of the playhead (decoded and not, up to what was fetched).
    pub fn set_buffer(&self, buffer: Duration) {
        self.buffer_us
            .store(buffer.as_micros().min(u64::MAX as u128 - 1) as u64, Relaxed);
    }

    /// Extra latency wanted above the configured target (e.g. the client's thin-link
    /// target minus the stream's hold-back).
    pub fn set_extra(&self, extra: Duration) {
        self.extra_us.store(extra.as_micros() as u64, Relaxed);
    }

    /// Extra latency the stalls so far call for (at least their total length).
    pub fn set_stalled(&self, stalled: Duration) {
        self.stalled_us.store(stalled.as_micros() as u64, Relaxed);
    }

    fn buffer(&self) -> Option<Duration> {
        match self.buffer_us.load(Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    fn extra(&self) -> Duration {
        Duration::from_micros(self.extra_us.load(Relaxed) + self.stalled_us.load(Relaxed))
    }
}

/// What to do after one observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyAction {
    /// Play at this rate (within `[min_rate, max_rate]`).
    Rate(f64),
    /// Far behind: drop buffered audio and jump to live (client `jump_to_live`), then resume at
    /// rate 1.0. Carries the measured latency.
    Jump {
        /// Latency that triggered the jump.
        latency: Duration,
    },
}

/// One observation's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyDecision {
    /// Rate to apply or jump.
    pub action: LatencyAction,
    /// Smoothed latency (wall clock minus PDT of the audio being output).
    pub latency: Duration,
    /// Smoothed latency minus target, in seconds (positive: behind target).
    pub drift_secs: f64,
}

/// Keeps playback near `target` latency by speeding up slightly, or asks for a jump; with a
/// [`RateFeed`], also slows down slightly to gain extra latency or to spare a low buffer.
#[derive(Debug, Clone)]
pub struct LatencyController {
    cfg: LatencyConfig,
    smoothed: Option<f64>,
    catching_up: bool,
    feed: Option<Arc<RateFeed>>,
    /// Smoothed latency (capped at the target) when extra latency was last asked for
    /// after none: the extra is gained above it, since the configured target may sit
    /// above what the join position gives (it is the catch-up threshold, not a floor).
    gain_from: Option<f64>,
}

impl LatencyController {
    /// A controller for `cfg`; errors if the configuration is out of range.
    pub fn new(cfg: LatencyConfig) -> Result<Self, crate::Error> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            smoothed: None,
            catching_up: false,
            feed: None,
            gain_from: None,
        })
    }

    /// A controller with default tuning and the given target.
    pub fn with_target(target: Duration) -> Self {
        Self {
            cfg: LatencyConfig {
                target,
                ..LatencyConfig::default()
            },
            smoothed: None,
            catching_up: false,
            feed: None,
            gain_from: None,
        }
    }

    /// Reads buffer and extra latency from `feed` at every observation.
    pub fn with_feed(mut self, feed: Arc<RateFeed>) -> Self {
        self.feed = Some(feed);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &LatencyConfig {
        &self.cfg
    }

    /// Forgets history (after a jump or a discontinuity in wall-clock time).
    pub fn reset(&mut self) {
        self.smoothed = None;
        self.catching_up = false;
        self.gain_from = None;
    }

    /// Observes that audio with wall-clock `pdt` is being output at `now`.
    ///
    /// A PDT in the future (clock skew) counts as zero latency.
    pub fn observe(&mut self, now: SystemTime, pdt: SystemTime) -> LatencyDecision {
        let raw = now
            .duration_since(pdt)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64();
        let target = self.cfg.target.as_secs_f64();
        let (extra, buffer) = match &self.feed {
            Some(f) => (f.extra().as_secs_f64(), f.buffer()),
            None => (0.0, None),
        };
        // A jump is decided on the raw value: smoothing would delay an obvious stall.
        // The extra latency asked for (thin link, stalls) is latency playback keeps on
        // purpose: the jump comes `jump_after` beyond it, not beyond the bare target
        // (a few stalls' cushion plus a thin-link target exceed 2 s, and a jump then
        // threw away the very buffer they had built).
        if raw > target + extra + self.cfg.jump_after.as_secs_f64() {
            self.smoothed = None;
            self.catching_up = false;
            let latency = Duration::from_secs_f64(raw);
            return LatencyDecision {
                action: LatencyAction::Jump { latency },
                latency,
                drift_secs: raw - target,
            };
        }
        let s = match self.smoothed {
            None => raw,
            Some(prev) => prev + self.cfg.smoothing * (raw - prev),
        };
        self.smoothed = Some(s);
        let error = s - target - extra;
        let dead = self.cfg.deadband.as_secs_f64();
        let full = self.cfg.full_speed_error.as_secs_f64();
        let smooth = |x: f64| {
            let x = x.clamp(0.0, 1.0);
            x * x * (3.0 - 2.0 * x)
        };
        // Hysteresis: start above the dead band, stop at the target.
        if error > dead {
            self.catching_up = true;
        } else if error <= 0.0 {
            self.catching_up = false;
        }
        // Latency to gain: `extra` above where playback was when it was asked for, or
        // above the target if playback was behind it then (a second request while still
        // catching up from the first must not stack on top of it).
        let gain_error = if extra > 0.0 {
            let from = *self.gain_from.get_or_insert(s.min(target));
            s - from - extra
        } else {
            self.gain_from = None;
            0.0
        };
        let mut rate = if self.catching_up {
            // Smoothstep towards max_rate, never below the floor that guarantees progress.
            let r = 1.0 + (self.cfg.max_rate - 1.0) * smooth(error / full);
            r.max(self.cfg.min_catchup_rate)
        } else if gain_error < -dead {
            1.0 - (1.0 - self.cfg.min_rate) * smooth(-gain_error / full)
        } else {
            1.0
        };
        // A low buffer is about to stall: slower, whatever the latency says.
        let low = self.cfg.low_buffer.as_secs_f64();
        if let Some(b) = buffer
            .map(|b| b.as_secs_f64())
            .filter(|&b| low > 0.0 && b < low)
        {
            rate = rate.min(self.cfg.min_rate + (1.0 - self.cfg.min_rate) * b / low);
        }
        LatencyDecision {
            action: LatencyAction::Rate(rate.clamp(self.cfg.min_rate, self.cfg.max_rate)),
            latency: Duration::from_secs_f64(s),
            drift_secs: error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ctrl: &mut LatencyController, latency_ms: u64) -> LatencyDecision {
        let pdt = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        ctrl.observe(pdt + Duration::from_millis(latency_ms), pdt)
    }

    fn rate(d: LatencyDecision) -> f64 {
        match d.action {
            LatencyAction::Rate(r) => r,
            LatencyAction::Jump { .. } => panic!("unexpected jump: {d:?}"),
        }
    }

    #[test]
    fn on_target_plays_at_real_time() {
        let mut c = LatencyController::with_target(Duration::from_secs(3));
        assert_eq!(rate(at(&mut c, 3000)), 1.0);
        assert_eq!(rate(at(&mut c, 3050)), 1.0, "within dead band");
    }

    #[test]
    fn ahead_of_target_never_slows_below_one() {
        let mut c = LatencyController::with_target(Duration::from_secs(3));
        for ms in [0, 500, 1000, 2999] {
            assert_eq!(rate(at(&mut c, ms)), 1.0);
        }
        let pdt = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let d = c.observe(pdt - Duration::from_secs(5), pdt); // PDT in the future
        assert_eq!(rate(d), 1.0);
    }

    #[test]
    fn ratio_bounds_and_monotonic() {
        let mut prev = 1.0;
        for ms in (3000..=5000).step_by(50) {
            let mut c = LatencyController::with_target(Duration::from_secs(3));
            let r = rate(at(&mut c, ms));
            assert!((1.0..=1.05).contains(&r), "rate {r} at {ms} ms");
            assert!(
                r >= prev,
                "rate must not fall as latency grows ({prev} -> {r} at {ms})"
            );
            prev = r;
        }
        assert!((prev - 1.05).abs() < 1e-12, "saturates at max_rate");
    }

    #[test]
    fn smooth_catch_up_reaches_target() {
        // Simulate: 500 ms behind target, 100 ms observation period.
        let mut c = LatencyController::with_target(Duration::from_secs(3));
        let mut latency = 3.5f64;
        let mut max_rate_seen: f64 = 1.0;
        for _ in 0..2000 {
            let r = rate(at(&mut c, (latency * 1000.0) as u64));
            max_rate_seen = max_rate_seen.max(r);
            latency -= 0.1 * (r - 1.0);
        }
        assert!(max_rate_seen > 1.0);
        assert!(latency <= 3.0 + 0.001, "reaches the target, got {latency}");
        assert!(
            latency > 2.98,
            "overshoot below target stays small, got {latency}"
        );
    }

    fn slowing(feed: &Arc<RateFeed>) -> LatencyController {
        LatencyController::new(LatencyConfig {
            min_rate: 0.95,
            low_buffer: Duration::from_millis(400),
            smoothing: 1.0,
            ..LatencyConfig::default()
        })
        .unwrap()
        .with_feed(feed.clone())
    }

    #[test]
    fn low_buffer_slows_down_in_proportion() {
        let feed = RateFeed::new();
        let mut c = slowing(&feed);
        assert_eq!(rate(at(&mut c, 3000)), 1.0, "buffer unknown: real time");
        feed.set_buffer(Duration::from_millis(1000));
        assert_eq!(rate(at(&mut c, 3000)), 1.0);
        feed.set_buffer(Duration::from_millis(200));
        assert!((rate(at(&mut c, 3000)) - 0.975).abs() < 1e-9);
        feed.set_buffer(Duration::ZERO);
        assert!((rate(at(&mut c, 3000)) - 0.95).abs() < 1e-9);
        // Even while catching up: a stall costs more than latency does.
        assert!((rate(at(&mut c, 3600)) - 0.95).abs() < 1e-9);
    }

    #[test]
    fn extra_latency_is_gained_by_playing_slower_then_held() {
        let feed = RateFeed::new();
        let mut c = slowing(&feed);
        // Playing at 2.5 s, target 3 s: no extra wanted, no slow-down (the target is
        // where catching up starts, not a floor).
        assert_eq!(rate(at(&mut c, 2500)), 1.0);
        feed.set_extra(Duration::from_secs(1));
        let mut latency = 2.5f64;
        let mut min_seen: f64 = 1.0;
        for _ in 0..5000 {
            let r = rate(at(&mut c, (latency * 1000.0).round() as u64));
            min_seen = min_seen.min(r);
            latency += 0.1 * (1.0 - r);
        }
        assert!(
            (min_seen - 0.95).abs() < 1e-9,
            "full slow-down at 1 s short"
        );
        assert!(
            (latency - 3.5).abs() < 0.11,
            "gains the extra second above where it was: {latency}"
        );
        // Stalls count as extra latency too: no catch-up into the next stall.
        feed.set_extra(Duration::ZERO);
        feed.set_stalled(Duration::from_millis(700));
        assert_eq!(rate(at(&mut c, 3600)), 1.0);
    }

    #[test]
    fn a_second_request_for_extra_latency_does_not_stack() {
        let feed = RateFeed::new();
        let mut c = slowing(&feed);
        feed.set_extra(Duration::from_secs(1));
        assert!(
            rate(at(&mut c, 2500)) < 1.0,
            "gaining from 2.5 s towards 3.5 s"
        );
        // Withdrawn while playback sits at 3.4 s, asked for again: the floor is the
        // target (3 s) + 1 s, not 3.4 s + 1 s.
        feed.set_extra(Duration::ZERO);
        at(&mut c, 3400);
        feed.set_extra(Duration::from_secs(1));
        assert!(rate(at(&mut c, 3400)) < 1.0);
        assert_eq!(rate(at(&mut c, 4000)), 1.0, "4 s = target + extra: held");
        assert_eq!(rate(at(&mut c, 4040)), 1.0);
    }

    #[test]
    fn jump_when_far_behind() {
        let mut c = LatencyController::with_target(Duration::from_secs(3));
        assert!(matches!(at(&mut c, 4900).action, LatencyAction::Rate(_)));
        let d = at(&mut c, 5100);
        assert!(
            matches!(d.action, LatencyAction::Jump { latency } if latency == Duration::from_millis(5100))
        );
        assert!((d.drift_secs - 2.1).abs() < 1e-9);
    }

    #[test]
    fn no_jump_within_the_extra_latency_asked_for() {
        // Target 3 s, 1.6 s of thin-link extra and 2 s of stall cushion: 6.5 s is
        // where playback is meant to be (+ 1.9 s), not 2 s behind; 8.7 s is.
        let feed = RateFeed::new();
        let mut c = slowing(&feed);
        feed.set_extra(Duration::from_millis(1600));
        feed.set_stalled(Duration::from_secs(2));
        assert!(matches!(at(&mut c, 6500).action, LatencyAction::Rate(_)));
        assert!(matches!(
            at(&mut c, 8700).action,
            LatencyAction::Jump { .. }
        ));
    }

    #[test]
    fn jump_threshold_configurable_and_validation() {
        let cfg = LatencyConfig {
            jump_after: Duration::from_millis(500),
            ..LatencyConfig::default()
        };
        let mut c = LatencyController::new(cfg).unwrap();
        assert!(matches!(
            at(&mut c, 3600).action,
            LatencyAction::Jump { .. }
        ));
        let bad = LatencyConfig {
            max_rate: 1.2,
            ..LatencyConfig::default()
        };
        assert!(LatencyController::new(bad).is_err());
        let bad = LatencyConfig {
            min_rate: 0.9,
            ..LatencyConfig::default()
        };
        assert!(LatencyController::new(bad).is_err());
    }
}
