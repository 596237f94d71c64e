//! The ring itself.
//!
//! Layout: one flat, pre-allocated `Box<[Slot]>`; stream `s` owns slots
//! `s × slots_per_stream ..`, and key `(msn, part)` lives in slot
//! `(msn mod segments_per_stream) × parts_per_segment + part`, so every operation
//! is O(1) without an index.
//!
//! Correctness without `unsafe`:
//! - each slot is a `parking_lot::RwLock<Option<Entry>>`; a put holds the write lock
//!   only to swap the entry in (the old payload is dropped after unlocking), a get
//!   holds the read lock only to clone `Bytes` (an atomic increment). A reader can
//!   therefore never see a half-written chunk, and contends only with a put to the
//!   very same slot — which, in a ring whose readers follow the live edge, is the
//!   slot written a whole window ago.
//! - every entry carries its full key and the stream generation it was put in; a
//!   get checks both under the slot lock, so a slot overwritten by a newer key
//!   (wrap-around) or left from before a reset is never returned (no ABA).
//! - a reset bumps the stream's generation: O(1), old entries become invisible and
//!   are overwritten lazily.
//!
//! Cache lines (measured with `benches/vs_playlists.rs`, see docs/performance.md):
//! slots and streams are 128-byte aligned and the occupancy counters sit on their
//! own block, so a put writes no line that readers of other slots or streams read;
//! a put with nobody waiting on its slot skips the wake-up event entirely (its
//! fence and mutex), and a put replacing a payload of the same size writes no
//! counter (together: solo put p50 from ~130 to ~90 ns); the ring keeps a private
//! `Bytes` handle per entry (see [`private_handle`]) so readers do not all
//! increment one shared reference count. A per-slot `arc_swap::ArcSwapOption` was measured as the
//! alternative: reads were no faster (the `Bytes` clone a get must return costs
//! as much as the lock), and every swap scans all threads' debt slots, which
//! readers keep writing, so puts were 1.5× slower alone and 2–4.5× slower at p99
//! under 1000 readers.
//!
//! Waiting: each slot has an `event_listener::Event`; a put notifies it once (if
//! anyone waits there) and every parked waiter re-checks the slot under a shared
//! read lock, so 10,000 waiters on one key cost one notification and no exclusive
//! lock acquisitions. A per-stream control event wakes waiters on reset and close.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use event_listener::Event;
use parking_lot::RwLock;

use crate::{Chunk, ChunkKey, ChunkMeta, Config, Error, StreamId, WaitError};

