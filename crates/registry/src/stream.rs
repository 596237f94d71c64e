//! One live stream and its renditions: publishing and waiting.

use crate::error::{BlockingError, Error, PartError};
use crate::keys::StreamKey;
use aulos_manifest::{
    LiveBuilder, LiveConfig, M3u8Cache, Map, PartInfo, Rendered, RenditionReport,
};
use aulos_ring::{ChunkCache, ChunkKey, ChunkMeta, StreamId};
use bytes::Bytes;
use event_listener::Event;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Ring metadata tag bit: this part closes its segment.
const TAG_LAST_IN_SEGMENT: u64 = 1;

/// What a rendition carries (becomes an `EXT-X-STREAM-INF` in the multivariant
/// playlist, M-VAR-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionSpec {
    /// URL path segment, e.g. `a96`.
    pub name: String,
    /// RFC 6381 codecs, e.g. `mp4a.40.2`.
    pub codecs: String,
    /// Peak bits/s.
    pub bandwidth: u64,
    /// Average bits/s.
    pub average_bandwidth: Option<u64>,
    /// Audio channels.
    pub channels: u16,
    /// Sample rate (Hz).
    pub sample_rate: u32,
}

/// A stream to create.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// URL path segment, e.g. `live`.
    pub name: String,
    /// Publisher key (ingest is refused without it when set).
    pub key: Option<StreamKey>,
    /// Renditions, in ladder order.
    pub renditions: Vec<RenditionSpec>,
    /// Part target, segment target, skip offer (URIs and numbering are set by the
    /// registry).
    pub live: LiveConfig,
}

/// One produced part for [`Stream::publish_part`].
#[derive(Debug, Clone)]
pub struct PublishPart {
    /// The fragment (`moof` + `mdat`).
    pub data: Bytes,
    /// Media duration.
    pub duration: Duration,
    /// Starts with an independent frame.
    pub independent: bool,
    /// Wall-clock capture time of the first sample.
    pub program_date_time: Option<SystemTime>,
    /// The segment closes after this part.
    pub last_in_segment: bool,
}

/// One rendition of a live stream.
#[derive(Debug)]
pub struct Rendition {
    spec: RenditionSpec,
    ring_stream: StreamId,
    builder: Mutex<LiveBuilder>,
    cache: M3u8Cache,
    /// Notified after every playlist update.
    updated: Event,
    init_generation: AtomicU64,
    /// When the last part was published (nanoseconds since the registry epoch).
    published_at: AtomicU64,
    /// This rendition's URI as seen from a sibling's playlist (rendition reports).
    report_uri: String,
}

impl Rendition {
    /// Its spec.
    pub fn spec(&self) -> &RenditionSpec {
        &self.spec
    }

    /// The current rendered playlist (one atomic load).
    pub fn playlist(&self) -> Arc<Rendered> {
        self.cache.load()
    }

    /// EXT-X-TARGETDURATION of the current playlist (for Cache-Control), without
    /// cloning the playlist.
    pub fn target_duration(&self) -> Duration {
        self.cache.target_duration()
    }

    /// The init segment and its generation (the `N` of `initN.mp4`).
    pub fn init(&self) -> Option<(u64, Bytes)> {
        Some((
            self.init_generation.load(Ordering::Acquire),
            self.cache.init()?,
        ))
    }

    /// Its stream in the chunk ring.
    pub fn ring_stream(&self) -> StreamId {
        self.ring_stream
    }
}

/// A live stream.
#[derive(Debug)]
pub struct Stream {
    name: Arc<str>,
    key: Option<StreamKey>,
    renditions: Vec<Rendition>,
    ring: Arc<ChunkCache>,
    max_part_bytes: usize,
    part_limit: u64,
    nominal_parts: u64,
    ended: AtomicBool,
    /// Last publish, as nanoseconds since the registry's epoch.
    last_activity: AtomicU64,
    ended_at: AtomicU64,
    epoch: Instant,
    multivariant: Bytes,
    multivariant_gzip: Bytes,
}

