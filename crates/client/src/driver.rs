//! The async driver: moves bytes and timers for a [`Session`], nothing else.
//!
//! - reqwest (rustls, HTTP/2 when the server offers it via ALPN, pooled keep-alive
//!   connections) performs each [`Request`] in its own task, so playlist and part
//!   requests run concurrently; a cancelled request's task is aborted.
//! - Chunks go into an `aulos-ring` [`ChunkCache`] (same ring as the origin uses) and
//!   out to the decoder through a bounded channel ([`ChunkStream`]): when the decoder
//!   falls behind, the driver stops feeding the session, which stops issuing requests.
//! - Copies: a body that arrives in one frame is passed on as that `Bytes` (zero
//!   copy); one that arrives in several frames is joined once into a `BytesMut`
//!   (counted in [`DriverStats::copied_bytes`]).

use crate::error::Error;
use crate::session::{Action, Chunk, Event, Request, Session, SessionConfig, TransportError};
use crate::time::Instant;
use aulos_ring::{ChunkCache, ChunkKey, ChunkMeta, StreamId};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Driver settings.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The session's settings.
    pub session: SessionConfig,
    /// Chunks buffered between driver and decoder (back-pressure bound).
    pub channel_capacity: usize,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Cap on one response body (nothing unbounded on the media path).
    pub max_body: usize,
    /// Shape of the ring the driver creates (ignored by [`Driver::spawn_with_ring`]).
    pub ring: aulos_ring::Config,
    /// Speak HTTP/2 without negotiation on cleartext `http://` (h2c prior
    /// knowledge). Over https, HTTP/2 is used whenever the server offers it (ALPN).
    pub http2_prior_knowledge: bool,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            session: SessionConfig::default(),
            channel_capacity: 32,
            connect_timeout: Duration::from_secs(5),
            max_body: 16 << 20,
            ring: aulos_ring::Config {
                streams: 1,
                segments_per_stream: 16,
                parts_per_segment: 64,
            },
            http2_prior_knowledge: false,
        }
    }
}

impl DriverConfig {
    /// Check the values are usable.
    pub fn validate(&self) -> Result<(), Error> {
        self.session.validate()?;
        if self.channel_capacity == 0 || self.max_body == 0 {
            return Err(Error::Config(
                "channel_capacity and max_body must be positive",
            ));
        }
        Ok(())
    }
}

/// Counters shared between the driver task and its handle.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Response bodies received.
    pub responses: AtomicU64,
    /// Body bytes received.
    pub body_bytes: AtomicU64,
    /// Bodies that arrived in several frames and were joined.
    pub joined_bodies: AtomicU64,
    /// Bytes copied while joining frames (the only copy socket → ring).
    pub copied_bytes: AtomicU64,
    /// Chunks put into the ring.
    pub chunks: AtomicU64,
    /// Requests that used HTTP/2.
    pub http2_responses: AtomicU64,
    /// gzip-encoded bodies decoded (playlists).
    pub gzip_bodies: AtomicU64,
}

/// A chunk handed to the decoder, plus where it sits in the ring.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The chunk (data shared with the ring, not copied).
    pub chunk: Chunk,
    /// Its key in the ring.
    pub key: ChunkKey,
    /// The stream's hold-back when the chunk was delivered ([`Session::hold_back`]):
    /// where a player's latency target starts.
    pub hold_back: Option<Duration>,
    /// The latency the session asks the player to hold now
    /// ([`Session::target_latency`]): the hold-back, plus several parts while the link
    /// is thin for the lowest rendition. A player that can play slightly slower gains
    /// the difference that way instead of by stalling.
    pub target_latency: Option<Duration>,
}

/// The decoder's end: an async stream of chunks in playback order.
#[derive(Debug)]
pub struct ChunkStream {
    rx: mpsc::Receiver<Delivered>,
}

impl ChunkStream {
    /// Next chunk; `None` once the session ended or failed.
    pub async fn next(&mut self) -> Option<Delivered> {
        self.rx.recv().await
    }
}

impl futures_util::Stream for ChunkStream {
    type Item = Delivered;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivered>> {
        self.rx.poll_recv(cx)
    }
}