/// One put, immutable once built.
#[derive(Debug)]
struct Entry {
    key: ChunkKey,
    generation: u64,
    meta: ChunkMeta,
    /// The ring's own handle to the payload (see [`private_handle`]).
    data: Bytes,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot {
    entry: RwLock<Option<Entry>>,
    /// Futures parked in `wait` on this slot: a put notifies `event` only when
    /// non-zero, so a put with nobody waiting skips the event's fence and mutex.
    waiters: AtomicUsize,
    event: Event,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stream {
    open: AtomicBool,
    /// Changes on open, reset and close; entries of other generations are invisible.
    generation: AtomicU64,
    /// Packed newest key of the current generation (`ChunkKey::pack`), 0 = none.
    latest: AtomicU64,
    /// Wakes waiters on reset and close.
    control: Event,
}

/// Occupancy and activity figures, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Streams open.
    pub streams_open: usize,
    /// Slots holding a payload (including entries of a reset generation not yet
    /// overwritten: they still hold memory).
    pub chunks: usize,
    /// Payload bytes held by those slots.
    pub bytes: usize,
    /// Futures currently parked in [`ChunkCache::wait`].
    pub waiters: usize,
    /// Total slots (capacity).
    pub capacity: usize,
}

/// A fixed-capacity ring of `Bytes` chunks for many streams. `Send + Sync`; share it
/// behind an `Arc`.
///
/// ```
/// use aulos_ring::{ChunkCache, ChunkKey, ChunkMeta, Config};
/// let ring = ChunkCache::new(Config::default()).unwrap();
/// let s = ring.open_stream().unwrap();
/// ring.put(s, ChunkKey::new(7, 0), "part".into(), ChunkMeta::default()).unwrap();
/// assert_eq!(ring.get(s, ChunkKey::new(7, 0)).unwrap().data, "part");
/// assert_eq!(ring.latest(s), Some(ChunkKey::new(7, 0)));
/// ```
#[derive(Debug)]
pub struct ChunkCache {
    config: Config,
    slots_per_stream: usize,
    streams: Box<[Stream]>,
    slots: Box<[Slot]>,
    /// Source of fresh generations, shared by all streams so a reopened stream never
    /// reuses a generation.
    next_generation: AtomicU64,
    /// Written by puts that change occupancy: kept off the cache line readers load
    /// `config`, `slots` and `streams` from.
    counters: Padded<Counters>,
    waiters: Padded<AtomicUsize>,
    /// `segments_per_stream - 1` when it is a power of two: `msn & mask` instead
    /// of a 64-bit division on every get and put.
    seg_mask: Option<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    chunks: AtomicUsize,
    bytes: AtomicUsize,
}

/// Aligns `T` to its own 128-byte block (two cache lines: x86 prefetches lines in
/// pairs). Hand-written because it is four lines and `crossbeam-utils` is not a
/// workspace dependency.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl ChunkCache {
    /// Allocates every slot up front. Fails on an invalid configuration.
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let slots_per_stream = config
            .slots_per_stream()
            .expect("validate checked the product");
        let total = slots_per_stream * config.streams;
        Ok(Self {
            config,
            slots_per_stream,
            streams: (0..config.streams).map(|_| Stream::default()).collect(),
            slots: (0..total).map(|_| Slot::default()).collect(),
            next_generation: AtomicU64::new(1),
            counters: Padded::default(),
            waiters: Padded::default(),
            seg_mask: config
                .segments_per_stream
                .is_power_of_two()
                .then(|| config.segments_per_stream as u64 - 1),
        })
    }

    /// The configuration the ring was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Claims a free stream. Fails when all `Config::streams` are open.
    pub fn open_stream(&self) -> Result<StreamId, Error> {
        for (i, st) in self.streams.iter().enumerate() {
            if st
                .open
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                st.latest.store(0, Ordering::Release);
                st.generation
                    .store(self.fresh_generation(), Ordering::Release);
                return Ok(StreamId(i as u32));
            }
        }
        Err(Error::NoFreeStream(self.config.streams))
    }

    /// Closes a stream: its chunks become unreachable and are released, waiters get
    /// [`WaitError::Closed`], and the stream id can be handed out again. O(slots of
    /// the stream), unlike [`reset_stream`](Self::reset_stream).
    pub fn close_stream(&self, s: StreamId) {
        let Some(st) = self.streams.get(s.index()) else {
            return;
        };
        if !st.open.load(Ordering::Acquire) {
            return;
        }
        st.generation
            .store(self.fresh_generation(), Ordering::Release);
        st.latest.store(0, Ordering::Release);
        for slot in self.stream_slots(s) {
            let old = slot.entry.write().take();
            self.account_removed(old);
        }
        st.open.store(false, Ordering::Release);
        st.control.notify(usize::MAX);
    }

    /// Forgets every chunk of the stream in O(1): a new generation makes old entries
    /// invisible (they are overwritten lazily). Waiters get [`WaitError::Reset`].
    pub fn reset_stream(&self, s: StreamId) -> Result<(), Error> {
        let st = self.open(s)?;
        st.generation
            .store(self.fresh_generation(), Ordering::Release);
        st.latest.store(0, Ordering::Release);
        st.control.notify(usize::MAX);
        Ok(())
    }

    /// Stores `data` under `key`, replacing whatever the slot held (the chunk a whole
    /// window older). O(1); never touches the payload; wakes the key's waiters.
    ///
    /// Errors: stream not open, part index beyond `parts_per_segment`, a key older
    /// than the window ([`Error::Stale`]) or so far ahead that it would evict the
    /// whole window ([`Error::TooFarAhead`]: reset the stream to jump).
    pub fn put(
        &self,
        s: StreamId,
        key: ChunkKey,
        data: Bytes,
        meta: ChunkMeta,
    ) -> Result<(), Error> {
        let st = self.open(s)?;
        self.check_key(key)?;
        let generation = st.generation.load(Ordering::Acquire);
        if let Some(latest) = ChunkKey::unpack(st.latest.load(Ordering::Acquire)) {
            let window = self.config.segments_per_stream as u64;
            if key.msn.saturating_add(window) <= latest.msn {
                return Err(Error::Stale { key, latest });
            }
            if key.msn >= latest.msn.saturating_add(window) {
                return Err(Error::TooFarAhead { key, latest });
            }
        }
        let entry = Entry {
            key,
            generation,
            meta,
            data: private_handle(data),
        };
        let slot = &self.slots[self.slot_index(s, key)];
        let len = entry.data.len();
        let old = slot.entry.write().replace(entry);
        st.latest.fetch_max(key.pack(), Ordering::AcqRel);
        // No waiter can miss this put, through the slot lock alone: a waiter counts
        // itself in, listens, then checks the entry under the read lock. If that
        // check came after the write above, it sees the entry. If it came before,
        // its read unlock happens-before our write lock, so this load sees its count
        // and the notification comes after its listener was registered. A plain
        // load is enough (modelled with loom in tests/loom_waiters.rs); it was an
        // `AcqRel` read-modify-write before, a locked instruction on every put.
        if slot.waiters.load(Ordering::Relaxed) != 0 {
            slot.event.notify(usize::MAX);
        }
        // Net accounting: a slot replaced by a payload of the same size (the
        // steady state) writes no counter.
        let old_len = old.as_ref().map(|e| e.data.len());
        if old_len.is_none() {
            self.counters.0.chunks.fetch_add(1, Ordering::Relaxed);
        }
        let delta = len.wrapping_sub(old_len.unwrap_or(0));
        if delta != 0 {
            // Wrapping add of a negative delta is a subtraction.
            self.counters.0.bytes.fetch_add(delta, Ordering::Relaxed);
        }
        // The replaced entry is released here, outside the slot lock.
        drop(old);
        Ok(())
    }

    /// The chunk put under `key` in the stream's current generation, or `None`.
    /// O(1), zero-copy.
    pub fn get(&self, s: StreamId, key: ChunkKey) -> Option<Chunk> {
        let st = self.streams.get(s.index())?;
        if key.part as usize >= self.config.parts_per_segment || key.msn > ChunkKey::MAX_MSN {
            return None;
        }
        let generation = st.generation.load(Ordering::Acquire);
        self.get_in(s, key, generation)
    }

    /// The newest key put in the stream's current generation. Lock-free.
    pub fn latest(&self, s: StreamId) -> Option<ChunkKey> {
        let st = self.streams.get(s.index())?;
        ChunkKey::unpack(st.latest.load(Ordering::Acquire))
    }

    /// The stream's current generation (changes on reset, close and reopen).
    pub fn generation(&self, s: StreamId) -> Option<u64> {
        let st = self.streams.get(s.index())?;
        st.open
            .load(Ordering::Acquire)
            .then(|| st.generation.load(Ordering::Acquire))
    }

    /// Waits until `key` is put, then returns it.
    ///
    /// Resolves at once when the chunk is already there; fails with
    /// [`WaitError::Evicted`] when the window has moved past `key`,
    /// [`WaitError::TooFarAhead`] when `key` is beyond the window, [`WaitError::Reset`]
    /// / [`WaitError::Closed`] when the stream is reset or closed (before or while
    /// waiting), and [`WaitError::DeadlinePassed`] at `deadline`. Must be polled inside
    /// a tokio runtime with the timer enabled.
    pub async fn wait(
        &self,
        s: StreamId,
        key: ChunkKey,
        deadline: Instant,
    ) -> Result<Chunk, WaitError> {
        let st = self.streams.get(s.index()).ok_or(WaitError::Closed)?;
        if self.check_key(key).is_err() {
            return Err(WaitError::OutOfRange);
        }
        if !st.open.load(Ordering::Acquire) {
            return Err(WaitError::Closed);
        }
        let generation = st.generation.load(Ordering::Acquire);
        let slot = &self.slots[self.slot_index(s, key)];
        let _parked = Parked::new(&self.waiters.0);
        // Counted in before listening and checking (see `put`): the read lock taken
        // by the check orders it before any put that must see it.
        slot.waiters.fetch_add(1, Ordering::Relaxed);
        let _parked_here = Parked(&slot.waiters);
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::pin!(sleep);
        loop {
            // Listen before checking, so a put between the check and the await is
            // not missed.
            let on_put = slot.event.listen();
            let on_control = st.control.listen();
            if !st.open.load(Ordering::Acquire) {
                return Err(WaitError::Closed);
            }
            if st.generation.load(Ordering::Acquire) != generation {
                return Err(WaitError::Reset);
            }
            if let Some(chunk) = self.get_in(s, key, generation) {
                return Ok(chunk);
            }
            if let Some(latest) = self.latest(s) {
                let window = self.config.segments_per_stream as u64;
                if key.msn.saturating_add(window) <= latest.msn {
                    return Err(WaitError::Evicted);
                }
                if key.msn >= latest.msn.saturating_add(window) {
                    return Err(WaitError::TooFarAhead);
                }
                // The key's slot already holds a newer key of this generation.
                if self
                    .held_key(s, key, generation)
                    .is_some_and(|held| held > key)
                {
                    return Err(WaitError::Evicted);
                }
            }
            if Instant::now() >= deadline {
                return Err(WaitError::DeadlinePassed);
            }
            tokio::select! {
                _ = on_put => {}
                _ = on_control => {}
                _ = &mut sleep => return self.get_in(s, key, generation).ok_or(WaitError::DeadlinePassed),
            }
        }
    }

    /// Occupancy and waiter figures.
    pub fn stats(&self) -> Stats {
        Stats {
            streams_open: self
                .streams
                .iter()
                .filter(|s| s.open.load(Ordering::Relaxed))
                .count(),
            chunks: self.counters.0.chunks.load(Ordering::Relaxed),
            bytes: self.counters.0.bytes.load(Ordering::Relaxed),
            waiters: self.waiters.0.load(Ordering::Relaxed),
            capacity: self.slots.len(),
        }
    }

    fn open(&self, s: StreamId) -> Result<&Stream, Error> {
        self.streams
            .get(s.index())
            .filter(|st| st.open.load(Ordering::Acquire))
            .ok_or(Error::NotOpen(s.0))
    }

    fn check_key(&self, key: ChunkKey) -> Result<(), Error> {
        if key.part as usize >= self.config.parts_per_segment {
            return Err(Error::PartOutOfRange {
                part: key.part,
                max: self.config.parts_per_segment,
            });
        }
        if key.msn > ChunkKey::MAX_MSN {
            return Err(Error::MsnOutOfRange(key.msn));
        }
        Ok(())
    }

    fn slot_index(&self, s: StreamId, key: ChunkKey) -> usize {
        let seg = match self.seg_mask {
            Some(mask) => (key.msn & mask) as usize,
            None => (key.msn % self.config.segments_per_stream as u64) as usize,
        };
        s.index() * self.slots_per_stream + seg * self.config.parts_per_segment + key.part as usize
    }

    fn stream_slots(&self, s: StreamId) -> &[Slot] {
        let start = s.index() * self.slots_per_stream;
        &self.slots[start..start + self.slots_per_stream]
    }

    fn get_in(&self, s: StreamId, key: ChunkKey, generation: u64) -> Option<Chunk> {
        let guard = self.slots[self.slot_index(s, key)].entry.read();
        let e = guard.as_ref()?;
        (e.key == key && e.generation == generation).then(|| Chunk {
            key,
            data: e.data.clone(),
            meta: e.meta,
            generation,
        })
    }

    fn held_key(&self, s: StreamId, key: ChunkKey, generation: u64) -> Option<ChunkKey> {
        let guard = self.slots[self.slot_index(s, key)].entry.read();
        guard
            .as_ref()
            .filter(|e| e.generation == generation)
            .map(|e| e.key)
    }

    fn account_removed(&self, old: Option<Entry>) {
        if let Some(old) = old {
            self.counters.0.chunks.fetch_sub(1, Ordering::Relaxed);
            self.counters
                .0
                .bytes
                .fetch_sub(old.data.len(), Ordering::Relaxed);
        }
    }

    fn fresh_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }
}

/// The handle the ring keeps for a payload: `data` itself when the caller gave up
/// its only handle, otherwise a new `Bytes` that owns `data` and has a reference
/// count of its own (same memory, no copy). Every get clones the kept handle, so
/// with a payload the caller shares elsewhere (or puts into many slots), readers
/// would otherwise all increment one shared counter, whose cache line then bounces
/// between cores on every read.
fn private_handle(data: Bytes) -> Bytes {
    if data.is_unique() {
        data
    } else {
        Bytes::from_owner(data)
    }
}

/// Counts a parked waiter while alive (the per-slot count is incremented by the
/// caller, the global one for [`Stats::waiters`] by `new`).
struct Parked<'a>(&'a AtomicUsize);

impl<'a> Parked<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
