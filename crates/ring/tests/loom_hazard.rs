//! loom model of `src/hazard.rs`, the ring's lock-free read path: the file itself is
//! compiled here against loom's atomics (the `sync` module below), with both of its
//! barriers as `fence(SeqCst)` — which is what the asymmetric pair (compiler fence +
//! `membarrier`) in `src/sync.rs` stands for.
//!
//! A reader protects a slot's entry and reads it, as `ChunkCache::read_slot` does; a
//! writer swaps new entries into the slot and retires and reclaims the old ones, as
//! `ChunkCache::put` does. Freeing an entry is modelled as a write to its cell (the
//! memory is kept, so a bug shows up as loom's report of a read racing that write,
//! not as real use-after-free in the test). loom explores every interleaving and
//! every weak-memory outcome its model allows. `model_fails_without_the_barrier`
//! checks that the model can fail: without the reader's barrier loom finds the race.

use std::sync::atomic::AtomicBool as StdAtomicBool;

use loom::cell::UnsafeCell;
use loom::sync::Arc;

/// What `hazard.rs` imports as `crate::sync`.
mod sync {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, Ordering, fence};

    pub(crate) fn light_barrier() {
        if !super::BROKEN.load(std::sync::atomic::Ordering::Relaxed) {
            fence(Ordering::SeqCst);
        }
    }

    pub(crate) fn heavy_barrier() {
        fence(Ordering::SeqCst);
    }
}

#[path = "../src/hazard.rs"]
#[allow(dead_code)]
mod hazard;

use hazard::{Domain, Retired};
use sync::{AtomicPtr, Ordering};

/// Set by the broken variant: the reader skips its barrier.
static BROKEN: StdAtomicBool = StdAtomicBool::new(false);

struct Entry {
    /// The payload; 0 once freed.
    value: UnsafeCell<u64>,
}

fn entry(v: u64) -> *mut Entry {
    Box::into_raw(Box::new(Entry {
        value: UnsafeCell::new(v),
    }))
}

struct Shared {
    domain: Domain,
    slot: AtomicPtr<Entry>,
}

fn model() {
    loom::model(|| {
        let shared = Arc::new(Shared {
            domain: Domain::new(),
            slot: AtomicPtr::new(entry(1)),
        });
        let reader = {
            let shared = shared.clone();
            loom::thread::spawn(move || {
                let rec = shared.domain.acquire();
                let p = hazard::protect(rec, &shared.slot);
                // SAFETY: protected (this is what the model checks); never null here.
                let v = unsafe { &*p }.value.with(|v| unsafe { *v });
                hazard::clear(rec);
                shared.domain.release(rec);
                v
            })
        };
        // The writer: two puts into the slot, each retiring the entry it replaces
        // and reclaiming at once (a batch of one).
        let mut retired = Retired::with_capacity(2);
        let mut freed: Vec<Box<Entry>> = Vec::new();
        for v in [2, 3] {
            let old = shared.slot.swap(entry(v), Ordering::AcqRel);
            // SAFETY: unlinked just above, boxed by `entry`, pushed once.
            unsafe { retired.push(old) };
            retired.reclaim(&shared.domain, |b| {
                b.value.with_mut(|v| unsafe { *v = 0 });
                freed.push(b);
            });
        }
        let v = reader.join().unwrap();
        assert!((1..=3).contains(&v), "the reader saw a freed entry: {v}");
        // Whatever the reader held is reclaimable now.
        assert_eq!(retired.reclaim(&shared.domain, |b| freed.push(b)), 0);
        let last = shared.slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: the model's threads are done.
        drop(unsafe { Box::from_raw(last) });
    });
}

#[test]
fn a_protected_entry_is_never_freed_under_its_reader() {
    model();
}

#[test]
#[ignore = "a broken variant, run by model_fails_without_the_barrier"]
fn broken_reader_without_barrier() {
    BROKEN.store(true, std::sync::atomic::Ordering::Relaxed);
    model();
}

#[test]
fn model_fails_without_the_barrier() {
    let me = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(&me)
        .args([
            "broken_reader_without_barrier",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .output()
        .expect("test binary runs");
    let text = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success()
            && (text.contains("Causality violation") || text.contains("freed entry")),
        "loom found no use of a freed entry without the reader's barrier:\n{text}"
    );
}
