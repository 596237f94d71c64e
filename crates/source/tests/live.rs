//! The live task in virtual time (tokio::time::pause): pacing counted in parts, not timed.

use std::time::Duration;

use aulos_source::{LiveConfig, SourceEvent, spawn_synthetic};
use tokio::sync::mpsc;

fn drain(rx: &mut mpsc::Receiver<SourceEvent>, inits: &mut usize, parts: &mut [Vec<u64>; 3]) {
    while let Ok(ev) = rx.try_recv() {
        match ev {
            SourceEvent::Init { rendition, data } => {
                assert!(rendition < 3);
                assert_eq!(&data[4..8], b"ftyp");
                assert!(parts[rendition].is_empty(), "init before parts");
                *inits += 1;
            }
            SourceEvent::Part { rendition, part } => {
                parts[rendition].push(part.decode_time);
                let expected_next = parts[rendition].len() as u64 - 1;
                assert_eq!(part.sequence as u64, expected_next + 1);
                assert!(part.program_date_time.is_some());
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn paced_by_the_clock_in_virtual_time() {
    let (tx, mut rx) = mpsc::channel(1024);
    let handle = spawn_synthetic(LiveConfig::default(), tx);
    let mut inits = 0;
    let mut parts: [Vec<u64>; 3] = Default::default();

    // 1 s of virtual time: 48_000 samples (47_040 if the source's 1 s tick runs after us)
    // -> 46 (45) AUs -> 5 full 9-AU parts either way. fdk emits one AU per 1024 input
    // samples from the start; its delay shifts the audio, not the AU count.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drain(&mut rx, &mut inits, &mut parts);
    assert_eq!(inits, 3);
    let at_1s: Vec<usize> = parts.iter().map(Vec::len).collect();
    assert!(at_1s.iter().all(|&n| n == 5), "{at_1s:?}");

    // 3 s: 144_000 (143_040) samples -> 140 (139) AUs -> 15 parts.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    drain(&mut rx, &mut inits, &mut parts);
    let at_3s: Vec<usize> = parts.iter().map(Vec::len).collect();
    assert!(at_3s.iter().all(|&n| n == 15), "{at_3s:?}");
    assert!(
        at_3s.iter().all(|&n| n == at_3s[0]),
        "renditions in step: {at_3s:?}"
    );
    for r in &parts {
        for (k, t) in r.iter().enumerate() {
            assert_eq!(*t, k as u64 * 9 * 1024, "continuous decode time");
        }
    }

    // Jump the clock 2 s at once (a late wake-up): the source catches up the missed
    // blocks in one go, and the count matches the clock again (no drift).
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    drain(&mut rx, &mut inits, &mut parts);
    let at_5s = parts[0].len();
    // 5 s: 240_000 (239_040) samples -> 234 (233) AUs -> 26 (25) parts.
    assert!((25..=26).contains(&at_5s), "{at_5s}");

    drop(rx);
    let res = tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("task stops once the receiver is gone")
        .expect("task did not panic");
    assert!(res.is_ok());
}