/// Handle to a running driver.
#[derive(Debug)]
pub struct Driver {
    task: JoinHandle<Result<(), Error>>,
    stats: Arc<DriverStats>,
    buffer_us: Arc<AtomicU64>,
    ring: Arc<ChunkCache>,
    stream: StreamId,
    jump: Arc<tokio::sync::Notify>,
}

struct Outcome {
    id: crate::session::RequestId,
    result: Result<Fetched, TransportError>,
}

/// (status, body, header bytes, encoded body length, first byte, last byte)
/// Status, body, header bytes, encoded body length, first byte, last byte, and the
/// bytes (headers + body) of the first read.
type Fetched = (u16, Bytes, u64, Option<u64>, Instant, Instant, u64);

fn header_bytes(r: &reqwest::Response) -> u64 {
    // Status line + "name: value\r\n" per header (HTTP/1.1 size; HPACK is smaller).
    15 + r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum::<u64>()
}

impl Driver {
    /// Start playing `url` on the current tokio runtime with a ring of its own.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), aulos_client::Error> {
    /// use aulos_client::{Driver, DriverConfig};
    /// let (driver, mut chunks) = Driver::spawn("https://example.invalid/live.m3u8", DriverConfig::default())?;
    /// while let Some(d) = chunks.next().await {
    ///     // d.chunk.init (if any) goes to the decoder first, then d.chunk.data.
    ///     driver.set_buffer(std::time::Duration::from_millis(600)); // from the player
    /// #   let _ = d;
    /// }
    /// driver.join().await
    /// # }
    /// ```
    pub fn spawn(url: &str, cfg: DriverConfig) -> Result<(Driver, ChunkStream), Error> {
        let ring = Arc::new(ChunkCache::new(cfg.ring).map_err(|e| Error::Ring(e.to_string()))?);
        Self::spawn_with_ring(url, cfg, ring)
    }

