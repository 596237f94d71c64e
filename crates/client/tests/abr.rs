//! ABR comparisons on synthetic traces the rules were not tuned on (different
//! levels, periods and RTTs than `shared/traces` and `sim::synthetic_traces`).

use aulos_client::sim::{SimConfig, SimReport, Trace, simulate, simulate_all};
use aulos_client::{AbrKind, Bitrate};
use std::time::Duration;

fn s(ms: u64, kbps: u64) -> (Duration, Bitrate) {
    (Duration::from_millis(ms), Bitrate::from_kbps(kbps))
}

fn both(t: &Trace, secs: u64) -> (SimReport, SimReport) {
    let cfg = SimConfig {
        duration: Duration::from_secs(secs),
        ..SimConfig::default()
    };
    (
        simulate(t, AbrKind::LowLatency, &cfg),
        simulate(t, AbrKind::HlsJs, &cfg),
    )
}

fn print_stalls(ours: &SimReport, base: &SimReport) {
    println!(
        "ours {} stalls {:.2} s, {} sw | hls.js {} stalls {:.2} s, {} sw",
        ours.rebuffer_count,
        ours.rebuffer_time.as_secs_f64(),
        ours.switches,
        base.rebuffer_count,
        base.rebuffer_time.as_secs_f64(),
        base.switches
    );
}

fn unseen() -> Vec<Trace> {
    let rtt = Duration::from_millis(70);
    vec![
        // Slow ramp up from below the middle rendition to well above the top.
        Trace::new(
            "u_ramp",
            rtt,
            (0..20).map(|i| s(3000, 90 + i * 20)).collect(),
        ),
        // Long outage in the middle of a comfortable link.
        Trace::new(
            "u_outage",
            rtt,
            vec![s(25_000, 350), s(5_000, 0), s(30_000, 350)],
        ),
        // Fast square wave between thin and comfortable.
        Trace::new("u_square", rtt, vec![s(3_000, 110), s(3_000, 400)]),
        // A cliff: comfortable, then just above the middle rendition for good.
        Trace::new("u_cliff", rtt, vec![s(15_000, 600), s(45_000, 140)]),
    ]
}

#[test]
fn beats_or_matches_the_baseline_on_unseen_shapes() {
    let mut ours_total = 0.0;
    let mut base_total = 0.0;
    for t in unseen() {
        let (ours, base) = both(&t, 60);
        println!(
            "{:<10} ours {:>6.1} ({:>5.0} kb/s, {:.2} s rebuf, {} sw) | hls.js {:>6.1} ({:>5.0} kb/s, {:.2} s rebuf, {} sw)",
            t.name,
            ours.qoe,
            ours.mean_bitrate.bps() as f64 / 1e3,
            ours.rebuffer_time.as_secs_f64(),
            ours.switches,
            base.qoe,
            base.mean_bitrate.bps() as f64 / 1e3,
            base.rebuffer_time.as_secs_f64(),
            base.switches
        );
        assert_eq!(ours.order_errors, 0);
        assert_eq!(base.order_errors, 0);
        // Never clearly worse than the baseline on any shape (2 % slack for ties).
        assert!(
            ours.qoe >= base.qoe - 0.02 * base.qoe.abs() - 0.5,
            "{}: {} < {}",
            t.name,
            ours.qoe,
            base.qoe
        );
        ours_total += ours.qoe;
        base_total += base.qoe;
    }
    assert!(
        ours_total > base_total * 1.15,
        "ours {ours_total} vs baseline {base_total}"
    );
}

#[test]
fn fat_steady_link_plays_the_top_rendition_without_stalls() {
    let t = Trace::new("fat", Duration::from_millis(20), vec![s(60_000, 5_000)]);
    let (ours, base) = both(&t, 40);
    assert_eq!(ours.rebuffer_count, 0);
    assert_eq!(ours.mean_bitrate, Bitrate::from_kbps(160));
    assert_eq!(ours.switches, 0);
    assert!(
        (ours.qoe - base.qoe).abs() < 1e-9,
        "match the baseline where it is optimal"
    );
}

#[test]
fn enough_bandwidth_for_the_lowest_rendition_with_ll_overhead_means_no_stalls() {
    // The 48 kb/s rendition costs about 79 kb/s on the wire at 200 ms parts
    // (blocking reload per part + fMP4/HTTP framing): 100 kb/s always suffices.
    let t = Trace::new(
        "thin",
        Duration::from_millis(50),
        vec![s(4_000, 100), s(4_000, 130), s(4_000, 105)],
    );
    let (ours, _) = both(&t, 60);
    assert_eq!(ours.rebuffer_count, 0, "{ours:?}");
    assert!(ours.mean_bitrate >= Bitrate::from_kbps(48));
}

