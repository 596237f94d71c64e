//! The [`Player`]: client driver → feeder task → decode pipeline → sink thread, and the
//! supervisor task that watches them, publishes [`Status`] and builds the [`Report`].
//!
//! ```text
//! Driver ──ChunkStream──▶ feed (tokio task) ──ChunkSender──▶ decode thread ──PcmReceiver──▶
//!   ▲   (Delivered → MediaChunk, bitrate,                                     run_sink + LatencyController
//!   │    PDT of what was handed over)                                         + MeteredSink (latency, stalls,
//!   └──────────── jump_to_live / set_buffer ◀───────────────────────────────  buffer) → Speaker | WAV | Null
//! ```
//! Every hop is bounded: the driver channel ([`crate::PlayerConfig::DRIVER_CHANNEL`]), the
//! pipeline's chunk and PCM channels, and the sink's own buffer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver as SyncReceiver, SyncSender};
use std::time::{Duration, Instant, UNIX_EPOCH};

use aulos_client::{ChunkStream, Driver};
use aulos_decode::{
    ChunkSender, Container, LatencyConfig, LatencyController, MediaChunk, PcmReceiver, Pipeline,
    PipelineHandle, Stats, run_sink,
};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{FirstChunk, PlayerConfig, SinkKind};
use crate::error::{Error, Result};
use crate::metrics::{EndReason, PlayoutClock, Report, Shared, Status};
use crate::sink::{MeteredSink, Opened, open};

/// A playing live stream. Create with [`Player::start`], end with [`Player::wait`] or
/// [`Player::stop`]; both return the [`Report`]. Dropping a `Player` stops playback.
#[derive(Debug)]
pub struct Player {
    status: watch::Receiver<Status>,
    stop: Arc<Notify>,
    /// `None` only inside [`Player::wait`].
    task: Option<JoinHandle<Result<Report>>>,
    sink: SinkKind,
    sink_fallback: Option<String>,
}

/// What the sink thread hands back when it is done.
struct SinkOutcome {
    result: aulos_decode::Result<u64>,
    target: Duration,
}

/// Everything the sink thread owns.
struct SinkThread {
    sink: Opened,
    pcm: PcmReceiver,
    handle: PipelineHandle,
    shared: Arc<Shared>,
    driver: Arc<Driver>,
    target: Option<Duration>,
    first_chunk: SyncReceiver<FirstChunk>,
    limit_frames: u64,
    report_buffer: bool,
    slow_down: bool,
    stopping: Arc<AtomicBool>,
    on_limit: Arc<Notify>,
}

