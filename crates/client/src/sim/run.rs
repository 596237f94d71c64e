//! The discrete-event loop: session ⇄ link ⇄ origin, plus a player model and QoE.

use super::link::Link;
use super::origin::{OriginConfig, PDT_EPOCH_UNIX, SimOrigin};
use super::trace::Trace;
use crate::abr::{AbrKind, Bitrate};
use crate::session::{
    Action, Chunk, Event, RequestId, Session, SessionConfig, SessionStats, TransportError,
};
use crate::time::Instant;
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, UNIX_EPOCH};

/// QoE weights (see [`QoeWeights::score`] for the formula).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QoeWeights {
    /// Penalty per second of rebuffering (MPC/Pensieve: 4.3).
    pub rebuffer: f64,
    /// Penalty per Mb/s of bit-rate change between consecutive parts.
    pub switch: f64,
    /// Penalty per part per second of latency.
    pub latency: f64,
}

impl Default for QoeWeights {
    fn default() -> Self {
        QoeWeights {
            rebuffer: 4.3,
            switch: 1.0,
            latency: 0.02,
        }
    }
}

/// Simulation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The origin.
    pub origin: OriginConfig,
    /// The session (its `abr` field is overridden by [`simulate`]'s argument).
    pub session: SessionConfig,
    /// How long to run (virtual time).
    pub duration: Duration,
    /// Seed for request loss.
    pub seed: u64,
    /// QoE weights.
    pub qoe: QoeWeights,
    /// Keep a log of requests, responses and chunks (at most [`LOG_CAP`] lines).
    pub log: bool,
    /// The player starts once this much audio is buffered (zero: at the first chunk),
    /// like a player that pre-buffers, so it plays further behind the live edge than
    /// where the session joined.
    pub start_buffer: Duration,
    /// What the player tells the session about its buffer.
    pub buffer_report: BufferReport,
    /// The player controls its playback rate (within [`MIN_RATE`]..=[`MAX_RATE`]) to hold
    /// the session's target latency plus one part (plus the stalls it has had), as the
    /// real player does; off: it plays at 1.0 whatever the latency.
    pub rate_control: bool,
}

/// What the simulated player reports to [`crate::Session::set_buffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BufferReport {
    /// Its exact buffer at every step.
    #[default]
    Exact,
    /// This value whatever it holds: a player whose report lags or is off, to check
    /// the session does not build on its own deferrals.
    Fixed(Duration),
}

/// Cap on [`SimReport::log`] lines.
pub const LOG_CAP: usize = 20_000;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            origin: OriginConfig::default(),
            session: SessionConfig::default(),
            duration: Duration::from_secs(90),
            seed: 7,
            qoe: QoeWeights::default(),
            log: false,
            start_buffer: Duration::ZERO,
            buffer_report: BufferReport::Exact,
            rate_control: true,
        }
    }
}

impl SimConfig {
    /// The comparison run of `docs/abr.md`: the defaults, for the trace's cycle or
    /// 60 s, whichever is longer.
    pub fn for_trace(trace: &Trace) -> SimConfig {
        SimConfig {
            duration: trace.cycle().max(Duration::from_secs(60)),
            ..SimConfig::default()
        }
    }

    /// Check the values are usable.
    pub fn validate(&self) -> Result<(), crate::Error> {
        self.origin.validate()?;
        self.session.validate()?;
        if self.duration.is_zero() {
            return Err(crate::Error::Config("simulation duration must be positive"));
        }
        Ok(())
    }
}

/// Results of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    /// ABR rule name.
    pub abr: &'static str,
    /// Trace name.
    pub trace: String,
    /// Media played (seconds).
    pub played: Duration,
    /// Mean bit rate of the played media, weighted by duration.
    pub mean_bitrate: Bitrate,
    /// Total stall time after playback started.
    pub rebuffer_time: Duration,
    /// Number of stalls.
    pub rebuffer_count: u32,
    /// Each stall: when it began (virtual time since the start) and how long it lasted.
    pub stall_log: Vec<(Duration, Duration)>,
    /// Time to first audio.
    pub startup: Duration,
    /// Bit-rate changes between consecutive played chunks.
    pub switches: u32,
    /// Mean latency (capture to playout) over played parts.
    pub mean_latency: Duration,
    /// QoE (see [`QoeWeights::score`]).
    pub qoe: f64,
    /// Session counters.
    pub stats: SessionStats,
    /// Chunks that arrived out of order or duplicated (must be 0).
    pub order_errors: u32,
    /// Bytes carried by the link.
    pub wire_bytes: u64,
    /// Event log (when [`SimConfig::log`]).
    pub log: Vec<String>,
    /// Every action the session emitted, with its time (when [`SimConfig::log`];
    /// at most [`LOG_CAP`]).
    pub actions: Vec<(Instant, Action)>,
}

