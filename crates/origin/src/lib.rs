//! `aulos-origin`: the HTTP side of the Aulos LL-HLS origin.
//!
//! Owns the pieces of HTTP delivery that do not depend on stream state: the LL-HLS
//! delivery directives (`_HLS_msn`/`_HLS_part`/`_HLS_skip`) parsed per the draft's
//! §6.2.5 rules, the `Cache-Control` policy of Appendix B, the Prometheus metrics, and
//! the accept loop serving HTTP/1.1 keep-alive, h2c and TLS (ALPN h2) with graceful
//! shutdown. The player page (`assets/index.html` + a shipped hls.js 1.7.4) is here too.
//!
//! Routes: `/{stream}/master.m3u8`, `/{stream}/{rendition}/index.m3u8` (with
//! `_HLS_msn`/`_HLS_part`/`_HLS_skip`), `initN.mp4`, `{msn}.{part}.m4s` parts (the
//! preload-hinted one blocks until published), `{msn}.m4s` segments, HTTP ingest
//! (`PUT`/`SOURCE /ingest/{key}` with ADTS or MP3), the embedded synthetic demo stream,
//! `/metrics`, `/healthz`, `/streams.json` and the player page. Part GETs and media
//! playlist requests, most of an LL-HLS origin's requests, are matched ahead of axum's
//! router and answered by the same code the routed handler calls (`routes::FastPath`);
//! the HTTP/2 streams of a connection run inside that connection's task
//! (`listener::ConnStreams`), so one publish's released reloads leave in a few writes.
//!
//! Depends on `aulos-registry` (all LL-HLS state and waits), `aulos-packager` and
//! `aulos-source` (ingest packaging, transcoding, demo), axum/hyper/hyper-util,
//! tokio-rustls and prometheus-client. It must not hold LL-HLS protocol state of its
//! own: handlers translate HTTP to registry calls and back.

pub mod cache_control;
pub mod demo;
pub mod directives;
mod icecast;
mod ingest;
pub mod listener;
pub mod metrics;
mod routes;
mod server;
mod state;

pub use demo::{DemoConfig, spawn_demo};
pub use routes::router;
pub use server::{Origin, OriginConfig};
pub use state::{AppState, IngestLimits, IngestStream, Viewers};

pub use directives::{DirectiveError, Directives, SkipDirective};
pub use listener::{ConnLimits, serve, tls_acceptor};
pub use metrics::Metrics;

/// The player page, served at `/`.
pub const PLAYER_PAGE: &str = include_str!("../assets/index.html");
/// hls.js 1.7.4 (Apache-2.0), served next to the player page so it needs no network.
pub const HLS_JS: &str = include_str!("../assets/hls.min.js");

/// Publish a packaged part (from the demo source or ingest) into rendition `r` of
/// `stream`. The one place a packager `Part` becomes a registry `PublishPart`
/// (the two crates sit side by side and do not know each other).
pub(crate) fn publish_packaged(
    stream: &aulos_registry::Stream,
    r: usize,
    part: aulos_packager::Part,
) -> Result<(), aulos_registry::Error> {
    stream
        .publish_part(
            r,
            aulos_registry::PublishPart {
                data: part.data,
                duration: part.duration,
                independent: part.independent,
                program_date_time: part.program_date_time,
                last_in_segment: part.last_in_segment,
            },
            std::time::Instant::now(),
        )
        .map(|_| ())
}

/// The peer address of the connection a request arrived on (an axum `Extension`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

/// What went wrong starting or running the origin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TLS certificate or key could not be loaded.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// Binding or accepting failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration was refused.
    #[error("configuration: {0}")]
    Config(String),
}