    /// Start playing `url`, writing chunks into `ring` (one stream is opened).
    pub fn spawn_with_ring(
        url: &str,
        cfg: DriverConfig,
        ring: Arc<ChunkCache>,
    ) -> Result<(Driver, ChunkStream), Error> {
        cfg.validate()?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(8)
            // We decode gzip ourselves so the ABR sees the bytes that crossed the
            // network (a gzip playlist is ~4x smaller than its text).
            .no_gzip();
        if cfg.http2_prior_knowledge {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().map_err(|e| Error::Http(e.to_string()))?;
        let epoch = tokio::time::Instant::now();
        let session = Session::new(url, cfg.session.clone(), Instant::ZERO)?;
        let stream = ring.open_stream().map_err(|e| Error::Ring(e.to_string()))?;
        let (tx, rx) = mpsc::channel(cfg.channel_capacity);
        let stats = Arc::new(DriverStats::default());
        let buffer_us = Arc::new(AtomicU64::new(0));
        let jump = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(run(Loop {
            session,
            client,
            epoch,
            ring: ring.clone(),
            stream,
            tx,
            stats: stats.clone(),
            buffer_us: buffer_us.clone(),
            max_body: cfg.max_body,
            jump: jump.clone(),
        }));
        Ok((
            Driver {
                task,
                stats,
                buffer_us,
                ring,
                stream,
                jump,
            },
            ChunkStream { rx },
        ))
    }

    /// Tell the session how much audio the player has buffered (feeds the ABR).
    pub fn set_buffer(&self, buffer: Duration) {
        self.buffer_us.store(
            buffer.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    /// Ask the session to jump to the live edge (the player's latency controller
    /// gave up catching up). See [`Session::jump_to_live`].
    pub fn jump_to_live(&self) {
        self.jump.notify_one();
    }

    /// Counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// The ring the chunks go to, and the stream within it.
    pub fn ring(&self) -> (&Arc<ChunkCache>, StreamId) {
        (&self.ring, self.stream)
    }

    /// Wait for the session to end (`Ok`) or fail.
    pub async fn join(self) -> Result<(), Error> {
        self.task
            .await
            .map_err(|e| Error::Http(format!("driver task: {e}")))?
    }

    /// Stop now.
    pub fn abort(&self) {
        self.task.abort();
    }
}

struct Loop {
    session: Session,
    client: reqwest::Client,
    epoch: tokio::time::Instant,
    ring: Arc<ChunkCache>,
    stream: StreamId,
    tx: mpsc::Sender<Delivered>,
    stats: Arc<DriverStats>,
    buffer_us: Arc<AtomicU64>,
    max_body: usize,
    jump: Arc<tokio::sync::Notify>,
}

fn now(epoch: tokio::time::Instant) -> Instant {
    Instant::from_epoch(epoch.elapsed())
}

async fn fetch(
    client: reqwest::Client,
    req: Request,
    epoch: tokio::time::Instant,
    stats: Arc<DriverStats>,
    max_body: usize,
) -> Result<Fetched, TransportError> {
    let mut rb = client
        .get(req.url.clone())
        .header(reqwest::header::ACCEPT_ENCODING, "gzip");
    if let Some(r) = req.range {
        rb = rb.header(reqwest::header::RANGE, r.header_value());
    }
    let resp = rb.send().await.map_err(|e| {
        if e.is_timeout() {
            TransportError::Timeout
        } else {
            TransportError::Connection
        }
    })?;
    let status = resp.status().as_u16();
    let gzip = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if resp.version() == reqwest::Version::HTTP_2 {
        stats.http2_responses.fetch_add(1, Ordering::Relaxed);
    }
    let hdr = header_bytes(&resp);
    let mut first: Option<Instant> = None;
    // What the first read brought: it arrived at `first`, in no measured time. On a
    // thin link a 4 kB part comes in three reads of one TCP segment each, and counting
    // the first one's bytes over the time of the other two overstated the link by half
    // (a real 150 kb/s link read as 225: the player stayed on 160 kb/s and stalled).
    let mut first_read = 0u64;
    let mut one: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut body = resp.bytes_stream();
    // Bounded by max_body.
    while let Some(frame) = body.next().await {
        let frame = frame.map_err(|e| TransportError::Other(e.to_string()))?;
        if first.is_none() {
            first = Some(now(epoch));
            first_read = hdr + frame.len() as u64;
        }
        let total = one.as_ref().map_or(0, Bytes::len)
            + joined.as_ref().map_or(0, BytesMut::len)
            + frame.len();
        if total > max_body {
            return Err(TransportError::Other(format!(
                "body larger than {max_body} bytes"
            )));
        }
        match (&mut joined, one.take()) {
            (Some(j), _) => {
                stats
                    .copied_bytes
                    .fetch_add(frame.len() as u64, Ordering::Relaxed);
                j.extend_from_slice(&frame);
            }
            (None, None) => one = Some(frame),
            (None, Some(prev)) => {
                // Second frame: join once (the one copy on this path).
                stats.joined_bodies.fetch_add(1, Ordering::Relaxed);
                stats
                    .copied_bytes
                    .fetch_add((prev.len() + frame.len()) as u64, Ordering::Relaxed);
                let mut j = BytesMut::with_capacity(prev.len() + frame.len() * 2);
                j.extend_from_slice(&prev);
                j.extend_from_slice(&frame);
                joined = Some(j);
            }
        }
    }
    let last = now(epoch);
    let data = match joined {
        Some(j) => j.freeze(),
        None => one.unwrap_or_default(),
    };
    stats.responses.fetch_add(1, Ordering::Relaxed);
    stats
        .body_bytes
        .fetch_add(data.len() as u64, Ordering::Relaxed);
    let (data, encoded) = if gzip {
        stats.gzip_bodies.fetch_add(1, Ordering::Relaxed);
        (gunzip(&data, max_body)?, Some(data.len() as u64))
    } else {
        (data, None)
    };
    Ok((
        status,
        data,
        hdr,
        encoded,
        first.unwrap_or(last),
        last,
        first_read,
    ))
}

/// Decode a gzip body (playlists), at most `max` bytes out. Hand-written around
/// flate2 rather than reqwest's transparent gzip so the compressed size stays known.
fn gunzip(data: &[u8], max: usize) -> Result<Bytes, TransportError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| TransportError::Other(format!("gzip: {e}")))?;
    if out.len() > max {
        return Err(TransportError::Other(format!(
            "decoded body larger than {max} bytes"
        )));
    }
    Ok(Bytes::from(out))
}

async fn run(mut l: Loop) -> Result<(), Error> {
    let (ev_tx, mut ev_rx) = mpsc::channel::<Outcome>(256);
    let mut tasks: HashMap<crate::session::RequestId, JoinHandle<()>> = HashMap::new();
    let result = loop {
        let mut finished: Option<Result<(), Error>> = None;
        while let Some(a) = l.session.poll_action() {
            match a {
                Action::Request(req) => {
                    let id = req.id;
                    let deadline = l.epoch + req.deadline.since_epoch();
                    let fut = fetch(l.client.clone(), req, l.epoch, l.stats.clone(), l.max_body);
                    let tx = ev_tx.clone();
                    let h = tokio::spawn(async move {
                        let result = match tokio::time::timeout_at(deadline, fut).await {
                            Ok(r) => r,
                            Err(_) => Err(TransportError::Timeout),
                        };
                        // The loop may be gone (session over): nothing to report to.
                        let _ = tx.send(Outcome { id, result }).await;
                    });
                    tasks.insert(id, h);
                }
                Action::Cancel(id) => {
                    if let Some(h) = tasks.remove(&id) {
                        h.abort();
                    }
                }
                Action::Chunk(c) => {
                    let key = ChunkKey {
                        msn: c.msn,
                        part: c.part.unwrap_or(0),
                    };
                    let meta = ChunkMeta {
                        duration: c.duration,
                        independent: c.independent,
                        tag: u64::from(c.discontinuity) | (c.rendition as u64) << 1,
                    };
                    if let Err(e) = l.ring.put(l.stream, key, c.data.clone(), meta) {
                        // A jump beyond the ring's window: start the stream afresh.
                        tracing::debug!(error = %e, "ring put failed; resetting stream");
                        let _ = l.ring.reset_stream(l.stream);
                        l.ring
                            .put(l.stream, key, c.data.clone(), meta)
                            .map_err(|e| Error::Ring(e.to_string()))?;
                    }
                    l.stats.chunks.fetch_add(1, Ordering::Relaxed);
                    // Back-pressure: wait for the decoder.
                    let delivered = Delivered {
                        chunk: c,
                        key,
                        hold_back: l.session.hold_back(),
                        target_latency: l.session.target_latency(),
                    };
                    if l.tx.send(delivered).await.is_err() {
                        finished = Some(Ok(())); // decoder gone: stop
                    }
                }
                Action::Switched { from, to, reason } => {
                    tracing::info!(from, to, ?reason, "rendition switch")
                }
                Action::JumpedToLive { skipped } => tracing::info!(?skipped, "jumped to live edge"),
                Action::Ended => finished = Some(Ok(())),
                Action::Failed(e) => finished = Some(Err(e)),
            }
        }
        if let Some(r) = finished {
            break r;
        }
        l.session
            .set_buffer(Duration::from_micros(l.buffer_us.load(Ordering::Relaxed)));
        let timeout = l.session.poll_timeout().map(|t| l.epoch + t.since_epoch());
        tokio::select! {
            ev = ev_rx.recv() => {
                let Some(Outcome { id, result }) = ev else { break Ok(()) };
                tasks.remove(&id);
                let t = now(l.epoch);
                let event = match result {
                    Ok((status, body, header_bytes, encoded_len, first_byte, last_byte, first_read_bytes)) => Event::Response { id, status, body, header_bytes, encoded_len, first_byte, last_byte, first_read_bytes },
                    Err(error) => Event::Failed { id, error },
                };
                l.session.handle(t, event);
            }
            _ = l.jump.notified() => {
                let t = now(l.epoch);
                l.session.jump_to_live(t);
            }
            _ = async {
                match timeout {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => {
                let t = now(l.epoch);
                l.session.handle(t, Event::Timeout);
            }
        }
    };
    for (_, h) in tasks {
        h.abort();
    }
    result
}