#[test]
fn lossy_links_never_break_playback_order() {
    // 5 % of requests reset on every shape: retries with jittered backoff keep the
    // session going, chunks stay in order, nothing fails for good.
    let mut shapes = unseen();
    shapes.push(Trace::new(
        "u_fat",
        Duration::from_millis(30),
        vec![s(60_000, 3_000)],
    ));
    for t in shapes {
        let t = Trace { loss: 0.05, ..t };
        for abr in [AbrKind::LowLatency, AbrKind::HlsJs] {
            let cfg = SimConfig {
                duration: Duration::from_secs(40),
                seed: 11,
                ..SimConfig::default()
            };
            let r = simulate(&t, abr, &cfg);
            assert_eq!(r.order_errors, 0, "{} {}", t.name, r.abr);
            assert!(
                r.stats.retries > 0,
                "{} {}: loss causes retries",
                t.name,
                r.abr
            );
            assert!(
                r.played > Duration::from_secs(20),
                "{} {}: played {:?}",
                t.name,
                r.abr,
                r.played
            );
        }
    }
}

/// A link that falls in steps, each level above the lowest rendition's media rate but
/// the last one below what it costs with a blocking reload per part (≈ 79 kb/s).
fn unseen_steps() -> Trace {
    Trace::new(
        "u_steps",
        Duration::from_millis(60),
        vec![
            s(15_000, 350),
            s(15_000, 170),
            s(15_000, 100),
            s(25_000, 64),
        ],
    )
}

#[test]
fn stepping_down_to_a_link_thinner_than_ll_stalls_far_less_than_the_baseline() {
    // Issue #6: "0 rebuffers where the bandwidth always exceeds the lowest rendition"
    // (not reached here, where the last step is below what the lowest rendition costs
    // at LL: 6 short stalls, 0.22 s in all, against the baseline's 93 / 2.0 s).
    // Fast down on a measured step, init prefetched with the first hinted part of the
    // new rendition, and on the lowest rendition with a thin link a latency target
    // of PART-HOLD-BACK + 8 parts that the player builds by playing ≤ 5 % slower, so
    // the 64 kb/s step is met by reloading once per ≈ 8 parts instead of by stalling.
    let t = unseen_steps();
    let (ours, base) = both(&t, 70);
    print_stalls(&ours, &base);
    assert_eq!(ours.order_errors, 0);
    assert!(ours.rebuffer_count <= 10, "{:?}", ours.stall_log);
    assert!(ours.rebuffer_time < Duration::from_millis(500));
    assert!(base.rebuffer_count > 5 * ours.rebuffer_count.max(1));
    assert!(base.rebuffer_time > 4 * ours.rebuffer_time);
}

#[test]
fn without_rate_control_the_thin_step_costs_stalls() {
    // The same link with a player that cannot slow down: the latency the thin link
    // needs is paid by stalling. Shows the target + rate control is what helps.
    let t = unseen_steps();
    let cfg = SimConfig {
        duration: Duration::from_secs(70),
        ..SimConfig::default()
    };
    let fixed = SimConfig {
        rate_control: false,
        ..cfg.clone()
    };
    let with = simulate(&t, AbrKind::LowLatency, &cfg);
    let without = simulate(&t, AbrKind::LowLatency, &fixed);
    assert!(
        without.rebuffer_count > 3 * with.rebuffer_count.max(1),
        "with {:?} without {:?}",
        with.stall_log,
        without.stall_log
    );
}

/// 500/180/110/300/90/220 kb/s, 10 s each: every level carries the 48 kb/s
/// rendition with its LL overhead (≈ 79 kb/s).
fn staircase(rtt_ms: u64) -> Trace {
    Trace::new(
        "u_stairs",
        Duration::from_millis(rtt_ms),
        [500, 180, 110, 300, 90, 220]
            .into_iter()
            .map(|k| s(10_000, k))
            .collect(),
    )
}

