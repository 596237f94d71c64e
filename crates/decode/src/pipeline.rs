//! The decode pipeline: bounded kanal channels around one decode thread.
//!
//! ```text
//! ChunkSender ──(bounded: chunk_capacity)──▶ decode thread ──(bounded: pcm_capacity)──▶ PcmReceiver ──▶ run_sink(Sink)
//!                                            demux → decode → resample
//! ```
//! Every queue is bounded: a slow sink fills the PCM channel, which stalls the decode thread,
//! which fills the chunk channel, which blocks (or, async, suspends) the producer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::chunk::{MediaChunk, PcmBlock};
use crate::codec::{CodecDecoder, Decoded};
use crate::demux::Demuxer;
use crate::error::{Error, Result};
use crate::latency::{LatencyAction, LatencyController};
use crate::resample::{OutputConverter, ResampleQuality};
use crate::sink::Sink;
use crate::stats::Stats;

/// Pipeline settings. `Default` is 48 kHz stereo, balanced resampling, rate control on.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Output sample rate in Hz.
    pub out_rate: u32,
    /// Output channels (1 or 2; mono input is copied to both).
    pub out_channels: u16,
    /// Resampler quality.
    pub quality: ResampleQuality,
    /// Allow [`PipelineHandle::set_playback_rate`] (always resample, even at equal rates).
    pub adaptive_rate: bool,
    /// Chunks queued before [`ChunkSender::send`] blocks.
    pub chunk_capacity: usize,
    /// PCM blocks queued before the decode thread blocks.
    pub pcm_capacity: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            out_rate: 48_000,
            out_channels: 2,
            quality: ResampleQuality::default(),
            adaptive_rate: true,
            chunk_capacity: 4,
            pcm_capacity: 4,
        }
    }
}