impl QoeWeights {
    /// QoE over played chunks `n` (a chunk of duration `d_n` counts as
    /// `w_n = d_n / PART-TARGET` parts):
    ///
    /// `QoE = Σ w_n·R_n − rebuffer·T_rebuf − switch·Σ|R_n − R_(n−1)| − latency·Σ w_n·L_n`
    ///
    /// with `R_n` in Mb/s, `T_rebuf` in seconds (stalls after the first audio; the
    /// start-up delay is reported separately) and `L_n` the latency in seconds when
    /// chunk `n` starts playing.
    pub fn score(&self, played: &[(f64, f64, f64)], rebuffer: Duration) -> f64 {
        let mut q = 0.0;
        let mut prev: Option<f64> = None;
        for &(w, r, l) in played {
            q += w * r - self.latency * w * l;
            if let Some(p) = prev {
                q -= self.switch * (r - p).abs();
            }
            prev = Some(r);
        }
        q - self.rebuffer * rebuffer.as_secs_f64()
    }
}

#[derive(Debug)]
enum SimEvent {
    /// The server starts sending at this time.
    Send {
        id: RequestId,
        status: u16,
        body: Bytes,
        wire: u64,
    },
    /// Response fully received.
    Deliver {
        id: RequestId,
        status: u16,
        body: Bytes,
        wire: u64,
        first: Instant,
    },
    /// Connection reset.
    Reset { id: RequestId },
}

/// Player model: a FIFO of chunks played at a controlled rate; stalls when empty.
///
/// The rate follows the real player's latency control (`aulos_decode::LatencyController`,
/// which this crate cannot depend on: decode sits beside the client, not under it):
/// up to [`MAX_RATE`] when behind the target latency, down to [`MIN_RATE`] when ahead of
/// it or when the buffer runs low.
#[derive(Debug, Default)]
struct Player {
    queue: VecDeque<(Duration, f64, Duration)>, // (duration, Mb/s, capture start)
    /// Playing chunk: remaining duration (media time).
    current_left: Duration,
    /// Playing chunk: duration and capture start.
    current: Option<(Duration, Duration)>,
    started: Option<Instant>,
    stalled_since: Option<Instant>,
    rebuffer: Duration,
    stalls: u32,
    stall_log: Vec<(Duration, Duration)>,
    played: Vec<(f64, f64, f64)>,
    now: Instant,
    /// Buffer needed before the first chunk plays.
    start_buffer: Duration,
    /// Playback rate (media seconds per wall second).
    rate: f64,
    /// Latency the rate control aims at (zero: rate control off, play at 1.0).
    target: Duration,
    /// Rate control is catching up (hysteresis, as in the real controller).
    catching_up: bool,
    /// Added to the target after stalls ([`crate::stall_cushion`]).
    cushion: Duration,
}

/// Fastest playback rate (the real player's bound: pitch shift stays inaudible).
pub const MAX_RATE: f64 = 1.05;
/// Slowest playback rate.
pub const MIN_RATE: f64 = 0.95;

impl Player {
    fn buffer(&self) -> Duration {
        self.current_left + self.queue.iter().map(|q| q.0).sum::<Duration>()
    }

    /// Wall clock minus capture time of the audio playing now.
    fn latency(&self) -> Option<Duration> {
        let (d, cap) = self.current?;
        let pos = cap + d.saturating_sub(self.current_left);
        Some(self.now.since_epoch().saturating_sub(pos))
    }

