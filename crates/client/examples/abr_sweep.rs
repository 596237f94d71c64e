//! Tuning aid: runs `LowLatencyRule` with a grid of settings over every trace in the
//! given directories (plus `sim::synthetic_traces`) and prints, per setting, the mean
//! QoE against the hls.js baseline, the worst single trace, how many traces fall
//! below the baseline, and the stalls on traces whose bandwidth never drops under
//! 80 kb/s (what the lowest rendition costs in low-latency mode, with margin).
//!
//! `cargo run -p aulos-client --release --example abr_sweep -- DIR...`; with
//! `DETAIL=window_ms,horizon_ms,full_ms,up_hold_ms` (or `DETAIL=` for the defaults) it
//! prints one line per trace for that setting instead, marking those below the
//! baseline.

use aulos_client::AbrKind;
use aulos_client::abr::LowLatencyConfig;
use aulos_client::sim::{Trace, simulate_all, synthetic_traces};
use std::time::Duration;

fn load(dirs: &[String]) -> anyhow::Result<Vec<Trace>> {
    let mut traces = Vec::new();
    for dir in dirs {
        traces.extend(Trace::load_dir(std::path::Path::new(dir))?);
    }
    traces.extend(synthetic_traces());
    Ok(traces)
}

/// (QoE, stalls) per trace.
fn run_all(traces: &[Trace], kind: AbrKind) -> Vec<(f64, u32)> {
    simulate_all(traces, kind)
        .iter()
        .map(|r| (r.qoe, r.rebuffer_count))
        .collect()
}

/// The default rule with its fast-down tunables replaced (milliseconds).
fn setting(window: u64, horizon: u64, full: u64, up_hold: u64) -> LowLatencyConfig {
    let ms = Duration::from_millis;
    LowLatencyConfig {
        fast_down_window: ms(window),
        fast_down_horizon: ms(horizon),
        fast_down_full_horizon: ms(full),
        fast_down_up_hold: ms(up_hold),
        ..LowLatencyConfig::default()
    }
}

/// QoE under the baseline's by more than rounding.
fn below(ours: f64, base: f64) -> bool {
    ours < base - 0.05
}

fn main() -> anyhow::Result<()> {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    let traces = load(&dirs)?;
    let base = run_all(&traces, AbrKind::HlsJs);
    let base_mean = base.iter().map(|b| b.0).sum::<f64>() / traces.len() as f64;
    println!(
        "hls.js mean QoE {base_mean:.2} over {} traces",
        traces.len()
    );
    if let Ok(detail) = std::env::var("DETAIL") {
        // DETAIL="window_ms,horizon_ms,full_ms,up_hold_ms" (or empty: defaults).
        let v: Vec<u64> = detail.split(',').filter_map(|x| x.parse().ok()).collect();
        let kind = match v[..] {
            [w, h, f, u] => AbrKind::LowLatencyWith(setting(w, h, f, u)),
            _ => AbrKind::LowLatency,
        };
        let ours = run_all(&traces, kind);
        for ((t, o), b) in traces.iter().zip(&ours).zip(&base) {
            let mark = if below(o.0, b.0) { "BELOW" } else { "" };
            let floor = t.steps.iter().map(|s| s.1.bps()).min().unwrap_or(0) / 1000;
            println!(
                "{:<14} ours {:8.3} ({:2} stalls) base {:8.3} ({:2} stalls) floor {floor:4} kb/s {mark}",
                t.name, o.0, o.1, b.0, b.1
            );
        }
        return Ok(());
    }
    let sufficient: Vec<bool> = traces
        .iter()
        .map(|t| t.steps.iter().all(|s| s.1.bps() >= 80_000))
        .collect();
    let mut grid = Vec::new();
    for window in [1000, 1500, 2000] {
        for horizon in [750, 500] {
            for full in [2000, 1200] {
                for up_hold in [8000, 4000] {
                    grid.push(setting(window, horizon, full, up_hold));
                }
            }
        }
    }
    for cfg in grid {
        let ours = run_all(&traces, AbrKind::LowLatencyWith(cfg));
        let mean = ours.iter().map(|o| o.0).sum::<f64>() / traces.len() as f64;
        let (worst_i, worst) = ours
            .iter()
            .zip(&base)
            .map(|(o, b)| o.0 - b.0)
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let n_below = ours
            .iter()
            .zip(&base)
            .filter(|(o, b)| below(o.0, b.0))
            .count();
        let stalls: u32 = ours
            .iter()
            .zip(&sufficient)
            .filter(|(_, s)| **s)
            .map(|(o, _)| o.1)
            .sum();
        println!(
            "window {:>4} horizon {:>4} full {:>4} up_hold {:>4} | mean {:6.2} ({:+5.1} %) | below {:2} worst {:+6.1} ({}) | stalls on sufficient {}",
            cfg.fast_down_window.as_millis(),
            cfg.fast_down_horizon.as_millis(),
            cfg.fast_down_full_horizon.as_millis(),
            cfg.fast_down_up_hold.as_millis(),
            mean,
            (mean - base_mean) / base_mean.abs() * 100.0,
            n_below,
            worst,
            traces[worst_i].name,
            stalls
        );
    }
    Ok(())
}
