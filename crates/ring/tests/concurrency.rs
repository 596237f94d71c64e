//! Concurrency: a checksummed multi-writer/multi-reader stress test, and waiters
//! (wake on put, evicted, reset, closed, deadline, many waiters on one key).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aulos_ring::{ChunkCache, ChunkKey, ChunkMeta, Config, WaitError};
use bytes::Bytes;

/// FNV-1a: a cheap checksum for the stress test's payloads.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// Payload derived from the key, so a reader can tell whether it got the right one.
fn payload_for(stream: usize, key: ChunkKey) -> Bytes {
    let len = 64 + ((key.msn as usize * 7 + key.part as usize * 13) % 512);
    let seed = (stream as u64) << 48 ^ key.msn << 8 ^ u64::from(key.part);
    Bytes::from(
        (0..len)
            .map(|i| (seed.wrapping_mul(31).wrapping_add(i as u64) % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

#[test]
fn stress_readers_only_ever_see_exact_chunks() {
    const STREAMS: usize = 3;
    const SEGMENTS: u64 = 400;
    const PARTS: u32 = 4;
    let ring = Arc::new(
        ChunkCache::new(Config {
            streams: STREAMS,
            segments_per_stream: 4,
            parts_per_segment: PARTS as usize,
        })
        .unwrap(),
    );
    let ids: Vec<_> = (0..STREAMS).map(|_| ring.open_stream().unwrap()).collect();
    let done = Arc::new(AtomicBool::new(false));
    let verified = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for (si, &s) in ids.iter().enumerate() {
        let ring = ring.clone();
        handles.push(std::thread::spawn(move || {
            for msn in 0..SEGMENTS {
                for part in 0..PARTS {
                    let key = ChunkKey::new(msn, part);
                    let data = payload_for(si, key);
                    let meta = ChunkMeta {
                        tag: fnv(&data),
                        ..ChunkMeta::default()
                    };
                    ring.put(s, key, data, meta).unwrap();
                }
            }
        }));
    }
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (ring, ids, done, verified) =
                (ring.clone(), ids.clone(), done.clone(), verified.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut spins = 0u64;
                while !done.load(Ordering::Acquire) && spins < 50_000_000 {
                    spins += 1;
                    for (si, &s) in ids.iter().enumerate() {
                        let Some(latest) = ring.latest(s) else {
                            continue;
                        };
                        // read the newest key and a few behind it (some get overwritten meanwhile)
                        for back in 0..6u64 {
                            let msn = latest.msn.saturating_sub(back);
                            let key = ChunkKey::new(msn, ((r as u64 + back) % PARTS as u64) as u32);
                            if let Some(c) = ring.get(s, key) {
                                assert_eq!(c.key, key);
                                assert_eq!(
                                    c.meta.tag,
                                    fnv(&c.data),
                                    "torn or mismatched chunk at {key:?}"
                                );
                                assert_eq!(
                                    c.data,
                                    payload_for(si, key),
                                    "wrong payload at {key:?}"
                                );
                                n += 1;
                            }
                        }
                    }
                }
                verified.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        verified.load(Ordering::Relaxed) > 1000,
        "readers verified too few chunks"
    );
    for &s in &ids {
        assert_eq!(ring.latest(s), Some(ChunkKey::new(SEGMENTS - 1, PARTS - 1)));
    }
}

/// Readers that keep re-reading one key while a writer rewrites that key in place,
/// again and again (the slot's lock and its entry, not wrap-around, are what is
/// exercised; any read-side cache must pass it too): every chunk read must be one the
/// writer put, data and metadata of the same put, a reader never goes back to an
/// older put, and once the writer is done every reader sees its last put.
#[test]
fn rereading_a_key_rewritten_in_place_never_mixes_or_keeps_old_puts() {
    const ROUNDS: u64 = 20_000;
    let ring = Arc::new(
        ChunkCache::new(Config {
            streams: 1,
            segments_per_stream: 2,
            parts_per_segment: 1,
        })
        .unwrap(),
    );
    let s = ring.open_stream().unwrap();
    let key = ChunkKey::new(0, 0);
    let body = |round: u64| Bytes::from(round.to_le_bytes().repeat(1 + (round % 5) as usize));
    ring.put(s, key, body(0), ChunkMeta::default()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    // Reads of puts other than the first and the last: proof that reads and puts
    // really interleaved.
    let between = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (ring, done, between, reads) =
                (ring.clone(), done.clone(), between.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut last = 0u64;
                let mut n = 0u64;
                while !done.load(Ordering::Acquire) && n < 200_000_000 {
                    let c = ring.get(s, key).expect("the key is never evicted");
                    let round = c.meta.tag;
                    assert_eq!(c.data, body(round), "payload of another put");
                    assert!(round >= last, "went back from put {last} to {round}");
                    if round != last && round != 0 && round != ROUNDS {
                        between.fetch_add(1, Ordering::Relaxed);
                    }
                    last = round;
                    n += 1;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
                // After the writer's last put (ordered by `done`), a read must see it.
                let c = ring.get(s, key).unwrap();
                assert_eq!(c.meta.tag, ROUNDS, "a reader kept an old put");
            })
        })
        .collect();
    for round in 1..=ROUNDS {
        if round % 1000 == 0 {
            // Let the readers catch up (bounded), whatever the scheduler does.
            let (seen, t) = (reads.load(Ordering::Relaxed), std::time::Instant::now());
            while reads.load(Ordering::Relaxed) < seen + 100 && t.elapsed() < Duration::from_secs(2)
            {
                std::thread::yield_now();
            }
        }
        let meta = ChunkMeta {
            tag: round,
            ..ChunkMeta::default()
        };
        ring.put(s, key, body(round), meta).unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    let between = between.load(Ordering::Relaxed);
    assert!(
        between >= 10,
        "reads and puts barely overlapped ({between})"
    );
}

fn small_ring() -> Arc<ChunkCache> {
    Arc::new(
        ChunkCache::new(Config {
            streams: 2,
            segments_per_stream: 4,
            parts_per_segment: 4,
        })
        .unwrap(),
    )
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn wait_resolves_when_put() {
    let ring = small_ring();
    let s = ring.open_stream().unwrap();
    ring.put(s, ChunkKey::new(0, 0), "first".into(), ChunkMeta::default())
        .unwrap();
    let key = ChunkKey::new(0, 1);
    let waiter = tokio::spawn({
        let ring = ring.clone();
        async move { ring.wait(s, key, far()).await }
    });
    // wait until the waiter is parked, then publish
    while ring.stats().waiters == 0 {
        tokio::task::yield_now().await;
    }
    ring.put(s, key, "second".into(), ChunkMeta::default())
        .unwrap();
    let c = waiter.await.unwrap().unwrap();
    assert_eq!(c.data, "second");
    assert_eq!(ring.stats().waiters, 0);
}

#[tokio::test]
async fn wait_on_present_key_is_immediate() {
    let ring = small_ring();
    let s = ring.open_stream().unwrap();
    ring.put(s, ChunkKey::new(3, 2), "x".into(), ChunkMeta::default())
        .unwrap();
    // a deadline already in the past still returns the present chunk
    let c = ring
        .wait(s, ChunkKey::new(3, 2), Instant::now())
        .await
        .unwrap();
    assert_eq!(c.data, "x");
}

#[tokio::test]
async fn wait_reports_eviction() {
    let ring = small_ring();
    let s = ring.open_stream().unwrap();
    for msn in 0..10 {
        ring.put(s, ChunkKey::new(msn, 0), "x".into(), ChunkMeta::default())
            .unwrap();
    }
    assert_eq!(
        ring.wait(s, ChunkKey::new(2, 1), far()).await,
        Err(WaitError::Evicted)
    );
    assert_eq!(
        ring.wait(s, ChunkKey::new(50, 0), far()).await,
        Err(WaitError::TooFarAhead)
    );
    // A waiter whose key is overtaken by the window while parked is told so.
    let key = ChunkKey::new(7, 3); // never published; its slot is overwritten by msn 11
    let waiter = tokio::spawn({
        let ring = ring.clone();
        async move { ring.wait(s, key, far()).await }
    });
    while ring.stats().waiters == 0 {
        tokio::task::yield_now().await;
    }
    for msn in 10..12 {
        for part in 0..4 {
            ring.put(
                s,
                ChunkKey::new(msn, part),
                "y".into(),
                ChunkMeta::default(),
            )
            .unwrap();
        }
    }
    assert_eq!(waiter.await.unwrap(), Err(WaitError::Evicted));
}

#[tokio::test]
async fn wait_reports_reset_and_close() {
    let ring = small_ring();
    let s = ring.open_stream().unwrap();
    let spawn_waiter = |ring: Arc<ChunkCache>| {
        tokio::spawn(async move { ring.wait(s, ChunkKey::new(1, 0), far()).await })
    };
    let w = spawn_waiter(ring.clone());
    while ring.stats().waiters == 0 {
        tokio::task::yield_now().await;
    }
    ring.reset_stream(s).unwrap();
    assert_eq!(w.await.unwrap(), Err(WaitError::Reset));

    let w = spawn_waiter(ring.clone());
    while ring.stats().waiters == 0 {
        tokio::task::yield_now().await;
    }
    ring.close_stream(s);
    assert_eq!(w.await.unwrap(), Err(WaitError::Closed));
    assert_eq!(
        ring.wait(s, ChunkKey::new(1, 0), far()).await,
        Err(WaitError::Closed)
    );
}

#[tokio::test]
async fn wait_deadline_passes() {
    let ring = small_ring();
    let s = ring.open_stream().unwrap();
    let deadline = Instant::now() + Duration::from_millis(50);
    let r = ring.wait(s, ChunkKey::new(0, 0), deadline).await;
    assert_eq!(r, Err(WaitError::DeadlinePassed));
    assert_eq!(ring.stats().waiters, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_waiters_on_one_key_all_wake() {
    const N: usize = 10_000;
    let ring = small_ring();
    let s = ring.open_stream().unwrap();
    let key = ChunkKey::new(0, 2);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..N {
        let ring = ring.clone();
        set.spawn(async move { ring.wait(s, key, far()).await });
    }
    let start = Instant::now();
    while ring.stats().waiters < N && start.elapsed() < Duration::from_secs(60) {
        tokio::task::yield_now().await;
    }
    assert_eq!(ring.stats().waiters, N);
    let data = Bytes::from_static(b"the part");
    ring.put(s, key, data.clone(), ChunkMeta::default())
        .unwrap();
    let mut woken = 0;
    while let Some(r) = set.join_next().await {
        let c = r.unwrap().unwrap();
        assert_eq!(
            c.data.as_ptr(),
            data.as_ptr(),
            "every waiter shares the one payload"
        );
        woken += 1;
    }
    assert_eq!(woken, N);
    assert_eq!(ring.stats().waiters, 0);
}

/// A put racing a waiter that is just parking is never lost: the put skips the
/// wake-up only when no waiter is registered on the slot, and a waiter registered
/// too late for the put's check sees the chunk in its own check. A lost wake-up
/// would surface as `DeadlinePassed` (30 s), failing the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_racing_a_parking_waiter_is_never_lost() {
    const ROUNDS: u64 = 2_000;
    let ring = Arc::new(
        ChunkCache::new(Config {
            streams: 1,
            segments_per_stream: 4,
            parts_per_segment: 1,
        })
        .unwrap(),
    );
    let s = ring.open_stream().unwrap();
    for msn in 0..ROUNDS {
        let key = ChunkKey::new(msn, 0);
        let waiter = tokio::spawn({
            let ring = ring.clone();
            async move { ring.wait(s, key, far()).await }
        });
        // Put from another thread with no synchronisation with the waiter.
        let writer = std::thread::spawn({
            let ring = ring.clone();
            move || {
                ring.put(
                    s,
                    key,
                    Bytes::from(msn.to_le_bytes().to_vec()),
                    ChunkMeta::default(),
                )
                .unwrap()
            }
        });
        let c = waiter.await.unwrap().expect("waiter must see the put");
        assert_eq!(c.data, Bytes::from(msn.to_le_bytes().to_vec()));
        writer.join().unwrap();
    }
    assert_eq!(ring.stats().waiters, 0);
}
