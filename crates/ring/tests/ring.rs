//! Behaviour of `ChunkCache`: wrap-around, eviction, reset, metadata, errors, and a
//! property test against a simple model.

use std::collections::BTreeMap;
use std::time::Duration;

use aulos_ring::{ChunkCache, ChunkKey, ChunkMeta, Config, Error};
use bytes::Bytes;
use proptest::prelude::*;

fn ring(segments: usize, parts: usize) -> ChunkCache {
    ChunkCache::new(Config {
        streams: 4,
        segments_per_stream: segments,
        parts_per_segment: parts,
    })
    .unwrap()
}

fn payload(key: ChunkKey) -> Bytes {
    Bytes::from(format!("chunk {}.{}", key.msn, key.part))
}

#[test]
fn put_get_roundtrip_with_metadata() {
    let r = ring(4, 4);
    let s = r.open_stream().unwrap();
    let key = ChunkKey::new(10, 2);
    let meta = ChunkMeta {
        duration: Duration::from_millis(192),
        independent: true,
        tag: 0xfeed,
    };
    let data = Bytes::from_static(b"moof+mdat");
    r.put(s, key, data.clone(), meta).unwrap();
    let c = r.get(s, key).unwrap();
    assert_eq!(c.key, key);
    assert_eq!(c.data, data);
    assert_eq!(c.meta, meta);
    assert_eq!(c.len(), 9);
    // zero-copy: the returned Bytes points at the same memory.
    assert_eq!(c.data.as_ptr(), data.as_ptr());
    assert_eq!(r.get(s, ChunkKey::new(10, 1)), None);
    assert_eq!(r.get(s, ChunkKey::new(11, 2)), None);
}

#[test]
fn wrap_around_never_returns_the_newer_chunk() {
    // 4 segments × 2 parts: msn 0 and msn 4 share slots.
    let r = ring(4, 2);
    let s = r.open_stream().unwrap();
    for msn in 0..4 {
        for part in 0..2 {
            let k = ChunkKey::new(msn, part);
            r.put(s, k, payload(k), ChunkMeta::default()).unwrap();
        }
    }
    assert!(r.get(s, ChunkKey::new(0, 1)).is_some());
    let k = ChunkKey::new(4, 1);
    r.put(s, k, payload(k), ChunkMeta::default()).unwrap();
    // The old key's slot now holds msn 4: the old key must read as gone (no ABA) ...
    assert_eq!(r.get(s, ChunkKey::new(0, 1)), None);
    // ... its sibling part in the same segment, not yet overwritten, is still there ...
    assert_eq!(
        r.get(s, ChunkKey::new(0, 0)).unwrap().data,
        payload(ChunkKey::new(0, 0))
    );
    // ... and the new key reads back exactly.
    assert_eq!(r.get(s, k).unwrap().data, payload(k));
    assert_eq!(r.latest(s), Some(k));
}

#[test]
fn stale_and_too_far_ahead_puts_are_refused() {
    let r = ring(4, 2);
    let s = r.open_stream().unwrap();
    r.put(s, ChunkKey::new(10, 0), "a".into(), ChunkMeta::default())
        .unwrap();
    // msn 6 would land on msn 10's slot row: older than the window.
    assert!(matches!(
        r.put(s, ChunkKey::new(6, 0), "x".into(), ChunkMeta::default()),
        Err(Error::Stale { .. })
    ));
    // msn 7 is still inside the window (10 - 4 < 7) and can be filled in late.
    r.put(s, ChunkKey::new(7, 1), "late".into(), ChunkMeta::default())
        .unwrap();
    assert!(matches!(
        r.put(s, ChunkKey::new(14, 0), "x".into(), ChunkMeta::default()),
        Err(Error::TooFarAhead { .. })
    ));
    r.put(s, ChunkKey::new(13, 0), "b".into(), ChunkMeta::default())
        .unwrap();
    // the late put never lowered `latest`.
    assert_eq!(r.latest(s), Some(ChunkKey::new(13, 0)));
    assert_eq!(r.get(s, ChunkKey::new(10, 0)).unwrap().data, "a");
}