#[test]
fn a_staircase_that_always_carries_the_lowest_rendition_plays_without_stalls() {
    // Issue #6: "0 rebuffers where the bandwidth always exceeds the lowest rendition".
    // Steps down and up between levels that each carry the 48 kb/s rendition with its
    // LL overhead (≈ 79 kb/s), sharp enough that the fast-down window alone (one
    // second of agreeing aggregates) left 13 stalls: the quick down (buffer would run
    // dry within 0.75 s) and the low-buffer down rule make it 0.
    let (ours, base) = both(&staircase(30), 60);
    print_stalls(&ours, &base);
    assert_eq!(ours.order_errors, 0);
    assert_eq!(ours.rebuffer_count, 0, "{:?}", ours.stall_log);
    assert!(ours.qoe > base.qoe);
}

#[test]
fn at_80_ms_rtt_the_staircase_stalls_a_fraction_of_the_baseline() {
    // The same staircase at 80 ms RTT: switches cost more, and a step's first part
    // still stalls (the sub-second buffer is gone before two aggregates agree), so 0
    // is not reached yet. What must hold: after the 180 -> 90 kb/s step the fast down
    // goes to what 90 kb/s carries (the lowest rendition), not to the middle one
    // within its 15 % slack, which stalled on every part for 1.8 s (12 stalls, 0.92 s
    // against the baseline's 35 / 2.04 s; 5 / 0.64 s with the buffer-aware slack, and
    // 4 / 0.32 s against 38 / 1.94 s with at most two parts in flight on a thin link).
    // Since the player keeps at least two parts more latency after each stall
    // (`stall_cushion`), the baseline stalls less here (17 / 0.99 s), and we stalled
    // more (6 / 0.41 s, QoE below the baseline's) until the quick down also believed
    // the playback time delivered per second: 2 / 0.07 s.
    let (ours, base) = both(&staircase(80), 60);
    print_stalls(&ours, &base);
    assert_eq!(ours.order_errors, 0);
    assert!(
        ours.rebuffer_count * 5 <= base.rebuffer_count,
        "{:?}",
        ours.stall_log
    );
    assert!(ours.rebuffer_time * 2 <= base.rebuffer_time);
    assert!(ours.qoe > base.qoe);
}

/// The 210 random traces of `examples/random` (`scripts/abr_traces.py`, six seeds:
/// jitter, periodic dips, staircases, ramps, steady thin links, outages, random
/// walks, lossy links), both rules, run as `abr_sweep` does.
fn random_set() -> Vec<(Trace, SimReport, SimReport)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/random");
    let traces = Trace::load_dir(&dir).expect("examples/random");
    assert!(traces.len() >= 200, "{} traces", traces.len());
    let ours = simulate_all(&traces, AbrKind::LowLatency);
    let base = simulate_all(&traces, AbrKind::HlsJs);
    traces
        .into_iter()
        .zip(ours)
        .zip(base)
        .map(|((t, o), b)| (t, o, b))
        .collect()
}

#[test]
fn on_random_traces_mean_qoe_is_15_percent_above_the_baseline_with_far_fewer_stalls() {
    // Issue #6's goal over traces of every shape the rules were not all tuned on
    // (docs/abr.md, "Against the goals"): mean QoE at least 15 % above the
    // baseline's, and on links that always carry the lowest rendition at LL
    // (floor >= 80 kb/s) at most a fifth of the baseline's stalls.
    let runs = random_set();
    let n = runs.len() as f64;
    let ours = runs.iter().map(|r| r.1.qoe).sum::<f64>() / n;
    let base = runs.iter().map(|r| r.2.qoe).sum::<f64>() / n;
    let floor_ok = |t: &Trace| t.steps.iter().all(|s| s.1.bps() >= 80_000);
    let (ours_st, base_st) = runs
        .iter()
        .filter(|r| floor_ok(&r.0))
        .fold((0, 0), |(a, b), r| {
            (a + r.1.rebuffer_count, b + r.2.rebuffer_count)
        });
    let below = runs.iter().filter(|r| r.1.qoe < r.2.qoe - 0.05).count();
    println!(
        "{} traces: mean QoE ours {ours:.2} hls.js {base:.2} ({:+.1} %), {below} below; stalls on floor >= 80 kb/s: {ours_st} vs {base_st}",
        runs.len(),
        (ours - base) / base.abs() * 100.0
    );
    assert!(ours >= 1.15 * base, "mean QoE {ours:.2} vs {base:.2}");
    assert!(
        ours_st * 5 <= base_st,
        "stalls on sufficient links {ours_st} vs {base_st}"
    );
}