impl Player {
    /// Starts playing `url` (a multivariant or media playlist) on the current tokio runtime.
    ///
    /// Returns once the sink is open (a missing speaker has already fallen back to the null
    /// sink: see [`Player::sink`]); the network work happens afterwards, so a bad URL shows
    /// up in [`Player::wait`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), aulos_player::Error> {
    /// use aulos_player::{Player, PlayerConfig, SinkChoice};
    /// use std::time::Duration;
    /// let cfg = PlayerConfig {
    ///     sink: SinkChoice::Wav("out.wav".into()),
    ///     duration: Some(Duration::from_secs(10)),
    ///     ..PlayerConfig::default()
    /// };
    /// let player = Player::start("http://127.0.0.1:8080/demo/master.m3u8", cfg).await?;
    /// let mut status = player.status_updates();
    /// tokio::spawn(async move {
    ///     while status.changed().await.is_ok() {
    ///         println!("{}", *status.borrow());
    ///     }
    /// });
    /// let report = player.wait().await?;
    /// println!("{report}");
    /// # Ok(()) }
    /// ```
    pub async fn start(url: &str, cfg: PlayerConfig) -> Result<Player> {
        cfg.validate()?;
        let shared = Arc::new(Shared::new(Instant::now()));
        let (driver, chunks) = Driver::spawn(url, cfg.driver.clone())?;
        let driver = Arc::new(driver);
        let (chunk_tx, pcm, handle) = match Pipeline::spawn(cfg.pipeline.clone()) {
            Ok(p) => p,
            Err(e) => {
                driver.abort();
                return Err(e.into());
            }
        };
        let decode_stats = handle.stats().clone();
        let rate = cfg.pipeline.out_rate;
        let channels = cfg.pipeline.out_channels;
        let limit_frames = cfg.duration.map_or(u64::MAX, |d| {
            (d.as_secs_f64() * f64::from(rate)).ceil().max(1.0) as u64
        });
        let (first_tx, first_rx) = std::sync::mpsc::sync_channel(1);
        let stopping = Arc::new(AtomicBool::new(false));
        let on_limit = Arc::new(Notify::new());
        let (open_tx, open_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let spawned = {
            let (shared, driver) = (shared.clone(), driver.clone());
            let (stopping, on_limit) = (stopping.clone(), on_limit.clone());
            let choice = cfg.sink.clone();
            let target = cfg.target_latency;
            let report_buffer = cfg.report_buffer;
            let slow_down = cfg.slow_down;
            std::thread::Builder::new()
                .name("aulos-player-sink".into())
                .spawn(move || {
                    // The sink is opened on this thread: audio devices are often not `Send`.
                    let sink = match open(&choice, rate, channels, &shared) {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = open_tx.send(Err(e));
                            drop(pcm);
                            let _ = handle.join();
                            return;
                        }
                    };
                    let _ = open_tx.send(Ok((sink.kind.clone(), sink.fallback.clone())));
                    let outcome = SinkThread {
                        sink,
                        pcm,
                        handle,
                        shared,
                        driver,
                        target,
                        first_chunk: first_rx,
                        limit_frames,
                        report_buffer,
                        slow_down,
                        stopping,
                        on_limit,
                    }
                    .run();
                    let _ = done_tx.send(outcome);
                })
        };
        if let Err(e) = spawned {
            driver.abort();
            return Err(Error::Internal(format!("cannot spawn sink thread: {e}")));
        }
        let (sink, sink_fallback) = match open_rx.await {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                driver.abort();
                return Err(e);
            }
            Err(_) => {
                driver.abort();
                return Err(Error::Internal("sink thread ended while opening".into()));
            }
        };
        let feeder = tokio::spawn(feed(chunks, chunk_tx, shared.clone(), first_tx));
        let (status_tx, status) = watch::channel(Status::default());
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(
            Supervisor {
                feeder,
                driver,
                done: done_rx,
                stop: stop.clone(),
                on_limit,
                stopping,
                shared,
                decode_stats,
                status: status_tx,
                interval: cfg.status_interval,
                rate,
                channels,
                sink: sink.clone(),
                sink_fallback: sink_fallback.clone(),
            }
            .run(),
        );
        Ok(Player {
            status,
            stop,
            task: Some(task),
            sink,
            sink_fallback,
        })
    }

    /// The latest status (refreshed every `status_interval`).
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that changes on every status refresh (for a once-a-second status line).
    pub fn status_updates(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The sink in use.
    pub fn sink(&self) -> &SinkKind {
        &self.sink
    }

    /// Why the speaker was not used, if it was asked for and is unavailable.
    pub fn sink_fallback(&self) -> Option<&str> {
        self.sink_fallback.as_deref()
    }

    /// Waits until the configured duration has played, the stream ended, or the client gave
    /// up. Errors only when nothing at all could be played (the client's error is returned),
    /// or on internal failures; otherwise [`Report::end`] says how it ended.
    pub async fn wait(mut self) -> Result<Report> {
        let task = self
            .task
            .take()
            .ok_or_else(|| Error::Internal("player already waited on".into()))?;
        task.await
            .map_err(|e| Error::Internal(format!("supervisor task: {e}")))?
    }

    /// Stops now (queued audio is dropped) and returns the report.
    pub async fn stop(self) -> Result<Report> {
        self.stop.notify_one();
        self.wait().await
    }

    /// A handle that can stop the player while another task is in [`Player::wait`]
    /// (e.g. on Ctrl-C).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.stop.notify_one();
        }
    }
}

/// Stops a [`Player`] from elsewhere; [`Player::wait`] then returns with
/// [`EndReason::Stopped`].
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<Notify>);