#[test]
fn out_of_range_keys_are_errors_not_panics() {
    let r = ring(4, 3);
    let s = r.open_stream().unwrap();
    assert_eq!(
        r.put(s, ChunkKey::new(0, 3), "x".into(), ChunkMeta::default()),
        Err(Error::PartOutOfRange { part: 3, max: 3 })
    );
    assert_eq!(
        r.put(
            s,
            ChunkKey::new(u64::MAX, 0),
            "x".into(),
            ChunkMeta::default()
        ),
        Err(Error::MsnOutOfRange(u64::MAX))
    );
    assert_eq!(r.get(s, ChunkKey::new(0, 99)), None);
    assert_eq!(r.get(s, ChunkKey::new(u64::MAX, 0)), None);
}

#[test]
fn streams_are_isolated_and_bounded() {
    let r = ring(4, 2);
    let ids: Vec<_> = (0..4).map(|_| r.open_stream().unwrap()).collect();
    assert_eq!(r.open_stream(), Err(Error::NoFreeStream(4)));
    let k = ChunkKey::new(1, 1);
    r.put(ids[0], k, "zero".into(), ChunkMeta::default())
        .unwrap();
    r.put(ids[1], k, "one".into(), ChunkMeta::default())
        .unwrap();
    assert_eq!(r.get(ids[0], k).unwrap().data, "zero");
    assert_eq!(r.get(ids[1], k).unwrap().data, "one");
    assert_eq!(r.get(ids[2], k), None);
    assert_eq!(r.latest(ids[2]), None);
}

#[test]
fn reset_is_generational() {
    let r = ring(4, 2);
    let s = r.open_stream().unwrap();
    let k = ChunkKey::new(5, 0);
    r.put(s, k, "before".into(), ChunkMeta::default()).unwrap();
    let g0 = r.generation(s).unwrap();
    r.reset_stream(s).unwrap();
    assert_ne!(r.generation(s).unwrap(), g0);
    assert_eq!(r.get(s, k), None, "old generation is invisible");
    assert_eq!(r.latest(s), None);
    // After a reset the stream may start anywhere (a jump to the live edge).
    r.put(
        s,
        ChunkKey::new(1000, 0),
        "after".into(),
        ChunkMeta::default(),
    )
    .unwrap();
    r.put(s, k, "again".into(), ChunkMeta::default())
        .unwrap_err();
    assert_eq!(r.get(s, ChunkKey::new(1000, 0)).unwrap().data, "after");
}

#[test]
fn close_releases_and_reopen_starts_empty() {
    let r = ring(4, 2);
    let s = r.open_stream().unwrap();
    r.put(
        s,
        ChunkKey::new(0, 0),
        Bytes::from(vec![0u8; 100]),
        ChunkMeta::default(),
    )
    .unwrap();
    r.put(
        s,
        ChunkKey::new(0, 1),
        Bytes::from(vec![0u8; 50]),
        ChunkMeta::default(),
    )
    .unwrap();
    assert_eq!(r.stats().chunks, 2);
    assert_eq!(r.stats().bytes, 150);
    r.close_stream(s);
    assert_eq!(r.stats().chunks, 0);
    assert_eq!(r.stats().bytes, 0);
    assert_eq!(
        r.put(s, ChunkKey::new(0, 0), "x".into(), ChunkMeta::default()),
        Err(Error::NotOpen(s.index() as u32))
    );
    let s2 = r.open_stream().unwrap();
    assert_eq!(s2, s, "the freed slot is reused");
    assert_eq!(r.get(s2, ChunkKey::new(0, 0)), None);
}

#[test]
fn stats_track_overwrites() {
    let r = ring(2, 1);
    let s = r.open_stream().unwrap();
    for msn in 0..10u64 {
        r.put(
            s,
            ChunkKey::new(msn, 0),
            Bytes::from(vec![1u8; 10]),
            ChunkMeta::default(),
        )
        .unwrap();
    }
    let st = r.stats();
    assert_eq!(st.chunks, 2, "a 2-slot stream holds 2 chunks");
    assert_eq!(st.bytes, 20);
    assert_eq!(st.capacity, 4 * 2);
    assert_eq!(st.streams_open, 1);
}

