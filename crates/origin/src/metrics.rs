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
        Self {
            registry,
            requests,
            parked,
            media_bytes,
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

    /// Renders the text exposition format with `snapshot` as the sampled gauges.
    pub fn render(&self, snapshot: Snapshot) -> String {
        self.streams.set(snapshot.streams);
        self.renditions.set(snapshot.renditions);
        self.viewers.set(snapshot.viewers);
        self.ring_chunks.set(snapshot.ring_chunks);
        self.ring_bytes.set(snapshot.ring_bytes);
        let mut out = String::with_capacity(2048);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// RAII guard counting one parked request in the `parked_requests` gauge.
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