impl Stream {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        spec: StreamSpec,
        ring: Arc<ChunkCache>,
        ring_streams: Vec<StreamId>,
        max_part_bytes: usize,
        first_msn: u64,
        first_dsn: u64,
        epoch: Instant,
        now: Instant,
    ) -> Result<Self, Error> {
        let mut renditions = Vec::with_capacity(spec.renditions.len());
        let part_target = spec.live.part_target;
        for (r, ring_stream) in spec.renditions.iter().zip(ring_streams) {
            let cfg = LiveConfig {
                first_msn,
                first_discontinuity_sequence: first_dsn,
                uris: aulos_manifest::SegmentUris::default(),
                ..spec.live.clone()
            };
            let builder = LiveBuilder::new(cfg).map_err(|e| Error::Playlist(e.to_string()))?;
            let cache = M3u8Cache::new();
            cache.update(builder.playlist());
            renditions.push(Rendition {
                spec: r.clone(),
                ring_stream,
                builder: Mutex::new(builder),
                cache,
                updated: Event::new(),
                init_generation: AtomicU64::new(0),
                published_at: AtomicU64::new(0),
                report_uri: format!("../{}/index.m3u8", r.name),
            });
        }
        let mv = multivariant(&spec);
        // Advance Part Limit: 3 / PART-TARGET parts when PART-TARGET < 1 s (S-BLK-06).
        let part_limit = if part_target < Duration::from_secs(1) {
            (3.0 / part_target.as_secs_f64()).ceil() as u64
        } else {
            3
        };
        let nominal_parts = (spec.live.segment_target.as_nanos() / part_target.as_nanos()).max(1);
        Ok(Self {
            name: spec.name.into(),
            key: spec.key,
            renditions,
            ring,
            max_part_bytes,
            part_limit,
            nominal_parts: nominal_parts as u64,
            ended: AtomicBool::new(false),
            last_activity: AtomicU64::new(nanos(epoch, now)),
            ended_at: AtomicU64::new(0),
            epoch,
            multivariant_gzip: aulos_manifest::gzip_once(&mv),
            multivariant: Bytes::from(mv),
        })
    }

    /// Stream name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renditions in ladder order.
    pub fn renditions(&self) -> &[Rendition] {
        &self.renditions
    }

    /// A rendition by name.
    pub fn rendition(&self, name: &str) -> Option<(usize, &Rendition)> {
        self.renditions
            .iter()
            .enumerate()
            .find(|(_, r)| r.spec.name == name)
    }

    /// The multivariant playlist, plain and gzip'd (rendered once at creation).
    pub fn multivariant(&self) -> (&Bytes, &Bytes) {
        (&self.multivariant, &self.multivariant_gzip)
    }

    /// Has the stream ended (EXT-X-ENDLIST)?
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Is `presented` this stream's publisher key? Constant time. A stream without a
    /// key accepts no ingest.
    pub fn authorize(&self, presented: &[u8]) -> bool {
        self.key.as_ref().is_some_and(|k| k.matches(presented))
    }

    /// Set the init segment of rendition `r`. A new init after media was published
    /// gets a new URI (`initN.mp4`) and starts a new segment with a discontinuity
    /// (P-DIS-01, P-MAP-01).
    pub fn set_init(&self, r: usize, init: Bytes) -> Result<(), Error> {
        let rend = self.get(r)?;
        let mut b = rend.builder.lock();
        if b.ended() {
            return Err(Error::Ended);
        }
        let old = rend.cache.init();
        if old.as_ref() == Some(&init) {
            return Ok(());
        }
        let changed = old.is_some();
        if changed {
            b.discontinuity()
                .map_err(|e| Error::Playlist(e.to_string()))?;
        } else if !b.playlist().partial_segment.is_empty() {
            // First init after media: the map applies from the next segment.
            b.close_segment()
                .map_err(|e| Error::Playlist(e.to_string()))?;
        }
        let generation = if changed {
            rend.init_generation.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            rend.init_generation.load(Ordering::Acquire)
        };
        rend.cache.set_init(init);
        b.set_map(Map {
            uri: format!("init{generation}.mp4"),
            byte_range: None,
        })
        .map_err(|e| Error::Playlist(e.to_string()))?;
        rend.cache.update(b.playlist());
        drop(b);
        rend.updated.notify(usize::MAX);
        Ok(())
    }

    fn get(&self, r: usize) -> Result<&Rendition, Error> {
        self.renditions
            .get(r)
            .ok_or_else(|| Error::NoRendition(r.to_string()))
    }

    /// Publish one part of rendition `r`: (1) the part goes into the ring, (2) the
    /// playlist is updated, rendered and gzip'd once, (3) waiters are woken. Returns
    /// the part's `(msn, part)`. On error nothing is published.
    pub fn publish_part(
        &self,
        r: usize,
        part: PublishPart,
        now: Instant,
    ) -> Result<(u64, u32), Error> {
        if part.data.len() > self.max_part_bytes {
            return Err(Error::PartTooLarge {
                size: part.data.len(),
                max: self.max_part_bytes,
            });
        }
        let rend = self.get(r)?;
        let mut b = rend.builder.lock();
        if b.ended() {
            return Err(Error::Ended);
        }
        let info = PartInfo {
            duration: part.duration,
            independent: part.independent,
            gap: false,
            program_date_time: part.program_date_time,
        };
        // The builder's own rules, checked before the ring is touched.
        b.check_part(&info)
            .map_err(|e| Error::Playlist(e.to_string()))?;
        let (msn, idx) = b.next_part();
        let key = ChunkKey::new(msn, idx);
        // 1. Media first (S-GEN-01).
        self.ring
            .put(
                rend.ring_stream,
                key,
                part.data,
                ChunkMeta {
                    duration: part.duration,
                    independent: part.independent,
                    tag: if part.last_in_segment {
                        TAG_LAST_IN_SEGMENT
                    } else {
                        0
                    },
                },
            )
            .map_err(|e| Error::Ring(e.to_string()))?;
        // 2. Playlist.
        b.push_part(info)
            .map_err(|e| Error::Playlist(e.to_string()))?;
        if part.last_in_segment {
            b.close_segment()
                .map_err(|e| Error::Playlist(e.to_string()))?;
        }
        b.set_rendition_reports(self.reports(r));
        rend.cache.update(b.playlist());
        drop(b);
        self.last_activity
            .store(nanos(self.epoch, now), Ordering::Release);
        rend.published_at
            .store(nanos(self.epoch, Instant::now()), Ordering::Release);
        // 3. Wake parked playlist and part requests.
        rend.updated.notify(usize::MAX);
        Ok((msn, idx))
    }

    /// One `EXT-X-RENDITION-REPORT` per sibling rendition (P-RR-01/02), from their
    /// current rendered state (lock-free; at most one part old, P-RR-03).
    fn reports(&self, me: usize) -> Vec<RenditionReport> {
        self.renditions
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .map(|(_, r)| {
                let last = r.cache.load().last;
                RenditionReport {
                    uri: r.report_uri.clone(),
                    last_msn: last.map(|l| l.0),
                    last_part: last.and_then(|l| l.1),
                }
            })
            .collect()
    }

    /// End the stream: every rendition gets EXT-X-ENDLIST (P-END-01) and every
    /// parked request is answered.
    pub fn end(&self, now: Instant) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        self.ended_at
            .store(nanos(self.epoch, now).max(1), Ordering::Release);
        for r in &self.renditions {
            let mut b = r.builder.lock();
            b.end();
            r.cache.update(b.playlist());
            drop(b);
            r.updated.notify(usize::MAX);
        }
    }

    /// Mark a discontinuity in every rendition (a publisher reconnected with
    /// different timestamps, P-DIS-01).
    pub fn discontinuity(&self) -> Result<(), Error> {
        for r in &self.renditions {
            let mut b = r.builder.lock();
            b.discontinuity()
                .map_err(|e| Error::Playlist(e.to_string()))?;
            r.cache.update(b.playlist());
            drop(b);
            r.updated.notify(usize::MAX);
        }
        Ok(())
    }

    pub(crate) fn idle_since(&self, now: Instant) -> Duration {
        Duration::from_nanos(
            nanos(self.epoch, now).saturating_sub(self.last_activity.load(Ordering::Acquire)),
        )
    }

    pub(crate) fn ended_for(&self, now: Instant) -> Option<Duration> {
        let at = self.ended_at.load(Ordering::Acquire);
        (at > 0).then(|| Duration::from_nanos(nanos(self.epoch, now).saturating_sub(at)))
    }

    pub(crate) fn next_numbers(&self) -> (u64, u64) {
        let r = &self.renditions[0];
        let b = r.builder.lock();
        let pl = b.playlist();
        (pl.next_msn(), pl.discontinuity_sequence)
    }

    pub(crate) fn ring_streams(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.renditions.iter().map(|r| r.ring_stream)
    }

    /// Blocking playlist reload (S-BLK-01..08): resolves with the rendered playlist
    /// as soon as it lists `(msn, part)` (or a later part; `part: None` = a complete
    /// segment ≥ `msn`). `TooFarAhead` at once for requests beyond `last MSN + 2` or
    /// the Advance Part Limit (S-BLK-06); `Timeout` at `deadline` (the caller uses
    /// 3 × target duration, S-BLK-08). All waiters of a rendition park on one event
    /// and share the same `Arc<Rendered>`.
    pub async fn wait_playlist(
        &self,
        r: usize,
        msn: u64,
        part: Option<u64>,
        deadline: Instant,
    ) -> Result<Arc<Rendered>, BlockingError> {
        let rend = self.renditions.get(r).ok_or(BlockingError::NotFound)?;
        let cur = rend.cache.load();
        if cur.satisfies(msn, part) {
            return Ok(cur);
        }
        if self.too_far_ahead(&cur, msn, part) {
            return Err(BlockingError::TooFarAhead);
        }
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::pin!(sleep);
        loop {
            let listener = rend.updated.listen();
            let cur = rend.cache.load();
            if cur.satisfies(msn, part) {
                return Ok(cur);
            }
            tokio::select! {
                _ = listener => {}
                _ = &mut sleep => {
                    let cur = rend.cache.load();
                    return if cur.satisfies(msn, part) { Ok(cur) } else { Err(BlockingError::Timeout) };
                }
            }
        }
    }

    fn too_far_ahead(&self, cur: &Rendered, msn: u64, part: Option<u64>) -> bool {
        let (last_msn, last_part) = match cur.last {
            Some((m, p)) => (m, p.unwrap_or(0)),
            // Nothing published yet: anything near the first MSN may wait.
            None => match cur.next {
                Some((m, _)) => (m, 0),
                None => return false,
            },
        };
        if msn > last_msn.saturating_add(2) {
            return true;
        }
        let Some(p) = part else { return false };
        // Parts between the last published part and the requested one, counting
        // nominal parts per segment for the segments in between.
        let pos = |m: u64, p: u64| m.saturating_mul(self.nominal_parts).saturating_add(p);
        let ahead = pos(msn, p).saturating_sub(pos(last_msn, last_part));
        ahead > self.part_limit
    }

    /// A part: at once when it is in the ring; parked until published when it is
    /// the preload-hinted part (or part 0 of the next segment, should the producer
    /// close the segment instead, P-HINT-04); `NotFound` at once for anything else
    /// (P-HINT-05) and for a hinted part that will never exist (P-HINT-06).
    pub async fn wait_part(
        &self,
        r: usize,
        msn: u64,
        part: u32,
        deadline: Instant,
    ) -> Result<Bytes, PartError> {
        let rend = self.renditions.get(r).ok_or(PartError::NotFound)?;
        let key = ChunkKey::new(msn, part);
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::pin!(sleep);
        loop {
            let listener = rend.updated.listen();
            if let Some(c) = self.ring.get(rend.ring_stream, key) {
                return Ok(c.data);
            }
            let cur = rend.cache.load();
            let Some((nm, np)) = cur.next else {
                return Err(PartError::NotFound); // ended: nothing more will come
            };
            let hinted = (msn == nm && u64::from(part) == np) || (msn == nm + 1 && part == 0);
            if !hinted {
                return Err(PartError::NotFound);
            }
            tokio::select! {
                _ = listener => {}
                _ = &mut sleep => {
                    return self.ring.get(rend.ring_stream, key).map(|c| c.data).ok_or(PartError::Timeout);
                }
            }
        }
    }

    /// Part `(msn, part)` of rendition `r` if it is in the ring now (no waiting).
    pub fn part(&self, r: usize, msn: u64, part: u32) -> Option<Bytes> {
        let rend = self.renditions.get(r)?;
        self.ring
            .get(rend.ring_stream, ChunkKey::new(msn, part))
            .map(|c| c.data)
    }

    /// A whole segment as its parts' bytes in order (P-PART-05: the segment is
    /// exactly its parts), without copying. `NotFound` when the segment is not
    /// complete or a part was evicted.
    pub fn segment(&self, r: usize, msn: u64) -> Result<Vec<Bytes>, PartError> {
        let rend = self.renditions.get(r).ok_or(PartError::NotFound)?;
        let mut out = Vec::new();
        for part in 0..self.ring.config().parts_per_segment as u32 {
            let c = self
                .ring
                .get(rend.ring_stream, ChunkKey::new(msn, part))
                .ok_or(PartError::NotFound)?;
            let last = c.meta.tag & TAG_LAST_IN_SEGMENT != 0;
            out.push(c.data);
            if last {
                return Ok(out);
            }
        }
        Err(PartError::NotFound)
    }

    /// When rendition `r` last published a part (for measuring how fast parked
    /// requests are released after a publish).
    pub fn last_publish(&self, r: usize) -> Option<Instant> {
        let n = self.renditions.get(r)?.published_at.load(Ordering::Acquire);
        (n > 0).then(|| self.epoch + Duration::from_nanos(n))
    }

    /// Parked playlist/part requests are woken on every update; this is the number
    /// of updates rendered so far for rendition `r` (for metrics and tests).
    pub fn updates(&self, r: usize) -> u64 {
        self.renditions.get(r).map_or(0, |x| x.cache.load().update)
    }
}

fn nanos(epoch: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(epoch).as_nanos() as u64
}

fn multivariant(spec: &StreamSpec) -> Vec<u8> {
    use aulos_manifest::{MultivariantPlaylist, Variant, render_multivariant};
    let pl = MultivariantPlaylist {
        version: 6,
        independent_segments: true,
        renditions: Vec::new(),
        variants: spec
            .renditions
            .iter()
            .map(|r| Variant {
                uri: format!("{}/index.m3u8", r.name),
                bandwidth: r.bandwidth,
                average_bandwidth: r.average_bandwidth,
                codecs: Some(r.codecs.clone()),
                resolution: None,
                frame_rate: None,
                audio: None,
                name: Some(r.name.clone()),
            })
            .collect(),
    };
    let mut out = Vec::new();
    render_multivariant(&pl, &mut out);
    out
}
