//! The ring itself.
//!
//! Layout: one flat, pre-allocated `Box<[Slot]>`; stream `s` owns slots
//! `s × slots_per_stream ..`, and key `(msn, part)` lives in slot
//! `(msn mod segments_per_stream) × parts_per_segment + part`, so every operation
//! is O(1) without an index.
//!
//! Correctness:
//! - each slot holds an `AtomicPtr` to an immutable, boxed entry. A get reads it
//!   under a hazard pointer (`hazard.rs`): no lock, no write to any line another
//!   thread reads, one atomic increment for the `Bytes` clone. A put builds the
//!   entry, stores it under its stream's writer lock (readers never take it) and
//!   retires the old one; retired entries are freed in batches once no hazard names
//!   them, and their boxes are reused by later puts. A reader therefore never sees
//!   a half-written or freed chunk, and a put never waits for a reader.
//! - every entry carries its full key and the stream generation it was put in; a
//!   get checks both, so a slot overwritten by a newer key (wrap-around) or left
//!   from before a reset is never returned (no ABA).
//! - a reset bumps the stream's generation: O(1), old entries become invisible and
//!   are overwritten lazily.
//!
//! Until 2026-12-07 each slot was a `parking_lot::RwLock<Option<Entry>>`: its read
//! lock's two read-modify-writes per get kept scenario 3 of the bench at 3.7–4.6× the
//! baseline; the hazard path reads 1.25–1.35× faster (5.1–6.7×, docs/performance.md).
//!
//! Cache lines (measured with `benches/vs_playlists.rs`, see docs/performance.md):
//! slots and streams are 128-byte aligned and the occupancy counters sit on their
//! own block, so a put writes no line that readers of other slots or streams read;
//! a put with nobody waiting on its slot skips the wake-up event entirely (its
//! mutex), and a put replacing a payload of the same size writes no counter; the
//! ring keeps a private `Bytes` handle per entry (see [`private_handle`]) so
//! readers do not all increment one shared reference count. A per-slot
//! `arc_swap::ArcSwapOption` and `crossbeam-epoch` were measured as alternatives
//! and were slower than the lock (docs/performance.md).
//!
//! Waiting: each slot has an `event_listener::Event`; a put notifies it once (if
//! anyone waits there) and every parked waiter re-checks the slot with a lock-free
//! get, so 10,000 waiters on one key cost one notification and no lock
//! acquisitions. A per-stream control event wakes waiters on reset and close.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use event_listener::Event;

use crate::hazard::{self, Domain, Record, Retired};
use crate::sync::{heavy_barrier, light_barrier};
use crate::{Chunk, ChunkKey, ChunkMeta, Config, Error, StreamId, WaitError};

