//! The accept loop: HTTP/1.1 keep-alive and HTTP/2 (h2c prior knowledge, or ALPN `h2`
//! over TLS when a certificate is configured), with graceful shutdown.
//!
//! `axum::serve` cannot terminate TLS, so the loop is written here on hyper-util's
//! `auto` builder, which serves both protocol versions on one port (checklist S-GEN-09).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::pin::Pin;
use std::task::Poll;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::Error;
use crate::routes::FastPath;
use hyper::Request;
use hyper::body::Incoming;
use std::convert::Infallible;
use tower::ServiceExt;

/// Loads a PEM certificate chain and private key into a TLS acceptor that offers
/// `h2` and `http/1.1` by ALPN.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |what: &str, e: &dyn std::fmt::Display| Error::Tls(format!("{what}: {e}"));
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(&cert.display().to_string(), &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&cert.display().to_string(), &e))?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(&key.display().to_string(), &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err("certificate", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Connection limits that protect the origin from slow or idle clients.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Time a client may take to send its request headers (slowloris guard).
    pub header_read_timeout: Duration,
    /// Time a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` turns true, then stops accepting and
/// lets open connections finish their in-flight requests (hyper's graceful shutdown).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    serve_with(listener, app, None, tls, limits, shutdown).await
}

/// [`serve`], with the origin's part GETs answered ahead of the router.
pub(crate) async fn serve_with(
    listener: TcpListener,
    app: Router,
    fast: Option<FastPath>,
    tls: Option<TlsAcceptor>,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off briefly, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let fast = fast.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        conns.spawn(async move {
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(
                        limits.tls_handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls_stream)) => {
                            serve_conn(TokioIo::new(tls_stream), app, fast, peer, limits, shutdown)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => {
                    // Icecast sources stream audio after a head that frames no body:
                    // peeked for, only when ingest is configured (see `icecast`).
                    let ingest = fast
                        .as_ref()
                        .map(|f| f.state().clone())
                        .filter(|st| !st.ingest.is_empty());
                    if let Some(st) = ingest {
                        let mut first = [0u8; 16];
                        let peeked = tokio::time::timeout(
                            limits.header_read_timeout,
                            stream.peek(&mut first),
                        )
                        .await;
                        let Ok(Ok(n)) = peeked else { return };
                        if n > 0 && crate::icecast::looks_like_ingest(&first[..n]) {
                            match crate::icecast::serve(stream, st, limits.header_read_timeout)
                                .await
                            {
                                Ok(crate::icecast::Outcome::Done) => {}
                                Ok(crate::icecast::Outcome::Http(replay)) => {
                                    serve_conn(
                                        TokioIo::new(replay),
                                        app,
                                        fast,
                                        peer,
                                        limits,
                                        shutdown,
                                    )
                                    .await
                                }
                                Err(e) => tracing::debug!(%peer, error = %e, "ingest head"),
                            }
                            return;
                        }
                    }
                    serve_conn(TokioIo::new(stream), app, fast, peer, limits, shutdown).await
                }
            }
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
    }
    // Stop accepting; give open connections a bounded time to drain.
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
    Ok(())
}

async fn serve_conn<I>(
    io: I,
    app: Router,
    fast: Option<FastPath>,
    peer: SocketAddr,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    // Part GETs and playlists first ([`FastPath`]), everything else through the router.
    // The peer address reaches the router's handlers as a request extension (what
    // `axum::Extension` extracts); a per-connection `Router::layer` would rebuild the
    // whole route table for every connection and drop it again when it closes.
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let fast = fast
            .as_ref()
            .and_then(|f| f.route(req.method(), req.uri(), req.headers(), peer));
        let app = app.clone();
        async move {
            match fast {
                Some(resp) => Ok::<_, Infallible>(resp.await),
                None => {
                    req.extensions_mut().insert(crate::Peer(peer));
                    app.oneshot(req).await
                }
            }
        }
    });
    let streams = ConnStreams::default();
    let mut builder = auto::Builder::new(streams.clone());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let mut driver = Driver::new(streams);
    tokio::select! {
        res = driver.run(conn.as_mut()) => {
            if let Err(e) = res { tracing::trace!(%peer, error = %e, "connection ended"); }
        }
        _ = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = driver.run(conn.as_mut()).await;
        }
    }
}

type StreamFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// hyper's executor for the HTTP/2 streams of one connection: instead of a tokio task
/// per stream, each stream's future is queued here and run by the connection's own
/// task ([`Driver`]).
///
/// Why: a publish releases every blocking reload parked on a rendition at once. With a
/// task per stream, each released stream wakes its connection task, which tokio's
/// LIFO slot runs next, so the connection encoded and wrote one response per wake-up
/// (one `writev` and one loopback round of the TCP stack per response, ~22 % of the
/// origin's CPU in a release, perf). Run inside the connection's task, all streams
/// released by one publish answer in one poll and leave in a few writes. Handlers are
/// short (ingest, the one long-running handler, spawns its own task), so streams of
/// one connection sharing a task delays none of them measurably; HTTP/1.1 is not
/// affected (hyper runs its single in-flight request inside the connection future).
#[derive(Clone, Default)]
struct ConnStreams(Arc<parking_lot::Mutex<Vec<StreamFuture>>>);

impl<F> hyper::rt::Executor<F> for ConnStreams
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.lock().push(Box::pin(fut));
    }
}

/// Polls a connection and the streams its executor ([`ConnStreams`]) was handed.
struct Driver {
    queued: ConnStreams,
    running: FuturesUnordered<StreamFuture>,
}

impl Driver {
    fn new(queued: ConnStreams) -> Self {
        Self {
            queued,
            running: FuturesUnordered::new(),
        }
    }

    /// Resolves with the connection; streams still running then are dropped (the
    /// connection that would carry their responses is gone).
    async fn run<C: Future>(&mut self, mut conn: Pin<&mut C>) -> C::Output {
        std::future::poll_fn(|cx| {
            // Bounded: stream progress queues frames the connection then writes, and
            // the connection may hand over new streams; every source has registered a
            // waker by the time this returns `Pending`.
            for _ in 0..4 {
                if let Poll::Ready(out) = conn.as_mut().poll(cx) {
                    return Poll::Ready(out);
                }
                let new = std::mem::take(&mut *self.queued.0.lock());
                let mut progressed = !new.is_empty();
                self.running.extend(new);
                while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Resolves once shutdown is signalled (or the sender is gone). The watch `Ref` is
/// dropped inside, so callers' futures stay `Send`.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