#[test]
fn stats_track_size_changes_and_shared_payloads() {
    // 2 segments × 1 part: each put replaces the chunk two MSNs back.
    let r = ring(2, 1);
    let s = r.open_stream().unwrap();
    let sizes = [10usize, 20, 5, 30, 30, 7, 7, 0, 64];
    // One payload shared by the caller and every slot, sliced to each size.
    let shared = Bytes::from(vec![9u8; 64]);
    for (msn, &len) in sizes.iter().enumerate() {
        let data = shared.slice(..len);
        r.put(s, ChunkKey::new(msn as u64, 0), data, ChunkMeta::default())
            .unwrap();
        let held: Vec<usize> = sizes[..=msn].iter().rev().take(2).copied().collect();
        let st = r.stats();
        assert_eq!(st.chunks, held.len(), "after msn {msn}");
        assert_eq!(st.bytes, held.iter().sum::<usize>(), "after msn {msn}");
        let c = r.get(s, ChunkKey::new(msn as u64, 0)).unwrap();
        assert_eq!(c.len(), len);
        assert_eq!(c.data.as_ptr(), shared.as_ptr(), "same memory, no copy");
    }
    // The caller's handle outlives every overwrite and close.
    r.close_stream(s);
    assert_eq!(r.stats().bytes, 0);
    assert_eq!(shared.len(), 64);
    assert!(shared.iter().all(|&b| b == 9));
}

#[test]
fn non_power_of_two_window_wraps() {
    // 3 segments: slot index uses a modulo instead of a mask.
    let r = ring(3, 2);
    let s = r.open_stream().unwrap();
    for msn in 0..8u64 {
        for part in 0..2 {
            let k = ChunkKey::new(msn, part);
            r.put(s, k, payload(k), ChunkMeta::default()).unwrap();
        }
    }
    for msn in 0..8u64 {
        for part in 0..2 {
            let k = ChunkKey::new(msn, part);
            let got = r.get(s, k).map(|c| c.data);
            if msn >= 5 {
                assert_eq!(got, Some(payload(k)), "{k:?} is in the window");
            } else {
                assert_eq!(got, None, "{k:?} was overwritten");
            }
        }
    }
    assert_eq!(r.latest(s), Some(ChunkKey::new(7, 1)));
}

#[derive(Debug, Clone)]
enum Op {
    Put(u64, u32),
    Get(u64, u32),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..24, 0u32..4).prop_map(|(m, p)| Op::Put(m, p)),
        6 => (0u64..24, 0u32..4).prop_map(|(m, p)| Op::Get(m, p)),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    /// The ring behaves like a map restricted to the window of the newest
    /// `segments_per_stream` segments, where a key is gone once a newer key took its slot.
    #[test]
    fn matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        const SEGS: u64 = 4;
        let r = ring(SEGS as usize, 4);
        let s = r.open_stream().unwrap();
        // model: slot -> (key, value)
        let mut model: BTreeMap<(u64, u32), (ChunkKey, Bytes)> = BTreeMap::new();
        let mut latest: Option<ChunkKey> = None;
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Put(msn, part) => {
                    let key = ChunkKey::new(msn, part);
                    let val = Bytes::from(format!("{i}"));
                    let res = r.put(s, key, val.clone(), ChunkMeta::default());
                    let expect_ok = match latest {
                        None => true,
                        Some(l) => msn + SEGS > l.msn && msn < l.msn + SEGS,
                    };
                    prop_assert_eq!(res.is_ok(), expect_ok, "put {:?} latest {:?}", key, latest);
                    if expect_ok {
                        model.insert((msn % SEGS, part), (key, val));
                        latest = Some(latest.map_or(key, |l| l.max(key)));
                    }
                }
                Op::Get(msn, part) => {
                    let key = ChunkKey::new(msn, part);
                    let want = model.get(&(msn % SEGS, part)).filter(|(k, _)| *k == key).map(|(_, v)| v.clone());
                    prop_assert_eq!(r.get(s, key).map(|c| c.data), want);
                }
                Op::Reset => {
                    r.reset_stream(s).unwrap();
                    model.clear();
                    latest = None;
                }
            }
            prop_assert_eq!(r.latest(s), latest);
        }
    }
}