impl StopHandle {
    /// Asks the player to stop (idempotent).
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

impl SinkThread {
    fn run(self) -> SinkOutcome {
        let SinkThread {
            sink: Opened {
                sink: inner, pace, ..
            },
            pcm,
            handle,
            shared,
            driver,
            target,
            first_chunk,
            limit_frames,
            report_buffer,
            slow_down,
            stopping,
            on_limit,
        } = self;
        let mut latency = LatencyConfig::default();
        latency.target = match target {
            Some(t) => t,
            None => {
                let first = first_chunk.recv().unwrap_or(
                    // No chunk ever came (stopped, or the client failed): any value will do.
                    FirstChunk {
                        duration: Duration::from_millis(200),
                        is_part: true,
                        hold_back: None,
                    },
                );
                latency.deadband = first.deadband();
                latency.full_speed_error = first.full_speed_error();
                latency.low_buffer = first.duration * 2;
                first.default_target()
            }
        };
        if slow_down {
            latency.min_rate = 0.95;
        } else {
            latency.low_buffer = Duration::ZERO;
        }
        let target = latency.target;
        let mut ctrl = match LatencyController::new(latency) {
            Ok(c) if slow_down => c.with_feed(shared.rate_feed.clone()),
            Ok(c) => c,
            Err(e) => {
                return SinkOutcome {
                    result: Err(e),
                    target,
                };
            }
        };
        // One jump at a time: audio queued before the jump still shows the old latency
        // until it has drained.
        let cooldown = target + ctrl.config().jump_after;
        let mut last_jump: Option<Instant> = None;
        let jumper = driver.clone();
        let jump_shared = shared.clone();
        let mut metered = MeteredSink {
            inner,
            pace,
            shared,
            driver,
            clock: PlayoutClock::new(),
            report_buffer,
            limit_frames,
            frames: 0,
            stopping,
            on_limit,
        };
        let result = run_sink(&pcm, &mut metered, &handle, Some(&mut ctrl), |latency| {
            if last_jump.is_none_or(|t| t.elapsed() > cooldown) {
                tracing::info!(
                    latency_ms = latency.as_millis() as u64,
                    "too far behind live: jumping to the live edge"
                );
                last_jump = Some(Instant::now());
                jump_shared.jumps.fetch_add(1, Relaxed);
                jumper.jump_to_live();
            }
        });
        tracing::debug!(ok = result.is_ok(), "sink stage ended");
        drop(metered);
        drop(pcm);
        if let Err(e) = handle.join() {
            tracing::warn!(error = %e, "decode thread");
        }
        SinkOutcome { result, target }
    }
}

/// Client → decoder: converts each [`aulos_client::Delivered`] into a [`MediaChunk`].
async fn feed(
    mut chunks: ChunkStream,
    tx: ChunkSender,
    shared: Arc<Shared>,
    first: SyncSender<FirstChunk>,
) {
    let mut first = Some(first);
    // Media bitrate over the last few chunks of the current rendition: (bytes, duration).
    let mut window: VecDeque<(u64, Duration)> = VecDeque::with_capacity(8);
    let mut container = Container::Sniff;
    while let Some(delivered) = chunks.next().await {
        let c = delivered.chunk;
        tracing::trace!(
            rendition = c.rendition,
            msn = c.msn,
            part = ?c.part,
            bytes = c.data.len(),
            age_ms = c
                .program_date_time
                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                .map(|d| d.as_millis() as u64),
            "chunk from the client"
        );
        shared.mark_once(&shared.first_chunk_us);
        if let Some(f) = first.take() {
            let _ = f.try_send(FirstChunk {
                duration: c.duration,
                is_part: c.part.is_some(),
                hold_back: delivered.hold_back,
            });
        }
        if let (Some(t), Some(h)) = (delivered.target_latency, delivered.hold_back) {
            shared.rate_feed.set_extra(t.saturating_sub(h));
        }
        if shared.rendition.swap(c.rendition, Relaxed) != c.rendition {
            window.clear();
        }
        if window.len() == 8 {
            window.pop_front();
        }
        window.push_back((c.data.len() as u64, c.duration));
        let (bytes, secs) = window
            .iter()
            .fold((0u64, 0f64), |(b, s), (n, d)| (b + n, s + d.as_secs_f64()));
        if secs > 0.0 {
            shared
                .bitrate
                .store((bytes as f64 * 8.0 / secs) as u64, Relaxed);
        }
        if let Some(end) = c
            .program_date_time
            .map(|t| t + c.duration)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        {
            shared.fed_end_pdt_us.store(end.as_micros() as u64, Relaxed);
        }
        if let Some(init) = &c.init {
            // An init section means fMP4 (EXT-X-MAP with a TS packet is allowed but rare:
            // leave those to the demuxer's sniffing).
            container = match Container::sniff(init) {
                Some(Container::Fmp4) => Container::Fmp4,
                _ => Container::Sniff,
            };
        }
        let chunk = MediaChunk {
            data: c.data,
            init: c.init,
            discontinuity: c.discontinuity,
            duration: c.duration,
            program_date_time: c.program_date_time,
            container,
        };
        shared.chunks.fetch_add(1, Relaxed);
        if tx.send_async(chunk).await.is_err() {
            tracing::debug!("decoder gone: feeder stops");
            return;
        }
    }
    tracing::debug!("client stream over: feeder stops");
}

struct Supervisor {
    feeder: JoinHandle<()>,
    driver: Arc<Driver>,
    done: oneshot::Receiver<SinkOutcome>,
    stop: Arc<Notify>,
    on_limit: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    shared: Arc<Shared>,
    decode_stats: Arc<Stats>,
    status: watch::Sender<Status>,
    interval: Duration,
    rate: u32,
    channels: u16,
    sink: SinkKind,
    sink_fallback: Option<String>,
}

impl Supervisor {
    async fn run(mut self) -> Result<Report> {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick.tick().await;
        let mut feeder_done = false;
        let mut requested: Option<EndReason> = None;
        let mut outcome: Option<SinkOutcome> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.status.send_replace(Status::read(&self.shared, self.rate));
                }
                _ = self.stop.notified() => { requested = Some(EndReason::Stopped); break; }
                _ = self.on_limit.notified() => { requested = Some(EndReason::Duration); break; }
                _ = &mut self.feeder, if !feeder_done => feeder_done = true,
                o = &mut self.done => {
                    outcome = o.ok();
                    break;
                }
            }
        }
        // Stop fetching; the sink discards what is still queued so the pipeline drains now.
        self.stopping.store(true, Relaxed);
        let stream_over = feeder_done || self.feeder.is_finished();
        self.feeder.abort();
        if requested.is_some() || !stream_over {
            self.driver.abort();
        }
        let outcome = match outcome {
            Some(o) => Some(o),
            None => (&mut self.done).await.ok(),
        };
        self.status
            .send_replace(Status::read(&self.shared, self.rate));
        let dstats = self.driver.stats();
        let ring = self.driver.ring().0.stats();
        let (body_bytes, copied_bytes) = (
            dstats.body_bytes.load(Relaxed),
            dstats.copied_bytes.load(Relaxed),
        );
        // The sink thread has dropped its handle by now; the feeder held none.
        let client = match Arc::try_unwrap(self.driver) {
            Ok(driver) if requested.is_none() && stream_over => Some(driver.join().await),
            _ => None,
        };
        let frames = self.shared.frames.load(Relaxed);
        let (sink_result, target) = match outcome {
            Some(o) => (o.result, o.target),
            None => (
                Err(aulos_decode::Error::Config(
                    "sink thread ended early".into(),
                )),
                Duration::ZERO,
            ),
        };
        let end = match (requested, sink_result, client) {
            (Some(r), _, _) => r,
            (None, Err(e), _) => EndReason::SinkFailed(e.to_string()),
            (None, Ok(_), Some(Err(e))) => {
                if frames == 0 {
                    return Err(Error::Client(e));
                }
                EndReason::ClientFailed(e.to_string())
            }
            (None, Ok(_), _) => EndReason::StreamEnded,
        };
        let hist = self.shared.histogram.lock().clone();
        let us = |a: &AtomicU64| {
            let v = a.load(Relaxed);
            (v != 0).then(|| Duration::from_micros(v))
        };
        let decode = self.decode_stats.snapshot();
        Ok(Report {
            end,
            sink: self.sink,
            sink_fallback: self.sink_fallback,
            target_latency: target,
            rate: self.rate,
            channels: self.channels,
            frames,
            time_to_first_chunk: us(&self.shared.first_chunk_us),
            time_to_first_pcm: us(&self.shared.first_pcm_us),
            latency_samples: hist.count(),
            latency_p50: hist.quantile(0.5),
            latency_p99: hist.quantile(0.99),
            latency_max: hist.quantile(1.0),
            stalls: self.shared.stalls.load(Relaxed),
            stalled: Duration::from_micros(self.shared.stalled_us.load(Relaxed)),
            underruns: self.shared.speaker_underruns(),
            jumps: self.shared.jumps.load(Relaxed),
            chunks: self.shared.chunks.load(Relaxed),
            decode_errors: decode.decode_errors,
            body_bytes,
            copied_bytes,
            ring_chunks: ring.chunks,
            ring_bytes: ring.bytes,
            rendition: self.shared.rendition.load(Relaxed),
        })
    }
}