    /// Rate for the next stretch (see the struct docs).
    fn control(&mut self, unit: Duration) {
        self.rate = 1.0;
        if self.target.is_zero() {
            return;
        }
        let Some(lat) = self.latency() else { return };
        let dead = (unit / 4).clamp(Duration::from_millis(20), Duration::from_millis(100));
        let full = (unit * 2).max(dead * 2).as_secs_f64();
        let err = lat.as_secs_f64() - (self.target + self.cushion).as_secs_f64();
        let smooth = |x: f64| {
            let x = x.clamp(0.0, 1.0);
            x * x * (3.0 - 2.0 * x)
        };
        if err > dead.as_secs_f64() {
            self.catching_up = true;
        } else if err <= 0.0 {
            self.catching_up = false;
        }
        if self.catching_up {
            self.rate = (1.0 + (MAX_RATE - 1.0) * smooth(err / full)).max(1.01);
        } else if err < -dead.as_secs_f64() {
            self.rate = 1.0 - (1.0 - MIN_RATE) * smooth(-err / full);
        }
        // A low buffer is about to stall: slow down whatever the latency says
        // (LoL+'s buffer-aware playback rate).
        let low = unit * 2;
        let buf = self.buffer();
        if buf < low {
            let r = MIN_RATE + (1.0 - MIN_RATE) * buf.as_secs_f64() / low.as_secs_f64();
            self.rate = self.rate.min(r);
        }
    }

    fn start_next(&mut self, at: Instant, unit: Duration) {
        if let Some((d, r, cap)) = self.queue.pop_front() {
            let latency = at.since_epoch().saturating_sub(cap);
            self.played.push((
                d.as_secs_f64() / unit.as_secs_f64(),
                r,
                latency.as_secs_f64(),
            ));
            self.current_left = d;
            self.current = Some((d, cap));
        }
    }

    /// Advance the clock to `to`.
    fn advance(&mut self, to: Instant, unit: Duration) {
        // Bounded: each iteration consumes one chunk or ends.
        for _ in 0..100_000 {
            if self.started.is_none() || self.stalled_since.is_some() || to <= self.now {
                break;
            }
            self.control(unit);
            let span = to - self.now;
            let media = span.mul_f64(self.rate);
            if self.current_left > media {
                self.current_left -= media;
                self.now = to;
                break;
            }
            self.now += self.current_left.div_f64(self.rate);
            self.current_left = Duration::ZERO;
            if self.queue.is_empty() {
                self.stalled_since = Some(self.now);
                self.stalls += 1;
                break;
            }
            let now = self.now;
            self.start_next(now, unit);
        }
        self.now = to;
    }

    fn push(&mut self, now: Instant, chunk: (Duration, f64, Duration), unit: Duration) {
        self.queue.push_back(chunk);
        if self.started.is_none() && self.buffer() >= self.start_buffer {
            self.started = Some(now);
            self.now = now;
            self.start_next(now, unit);
        } else if let Some(s) = self.stalled_since.take() {
            self.rebuffer += now - s;
            self.stall_log.push((s.since_epoch(), now - s));
            self.cushion = crate::session::stall_cushion(self.cushion, now - s, unit);
            self.now = now;
            self.start_next(now, unit);
        }
    }

    /// When the buffer runs dry if nothing arrives.
    fn dry_at(&self) -> Option<Instant> {
        (self.started.is_some() && self.stalled_since.is_none())
            .then(|| self.now + self.buffer().div_f64(self.rate.max(MIN_RATE)))
    }
}

/// [`simulate`] with `abr` over every trace, each with [`SimConfig::for_trace`], on
/// two threads; the reports in trace order.
pub fn simulate_all(traces: &[Trace], abr: AbrKind) -> Vec<SimReport> {
    let run = |ts: &[Trace]| -> Vec<SimReport> {
        ts.iter()
            .map(|t| simulate(t, abr, &SimConfig::for_trace(t)))
            .collect()
    };
    let (a, b) = traces.split_at(traces.len().div_ceil(2));
    std::thread::scope(|s| {
        let first = s.spawn(|| run(a));
        let second = run(b);
        let mut out = first.join().expect("simulation thread");
        out.extend(second);
        out
    })
}

