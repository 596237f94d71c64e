//! `cargo bench -p aulos-manifest --bench manifest`
//!
//! 1. Render + gzip of a ~3 kB LL playlist through `M3u8Cache::update` (goal ≤ 30 µs),
//!    at gzip levels 1, 6 and 9 (size and time: the level is chosen from this table).
//! 2. Parse throughput (MB/s) of `aulos_manifest::parse` vs `m3u8_rs` in the same run,
//!    on a live LL playlist (which m3u8-rs reads only partly: it keeps LL tags as
//!    unparsed "unknown" tags) and on a 5000-segment VOD playlist.
//!
//! A plain harness (not criterion) so the ratios print in one table; each figure is
//! the median of 15 rounds.

use aulos_manifest::*;
use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

fn median_ns<F: FnMut()>(iters: u32, mut f: F) -> f64 {
    let mut rounds = Vec::with_capacity(15);
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        rounds.push(t.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn ll_playlist() -> MediaPlaylist {
    let mut b = LiveBuilder::new(LiveConfig::default()).expect("valid");
    b.set_map(Map {
        uri: "init0.mp4".into(),
        byte_range: None,
    })
    .expect("no open segment");
    let mut t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for i in 0..(40 * 5 + 3) {
        b.push_part(PartInfo {
            duration: Duration::from_millis(192),
            independent: true,
            gap: false,
            program_date_time: Some(t),
        })
        .expect("fits");
        t += Duration::from_millis(192);
        if i % 5 == 4 {
            b.close_segment().expect("fits");
        }
    }
    b.set_rendition_reports(vec![
        RenditionReport {
            uri: "../a48/index.m3u8".into(),
            last_msn: Some(40),
            last_part: Some(2),
        },
        RenditionReport {
            uri: "../a160/index.m3u8".into(),
            last_msn: Some(40),
            last_part: Some(2),
        },
    ]);
    b.playlist().clone()
}

fn vod_playlist(n: u64) -> Vec<u8> {
    let mut pl = MediaPlaylist {
        target_duration: 6,
        playlist_type: Some(PlaylistType::Vod),
        end_list: true,
        ..MediaPlaylist::default()
    };
    for i in 0..n {
        let mut s = Segment::new(
            format!("https://cdn.example.com/vod/seg{i:05}.ts"),
            Duration::from_micros(5_972_333),
        );
        s.title = String::new();
        pl.segments.push(s);
    }
    let mut out = Vec::new();
    render_media(&pl, SkipMode::Full, &mut out);
    out
}

fn main() {
    let pl = ll_playlist();
    let mut text = Vec::new();
    render_media(&pl, SkipMode::Full, &mut text);
    println!(
        "LL playlist: {} bytes, {} segments, {} parts listed",
        text.len(),
        pl.segments.len(),
        pl.segments.iter().map(|s| s.parts.len()).sum::<usize>() + pl.partial_segment.len()
    );

    println!("\n## render + gzip (M3u8Cache::update: full + delta, both gzip'd)");
    println!(
        "| gzip level | full gz bytes | one playlist: render + gzip µs | update: full + delta, each render + gzip µs | render only µs |"
    );
    println!("|---|---|---|---|---|");
    let mut no_delta = pl.clone();
    if let Some(sc) = &mut no_delta.server_control {
        sc.can_skip_until = None;
    }
    let mut buf = Vec::with_capacity(8192);
    let render_ns = median_ns(2000, || {
        buf.clear();
        render_media(black_box(&pl), SkipMode::Full, &mut buf);
        black_box(&buf);
    });
    for level in [1, 6, 9] {
        let cache = M3u8Cache::with_level(level);
        let r = cache.update(&pl);
        let ns = median_ns(500, || {
            black_box(cache.update(black_box(&pl)));
        });
        let one = M3u8Cache::with_level(level);
        let one_ns = median_ns(500, || {
            black_box(one.update(black_box(&no_delta)));
        });
        println!(
            "| {level} | {} | {:.1} | {:.1} | {:.1} |",
            r.full_gzip.len(),
            one_ns / 1e3,
            ns / 1e3,
            render_ns / 1e3
        );
    }

    println!("\n## parse throughput, same run");
    println!("| input | bytes | aulos-manifest MB/s | m3u8-rs MB/s | ratio |");
    println!("|---|---|---|---|---|");
    let vod = vod_playlist(5000);
    for (name, input) in [
        ("LL live (parts, hints)", &text),
        ("VOD 5000 segments", &vod),
    ] {
        assert!(parse(input).is_ok());
        assert!(m3u8_rs::parse_playlist_res(input).is_ok());
        let iters = (2_000_000 / input.len()).max(5) as u32;
        let ours = median_ns(iters, || {
            black_box(parse(black_box(input)).ok());
        });
        let theirs = median_ns(iters, || {
            black_box(m3u8_rs::parse_playlist_res(black_box(input)).ok());
        });
        let mbs = |ns: f64| input.len() as f64 / ns * 1e3;
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.2}× |",
            input.len(),
            mbs(ours),
            mbs(theirs),
            theirs / ours
        );
    }
}
