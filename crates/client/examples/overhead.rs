//! Print the wire overhead of following one rendition in the simulator (debug aid).
use aulos_client::AbrKind;
use aulos_client::Bitrate;
use aulos_client::sim::{SimConfig, Trace, simulate};
use std::time::Duration;

fn main() {
    let t = Trace::new(
        "flat",
        Duration::from_millis(40),
        vec![(Duration::from_secs(100), Bitrate::from_kbps(2000))],
    );
    for r in 0..3 {
        let cfg = SimConfig {
            duration: Duration::from_secs(60),
            ..SimConfig::default()
        };
        let rep = simulate(&t, AbrKind::Fixed(r), &cfg);
        let kbps = rep.wire_bytes as f64 * 8.0 / 60.0 / 1000.0;
        println!(
            "rendition {r}: wire {kbps:.1} kb/s, media {:.1} kb/s, stats {:?}",
            rep.mean_bitrate.bps() as f64 / 1000.0,
            rep.stats
        );
    }
}
