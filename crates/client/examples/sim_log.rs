//! Print the simulator's event log for one trace and rule (debugging aid).
//!
//! `cargo run -p aulos-client --example sim_log -- TRACE.json [ll|hlsjs] [SECONDS]`

use aulos_client::AbrKind;
use aulos_client::sim::{SimConfig, Trace, simulate};
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "../shared/traces/wide_steady.json".into());
    let abr = match args.next().as_deref() {
        Some("hlsjs") => AbrKind::HlsJs,
        _ => AbrKind::LowLatency,
    };
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let trace = Trace::from_json("trace", &std::fs::read_to_string(&path)?)?;
    let cfg = SimConfig {
        duration: Duration::from_secs(secs),
        log: true,
        ..SimConfig::default()
    };
    let r = simulate(&trace, abr, &cfg);
    for l in &r.log {
        println!("{l}");
    }
    for (at, d) in &r.stall_log {
        println!(
            "STALL at {:.3} for {:.3}",
            at.as_secs_f64(),
            d.as_secs_f64()
        );
    }
    println!("{:?}", r.stats);
    Ok(())
}