/// Run one session with `abr` over `trace`. An invalid config yields an empty report
/// (nothing played); call [`SimConfig::validate`] first to see why.
pub fn simulate(trace: &Trace, abr: AbrKind, cfg: &SimConfig) -> SimReport {
    let mut origin = SimOrigin::new(cfg.origin.clone());
    let mut link = Link::new(trace.clone());
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    let unit = cfg.origin.part_target;
    let mut scfg = cfg.session.clone();
    scfg.abr = abr;
    let abr_name = abr.build().name();
    let end = Instant::from_epoch(cfg.duration);
    let mut now = Instant::ZERO;
    let mut report = SimReport {
        abr: abr_name,
        trace: trace.name.clone(),
        played: Duration::ZERO,
        mean_bitrate: Bitrate(0),
        rebuffer_time: Duration::ZERO,
        rebuffer_count: 0,
        stall_log: Vec::new(),
        startup: Duration::ZERO,
        switches: 0,
        mean_latency: Duration::ZERO,
        qoe: 0.0,
        stats: SessionStats::default(),
        order_errors: 0,
        wire_bytes: 0,
        log: Vec::new(),
        actions: Vec::new(),
    };
    let log = |report: &mut SimReport, line: String| {
        if cfg.log && report.log.len() < LOG_CAP {
            report.log.push(line);
        }
    };
    if cfg.validate().is_err() {
        return report;
    }
    let Ok(mut session) = Session::new("http://sim/main.m3u8", scfg, now) else {
        return report;
    };
    let ladder: Vec<Bitrate> = cfg.origin.renditions.clone();
    let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut events: HashMap<u64, SimEvent> = HashMap::new();
    let mut seq = 0u64;
    let mut cancelled: HashSet<RequestId> = HashSet::new();
    let mut player = Player {
        start_buffer: cfg.start_buffer,
        ..Player::default()
    };
    let mut last_key: Option<(u64, u32)> = None;
    let one_way = link.one_way();
    let pdt_epoch = UNIX_EPOCH + Duration::from_secs(PDT_EPOCH_UNIX);
    let running = cfg.origin.running_for;
    // Bounded main loop: every iteration handles one event or timer.
    for _ in 0..2_000_000 {
        // 1. Perform the session's actions.
        while let Some(a) = session.poll_action() {
            if cfg.log {
                let line = match &a {
                    Action::Request(r) => format!(
                        "{:>9.3} REQ {} {}",
                        now.since_epoch().as_secs_f64(),
                        r.id.0,
                        r.url
                    ),
                    Action::Chunk(c) => format!(
                        "{:>9.3} CHUNK r{} {}.{:?} buf={:.3} lat={:.3} target={:.3} rate={:.3}",
                        now.since_epoch().as_secs_f64(),
                        c.rendition,
                        c.msn,
                        c.part,
                        player.buffer().as_secs_f64(),
                        player.latency().unwrap_or_default().as_secs_f64(),
                        (player.target + player.cushion).as_secs_f64(),
                        player.rate,
                    ),
                    other => format!(
                        "{:>9.3} {:?} est={:?}",
                        now.since_epoch().as_secs_f64(),
                        other,
                        session.bandwidth_estimate()
                    ),
                };
                log(&mut report, line);
                if report.actions.len() < LOG_CAP {
                    report.actions.push((now, a.clone()));
                }
            }
            match a {
                Action::Request(r) => {
                    if rng.f64() < trace.loss {
                        events.insert(seq, SimEvent::Reset { id: r.id });
                        heap.push(Reverse((now + trace.rtt, seq)));
                        seq += 1;
                        continue;
                    }
                    let rep = origin.respond(&r.url, now + one_way);
                    events.insert(
                        seq,
                        SimEvent::Send {
                            id: r.id,
                            status: rep.status,
                            body: rep.body,
                            wire: rep.wire_bytes,
                        },
                    );
                    heap.push(Reverse((rep.ready_at, seq)));
                    seq += 1;
                }
                Action::Cancel(id) => {
                    cancelled.insert(id);
                }
                Action::Chunk(c) => {
                    let Chunk {
                        rendition,
                        msn,
                        part,
                        duration,
                        program_date_time,
                        ..
                    } = c;
                    let key = (msn, part.unwrap_or(0));
                    if last_key.is_some_and(|k| k >= key) && !c.discontinuity {
                        report.order_errors += 1;
                    }
                    last_key = Some(key);
                    // Capture time of the chunk's first sample, in simulator time.
                    let cap = program_date_time
                        .and_then(|t| t.duration_since(pdt_epoch).ok())
                        .unwrap_or_else(|| origin.part_start(msn, part.unwrap_or(0)))
                        .saturating_sub(running);
                    let r = ladder.get(rendition).map(|b| b.mbps()).unwrap_or(0.0);
                    player.advance(now, unit);
                    player.push(now, (duration, r, cap), unit);
                }
                Action::Ended | Action::Failed(_) => {}
                Action::Switched { .. } | Action::JumpedToLive { .. } => {}
            }
        }
        // 2. Next thing to happen.
        let next_ev = heap.peek().map(|Reverse((t, _))| *t);
        let next = [next_ev, session.poll_timeout(), player.dry_at()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|t| *t <= end) else {
            break;
        };
        now = next.max(now);
        player.advance(now, unit);
        if cfg.rate_control {
            player.target = session
                .target_latency()
                .map_or(Duration::ZERO, |t| t + unit);
        }
        session.set_buffer(match cfg.buffer_report {
            BufferReport::Exact => player.buffer(),
            BufferReport::Fixed(b) => b,
        });
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle(now, Event::Timeout);
            continue;
        }
        if next_ev != Some(next) {
            continue; // a player stall; nothing for the session
        }
        let Some(Reverse((_, k))) = heap.pop() else {
            continue;
        };
        let Some(ev) = events.remove(&k) else {
            continue;
        };
        match ev {
            SimEvent::Send {
                id,
                status,
                body,
                wire,
            } => {
                if cancelled.contains(&id) {
                    continue; // the client reset the stream; nothing sent
                }
                let d = link.send(now, wire);
                report.wire_bytes += wire;
                events.insert(
                    seq,
                    SimEvent::Deliver {
                        id,
                        status,
                        body,
                        wire,
                        first: d.first_byte,
                    },
                );
                heap.push(Reverse((d.last_byte, seq)));
                seq += 1;
            }
            SimEvent::Deliver {
                id,
                status,
                body,
                wire,
                first,
            } => {
                if cancelled.remove(&id) {
                    continue;
                }
                let header_bytes = cfg.origin.response_overhead.min(wire);
                let encoded_len = Some(wire - header_bytes);
                log(
                    &mut report,
                    format!(
                        "{:>9.3} RESP {} {status} {}B",
                        now.since_epoch().as_secs_f64(),
                        id.0,
                        body.len()
                    ),
                );
                session.handle(
                    now,
                    Event::Response {
                        id,
                        status,
                        body,
                        header_bytes,
                        encoded_len,
                        first_byte: first,
                        last_byte: now,
                        first_read_bytes: 0,
                    },
                );
            }
            SimEvent::Reset { id } => {
                if !cancelled.remove(&id) {
                    session.handle(
                        now,
                        Event::Failed {
                            id,
                            error: TransportError::Connection,
                        },
                    );
                }
            }
        }
    }
    player.advance(end, unit);
    if let Some(s) = player.stalled_since {
        player.rebuffer += end - s;
        player.stall_log.push((s.since_epoch(), end - s));
    }
    let total_w: f64 = player.played.iter().map(|p| p.0).sum();
    report.played = unit.mul_f64(total_w);
    if total_w > 0.0 {
        report.mean_bitrate =
            Bitrate((player.played.iter().map(|p| p.0 * p.1).sum::<f64>() / total_w * 1e6) as u64);
        report.mean_latency =
            Duration::from_secs_f64(player.played.iter().map(|p| p.0 * p.2).sum::<f64>() / total_w);
    }
    report.switches = player
        .played
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .count() as u32;
    report.rebuffer_time = player.rebuffer;
    report.rebuffer_count = player.stalls;
    report.stall_log = std::mem::take(&mut player.stall_log);
    report.startup = player
        .started
        .map(|s| s.since_epoch())
        .unwrap_or(cfg.duration);
    report.qoe = cfg.qoe.score(&player.played, player.rebuffer);
    report.stats = session.stats().clone();
    report
}
