//! Running an origin: bind, serve, housekeeping, graceful shutdown.

use crate::listener::{ConnLimits, serve_with};
use crate::metrics::Metrics;
use crate::state::{AppState, IngestLimits, IngestStream, Viewers};
use crate::{Error, routes};
use aulos_registry::{Registry, RegistryConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Origin settings.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// Listen address (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Registry limits.
    pub registry: RegistryConfig,
    /// Streams accepted on ingest.
    pub ingest: Vec<IngestStream>,
    /// Ingest limits.
    pub ingest_limits: IngestLimits,
    /// Start the synthetic demo stream.
    pub demo: Option<crate::demo::DemoConfig>,
    /// Connection limits.
    pub conn: ConnLimits,
    /// How long [`Origin::shutdown`] keeps serving after ending every stream, so
    /// players that reload on a timer rather than by blocking request (non-LL
    /// players, hls.js between requests) fetch the final playlist with ENDLIST and
    /// end cleanly instead of finding the port closed. Two target durations of the
    /// default segments; zero stops at once (parked requests are still answered).
    pub end_grace: Duration,
}

impl Default for OriginConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            registry: RegistryConfig::default(),
            ingest: Vec::new(),
            ingest_limits: IngestLimits::default(),
            demo: Some(crate::demo::DemoConfig::default()),
            conn: ConnLimits::default(),
            end_grace: Duration::from_secs(2),
        }
    }
}

/// A running origin.
#[derive(Debug)]
pub struct Origin {
    /// The bound address.
    pub addr: SocketAddr,
    /// The live streams.
    pub registry: Arc<Registry>,
    /// Request counters and latency recorders.
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), Error>>,
    tasks: Vec<JoinHandle<()>>,
    end_grace: Duration,
    draining: Arc<AtomicBool>,
}

/// Pending connections the kernel may queue for `accept` (capped by
/// `net.core.somaxconn`). tokio's `TcpListener::bind` asks for 1024: when thousands of
/// players connect at once (a popular stream going live, every viewer reconnecting
/// after a restart) the rest of their SYNs were dropped and retried 1 s and 3 s later;
/// with 10,000 viewers connecting together, blocking reloads then timed out before
/// the last ones had even connected (origin bench, `--conns 10000`).
const LISTEN_BACKLOG: u32 = 8192;

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restarted origin can rebind at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

impl Origin {
    /// Bind and start serving (and the demo stream, if configured).
    pub async fn start(cfg: OriginConfig, tls: Option<TlsAcceptor>) -> Result<Origin, Error> {
        let registry = Arc::new(
            Registry::new(cfg.registry.clone()).map_err(|e| Error::Config(e.to_string()))?,
        );
        let listener = bind(cfg.listen)?;
        let addr = listener.local_addr()?;
        let state = AppState {
            registry: registry.clone(),
            metrics: Arc::new(Metrics::new()),
            viewers: Arc::new(Viewers::default()),
            ingest: Arc::new(cfg.ingest.clone()),
            ingest_limits: cfg.ingest_limits,
            draining: Arc::new(AtomicBool::new(false)),
        };
        let draining = state.draining.clone();
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(demo) = cfg.demo.clone() {
            tasks.push(crate::demo::spawn_demo(registry.clone(), demo).map_err(Error::Config)?);
        }
        // Housekeeping: idle expiry, retention, viewer pruning.
        {
            let registry = registry.clone();
            let viewers = state.viewers.clone();
            let mut rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = every.tick() => {}
                        _ = rx.wait_for(|s| *s) => break,
                    }
                    let now = Instant::now();
                    for name in registry.tick(now) {
                        tracing::info!(stream = %name, "stream removed");
                    }
                    viewers.prune(now);
                }
            }));
        }
        let metrics = state.metrics.clone();
        let fast = routes::FastPath::new(&state);
        let app = routes::router(state);
        let server = tokio::spawn(serve_with(listener, app, Some(fast), tls, cfg.conn, rx));
        tracing::info!(%addr, "origin listening");
        Ok(Origin {
            addr,
            registry,
            metrics,
            shutdown,
            server,
            tasks,
            end_grace: cfg.end_grace,
            draining,
        })
    }

    /// Graceful shutdown: every stream gets ENDLIST (parked requests are answered),
    /// the origin keeps serving for [`OriginConfig::end_grace`] so every player can
    /// read the final playlist (meanwhile `/healthz` answers 503 and new ingest is
    /// refused), then the listener stops and open connections drain.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.draining.store(true, Ordering::Release);
        self.registry.end_all(Instant::now());
        if !self.end_grace.is_zero() {
            tokio::time::sleep(self.end_grace).await;
            // A publisher that connected just before the shutdown began gets its
            // stream only with its first frames: that stream ends too.
            self.registry.end_all(Instant::now());
        }
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
        }
        self.server
            .await
            .map_err(|e| Error::Config(format!("server task: {e}")))?
    }
}
