//! `aulos-origin`: the HTTP side of the Aulos LL-HLS origin.
//!
//! Owns the pieces of HTTP delivery that do not depend on stream state: the LL-HLS
//! delivery directives (`_HLS_msn`/`_HLS_part`/`_HLS_skip`) parsed per the draft's
//! §6.2.5 rules, the `Cache-Control` policy of Appendix B, the Prometheus metrics, and
//! the accept loop serving HTTP/1.1 keep-alive, h2c and TLS (ALPN h2) with graceful
//! shutdown. The player page (`assets/index.html` + a shipped hls.js 1.7.4) is here too.
//!
//! Depends on axum/hyper/hyper-util/tokio-rustls and prometheus-client. It must not hold
//! LL-HLS protocol state of its own: playlists, parts and blocking waits come from
//! `aulos-registry` (not yet written; the routes land with it, issue 5).

pub mod cache_control;
pub mod directives;
pub mod listener;
pub mod metrics;

pub use directives::{DirectiveError, Directives, SkipDirective};
pub use listener::{ConnLimits, serve, tls_acceptor};
pub use metrics::Metrics;

/// The player page, served at `/`.
pub const PLAYER_PAGE: &str = include_str!("../assets/index.html");
/// hls.js 1.7.4 (Apache-2.0), served next to the player page so it needs no network.
pub const HLS_JS: &str = include_str!("../assets/hls.min.js");

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
}