impl PipelineConfig {
    /// Checks the ranges; called by [`Pipeline::spawn`].
    pub fn validate(&self) -> Result<()> {
        if !(8_000..=384_000).contains(&self.out_rate) {
            return Err(Error::Config(format!(
                "out_rate {} outside 8000..=384000",
                self.out_rate
            )));
        }
        if !(1..=2).contains(&self.out_channels) {
            return Err(Error::Config("out_channels must be 1 or 2".into()));
        }
        if self.chunk_capacity == 0 || self.pcm_capacity == 0 {
            return Err(Error::Config(
                "channel capacities must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Sends media chunks into the pipeline (blocking or async); bounded.
#[derive(Debug, Clone)]
pub struct ChunkSender {
    tx: kanal::Sender<MediaChunk>,
}

impl ChunkSender {
    /// Sends a chunk, blocking while the pipeline is `chunk_capacity` chunks behind.
    pub fn send(&self, chunk: MediaChunk) -> Result<()> {
        self.tx.send(chunk).map_err(|_| Error::Closed)
    }

    /// Async variant of [`ChunkSender::send`] for tokio callers (suspends instead of blocking).
    pub async fn send_async(&self, chunk: MediaChunk) -> Result<()> {
        self.tx
            .as_async()
            .send(chunk)
            .await
            .map_err(|_| Error::Closed)
    }

    /// Chunks currently queued.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

/// Receives decoded PCM blocks; bounded.
#[derive(Debug, Clone)]
pub struct PcmReceiver {
    rx: kanal::Receiver<PcmBlock>,
}

impl PcmReceiver {
    /// Next block; `None` once the pipeline has finished (sender dropped and drained).
    pub fn recv(&self) -> Option<PcmBlock> {
        self.rx.recv().ok()
    }

    /// Next block, waiting at most `timeout`; `Err(Closed)` when finished, `Ok(None)` on timeout.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<PcmBlock>> {
        match self.rx.recv_timeout(timeout) {
            Ok(b) => Ok(Some(b)),
            Err(kanal::ReceiveErrorTimeout::Timeout) => Ok(None),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Async variant of [`PcmReceiver::recv`].
    pub async fn recv_async(&self) -> Option<PcmBlock> {
        self.rx.as_async().recv().await.ok()
    }

    /// Blocks currently queued.
    pub fn queued(&self) -> usize {
        self.rx.len()
    }
}

/// Control and observation of a running pipeline.
#[derive(Debug)]
pub struct PipelineHandle {
    stats: Arc<Stats>,
    rate_bits: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl PipelineHandle {
    /// Shared counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Playback rate for the next chunks (clamped to 0.95..=1.05 by the caller's controller;
    /// ignored when `adaptive_rate` is off and rates match).
    pub fn set_playback_rate(&self, rate: f64) {
        self.rate_bits.store(rate.to_bits(), Relaxed);
    }

    /// The playback rate last set.
    pub fn playback_rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Relaxed))
    }

    /// Waits for the decode thread to finish (after the [`ChunkSender`]s are dropped).
    pub fn join(mut self) -> Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| Error::Config("decode thread panicked".into())),
            None => Ok(()),
        }
    }
}

/// Entry point: spawns the decode thread.
#[derive(Debug)]
pub struct Pipeline;

impl Pipeline {
    /// Starts a pipeline; drop the [`ChunkSender`] to flush and end it.
    ///
    /// ```no_run
    /// use aulos_decode::{MediaChunk, NullSink, Pipeline, PipelineConfig, run_sink};
    /// let (tx, rx, handle) = Pipeline::spawn(PipelineConfig::default())?;
    /// std::thread::spawn(move || {
    ///     let _ = tx.send(MediaChunk::new(std::fs::read("seg.aac").unwrap()));
    /// });
    /// let mut sink = NullSink::unpaced();
    /// run_sink(&rx, &mut sink, &handle, None, |_| {})?;
    /// # Ok::<(), aulos_decode::Error>(())
    /// ```
    pub fn spawn(cfg: PipelineConfig) -> Result<(ChunkSender, PcmReceiver, PipelineHandle)> {
        cfg.validate()?;
        let (ctx, crx) = kanal::bounded::<MediaChunk>(cfg.chunk_capacity);
        let (ptx, prx) = kanal::bounded::<PcmBlock>(cfg.pcm_capacity);
        let stats = Arc::new(Stats::default());
        let rate_bits = Arc::new(AtomicU64::new(1.0f64.to_bits()));
        let worker = DecodeStage::new(&cfg, stats.clone(), rate_bits.clone());
        let thread = std::thread::Builder::new()
            .name("aulos-decode".into())
            .spawn(move || worker.run(crx, ptx))
            .map_err(|e| Error::Config(format!("cannot spawn decode thread: {e}")))?;
        Ok((
            ChunkSender { tx: ctx },
            PcmReceiver { rx: prx },
            PipelineHandle {
                stats,
                rate_bits,
                thread: Some(thread),
            },
        ))
    }
}

/// Synchronous decode core (also usable without threads, e.g. in benches).
#[derive(Debug)]
pub struct DecodeStage {
    out_rate: u32,
    out_channels: u16,
    demux: Demuxer,
    decoder: CodecDecoder,
    conv: OutputConverter,
    stats: Arc<Stats>,
    rate_bits: Arc<AtomicU64>,
    aus: Vec<crate::codec::AccessUnit>,
    decoded: Decoded,
    /// End of the last emitted block: (pts, pdt), for the flushed tail's timing.
    last_end: Option<(Duration, Option<SystemTime>)>,
    /// Output samples per access unit in the last chunk: sizes the next block's `Vec`
    /// up front. Grown AU by AU, a 200 ms stereo block ended in a 128 KiB allocation
    /// for 75 KiB of audio, and the PCM queue holds several blocks (player RSS).
    samples_per_au: usize,
}

fn shift_back(t: Option<SystemTime>, d: Duration) -> Option<SystemTime> {
    t.and_then(|t| t.checked_sub(d))
}

impl DecodeStage {
    /// A stage with the pipeline's output format; `stats` receives the counters.
    pub fn new(cfg: &PipelineConfig, stats: Arc<Stats>, rate_bits: Arc<AtomicU64>) -> Self {
        Self {
            out_rate: cfg.out_rate,
            out_channels: cfg.out_channels,
            demux: Demuxer::default(),
            decoder: CodecDecoder::new(),
            conv: OutputConverter::new(
                cfg.out_rate,
                cfg.out_channels,
                cfg.quality,
                cfg.adaptive_rate,
            ),
            stats,
            rate_bits,
            aus: Vec::new(),
            decoded: Decoded::default(),
            last_end: None,
            samples_per_au: 0,
        }
    }

    fn run(mut self, rx: kanal::Receiver<MediaChunk>, tx: kanal::Sender<PcmBlock>) {
        while let Ok(chunk) = rx.recv() {
            let mut blocks = Vec::with_capacity(2);
            self.process(&chunk, &mut blocks);
            for b in blocks {
                if tx.send(b).is_err() {
                    return; // receiver gone: nobody wants the audio
                }
            }
        }
        if let Some(b) = self.finish() {
            let _ = tx.send(b);
        }
    }

    fn block(
        &mut self,
        samples: Vec<f32>,
        pts: Duration,
        pdt: Option<SystemTime>,
    ) -> Option<PcmBlock> {
        if samples.is_empty() {
            return None;
        }
        let b = PcmBlock {
            samples,
            channels: self.out_channels,
            rate: self.out_rate,
            pts,
            program_date_time: pdt,
        };
        let d = b.duration();
        self.last_end = Some((pts + d, pdt.map(|t| t + d)));
        self.stats.blocks.fetch_add(1, Relaxed);
        self.stats.frames.fetch_add(b.frames() as u64, Relaxed);
        Some(b)
    }

    /// Flushes buffered audio as a final block (end of stream).
    pub fn finish(&mut self) -> Option<PcmBlock> {
        let mut tail = Vec::new();
        if let Err(e) = self.conv.flush(&mut tail) {
            self.stats.record_error(&e);
        }
        let (pts, pdt) = self.last_end.unwrap_or_default();
        self.block(tail, pts, pdt)
    }

    /// Demuxes, decodes and resamples one chunk; appends the resulting block(s).
    ///
    /// Bad media is counted in [`Stats::decode_errors`] and skipped; never fails.
    pub fn process(&mut self, chunk: &MediaChunk, out: &mut Vec<PcmBlock>) {
        self.stats.chunks.fetch_add(1, Relaxed);
        if chunk.discontinuity {
            if let Some(b) = self.finish() {
                out.push(b);
            }
            self.demux.reset();
            self.decoder.reset();
            self.conv.reset();
        }
        let rate = f64::from_bits(self.rate_bits.load(Relaxed));
        if let Err(e) = self.conv.set_playback_rate(rate) {
            self.stats.record_error(&e);
        }
        self.aus.clear();
        let mut failed = false;
        if let Err(e) = self.demux.push(
            chunk.container,
            chunk.init.as_ref(),
            &chunk.data,
            &mut self.aus,
        ) {
            self.stats.record_error(&e);
            failed = true;
            self.demux.recover();
        }
        // Timing of the block: the converter's backlog plays before this chunk's first unit.
        let backlog = match self.conv.in_rate() {
            0 => Duration::ZERO,
            r => Duration::from_secs_f64(self.conv.pending_frames() as f64 / f64::from(r)),
        };
        let first_pts = self.aus.first().map(|a| a.pts);
        // Room for what the last chunk's units made, plus 1/16 for the adaptive rate
        // (±5 %) and the resampler's uneven chunking; a larger block still grows.
        let estimate = self.aus.len() * self.samples_per_au;
        let mut samples = Vec::with_capacity(estimate + estimate / 16);
        let aus = std::mem::take(&mut self.aus);
        for au in &aus {
            match self.decoder.decode(au, &mut self.decoded) {
                Ok(()) => {
                    if let Err(e) =
                        self.conv
                            .push(&self.decoded.planes, self.decoded.rate, &mut samples)
                    {
                        if !failed {
                            self.stats.record_error(&e);
                            failed = true;
                        }
                        self.conv.reset();
                    }
                }
                Err(e) => {
                    if !failed {
                        self.stats.record_error(&e);
                        failed = true;
                    }
                }
            }
        }
        if !aus.is_empty() && !samples.is_empty() {
            self.samples_per_au = samples.len().div_ceil(aus.len());
        }
        self.aus = aus;
        let (pts, pdt) = match first_pts {
            Some(p) => (
                p.saturating_sub(backlog),
                shift_back(chunk.program_date_time, backlog),
            ),
            None => self.last_end.unwrap_or_default(),
        };
        if let Some(b) = self.block(samples, pts, pdt) {
            out.push(b);
        }
    }
}

/// The sink stage: pulls blocks, runs latency control, writes to `sink` until the pipeline ends.
///
/// With a controller and blocks carrying a PDT, the playback rate is applied to the pipeline
/// via `handle` and a jump request is passed to `on_jump` (wire it to the client's
/// `jump_to_live`). Returns the number of frames written.
pub fn run_sink(
    pcm: &PcmReceiver,
    sink: &mut dyn Sink,
    handle: &PipelineHandle,
    mut latency: Option<&mut LatencyController>,
    mut on_jump: impl FnMut(Duration),
) -> Result<u64> {
    let mut frames = 0u64;
    while let Some(block) = pcm.recv() {
        if let (Some(ctrl), Some(pdt)) = (latency.as_deref_mut(), block.program_date_time) {
            // What plays now is what was queued in the sink before this block.
            let playing = pdt.checked_sub(sink.buffered()).unwrap_or(pdt);
            let d = ctrl.observe(SystemTime::now(), playing);
            handle
                .stats
                .latency_us
                .store(d.latency.as_micros() as u64, Relaxed);
            match d.action {
                LatencyAction::Rate(r) => handle.set_playback_rate(r),
                LatencyAction::Jump { latency } => {
                    handle.stats.jumps.fetch_add(1, Relaxed);
                    handle.set_playback_rate(1.0);
                    on_jump(latency);
                }
            }
        }
        sink.write(&block)?;
        frames += block.frames() as u64;
    }
    sink.finish()?;
    Ok(frames)
}
