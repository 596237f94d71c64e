//! Bandwidth traces (`/work/shared/traces/*.json` format): piecewise-constant kb/s
//! steps that repeat past the end, a round-trip time and a request loss probability.

use crate::abr::Bitrate;
use crate::error::Error;
use crate::time::Instant;
use std::time::Duration;

/// A parsed trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Name (file stem or the `name` field).
    pub name: String,
    /// Round-trip time added to every request.
    pub rtt: Duration,
    /// Probability that a request fails with a connection reset.
    pub loss: f64,
    /// Steps: (how long, link rate).
    pub steps: Vec<(Duration, Bitrate)>,
}

#[derive(serde::Deserialize)]
struct RawTrace {
    name: Option<String>,
    rtt_ms: Option<u64>,
    loss: Option<f64>,
    steps: Vec<(u64, f64)>,
}

/// Upper bound on steps accepted from a file (nothing unbounded).
const MAX_STEPS: usize = 100_000;

impl Trace {
    /// Parse the JSON form.
    pub fn from_json(name: &str, json: &str) -> Result<Self, Error> {
        let raw: RawTrace = serde_json::from_str(json).map_err(|e| Error::Trace(e.to_string()))?;
        if raw.steps.is_empty() || raw.steps.len() > MAX_STEPS {
            return Err(Error::Trace(format!("{} steps", raw.steps.len())));
        }
        let loss = raw.loss.unwrap_or(0.0);
        if !(0.0..1.0).contains(&loss) {
            return Err(Error::Trace(format!("loss {loss} not in [0, 1)")));
        }
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (ms, kbps) in raw.steps {
            if ms == 0 || !kbps.is_finite() || kbps < 0.0 {
                return Err(Error::Trace(format!("bad step [{ms}, {kbps}]")));
            }
            steps.push((Duration::from_millis(ms), Bitrate((kbps * 1000.0) as u64)));
        }
        let t = Trace {
            name: raw.name.unwrap_or_else(|| name.to_string()),
            rtt: Duration::from_millis(raw.rtt_ms.unwrap_or(0)),
            loss,
            steps,
        };
        if t.bits_per_cycle() == 0.0 {
            return Err(Error::Trace("link never carries data".into()));
        }
        Ok(t)
    }

    /// Every `*.json` trace in `dir`, by file name, each named after its file
    /// unless it names itself.
    pub fn load_dir(dir: &std::path::Path) -> Result<Vec<Trace>, Error> {
        let io = |e: std::io::Error| Error::Trace(format!("{}: {e}", dir.display()));
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let name = f
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Trace::from_json(&name, &std::fs::read_to_string(f).map_err(io)?)
            })
            .collect()
    }

    /// Build a trace in code (synthetic shapes for tests).
    pub fn new(name: &str, rtt: Duration, steps: Vec<(Duration, Bitrate)>) -> Self {
        Trace {
            name: name.into(),
            rtt,
            loss: 0.0,
            steps,
        }
    }

    /// Length of one cycle.
    pub fn cycle(&self) -> Duration {
        self.steps.iter().map(|s| s.0).sum()
    }

    fn bits_per_cycle(&self) -> f64 {
        self.steps
            .iter()
            .map(|(d, r)| d.as_secs_f64() * r.bps() as f64)
            .sum()
    }

    /// Lowest rate anywhere in the trace.
    pub fn min_rate(&self) -> Bitrate {
        self.steps.iter().map(|s| s.1).min().unwrap_or_default()
    }

    /// Link rate at time `t`.
    pub fn rate_at(&self, t: Instant) -> Bitrate {
        let (i, _) = self.locate(t);
        self.steps[i].1
    }

    /// (step index, time left in that step) at `t`.
    fn locate(&self, t: Instant) -> (usize, Duration) {
        let cycle = self.cycle().as_nanos().max(1);
        let mut off = Duration::from_nanos((t.since_epoch().as_nanos() % cycle) as u64);
        for (i, (d, _)) in self.steps.iter().enumerate() {
            if off < *d {
                return (i, *d - off);
            }
            off -= *d;
        }
        (0, self.steps[0].0)
    }

    /// When a transmission of `bytes` that starts at `start` ends.
    pub fn finish(&self, start: Instant, bytes: u64) -> Instant {
        let mut left = bytes as f64 * 8.0;
        let (mut i, mut in_step) = self.locate(start);
        let mut t = start;
        // Bounded: each full cycle carries bits_per_cycle > 0 (checked at parse).
        let max_iter = ((left / self.bits_per_cycle()) as usize + 2) * self.steps.len() + 2;
        for _ in 0..max_iter {
            let rate = self.steps[i].1.bps() as f64;
            let cap = rate * in_step.as_secs_f64();
            if rate > 0.0 && cap >= left {
                return t + Duration::from_secs_f64(left / rate);
            }
            left -= cap;
            t += in_step;
            i = (i + 1) % self.steps.len();
            in_step = self.steps[i].0;
        }
        t
    }
}

/// Synthetic traces of shapes the shared set lacks (ramps, outages, a square wave),
/// used as "unseen" traces by the simulator and its tests.
pub fn synthetic_traces() -> Vec<Trace> {
    let s = |ms: u64, kbps: u64| (Duration::from_millis(ms), Bitrate::from_kbps(kbps));
    let ramp = |from: u64, to: u64| -> Vec<(Duration, Bitrate)> {
        (0..30i64)
            .map(|i| {
                s(
                    2000,
                    (from as i64 + (to as i64 - from as i64) * i / 29) as u64,
                )
            })
            .collect()
    };
    let rtt = Duration::from_millis(50);
    vec![
        Trace::new("syn_ramp_up", rtt, ramp(60, 420)),
        Trace::new("syn_ramp_down", rtt, ramp(420, 60)),
        Trace::new("syn_outage", rtt, vec![s(17_000, 300), s(3_000, 0)]),
        Trace::new("syn_square", rtt, vec![s(5_000, 90), s(5_000, 320)]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_integrates() {
        let t = Trace::from_json(
            "x",
            r#"{"rtt_ms": 40, "steps": [[1000, 80], [1000, 0], [1000, 160]]}"#,
        )
        .expect("valid");
        assert_eq!(t.rtt, Duration::from_millis(40));
        // 10 kB = 80 kbit: 1 s at 80 kb/s.
        assert_eq!(
            t.finish(Instant::ZERO, 10_000),
            Instant::from_epoch(Duration::from_secs(1))
        );
        // Starting in the middle of step 1: half of it at 80, outage, then 160 kb/s.
        let end = t.finish(Instant::from_epoch(Duration::from_millis(500)), 10_000);
        assert_eq!(end, Instant::from_epoch(Duration::from_millis(2250)));
        // The trace repeats.
        assert_eq!(
            t.rate_at(Instant::from_epoch(Duration::from_millis(3500))),
            Bitrate(80_000)
        );
    }

    #[test]
    fn rejects_bad_traces() {
        assert!(Trace::from_json("x", r#"{"steps": []}"#).is_err());
        assert!(Trace::from_json("x", r#"{"steps": [[1000, 0]]}"#).is_err());
        assert!(Trace::from_json("x", r#"{"steps": [[1000, -5]]}"#).is_err());
        assert!(Trace::from_json("x", "not json").is_err());
    }
}
