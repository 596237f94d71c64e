//! The registry: streams by name, limits, lifecycle.

use crate::config::RegistryConfig;
use crate::error::Error;
use crate::stream::{Stream, StreamSpec};
use aulos_ring::{ChunkCache, StreamId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A stream as listed for the player page and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Name.
    pub name: String,
    /// Rendition names.
    pub renditions: Vec<String>,
    /// Has ended.
    pub ended: bool,
}

/// All live streams. Cheap to share (`Arc<Registry>`); lookups take a short read
/// lock on the name map, everything after that is per stream.
#[derive(Debug)]
pub struct Registry {
    cfg: RegistryConfig,
    ring: Arc<ChunkCache>,
    streams: RwLock<HashMap<Arc<str>, Arc<Stream>>>,
    epoch: Instant,
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}

impl Registry {
    /// A registry with a pre-allocated ring sized for `max_streams × max_renditions`.
    pub fn new(cfg: RegistryConfig) -> Result<Self, Error> {
        cfg.validate()?;
        let ring = ChunkCache::new(aulos_ring::Config {
            streams: cfg.max_streams * cfg.max_renditions,
            segments_per_stream: cfg.ring_segments,
            parts_per_segment: cfg.parts_per_segment,
        })
        .map_err(|e| Error::Ring(e.to_string()))?;
        Ok(Self {
            cfg,
            ring: Arc::new(ring),
            streams: RwLock::new(HashMap::new()),
            epoch: Instant::now(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.cfg
    }

    /// The shared chunk ring (for occupancy metrics).
    pub fn ring(&self) -> &Arc<ChunkCache> {
        &self.ring
    }

    /// Create a live stream. A stream of the same name that has ended is replaced,
    /// continuing its media and discontinuity sequence numbers (the restart is a
    /// discontinuity, P-DIS-01/P-DSN-01) so players never see numbers go back.
    pub fn create_stream(&self, spec: StreamSpec, now: Instant) -> Result<Arc<Stream>, Error> {
        if !valid_name(&spec.name) {
            return Err(Error::InvalidName(spec.name));
        }
        let n = spec.renditions.len();
        if n == 0 || n > self.cfg.max_renditions {
            return Err(Error::RenditionCount(self.cfg.max_renditions));
        }
        for (i, r) in spec.renditions.iter().enumerate() {
            if !valid_name(&r.name) {
                return Err(Error::InvalidName(r.name.clone()));
            }
            if spec.renditions[..i].iter().any(|o| o.name == r.name) {
                return Err(Error::DuplicateRendition(r.name.clone()));
            }
        }
        spec.live
            .validate()
            .map_err(|e| Error::Playlist(e.to_string()))?;
        self.check_fits(&spec)?;
        let mut map = self.streams.write();
        let (first_msn, first_dsn) = match map.get(spec.name.as_str()) {
            Some(old) if !old.ended() => return Err(Error::StreamExists(spec.name)),
            Some(old) => {
                let (msn, dsn) = old.next_numbers();
                (msn, dsn + 1)
            }
            None if map.len() >= self.cfg.max_streams => {
                return Err(Error::TooManyStreams(self.cfg.max_streams));
            }
            None => (0, 0),
        };
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            match self.ring.open_stream() {
                Ok(id) => ids.push(id),
                Err(e) => {
                    for id in ids {
                        self.ring.close_stream(id);
                    }
                    return Err(Error::Ring(e.to_string()));
                }
            }
        }
        let name = spec.name.clone();
        let stream = match Stream::new(
            spec,
            self.ring.clone(),
            ids.clone(),
            self.cfg.max_part_bytes,
            first_msn,
            first_dsn,
            self.epoch,
            now,
        ) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                for id in ids {
                    self.ring.close_stream(id);
                }
                return Err(e);
            }
        };
        if let Some(old) = map.insert(name.into(), stream.clone()) {
            close_ring(&self.ring, old.ring_streams());
        }
        Ok(stream)
    }

    /// Refuse a stream whose window (plus the 3 target durations its parts must stay
    /// downloadable after leaving the playlist, P-PART-08) does not fit the ring, or
    /// whose segments have more parts than the ring holds per segment.
    fn check_fits(&self, spec: &StreamSpec) -> Result<(), Error> {
        let live = &spec.live;
        let seg = live.segment_target.as_secs_f64();
        let need = (live.window() + 3 * live.target_duration()).as_secs_f64() / seg;
        // Segments may close shorter than the target: allow for 85 % (P-PART-03).
        let need = (need / 0.85).ceil() as usize + 2;
        if need > self.cfg.ring_segments {
            return Err(Error::Config(
                "ring_segments too small for the playlist window + 3 target durations (P-PART-08)",
            ));
        }
        let parts = (live.segment_target.as_nanos() / live.part_target.as_nanos()) as usize + 1;
        if parts > self.cfg.parts_per_segment {
            return Err(Error::Config(
                "parts_per_segment too small for segment_target / part_target",
            ));
        }
        Ok(())
    }

    /// A stream by name.
    pub fn get(&self, name: &str) -> Option<Arc<Stream>> {
        self.streams.read().get(name).cloned()
    }

    /// End a stream (ENDLIST); it stays listed for `retain_after_end`.
    pub fn end_stream(&self, name: &str, now: Instant) -> Result<(), Error> {
        let s = self
            .get(name)
            .ok_or_else(|| Error::NoStream(name.to_owned()))?;
        s.end(now);
        Ok(())
    }

    /// End every stream (graceful shutdown: players see ENDLIST).
    pub fn end_all(&self, now: Instant) {
        let all: Vec<_> = self.streams.read().values().cloned().collect();
        for s in all {
            s.end(now);
        }
    }

    /// Housekeeping, called periodically with the current time: ends streams idle
    /// for `idle_timeout`, removes streams ended for `retain_after_end` (their ring
    /// streams are closed, S-GEN-08). Returns the names removed.
    pub fn tick(&self, now: Instant) -> Vec<String> {
        let all: Vec<_> = self.streams.read().values().cloned().collect();
        for s in &all {
            if !s.ended() && s.idle_since(now) >= self.cfg.idle_timeout {
                s.end(now);
            }
        }
        let mut removed = Vec::new();
        let mut map = self.streams.write();
        map.retain(|name, s| {
            let expired = s
                .ended_for(now)
                .is_some_and(|d| d >= self.cfg.retain_after_end);
            if expired {
                close_ring(&self.ring, s.ring_streams());
                removed.push(name.to_string());
            }
            !expired
        });
        removed
    }

    /// Streams, sorted by name.
    pub fn list(&self) -> Vec<StreamInfo> {
        let mut v: Vec<_> = self
            .streams
            .read()
            .values()
            .map(|s| StreamInfo {
                name: s.name().to_owned(),
                renditions: s
                    .renditions()
                    .iter()
                    .map(|r| r.spec().name.clone())
                    .collect(),
                ended: s.ended(),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Number of streams listed.
    pub fn len(&self) -> usize {
        self.streams.read().len()
    }

    /// No streams?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The blocking-reload timeout for a target duration: 3 × TD (S-BLK-08).
    pub fn blocking_timeout(target_duration: Duration) -> Duration {
        3 * target_duration
    }
}

fn close_ring(ring: &ChunkCache, ids: impl Iterator<Item = StreamId>) {
    for id in ids {
        ring.close_stream(id);
    }
}