/// One put, immutable once built.
#[derive(Debug)]
struct Entry {
    key: ChunkKey,
    generation: u64,
    meta: ChunkMeta,
    /// The ring's own handle to the payload (see [`private_handle`]).
    data: Bytes,
    /// `data` is a handle the ring made (`Bytes::from_owner`), not the caller's.
    made_here: bool,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot {
    /// The slot's entry, or null. Readers [`hazard::protect`] it; puts store a new
    /// entry in under the stream's writer lock and retire the old one.
    entry: AtomicPtr<Entry>,
    /// Futures parked in `wait` on this slot: a put notifies `event` only when
    /// non-zero, so a put with nobody waiting skips the event's fence and mutex.
    waiters: AtomicUsize,
    event: Event,
}

#[derive(Debug)]
#[repr(align(128))]
struct Stream {
    open: AtomicBool,
    /// Changes on open, reset and close; entries of other generations are invisible.
    generation: AtomicU64,
    /// Packed newest key of the current generation (`ChunkKey::pack`), 0 = none.
    latest: AtomicU64,
    /// Wakes waiters on reset and close.
    control: Event,
    /// Serialises the stream's puts and closes; readers never take it. On its own
    /// block, off the line readers load `generation` and `latest` from.
    writer: Padded<WriterLock>,
}

/// The stream's writer lock: a spin lock whose unlock is a plain release store
/// (`spin`), not parking_lot's mutex. A put's last writes are the slot and
/// `latest`, lines every reader of the live edge holds; any locked instruction
/// after them (parking_lot's unlock is a compare-exchange, as was the slot swap
/// and the `fence(SeqCst)` before the waiter check) makes the put wait in the call
/// until the other core has given those lines up. Without one the writes drain
/// from the store buffer after the call returns: a put's in-call p99 with 1000
/// readers on the other core fell from 630–740 ns to 430–450 ns, its solo p99
/// from 180–200 to 140–175 ns (docs/performance.md). Writers of one stream are
/// normally one thread, so the lock is uncontended; a contender yields its time
/// slice between attempts rather than spinning against a preempted holder.
type WriterLock = spin::mutex::SpinMutex<Writer, spin::relax::Yield>;

/// What a stream's writers share: entries unlinked but maybe still read, and
/// reclaimed entry boxes for the next puts (so a put allocates no entry in the
/// steady state).
struct Writer {
    retired: Retired<Entry>,
    #[expect(
        clippy::vec_box,
        reason = "the boxes are the entries' allocations, reused by later puts"
    )]
    free: Vec<Box<Entry>>,
    /// Slots of the stream that hold an entry (a batch is sized on them, see
    /// [`retire_batch`]).
    live: usize,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("retired", &self.retired.len())
            .field("free", &self.free.len())
            .finish()
    }
}

impl Writer {
    /// `slots`: the stream's slots (the largest batch is allocated up front).
    fn new(slots: usize) -> Self {
        let most = retire_batch(slots);
        Self {
            retired: Retired::with_capacity(most),
            free: Vec::with_capacity(most),
            live: 0,
        }
    }

    fn alloc(&mut self, entry: Entry) -> *mut Entry {
        match self.free.pop() {
            Some(mut b) => {
                *b = entry;
                Box::into_raw(b)
            }
            None => Box::into_raw(Box::new(entry)),
        }
    }

    /// Takes an entry just unlinked from a slot; reclaims when a batch is full.
    ///
    /// # Safety
    /// `old` came from [`alloc`](Self::alloc) and was swapped out of its slot by
    /// the caller, under this writer's lock.
    unsafe fn retire(&mut self, old: *mut Entry) {
        // SAFETY: the caller's contract is `push`'s.
        unsafe { self.retired.push(old) };
        if self.retired.len() >= retire_batch(self.live) {
            self.reclaim();
        }
    }

    fn reclaim(&mut self) {
        let free = &mut self.free;
        let cap = retire_batch(self.live);
        self.retired.reclaim(domain(), |mut b| {
            // A payload the caller handed over is released here, once per batch,
            // not by the put that reuses the box: its reference count is a line the
            // readers wrote while the chunk was live, and touching it costs a
            // cross-core transfer, which would land inside that put's call (in-call
            // p99 with 1000 readers 2.5–2.7× solo that way, 1.6–1.9× this way,
            // docs/performance.md). A handle the ring made for a shared payload
            // stays until reuse instead: the put frees it right after its own
            // `from_owner` allocation, which glibc then serves from its per-thread
            // cache; freed here in bulk, those allocations took glibc's slow path
            // on every eighth put (p99 ~900 ns).
            if free.len() < cap {
                if !b.made_here {
                    b.data = Bytes::new();
                }
                free.push(b);
            }
        });
    }
}

impl Stream {
    fn new(slots: usize) -> Self {
        Self {
            open: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            latest: AtomicU64::new(0),
            control: Event::new(),
            writer: Padded(WriterLock::new(Writer::new(slots))),
        }
    }
}

