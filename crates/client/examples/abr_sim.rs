//! Compare our LL ABR rule with the hls.js baseline over bandwidth traces.
//!
//! `cargo run -p aulos-client --release --example abr_sim [-- TRACE_DIR]`
//! (default `../shared/traces` relative to the workspace root, i.e. `/work/shared/traces`).

use aulos_client::AbrKind;
use aulos_client::sim::{SimConfig, SimReport, Trace, simulate};
use std::time::Duration;

fn row(r: &SimReport) -> String {
    format!(
        "| {:<14} | {:<8} | {:>7.1} | {:>6.2} | {:>4} | {:>5} | {:>6.2} | {:>8.1} |",
        r.trace,
        r.abr,
        r.mean_bitrate.bps() as f64 / 1000.0,
        r.rebuffer_time.as_secs_f64(),
        r.rebuffer_count,
        r.switches,
        r.mean_latency.as_secs_f64(),
        r.qoe
    )
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        format!("{root}/../../../shared/traces")
    });
    let mut traces = Trace::load_dir(std::path::Path::new(&dir))?;
    traces.extend(aulos_client::sim::synthetic_traces());
    println!("| trace          | abr      | kb/s    | rebuf s| #reb | sw    | lat s  | QoE      |");
    println!("|----------------|----------|---------|--------|------|-------|--------|----------|");
    let (mut ours_sum, mut base_sum) = (0.0, 0.0);
    let (mut ours_shared, mut base_shared, mut n_shared) = (0.0, 0.0, 0.0);
    // Tuning aid: AULOS_LL="fast_ms,slow_ms,factor_low,factor_high,up_margin,up_hold_ms".
    let ours_kind = match std::env::var("AULOS_LL") {
        Ok(v) => {
            let f: Vec<f64> = v.split(',').filter_map(|x| x.parse().ok()).collect();
            anyhow::ensure!(f.len() == 6, "AULOS_LL needs 6 numbers");
            let ms = |x: f64| Duration::from_millis(x as u64);
            AbrKind::LowLatencyWith(aulos_client::abr::LowLatencyConfig {
                fast_half_life: ms(f[0]),
                slow_half_life: ms(f[1]),
                factor_low: f[2],
                factor_high: f[3],
                up_margin: f[4],
                up_hold: ms(f[5]),
                ..Default::default()
            })
        }
        Err(_) => AbrKind::LowLatency,
    };
    for t in &traces {
        let cfg = SimConfig::for_trace(t);
        let ours = simulate(t, ours_kind, &cfg);
        let base = simulate(t, AbrKind::HlsJs, &cfg);
        println!("{}", row(&ours));
        println!("{}", row(&base));
        ours_sum += ours.qoe;
        base_sum += base.qoe;
        if !t.name.starts_with("syn_") {
            ours_shared += ours.qoe;
            base_shared += base.qoe;
            n_shared += 1.0;
        }
    }
    let n = traces.len() as f64;
    if n_shared > 0.0 {
        println!(
            "\nmean QoE over the shared traces: aulos-ll {:.1}, hls.js {:.1} ({:+.1} %)",
            ours_shared / n_shared,
            base_shared / n_shared,
            (ours_shared - base_shared) / base_shared.abs() * 100.0
        );
    }
    println!(
        "mean QoE over all traces (shared + synthetic): aulos-ll {:.1}, hls.js {:.1} ({:+.1} %)",
        ours_sum / n,
        base_sum / n,
        (ours_sum - base_sum) / base_sum.abs() * 100.0
    );
    Ok(())
}
