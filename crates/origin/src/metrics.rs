//! `/metrics` in the Prometheus text format (prometheus-client).
//!
//! Counters are atomics updated on the request path; gauges that describe state owned
//! elsewhere (streams, ring occupancy, parked waiters) are sampled when scraped, so the
//! hot path pays nothing for them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as PromRegistry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Label set of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// What was requested: `playlist`, `blocking_playlist`, `part`, `segment`, `init`,
    /// `multivariant`, `ingest`, `other`.
    pub kind: &'static str,
    /// HTTP status code.
    pub status: u16,
}

/// The origin's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: PromRegistry,
    /// Requests by kind and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Requests currently parked (blocking playlist reloads and preload-hinted parts).
    pub parked: Gauge,
    /// Media bytes sent (parts, segments, init sections).
    pub media_bytes: Counter,
    /// The `{kind="part",status="200"}` series of `requests`, resolved once: the
    /// commonest request skips the family's lock and label hash.
    part_ok: Counter,
    /// Publish → parked blocking reload released, exact to 100 µs and lock-free
    /// (a prometheus-client `Histogram` takes a lock per observation, which 10k
    /// waiters released at once contend on); exported as quantile gauges on scrape.
    pub release: ReleaseLatency,
    release_p50: prometheus_client::metrics::gauge::Gauge<f64, AtomicU64>,
    release_p99: prometheus_client::metrics::gauge::Gauge<f64, AtomicU64>,
    streams: Gauge,
    renditions: Gauge,
    viewers: Gauge,
    ring_chunks: Gauge,
    ring_bytes: Gauge,
}

/// State sampled at scrape time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    /// Live streams.
    pub streams: i64,
    /// Renditions across all streams.
    pub renditions: i64,
    /// Distinct viewers seen recently.
    pub viewers: i64,
    /// Chunks held in the ring.
    pub ring_chunks: i64,
    /// Bytes held in the ring.
    pub ring_bytes: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = PromRegistry::with_prefix("aulos");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by kind and status",
            requests.clone(),
        );
        let parked = Gauge::default();
        registry.register(
            "parked_requests",
            "Requests held until their playlist update or part exists",
            parked.clone(),
        );
        let media_bytes = Counter::default();
        registry.register(
            "media_bytes_sent",
            "Bytes of media (parts, segments, init) sent",
            media_bytes.clone(),
        );
        let release_p50 = prometheus_client::metrics::gauge::Gauge::<f64, AtomicU64>::default();
        registry.register(
            "blocking_release_p50_seconds",
            "Median time from a publish to a parked blocking playlist request being answered",
            release_p50.clone(),
        );
        let release_p99 = prometheus_client::metrics::gauge::Gauge::<f64, AtomicU64>::default();
        registry.register(
            "blocking_release_p99_seconds",
            "99th percentile time from a publish to a parked blocking playlist request being answered",
            release_p99.clone(),
        );
        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let streams = gauge("streams", "Live streams");
        let renditions = gauge("renditions", "Renditions across live streams");
        let viewers = gauge(
            "viewers",
            "Viewers (distinct client addresses seen recently)",
        );
        let ring_chunks = gauge("ring_chunks", "Chunks held in the chunk ring");
        let ring_bytes = gauge("ring_bytes", "Bytes held in the chunk ring");
        let part_ok = requests
            .get_or_create(&RequestLabels {
                kind: "part",
                status: 200,
            })
            .clone();
        Self {
            registry,
            requests,
            parked,
            media_bytes,
            part_ok,
            release: ReleaseLatency::default(),
            release_p50,
            release_p99,
            streams,
            renditions,
            viewers,
            ring_chunks,
            ring_bytes,
        }
    }

    /// Counts one finished request.
    pub fn request(&self, kind: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels { kind, status })
            .inc();
    }

    /// Counts one part served (200) of `bytes`.
    pub fn part_served(&self, bytes: usize) {
        self.part_ok.inc();
        self.media_bytes.inc_by(bytes as u64);
    }

    /// Renders the text exposition format with `snapshot` as the sampled gauges.
    pub fn render(&self, snapshot: Snapshot) -> String {
        self.streams.set(snapshot.streams);
        self.renditions.set(snapshot.renditions);
        self.viewers.set(snapshot.viewers);
        self.ring_chunks.set(snapshot.ring_chunks);
        self.ring_bytes.set(snapshot.ring_bytes);
        let q = |p| self.release.quantile(p).map_or(0.0, |d| d.as_secs_f64());
        self.release_p50.set(q(0.5));
        self.release_p99.set(q(0.99));
        let mut out = String::with_capacity(2048);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// RAII guard counting one parked request in the `parked_requests` gauge.
/// A lock-free latency recorder: 100 µs buckets up to 1 s, plus an overflow count.
pub struct ReleaseLatency {
    buckets: Box<[AtomicU64]>,
}

impl std::fmt::Debug for ReleaseLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseLatency")
            .field("count", &self.count())
            .finish()
    }
}

impl Default for ReleaseLatency {
    fn default() -> Self {
        Self {
            buckets: (0..=Self::BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl ReleaseLatency {
    const BUCKETS: usize = 10_000;
    const WIDTH_US: u64 = 100;

    /// Record one latency.
    pub fn record(&self, d: Duration) {
        let i = ((d.as_micros() as u64) / Self::WIDTH_US).min(Self::BUCKETS as u64) as usize;
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (upper edge of its 100 µs bucket; ≥ 1 s reads as 1 s).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((n as f64 * q).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(Duration::from_micros((i as u64 + 1) * Self::WIDTH_US));
            }
        }
        None
    }

    /// Forget everything recorded.
    pub fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
pub struct Parked<'a>(&'a Gauge);

impl<'a> Parked<'a> {
    /// Increments the gauge until the guard drops.
    pub fn new(metrics: &'a Metrics) -> Self {
        metrics.parked.inc();
        Self(&metrics.parked)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_quantiles() {
        let r = ReleaseLatency::default();
        assert_eq!(r.quantile(0.5), None);
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms));
        }
        assert_eq!(r.count(), 100);
        assert_eq!(r.quantile(0.5), Some(Duration::from_micros(50_100)));
        assert_eq!(r.quantile(0.99), Some(Duration::from_micros(99_100)));
        r.record(Duration::from_secs(5));
        assert_eq!(r.quantile(1.0), Some(Duration::from_micros(1_000_100)));
        r.reset();
        assert_eq!(r.count(), 0);
    }

    #[test]
    fn renders_counters_and_sampled_gauges() {
        let m = Metrics::new();
        m.request("part", 200);
        m.request("part", 200);
        m.request("playlist", 404);
        {
            let _p = Parked::new(&m);
            assert!(
                m.render(Snapshot::default())
                    .contains("aulos_parked_requests 1")
            );
        }
        let text = m.render(Snapshot {
            streams: 2,
            ring_chunks: 17,
            ..Snapshot::default()
        });
        assert!(text.contains("aulos_parked_requests 0"), "{text}");
        assert!(
            text.contains(r#"aulos_http_requests_total{kind="part",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"aulos_http_requests_total{kind="playlist",status="404"} 1"#),
            "{text}"
        );
        assert!(text.contains("aulos_streams 2"), "{text}");
        assert!(text.contains("aulos_ring_chunks 17"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