/// Entries retired per stream before a reclaim, for a stream with `live` slots
/// holding an entry: an eighth of them, at least 8 and at most 1024. A reclaim
/// costs one membarrier and a walk of the hazard records, so it is amortised over
/// the batch (a put in a few hundred pays it in the bench's 4,096-slot streams).
/// Replaced payloads are released when their entry is reclaimed (or, for a handle
/// the ring made, when its box is reused), so a stream holds at most two batches
/// of them beyond its live window (retired, and reclaimed but not yet reused): a
/// quarter of what the window holds, or 16 payloads for a small one. Sized on the
/// live slots, not the configured ones: the player's ring has 1,024 slots per
/// stream of which ~80 fill (200 ms parts), and a batch of 128 held 256 replaced
/// parts, three windows' worth. `close_stream` releases them all.
fn retire_batch(live: usize) -> usize {
    (live / 8).clamp(8, 1024)
}

/// The hazard domain of every ring in the process.
fn domain() -> &'static Domain {
    static DOMAIN: OnceLock<Domain> = OnceLock::new();
    DOMAIN.get_or_init(Domain::new)
}

/// The calling thread's hazard record, given back when the thread exits.
struct LocalRecord(&'static Record);

impl Drop for LocalRecord {
    fn drop(&mut self) {
        domain().release(self.0);
    }
}

thread_local! {
    static RECORD: LocalRecord = LocalRecord(domain().acquire());
}

/// Runs `f` with the calling thread's hazard record (a temporary one while the
/// thread's own is being torn down).
#[inline]
fn with_record<R>(f: impl FnOnce(&Record) -> R) -> R {
    match RECORD.try_with(|r| r.0) {
        Ok(rec) => f(rec),
        Err(_) => {
            let rec = domain().acquire();
            let out = f(rec);
            domain().release(rec);
            out
        }
    }
}

/// Occupancy and activity figures, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Streams open.
    pub streams_open: usize,
    /// Slots holding a payload (including entries of a reset generation not yet
    /// overwritten: they still hold memory).
    pub chunks: usize,
    /// Payload bytes held by those slots (replaced payloads awaiting release, at
    /// most two reclaim batches per stream, are not counted).
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
        crate::sync::init_barriers();
        Ok(Self {
            config,
            slots_per_stream,
            streams: (0..config.streams)
                .map(|_| Stream::new(slots_per_stream))
                .collect(),
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
        {
            let mut w = st.writer.0.lock();
            for slot in self.stream_slots(s) {
                let old = slot.entry.swap(std::ptr::null_mut(), Ordering::AcqRel);
                if !old.is_null() {
                    // SAFETY: retired only below, so still alive; entries are
                    // immutable once published.
                    self.account_removed(unsafe { (*old).data.len() });
                    // SAFETY: swapped out under the writer lock; from `alloc`.
                    unsafe { w.retired.push(old) };
                }
            }
            w.live = 0;
            w.reclaim();
            // Pooled boxes with a handle the ring made keep it until reused (the
            // reclaim released the callers' payloads): release those now.
            for b in &mut w.free {
                b.data = Bytes::new();
            }
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
        let (data, made_here) = private_handle(data);
        let entry = Entry {
            key,
            generation,
            meta,
            data,
            made_here,
        };
        let slot = &self.slots[self.slot_index(s, key)];
        let len = entry.data.len();
        let old_len = {
            let mut w = st.writer.0.lock();
            let new = w.alloc(entry);
            // Plain load and store, not a swap: only writers under this lock store
            // to a slot, and a locked instruction here would wait for the readers'
            // copies of the line to be invalidated (see `WriterLock`).
            let old = slot.entry.load(Ordering::Relaxed);
            slot.entry.store(new, Ordering::Release);
            // Puts of a stream are serialised by the writer lock, so a load and a
            // store publish the newest key (no read-modify-write: the profile of
            // scenario 1 had each locked instruction of a put at ~15 % of it).
            if key.pack() > st.latest.load(Ordering::Relaxed) {
                st.latest.store(key.pack(), Ordering::Release);
            }
            if old.is_null() {
                w.live += 1;
            }
            (!old.is_null()).then(|| {
                // SAFETY: retired just below and freed only by a later reclaim under
                // this lock; entries are immutable once published.
                let old_len = unsafe { (*old).data.len() };
                // SAFETY: swapped out of its slot under the writer lock; from `alloc`.
                unsafe { w.retire(old) };
                old_len
            })
        };
        // No waiter can miss this put: a waiter counts itself in, issues the heavy
        // barrier, then listens and checks the entry; the put stores the entry,
        // issues the light barrier, then reads the count. The pair orders like a
        // `fence(SeqCst)` on both sides (`sync.rs`: membarrier on the waiter's
        // side, a compiler fence here; both fences where membarrier is missing), so
        // of the two store-barrier-load sequences at least one sees the other's
        // store: either the waiter's check finds the entry, or this load sees its
        // count and the notification comes after its listener (`event_listener`
        // orders a listen before a later notify). Waiters are rare next to puts (the
        // origin and the client park on their own events), so they pay the system
        // call. Modelled with loom in tests/loom_waiters.rs.
        light_barrier();
        if slot.waiters.load(Ordering::Relaxed) != 0 {
            slot.event.notify(usize::MAX);
        }
        // Net accounting: a slot replaced by a payload of the same size (the
        // steady state) writes no counter.
        if old_len.is_none() {
            self.counters.0.chunks.fetch_add(1, Ordering::Relaxed);
        }
        let delta = len.wrapping_sub(old_len.unwrap_or(0));
        if delta != 0 {
            // Wrapping add of a negative delta is a subtraction.
            self.counters.0.bytes.fetch_add(delta, Ordering::Relaxed);
        }
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
    ///
    /// Cost: a wait that does not find its chunk at once issues one `membarrier`
    /// system call (the heavy side of the put/wait hand-over, which keeps every put
    /// free of a full fence; see `put`). Callers that park thousands of requests
    /// per part can park on an event of their own instead, as the registry does.
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
        // Already there: no need to count in (nor to pay the heavy barrier).
        if let Some(chunk) = self.get_in(s, key, generation) {
            return Ok(chunk);
        }
        let slot = &self.slots[self.slot_index(s, key)];
        let _parked = Parked::new(&self.waiters.0);
        // Counted in, then the heavy barrier, before listening and checking (see
        // `put`).
        slot.waiters.fetch_add(1, Ordering::Relaxed);
        heavy_barrier();
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
        self.read_slot(s, key, |e| {
            (e.key == key && e.generation == generation).then(|| Chunk {
                key,
                data: e.data.clone(),
                meta: e.meta,
                generation,
            })
        })
    }

    fn held_key(&self, s: StreamId, key: ChunkKey, generation: u64) -> Option<ChunkKey> {
        self.read_slot(s, key, |e| (e.generation == generation).then_some(e.key))
    }

    /// Runs `f` on the entry of `key`'s slot, if any, under the thread's hazard.
    #[inline]
    fn read_slot<R>(
        &self,
        s: StreamId,
        key: ChunkKey,
        f: impl FnOnce(&Entry) -> Option<R>,
    ) -> Option<R> {
        let slot = &self.slots[self.slot_index(s, key)];
        with_record(|rec| {
            // One hazard per thread: `f` must not read the ring again (it would
            // clear this protection on return).
            debug_assert!(rec.hazard_is_clear(), "nested read_slot");
            let p = hazard::protect(rec, &slot.entry);
            // SAFETY: `protect` published `p` as this thread's hazard and found it
            // still in the slot afterwards; every entry unlinked from a slot goes
            // through `Writer::retire`, whose reclaim frees none a hazard names, so
            // it stays alive until `clear`. Entries are never written while
            // published or retired.
            let out = unsafe { p.as_ref() }.and_then(f);
            hazard::clear(rec);
            out
        })
    }

    fn account_removed(&self, len: usize) {
        self.counters.0.chunks.fetch_sub(1, Ordering::Relaxed);
        self.counters.0.bytes.fetch_sub(len, Ordering::Relaxed);
    }

    fn fresh_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }
}

impl Drop for ChunkCache {
    fn drop(&mut self) {
        for slot in self.slots.iter_mut() {
            let p = *slot.entry.get_mut();
            if !p.is_null() {
                // SAFETY: `&mut self`: no reader runs; each published entry was
                // boxed by `Writer::alloc` and is owned by its slot alone. Retired
                // entries are freed by their `Retired`.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// The handle the ring keeps for a payload: `data` itself when the caller gave up
/// its only handle, otherwise a new `Bytes` that owns `data` and has a reference
/// count of its own (same memory, no copy). Every get clones the kept handle, so
/// with a payload the caller shares elsewhere (or puts into many slots), readers
/// would otherwise all increment one shared counter, whose cache line then bounces
/// between cores on every read.
/// The flag is true for a handle made here.
fn private_handle(data: Bytes) -> (Bytes, bool) {
    if data.is_unique() {
        (data, false)
    } else {
        (Bytes::from_owner(data), true)
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

/// Small enough for Miri, which checks the `unsafe` of the read path for
/// use-after-free, leaks and data races: `cargo +nightly miri test -p aulos-ring
/// --lib` (`scripts/test` runs it when Miri is installed).
#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use bytes::Bytes;

    use super::*;

    fn tiny() -> ChunkCache {
        ChunkCache::new(Config {
            streams: 2,
            segments_per_stream: 2,
            parts_per_segment: 2,
        })
        .unwrap()
    }

    fn payload(k: ChunkKey) -> Bytes {
        Bytes::from(format!("{}.{}", k.msn, k.part))
    }

    #[test]
    fn readers_never_see_a_freed_or_foreign_entry_while_puts_replace_them() {
        let ring = tiny();
        let s = ring.open_stream().unwrap();
        let other = ring.open_stream().unwrap();
        let puts: u64 = if cfg!(miri) { 60 } else { 20_000 };
        let done = AtomicBool::new(false);
        std::thread::scope(|sc| {
            for _ in 0..2 {
                sc.spawn(|| {
                    let mut seen = 0u64;
                    while !done.load(Ordering::Acquire) {
                        if let Some(k) = ring.latest(s)
                            && let Some(c) = ring.get(s, k)
                        {
                            assert_eq!((c.key, &c.data), (k, &payload(k)));
                            seen += 1;
                        }
                        assert!(ring.get(other, ChunkKey::new(0, 0)).is_none());
                    }
                    seen
                });
            }
            for i in 0..puts {
                let k = ChunkKey::new(i / 2, (i % 2) as u32);
                // Half the payloads shared with the caller (the ring then keeps a
                // handle of its own), half handed over.
                let data = payload(k);
                let kept = (i % 2 == 0).then(|| data.clone());
                ring.put(s, k, data, ChunkMeta::default()).unwrap();
                drop(kept);
            }
            done.store(true, Ordering::Release);
        });
        assert_eq!(ring.stats().chunks, 4);
        ring.close_stream(s);
        assert_eq!(ring.stats().chunks, 0);
        assert!(ring.get(s, ChunkKey::new(puts / 2 - 1, 1)).is_none());
    }

    #[test]
    fn an_entry_held_by_a_reader_outlives_its_slot_and_is_freed_later() {
        let ring = tiny();
        let s = ring.open_stream().unwrap();
        let k = ChunkKey::new(0, 0);
        ring.put(s, k, payload(k), ChunkMeta::default()).unwrap();
        ring.put(s, ChunkKey::new(0, 1), payload(k), ChunkMeta::default())
            .unwrap();
        let batch = retire_batch(ring.slots_per_stream) as u64;
        // A reader inside `read_slot` while its slot is overwritten and several
        // batches of retired entries are reclaimed.
        let seen = ring.read_slot(s, k, |e| {
            for i in 2..2 + 4 * batch {
                let k2 = ChunkKey::new(i / 2, (i % 2) as u32);
                ring.put(s, k2, payload(k2), ChunkMeta::default()).unwrap();
            }
            Some(e.data.clone())
        });
        assert_eq!(seen, Some(payload(k)));
        assert!(ring.get(s, k).is_none(), "overwritten meanwhile");
        let mut w = ring.streams[0].writer.0.lock();
        assert!(w.retired.len() >= 1, "the held entry was kept");
        w.reclaim();
        assert_eq!(w.retired.len(), 0, "and is freed once released");
    }

    #[test]
    fn a_released_hazard_record_is_reused_and_comes_back_clear() {
        let d = Domain::new();
        let a: *const Record = d.acquire();
        let b: *const Record = d.acquire();
        assert_ne!(a, b, "two threads, two records");
        let slot = AtomicPtr::new(Box::into_raw(Box::new(7u32)));
        // SAFETY: records live as long as `d`.
        let ra = unsafe { &*a };
        let p = hazard::protect(ra, &slot);
        assert_eq!(ra.hazard(), p.cast());
        d.release(ra);
        let c = d.acquire();
        assert_eq!(
            c as *const Record, a,
            "the released record is handed out again"
        );
        assert!(c.hazard().is_null());
        // SAFETY: never shared.
        drop(unsafe { Box::from_raw(slot.load(Ordering::Relaxed)) });
    }

    /// A ring of one open stream.
    fn one_stream(segments: usize, parts: usize) -> (ChunkCache, StreamId) {
        let ring = ChunkCache::new(Config {
            streams: 1,
            segments_per_stream: segments,
            parts_per_segment: parts,
        })
        .unwrap();
        let s = ring.open_stream().unwrap();
        (ring, s)
    }

    #[test]
    fn replaced_payloads_held_are_bounded_by_the_live_window_not_the_configured_one() {
        // The player's shape: 64 part slots per segment, 5 parts used.
        let (ring, s) = one_stream(16, 64);
        for msn in 0..160u64 {
            for part in 0..5 {
                let k = ChunkKey::new(msn, part);
                ring.put(s, k, payload(k), ChunkMeta::default()).unwrap();
            }
        }
        let w = ring.streams[0].writer.0.lock();
        assert_eq!(w.live, 16 * 5);
        let batch = retire_batch(16 * 5);
        assert_eq!(batch, 10);
        assert!(w.retired.len() < batch, "{} retired", w.retired.len());
        assert!(w.free.len() <= batch, "{} pooled", w.free.len());
    }

    #[test]
    fn a_callers_payload_is_released_by_the_reclaim_a_ring_made_handle_on_reuse() {
        use std::sync::Arc;
        // A shared payload whose release is observable (`from_owner` handles are
        // never unique, so the ring makes its own handle for it).
        struct Counted(Arc<AtomicUsize>);
        impl AsRef<[u8]> for Counted {
            fn as_ref(&self) -> &[u8] {
                b"part"
            }
        }
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        for shared in [false, true] {
            let (ring, s) = one_stream(8, 1);
            let released = Arc::new(AtomicUsize::new(0));
            // One batch (8 entries) replaced and reclaimed: 16 puts into 8 slots.
            for msn in 0..16u64 {
                let data = if shared {
                    Bytes::from_owner(Counted(released.clone()))
                } else {
                    Bytes::from(vec![msn as u8; 100]) // unique: the ring keeps it as is
                };
                ring.put(s, ChunkKey::new(msn, 0), data, ChunkMeta::default())
                    .unwrap();
            }
            {
                let w = ring.streams[0].writer.0.lock();
                assert_eq!((w.retired.len(), w.free.len()), (0, 8), "shared: {shared}");
                assert!(w.free.iter().all(|b| b.made_here == shared));
                // A caller's payload went with the reclaim; a ring-made handle stays
                // in its pooled box until a put reuses the box.
                assert!(
                    w.free.iter().all(|b| b.data.is_empty() != shared),
                    "shared: {shared}"
                );
            }
            assert_eq!(released.load(Ordering::Relaxed), 0);
            let k = ChunkKey::new(16, 0);
            ring.put(s, k, payload(k), ChunkMeta::default()).unwrap();
            let expected = usize::from(shared);
            assert_eq!(
                released.load(Ordering::Relaxed),
                expected,
                "shared: {shared}"
            );
        }
    }
}
