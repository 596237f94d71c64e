//! Prints a live playlist after 20 segments and its delta update (for eyeballing
//! and for docs): `cargo run -p aulos-manifest --example render_live`.
use aulos_manifest::*;
use std::time::{Duration, UNIX_EPOCH};

fn main() {
    let mut b = LiveBuilder::new(LiveConfig::default()).expect("default config is valid");
    b.set_map(Map {
        uri: "init0.mp4".into(),
        byte_range: None,
    })
    .expect("no open segment");
    let mut t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for i in 0..(20 * 5 + 2) {
        let info = PartInfo {
            duration: Duration::from_millis(192),
            independent: true,
            gap: false,
            program_date_time: Some(t),
        };
        b.push_part(info).expect("part fits");
        t += Duration::from_millis(192);
        if i % 5 == 4 {
            b.close_segment().expect("segment fits");
        }
    }
    b.set_rendition_reports(vec![RenditionReport {
        uri: "../a96/index.m3u8".into(),
        last_msn: Some(20),
        last_part: Some(1),
    }]);
    let mut out = Vec::new();
    render_media(b.playlist(), SkipMode::Full, &mut out);
    println!("{}", String::from_utf8_lossy(&out));
    out.clear();
    render_media(b.playlist(), SkipMode::Yes, &mut out);
    println!("---- delta ----\n{}", String::from_utf8_lossy(&out));
}
