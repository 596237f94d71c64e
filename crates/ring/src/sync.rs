//! Atomics and the two barriers `hazard.rs` is written against. `tests/loom_hazard.rs`
//! compiles the same `hazard.rs` against a loom version of this module, with both
//! barriers as `fence(SeqCst)`.
//!
//! The barriers are asymmetric (the scheme of folly's hazard pointers): the frequent
//! side (a reader publishing its hazard) pays only a compiler fence, the rare side (a
//! writer collecting hazards, once per batch of retired entries) pays a
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` system call, which makes every
//! thread of the process that is running at that moment execute a full memory
//! barrier. Together they order a reader's hazard store before its re-load of the
//! slot exactly as a `fence(SeqCst)` on both sides would. `cache.rs` uses the same
//! pair for its put/wait hand-over: a put (frequent) stores its entry, light
//! barrier, reads the slot's waiter count; a waiter (rare) counts itself in, heavy
//! barrier, checks the slot (`tests/loom_waiters.rs`). Where membarrier is not
//! available (not Linux, an old kernel, Miri) both are `fence(SeqCst)`. Hand-written
//! because no maintained crate offers it: `haphazard` uses `fence(SeqCst)` on both
//! sides, and the `membarrier` crate is unmaintained since 2019.

pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering, fence};

#[cfg(all(target_os = "linux", not(miri)))]
mod membarrier {
    use std::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const ON: u8 = 1;
    const OFF: u8 = 2;

    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    // From <linux/membarrier.h>.
    const CMD_QUERY: libc::c_int = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    fn call(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: membarrier(2) takes two integers and touches no memory of ours.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    /// Registers the process for expedited membarriers once; true when they work.
    /// Until this has returned true, light barriers are full fences, so a reader
    /// that published its hazard before registration is still ordered.
    pub(crate) fn enabled() -> bool {
        match STATE.load(Ordering::Acquire) {
            ON => true,
            OFF => false,
            _ => {
                let supported = call(CMD_QUERY);
                let on = supported >= 0
                    && supported & libc::c_long::from(CMD_PRIVATE_EXPEDITED) != 0
                    && call(CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
                STATE.store(if on { ON } else { OFF }, Ordering::Release);
                on
            }
        }
    }

    /// Reader side: `enabled` may only be true once registration has succeeded.
    #[inline]
    pub(crate) fn is_on() -> bool {
        STATE.load(Ordering::Relaxed) == ON
    }

    pub(crate) fn heavy() {
        // Registered before any reader relied on it (`is_on`), so this cannot fail
        // with EPERM; should it fail anyway, fall back to a fence, which is what a
        // reader that saw the flag unset also did.
        if call(CMD_PRIVATE_EXPEDITED) != 0 {
            std::sync::atomic::fence(Ordering::SeqCst);
        }
    }
}

/// Enables the asymmetric barriers if the system offers them (idempotent, cheap
/// after the first call). Called when a ring is built, before any reader runs.
pub(crate) fn init_barriers() {
    #[cfg(all(target_os = "linux", not(miri)))]
    membarrier::enabled();
}

/// The frequent side's barrier: a reader's, between storing its hazard and
/// re-loading the pointer; a put's, between storing its entry and reading the
/// slot's waiter count (`cache.rs`).
#[inline]
pub(crate) fn light_barrier() {
    #[cfg(all(target_os = "linux", not(miri)))]
    if membarrier::is_on() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        return;
    }
    fence(Ordering::SeqCst);
}

/// The rare side's barrier: a reclaimer's, between unlinking entries and reading
/// the hazards; a waiter's, between counting itself in and checking the slot.
pub(crate) fn heavy_barrier() {
    #[cfg(all(target_os = "linux", not(miri)))]
    if membarrier::enabled() {
        membarrier::heavy();
        return;
    }
    fence(Ordering::SeqCst);
}
