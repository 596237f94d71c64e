//! Hazard pointers (Michael, 2004): how a get reads a slot's entry without taking
//! a lock or writing any line other threads read, while a put may replace and free
//! that entry at any moment.
//!
//! - Every reading thread owns a [`Record`] (its own 128-byte block). To read the
//!   entry behind an `AtomicPtr`, [`protect`] loads the pointer, stores it in the
//!   record (the *hazard*), issues the light barrier and loads the pointer again; if
//!   it is unchanged, the entry cannot be freed until the hazard is [`clear`]ed.
//! - A writer that unlinks an entry (swaps a new one into the slot) does not free it:
//!   it [`Retired::push`]es it, and every so often [`Retired::reclaim`] issues the
//!   heavy barrier, reads every record's hazard and frees the retired entries no
//!   hazard names.
//!
//! Why that is enough: the two barriers order each reader's hazard store before its
//! re-load, and each reclaimer's unlink before its reading of the hazards, as a
//! `fence(SeqCst)` on each side would. Then either the reader's re-load sees the
//! unlink (it retries with the new pointer and never dereferences the old one) or
//! the reclaimer sees the hazard (it keeps the entry for a later round). An entry
//! that was freed and whose memory was reused for a new entry of the same slot
//! passes the re-load check too — harmlessly, since that is the slot's current entry
//! and it is protected from then on.
//!
//! Records are never freed while their domain lives; a thread gives its record back
//! for reuse when it exits. The one global domain (`cache::domain`) lives for the
//! process. `tests/loom_hazard.rs` model-checks this file as it is, compiled
//! against loom's atomics; `cargo +nightly miri test -p aulos-ring --lib` runs the
//! ring's unit tests, which use it from several threads, under Miri.

use crate::sync::{AtomicBool, AtomicPtr, Ordering, heavy_barrier, light_barrier};

/// One thread's hazard slot.
#[repr(align(128))]
pub(crate) struct Record {
    hazard: AtomicPtr<()>,
    in_use: AtomicBool,
    /// The next record of the domain's list; written once, before the record is
    /// published.
    next: *const Record,
}

/// The list of every record; it only grows.
pub(crate) struct Domain {
    head: AtomicPtr<Record>,
}

// SAFETY: the raw pointers are to records the domain owns and never frees while it
// lives; every field they reach is atomic or immutable after publication.
unsafe impl Send for Domain {}
// SAFETY: as above.
unsafe impl Sync for Domain {}

impl Domain {
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// A record for the calling thread: a released one if any, else a new one.
    pub(crate) fn acquire(&self) -> &Record {
        let mut p = self.head.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: records in the list live as long as the domain.
            let r = unsafe { &*p };
            if !r.in_use.load(Ordering::Relaxed)
                && r.in_use
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return r;
            }
            p = r.next.cast_mut();
        }
        let mut new = Box::new(Record {
            hazard: AtomicPtr::new(std::ptr::null_mut()),
            in_use: AtomicBool::new(true),
            next: std::ptr::null(),
        });
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            new.next = head;
            let raw = Box::into_raw(new);
            match self
                .head
                .compare_exchange(head, raw, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: just published; lives as long as the domain.
                Ok(_) => return unsafe { &*raw },
                Err(now) => {
                    // SAFETY: `raw` was not published; take it back.
                    new = unsafe { Box::from_raw(raw) };
                    head = now;
                }
            }
        }
    }

    /// Gives a record back (its thread is done with it).
    pub(crate) fn release(&self, r: &Record) {
        r.hazard.store(std::ptr::null_mut(), Ordering::Release);
        r.in_use.store(false, Ordering::Release);
    }

    /// Every hazard currently published, after the heavy barrier.
    fn hazards(&self, out: &mut Vec<*mut ()>) {
        out.clear();
        heavy_barrier();
        let mut p = self.head.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: records in the list live as long as the domain.
            let r = unsafe { &*p };
            let h = r.hazard.load(Ordering::Acquire);
            if !h.is_null() {
                out.push(h);
            }
            p = r.next.cast_mut();
        }
        out.sort_unstable();
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // (`load`, not `get_mut`: loom's atomics have no `get_mut`.)
        let mut p = self.head.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: `&mut self`: nobody holds a record any more; each was boxed.
            let r = unsafe { Box::from_raw(p) };
            p = r.next.cast_mut();
        }
    }
}

/// Loads the pointer in `src` and publishes it as `rec`'s hazard. The returned
/// pointer (null or not) may be dereferenced until [`clear`]: a non-null entry it
/// points to is not freed before then, provided whoever unlinks entries from `src`
/// retires them through [`Retired`] of the same domain.
#[inline]
pub(crate) fn protect<T>(rec: &Record, src: &AtomicPtr<T>) -> *mut T {
    let mut p = src.load(Ordering::Acquire);
    loop {
        if p.is_null() {
            return p;
        }
        rec.hazard.store(p.cast(), Ordering::Relaxed);
        light_barrier();
        let again = src.load(Ordering::Acquire);
        if again == p {
            return p;
        }
        p = again;
    }
}

impl Record {
    /// The published hazard (for tests).
    #[cfg(test)]
    pub(crate) fn hazard(&self) -> *mut () {
        self.hazard.load(Ordering::Relaxed)
    }

    /// No protection is held through this record (for debug checks: a record
    /// protects one pointer at a time).
    pub(crate) fn hazard_is_clear(&self) -> bool {
        self.hazard.load(Ordering::Relaxed).is_null()
    }
}

/// Ends the protection [`protect`] gave.
#[inline]
pub(crate) fn clear(rec: &Record) {
    rec.hazard.store(std::ptr::null_mut(), Ordering::Release);
}

/// Entries unlinked by one writer (or writers sharing a lock), not yet freed.
pub(crate) struct Retired<T> {
    list: Vec<*mut T>,
    /// Scratch for the hazards of a reclaim (kept, so a reclaim allocates nothing
    /// once warm).
    hazards: Vec<*mut ()>,
}

// SAFETY: the pointers are to boxed `T`s that only this value may free.
unsafe impl<T: Send> Send for Retired<T> {}

impl<T> Retired<T> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            list: Vec::with_capacity(n),
            hazards: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Takes ownership of an unlinked entry.
    ///
    /// # Safety
    /// `p` came from `Box::into_raw`, is unlinked from every `AtomicPtr` readers
    /// [`protect`] it through (no new reader can find it), and is pushed once.
    pub(crate) unsafe fn push(&mut self, p: *mut T) {
        self.list.push(p);
    }

    /// Hands every retired entry no hazard of `domain` names to `free`, keeps the
    /// rest for a later round. Returns how many stay.
    pub(crate) fn reclaim(&mut self, domain: &Domain, mut free: impl FnMut(Box<T>)) -> usize {
        if self.list.is_empty() {
            return 0;
        }
        domain.hazards(&mut self.hazards);
        let hazards = &self.hazards;
        self.list.retain(|&p| {
            if hazards.binary_search(&p.cast()).is_ok() {
                return true;
            }
            // SAFETY: `push`'s contract: boxed and unlinked before the heavy barrier
            // in `hazards`; no hazard names it, so no reader holds it or can reach it.
            free(unsafe { Box::from_raw(p) });
            false
        });
        self.list.len()
    }
}

impl<T> Drop for Retired<T> {
    fn drop(&mut self) {
        for &p in &self.list {
            // SAFETY: the owner drops this only when no reader can run any more (the
            // ring is dropped through `&mut`); each pointer was boxed and pushed once.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}
