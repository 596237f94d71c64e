//! Shared state of the HTTP handlers.

use crate::metrics::Metrics;
use aulos_registry::{Registry, StreamKey};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// A stream publishers may push to over HTTP ingest.
#[derive(Debug, Clone)]
pub struct IngestStream {
    /// Stream name (URL path segment).
    pub name: String,
    /// Publisher key: `PUT /ingest/{key}`, or Basic auth password with
    /// `PUT /ingest/{name}` (ffmpeg's icecast output).
    pub key: StreamKey,
    /// Also transcode to the ABR ladder (in addition to the passthrough rendition).
    pub transcode: bool,
}

/// Handler state: cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The live streams.
    pub registry: Arc<Registry>,
    /// Request counters.
    pub metrics: Arc<Metrics>,
    /// Recently seen viewers.
    pub viewers: Arc<Viewers>,
    /// Streams accepted on ingest.
    pub ingest: Arc<Vec<IngestStream>>,
    /// Ingest limits.
    pub ingest_limits: IngestLimits,
    /// Set when [`Origin::shutdown`](crate::Origin::shutdown) begins: while the origin
    /// drains, `/healthz` answers 503 (load balancers stop sending new viewers) and
    /// new ingest is refused; playlists and media are served as usual.
    pub draining: Arc<AtomicBool>,
}

/// Bounds on one ingest connection.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// Longest wait for the next body chunk (slow or stalled publishers are cut off).
    pub idle_timeout: Duration,
    /// Bytes of garbage tolerated before the first valid audio frame.
    pub max_garbage: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            max_garbage: 64 << 10,
        }
    }
}

/// Distinct client addresses that fetched a media playlist recently, per stream.
/// Bounded: at most [`Viewers::CAP`] entries; the oldest are dropped first.
#[derive(Debug, Default)]
pub struct Viewers {
    /// Keyed by connection address (one connection plays one stream); no allocation
    /// when a known connection reloads.
    seen: Mutex<HashMap<SocketAddr, (Arc<str>, Instant)>>,
}

impl Viewers {
    /// Most addresses tracked.
    pub const CAP: usize = 100_000;
    /// A viewer counts for this long after its last playlist request.
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// Record a playlist request.
    pub fn seen(&self, stream: &str, peer: SocketAddr, now: Instant) {
        let mut m = self.seen.lock();
        if let Some((s, t)) = m.get_mut(&peer)
            && &**s == stream
        {
            *t = now;
            return;
        }
        if m.len() >= Self::CAP {
            m.retain(|_, (_, t)| now.saturating_duration_since(*t) < Self::WINDOW);
            if m.len() >= Self::CAP {
                return;
            }
        }
        m.insert(peer, (stream.into(), now));
    }

    /// Viewers of `stream` (a connection is a viewer: HTTP/1.1 players may use a few).
    pub fn count(&self, stream: &str, now: Instant) -> usize {
        self.seen
            .lock()
            .values()
            .filter(|(s, t)| &**s == stream && now.saturating_duration_since(*t) < Self::WINDOW)
            .count()
    }

    /// Viewers across streams.
    pub fn total(&self, now: Instant) -> usize {
        self.seen
            .lock()
            .values()
            .filter(|(_, t)| now.saturating_duration_since(*t) < Self::WINDOW)
            .count()
    }

    /// Drop stale entries.
    pub fn prune(&self, now: Instant) {
        self.seen
            .lock()
            .retain(|_, (_, t)| now.saturating_duration_since(*t) < Self::WINDOW);
    }
}
