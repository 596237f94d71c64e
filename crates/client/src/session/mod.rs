//! The sans-IO LL-HLS session: events in, actions out, time passed in.
//!
//! Usage (the driver's loop, like quinn-proto's `Connection`):
//! 1. [`Session::new`] — queues a request for the root URL.
//! 2. Drain [`Session::poll_action`]: perform requests, hand chunks to the decoder.
//! 3. Feed outcomes with [`Session::handle`]; call it with [`Event::Timeout`] when
//!    [`Session::poll_timeout`] is reached; report the player's buffer with
//!    [`Session::set_buffer`].
//!
//! The rules implemented, by checklist ID: C-START-01 (start at PART-HOLD-BACK /
//! HOLD-BACK), C-BLK-01/02 (blocking reloads, directive order), C-HINT-01/02 (hinted
//! part requested alongside the reload, cancelled when it disappears, reused when
//! listed), C-SKIP-01 (delta updates merged via `aulos-manifest`, full reload when the
//! merge fails or the copy is too old), C-SWITCH-01 (switch with the rendition report's
//! position in the first request), C-RELOAD-01/02/03 (plain live polling), C-DIS-01
//! (discontinuity flags), C-KEY-01 (AES-128), C-LL-01 (LL only if the server looks
//! LL-capable), M-VAR-06 (redundant variants), plus retries with jittered backoff and a
//! jump to the live edge when playback falls too far behind.

mod aes;
pub(crate) mod codec;
mod media;
mod outcome;
pub(crate) mod playlist;
mod reload;
mod types;

pub use playlist::ByteRange;
pub use types::{
    Action, Chunk, Event, Request, RequestId, RequestKind, SessionConfig, SwitchReason,
    TransportError,
};

use crate::abr::{AbrContext, AbrRule, Bitrate, TransferKind, TransferSample};
use crate::error::Error;
use crate::time::Instant;
use bytes::Bytes;
use playlist::{Key, KeyMethod, Map, MediaView, Parsed, Pos};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};
use url::Url;

/// Counters for tests, the simulator and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Playlist requests issued.
    pub playlist_requests: u64,
    /// Of which blocking (`_HLS_msn`).
    pub blocking_requests: u64,
    /// Of which delta (`_HLS_skip=YES`).
    pub delta_requests: u64,
    /// Delta updates that could not be merged (full reload followed).
    pub delta_merge_failures: u64,
    /// Media requests issued (parts, segments, hints, inits).
    pub media_requests: u64,
    /// Preload-hint requests issued.
    pub hint_requests: u64,
    /// Hint requests cancelled because the hint disappeared.
    pub hints_cancelled: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Failovers to another URI of the same rendition.
    pub failovers: u64,
    /// Rendition switches.
    pub switches: u64,
    /// Units given up on (skipped media).
    pub skipped_units: u64,
    /// Jumps to the live edge.
    pub live_jumps: u64,
    /// Chunks delivered.
    pub chunks: u64,
}

/// One rendition (variant) with its redundant URIs (M-VAR-06).
#[derive(Debug, Clone)]
struct Rendition {
    bandwidth: Bitrate,
    uris: Vec<Url>,
    active: usize,
    /// After its playlists kept failing: not chosen again before this time.
    dead_until: Option<Instant>,
}

impl Rendition {
    fn url(&self) -> &Url {
        &self.uris[self.active.min(self.uris.len() - 1)]
    }
}

/// The current rendition's playlist.
#[derive(Debug)]
struct Loaded {
    rendition: usize,
    url: Url,
    view: MediaView,
    raw: codec::Raw,
    changed: Instant,
    /// When our copy was last a complete (non-delta or merged) playlist.
    full_at: Instant,
    low_latency: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct PlaylistReq {
    rendition: usize,
    delta: bool,
    block: Option<(u64, Option<u32>)>,
    attempt: u32,
    /// Part of a rendition switch (or the first load).
    switch: bool,
    /// The switch is a failover (the previous rendition's playlist kept failing).
    failover: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct UnitMeta {
    duration: Duration,
    independent: bool,
    discontinuity: bool,
    pdt: Option<SystemTime>,
    map: Option<(Url, Map)>,
    key: Option<(Url, [u8; 16])>,
}

#[derive(Debug, Clone, PartialEq)]
struct MediaReq {
    pos: Pos,
    whole: bool,
    rendition: usize,
    url: Url,
    uri: String,
    range: Option<ByteRange>,
    attempt: u32,
    hint: bool,
    meta: Option<UnitMeta>,
}

#[derive(Debug, Clone, PartialEq)]
enum Pending {
    Root { attempt: u32 },
    Playlist(PlaylistReq),
    Media(Box<MediaReq>),
    Init(Url, Map, u32),
    Key(Url, u32),
}

#[derive(Debug)]
struct Ready {
    req: MediaReq,
    data: Bytes,
}

/// Most parts a blocking reload may ask beyond the last listed one (the Advance
/// Part Limit is 3 / PART-TARGET: 15 parts at 200 ms).
const MAX_RELOAD_LOOKAHEAD: u32 = 8;
/// The link counts as thin for the lowest rendition below this multiple of its
/// low-latency wire cost ([`Session::target_latency`]).
const THIN_LINK_MARGIN: f64 = 2.0;
/// Exponential average over the last few samples (weight ¼ to the newest); `None`: the
/// first sample.
fn recent_average(avg: Option<f64>, sample: f64) -> f64 {
    avg.map_or(sample, |a| a + 0.25 * (sample - a))
}

/// How long the thin-link latency target outlives the last thin measurement.
const THIN_LINK_HOLD: Duration = Duration::from_secs(10);

/// Media requests in flight while the link is slower than the current rendition
/// (see `Session::media_cap`).
const THIN_IN_FLIGHT: usize = 2;

/// How long a rendition whose playlists kept failing is left alone.
const DEAD_RENDITION_COOLDOWN: Duration = Duration::from_secs(30);

/// Small bounded cache (init sections, keys): at most `CACHE_CAP` entries, oldest
/// evicted first.
const CACHE_CAP: usize = 8;

/// Latency a player keeps above [`Session::target_latency`] after its stalls: `cushion`
/// so far plus what a stall of `stall` adds, for chunks of `part`.
///
/// A stall shows the buffer was thinner than the link needs, so the player does not
/// catch up the latency it cost, and takes at least two parts more: the length alone
/// (a 40 ms stall, then the next 40 ms one) left it on the same edge. hls.js does the
/// same with a whole second per stall (`liveSyncOnStallIncrease`), up to one target
/// duration. Bounded at 15 parts (3 s at 200 ms), so a long session's stalls do not
/// push it ever further back; `part` counts as at most 0.5 s (segment-only streams:
/// at most 1 s per stall, 7.5 s in all). The trace simulator's player and
/// `aulos-player` both use this (docs/abr.md: 167 → 126 stalls on links that always
/// carry the lowest rendition).
pub fn stall_cushion(cushion: Duration, stall: Duration, part: Duration) -> Duration {
    let part = part.min(Duration::from_millis(500));
    (cushion + stall.max(part * 2)).min(part * 15)
}

/// The LL-HLS client state machine (see module docs).
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    abr: Box<dyn AbrRule>,
    rng: fastrand::Rng,
    root: Url,
    renditions: Vec<Rendition>,
    current: usize,
    pl: Option<Loaded>,
    switch_to: Option<usize>,
    playlist_in_flight: Option<RequestId>,
    switch_in_flight: Option<RequestId>,
    reload_at: Option<Instant>,
    next_fetch: Option<Pos>,
    pending: HashMap<RequestId, (Instant, Pending)>,
    hint: Option<RequestId>,
    ready: BTreeMap<Pos, Ready>,
    retries: Vec<(Instant, Pending)>,
    inits: VecDeque<(Url, Map, Option<Bytes>)>,
    keys: VecDeque<(Url, Option<Bytes>)>,
    delivered_init: Option<(Url, Map)>,
    force_discontinuity: bool,
    last_delivered: Option<Pos>,
    jump_requested: bool,
    buffer: Duration,
    next_id: u64,
    actions: VecDeque<Action>,
    done: bool,
    last_status: Option<u16>,
    /// What a second of the current rendition's media costs on the wire (bits, headers
    /// and container framing included), averaged over its recent media responses:
    /// (rendition, bits per media second).
    wire_rate: Option<(usize, f64)>,
    /// Wire bytes of a blocking playlist reload (average of recent ones).
    playlist_wire: Option<f64>,
    /// The link is thin for the lowest rendition in low-latency mode until then
    /// (see [`Session::target_latency`]).
    thin_until: Option<Instant>,
    /// Time of the latest event.
    last_now: Instant,
    /// Throughput of the last completed media response, bits/s (wire bytes over first
    /// to last byte).
    last_media_rate: Option<f64>,
    stats: SessionStats,
}

/// The AES-128 IV used when the KEY tag has none: the MSN, big-endian (C-KEY-01).
pub fn iv_for_msn(msn: u64) -> [u8; 16] {
    aes::iv_for(None, msn)
}

fn resolve(base: &Url, rel: &str) -> Result<Url, Error> {
    let u = base.join(rel).map_err(|e| Error::Url {
        url: rel.to_string(),
        reason: e.to_string(),
    })?;
    match u.scheme() {
        "http" | "https" => Ok(u),
        s => Err(Error::UnsupportedScheme(s.to_string())),
    }
}

/// The playlist URL with our delivery directives, in the order C-BLK-02 requires
/// (`_HLS_msn`, `_HLS_part`, `_HLS_skip`); any `_HLS_` parameters already in the URL
/// are replaced, other parameters kept.
pub(crate) fn directive_url(base: &Url, block: Option<(u64, Option<u32>)>, skip: bool) -> Url {
    let mut u = base.clone();
    let kept: Vec<(String, String)> = base
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("_HLS_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.set_query(None);
    let mut extra: Vec<(&str, String)> = Vec::new();
    if let Some((msn, part)) = block {
        extra.push(("_HLS_msn", msn.to_string()));
        if let Some(p) = part {
            extra.push(("_HLS_part", p.to_string()));
        }
    }
    if skip {
        extra.push(("_HLS_skip", "YES".to_string()));
    }
    if !kept.is_empty() || !extra.is_empty() {
        let mut q = u.query_pairs_mut();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in &extra {
            q.append_pair(k, v);
        }
    }
    u
}

impl Session {
    /// Start a session for `url` (a multivariant or media playlist).
    ///
    /// ```
    /// use aulos_client::{Action, Event, Instant, Session, SessionConfig};
    /// let mut s = Session::new("http://o/live.m3u8", SessionConfig::default(), Instant::ZERO)?;
    /// let Some(Action::Request(req)) = s.poll_action() else { panic!("first action is a request") };
    /// assert_eq!(req.url.as_str(), "http://o/live.m3u8");
    /// // The driver performs it and reports back; a 404 is retried after a backoff.
    /// let t = Instant::ZERO;
    /// let body = bytes::Bytes::new();
    /// s.handle(t, Event::Response { id: req.id, status: 404, body, header_bytes: 0, encoded_len: None, first_byte: t, last_byte: t, first_read_bytes: 0 });
    /// assert!(s.poll_timeout().is_some());
    /// # Ok::<(), aulos_client::Error>(())
    /// ```
    pub fn new(url: &str, cfg: SessionConfig, now: Instant) -> Result<Self, Error> {
        cfg.validate()?;
        let root = Url::parse(url).map_err(|e| Error::Url {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(root.scheme(), "http" | "https") {
            return Err(Error::UnsupportedScheme(root.scheme().to_string()));
        }
        let mut s = Session {
            abr: cfg.abr.build(),
            rng: fastrand::Rng::with_seed(cfg.seed),
            cfg,
            root,
            renditions: Vec::new(),
            current: 0,
            pl: None,
            switch_to: None,
            playlist_in_flight: None,
            switch_in_flight: None,
            reload_at: None,
            next_fetch: None,
            pending: HashMap::new(),
            hint: None,
            ready: BTreeMap::new(),
            retries: Vec::new(),
            inits: VecDeque::new(),
            keys: VecDeque::new(),
            delivered_init: None,
            force_discontinuity: false,
            last_delivered: None,
            jump_requested: false,
            buffer: Duration::ZERO,
            next_id: 0,
            actions: VecDeque::new(),
            done: false,
            last_status: None,
            wire_rate: None,
            playlist_wire: None,
            thin_until: None,
            last_now: now,
            last_media_rate: None,
            stats: SessionStats::default(),
        };
        let root = s.root.clone();
        s.request(
            now,
            root,
            None,
            RequestKind::Root,
            Pending::Root { attempt: 0 },
        );
        Ok(s)
    }

    /// Next action to perform, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call `handle(now, Event::Timeout)` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let retry = self.retries.iter().map(|r| r.0).min();
        match (retry, self.reload_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Report how much media the player has buffered ahead of its playhead.
    pub fn set_buffer(&mut self, buffer: Duration) {
        self.buffer = buffer;
    }

    /// Jump to the live edge (PART-HOLD-BACK / HOLD-BACK from the end) at the next
    /// step, e.g. when the player's latency controller gives up catching up.
    /// Media before the new position is cancelled; the next chunk is flagged as a
    /// discontinuity. No effect for VOD or when already at the edge.
    pub fn jump_to_live(&mut self, now: Instant) {
        self.jump_requested = true;
        self.pump(now);
    }

    /// Counters.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Rendition currently fetched.
    pub fn current_rendition(&self) -> usize {
        self.current
    }

    /// Advertised bandwidths of the renditions, ascending.
    pub fn ladder(&self) -> Vec<Bitrate> {
        self.renditions.iter().map(|r| r.bandwidth).collect()
    }

    /// The ABR rule's bandwidth estimate.
    pub fn bandwidth_estimate(&self) -> Option<Bitrate> {
        self.abr.estimate()
    }

    /// True once the session ended or failed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the current playlist is followed in low-latency mode.
    pub fn is_low_latency(&self) -> bool {
        self.pl.as_ref().is_some_and(|p| p.low_latency)
    }

    /// How far behind the end of the playlist the stream asks players to stay: its
    /// PART-HOLD-BACK when following in low-latency mode (default 3 × PART-TARGET),
    /// else its HOLD-BACK (default 3 × TARGETDURATION) (C-START-01). `None` before
    /// the first media playlist and for a stream that has ended. A player's latency
    /// target starts from this.
    pub fn hold_back(&self) -> Option<Duration> {
        let pl = self.pl.as_ref()?;
        let v = &pl.view;
        if v.ended {
            return None;
        }
        match v.part_hold_back_or_default() {
            Some(h) if pl.low_latency => Some(h),
            _ => Some(v.hold_back_or_default()),
        }
    }

    /// Folds one media response into [`Session::wire_rate`].
    fn note_wire_cost(&mut self, m: &MediaReq, wire_bytes: u64) {
        let Some(d) = m.meta.as_ref().map(|u| u.duration).filter(|d| !d.is_zero()) else {
            return;
        };
        let sample = wire_bytes as f64 * 8.0 / d.as_secs_f64();
        self.wire_rate = Some(match self.wire_rate {
            Some((r, avg)) if r == m.rendition => (r, recent_average(Some(avg), sample)),
            _ => (m.rendition, sample),
        });
    }

    /// Whether the link is thin for the lowest rendition at low latency: on it (nothing
    /// lower to switch to) with a throughput estimate under [`THIN_LINK_MARGIN`] × what
    /// it costs with one blocking reload per part. Stays set for [`THIN_LINK_HOLD`].
    fn note_thin_link(&mut self, now: Instant) {
        self.last_now = now;
        let Some(pl) = self
            .pl
            .as_ref()
            .filter(|p| p.low_latency && p.rendition == 0)
        else {
            return;
        };
        let (Some(pd), Some(est), Some((0, media)), Some(reload)) = (
            pl.view.part_target,
            self.abr.estimate(),
            self.wire_rate,
            self.playlist_wire,
        ) else {
            return;
        };
        let ll_cost = media + reload * 8.0 / pd.as_secs_f64().max(1e-3);
        if (est.bps() as f64) < THIN_LINK_MARGIN * ll_cost && self.current == 0 {
            self.thin_until = Some(now + THIN_LINK_HOLD);
        }
    }

    /// The latency a player should hold: [`Session::hold_back`], plus
    /// [`MAX_RELOAD_LOOKAHEAD`] parts while the link is thin for the lowest rendition.
    ///
    /// With no lower rendition to switch to, audio buffered is the only protection left
    /// against the link falling further, and at low latency a fall below the cost of a
    /// reload per part cannot be met by switching at all: only by reloading less often,
    /// which needs that many parts of audio in hand ([`Session::request_reload`]).
    /// Built up while the link still carries the stream (the player slows down a few
    /// per cent), that buffer turns the next drop into a longer reload interval
    /// instead of a stall. Without it, the same latency is gained later by stalling.
    pub fn target_latency(&self) -> Option<Duration> {
        let hold = self.hold_back()?;
        let pd = self.pl.as_ref().and_then(|p| p.view.part_target);
        match (pd, self.thin_until) {
            (Some(pd), Some(t)) if t > self.last_now => Some(hold + pd * MAX_RELOAD_LOOKAHEAD),
            _ => Some(hold),
        }
    }

    /// Estimated latency: media listed after the next unit to deliver, plus the buffer.
    pub fn latency(&self) -> Option<Duration> {
        let pl = self.pl.as_ref()?;
        let pos = self.delivery_frontier()?;
        Some(pl.view.duration_from(pos, false) + self.buffer)
    }

    /// Feed one event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        if self.done {
            return;
        }
        match event {
            Event::Response {
                id,
                status,
                body,
                header_bytes,
                encoded_len,
                first_byte,
                last_byte,
                first_read_bytes,
            } => {
                let Some((sent, p)) = self.pending.remove(&id) else {
                    return;
                };
                if self.hint == Some(id) {
                    self.hint = None;
                }
                if self.playlist_in_flight == Some(id) {
                    self.playlist_in_flight = None;
                }
                if self.switch_in_flight == Some(id) {
                    self.switch_in_flight = None;
                }
                self.last_status = Some(status);
                let kind = match p {
                    Pending::Root { .. } | Pending::Playlist(_) | Pending::Key(..) => {
                        TransferKind::Playlist
                    }
                    _ => TransferKind::Media,
                };
                if (200..300).contains(&status) {
                    let bytes = encoded_len.unwrap_or(body.len() as u64);
                    self.abr.on_transfer(&TransferSample {
                        kind,
                        bytes,
                        header_bytes,
                        requested: sent,
                        first_byte,
                        last_byte,
                        unit: matches!(p, Pending::Media(_)),
                        first_read_bytes,
                    });
                    match &p {
                        Pending::Media(m) => {
                            self.note_wire_cost(m, bytes + header_bytes);
                            let secs = last_byte.saturating_since(first_byte).as_secs_f64();
                            if secs > 0.0 {
                                let rate = (bytes + header_bytes) as f64 * 8.0 / secs;
                                self.last_media_rate = Some(rate);
                            }
                        }
                        Pending::Playlist(r) if r.block.is_some() => {
                            let b = (bytes + header_bytes) as f64;
                            self.playlist_wire = Some(recent_average(self.playlist_wire, b));
                        }
                        _ => {}
                    }
                    self.note_thin_link(now);
                    self.on_success(now, p, body);
                } else {
                    self.on_failure(now, p, Some(status), false);
                }
            }
            Event::Failed { id, error } => {
                let Some((_, p)) = self.pending.remove(&id) else {
                    return;
                };
                tracing::debug!(?error, "request failed");
                if self.hint == Some(id) {
                    self.hint = None;
                }
                if self.playlist_in_flight == Some(id) {
                    self.playlist_in_flight = None;
                }
                if self.switch_in_flight == Some(id) {
                    self.switch_in_flight = None;
                }
                let reset = error == TransportError::Connection;
                self.on_failure(now, p, None, reset);
            }
            Event::Timeout => {
                let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries)
                    .into_iter()
                    .partition(|r| r.0 <= now);
                self.retries = later;
                for (_, p) in due {
                    self.reissue(now, p);
                }
                if self.reload_at.is_some_and(|t| t <= now) {
                    self.reload_at = None;
                    self.check_stale(now);
                    self.request_reload(now, true);
                }
            }
        }
        self.pump(now);
    }

    fn request(
        &mut self,
        now: Instant,
        url: Url,
        range: Option<ByteRange>,
        kind: RequestKind,
        p: Pending,
    ) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let hold = if kind.may_block() {
            self.pl
                .as_ref()
                .map(|p| p.view.target_duration * 3)
                .unwrap_or(Duration::from_secs(6))
        } else {
            Duration::ZERO
        };
        match kind {
            RequestKind::Root | RequestKind::MediaPlaylist { .. } => {
                self.stats.playlist_requests += 1
            }
            RequestKind::Key => {}
            _ => self.stats.media_requests += 1,
        }
        if let RequestKind::MediaPlaylist {
            blocking, delta, ..
        } = kind
        {
            self.stats.blocking_requests += u64::from(blocking);
            self.stats.delta_requests += u64::from(delta);
        }
        if kind == RequestKind::HintedPart {
            self.stats.hint_requests += 1;
        }
        self.actions.push_back(Action::Request(Request {
            id,
            url,
            range,
            kind,
            deadline: now + self.cfg.request_timeout + hold,
        }));
        self.pending.insert(id, (now, p));
        id
    }

    fn fail(&mut self, e: Error) {
        tracing::warn!(error = %e, "session failed");
        self.actions.push_back(Action::Failed(e));
        self.done = true;
    }

    fn backoff(&mut self, attempt: u32) -> Duration {
        let exp = self.cfg.retry_base.saturating_mul(1u32 << attempt.min(16));
        exp.min(self.cfg.retry_max).mul_f64(0.5 + self.rng.f64())
    }

    fn schedule_retry(&mut self, now: Instant, p: Pending, attempt: u32) {
        self.stats.retries += 1;
        let at = now + self.backoff(attempt);
        self.retries.push((at, p));
    }

    /// Retry `p` (its `attempt`-th failure): at once for the first failure of a broken
    /// connection (see `on_failure`), otherwise after a backoff.
    fn retry(&mut self, now: Instant, p: Pending, attempt: u32, reset: bool) {
        if reset && attempt == 0 {
            self.stats.retries += 1;
            self.reissue(now, p);
        } else {
            self.schedule_retry(now, p, attempt);
        }
    }

    fn reissue(&mut self, now: Instant, p: Pending) {
        match p {
            Pending::Root { attempt } => {
                let root = self.root.clone();
                self.request(
                    now,
                    root,
                    None,
                    RequestKind::Root,
                    Pending::Root { attempt },
                );
            }
            Pending::Playlist(req) => self.send_playlist(now, req),
            Pending::Media(m) => self.send_media(now, *m),
            Pending::Init(u, m, a) => {
                let range = m.range;
                self.request(
                    now,
                    u.clone(),
                    range,
                    RequestKind::Init,
                    Pending::Init(u, m, a),
                );
            }
            Pending::Key(u, a) => {
                self.request(now, u.clone(), None, RequestKind::Key, Pending::Key(u, a));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_adds_its_length_or_two_parts_and_segments_count_as_half_a_second() {
        let ms = Duration::from_millis;
        assert_eq!(stall_cushion(ms(0), ms(30), ms(200)), ms(400));
        assert_eq!(stall_cushion(ms(400), ms(700), ms(200)), ms(1100));
        assert_eq!(stall_cushion(ms(2900), ms(30), ms(200)), ms(3000));
        // Segment-only stream (6 s chunks): 1 s per stall, 7.5 s at most.
        assert_eq!(stall_cushion(ms(0), ms(30), ms(6000)), ms(1000));
        assert_eq!(stall_cushion(ms(7000), ms(900), ms(6000)), ms(7500));
    }

    #[test]
    fn directive_order_and_existing_query() {
        // checklist C-BLK-02: _HLS_msn, then _HLS_part, then _HLS_skip.
        let base = Url::parse("http://h/live/a.m3u8?token=x&_HLS_msn=1").expect("url");
        let u = directive_url(&base, Some((12, Some(3))), true);
        assert_eq!(
            u.query(),
            Some("token=x&_HLS_msn=12&_HLS_part=3&_HLS_skip=YES")
        );
        let u = directive_url(&base, None, false);
        assert_eq!(u.query(), Some("token=x"));
        let plain = Url::parse("http://h/a.m3u8").expect("url");
        assert_eq!(
            directive_url(&plain, Some((5, None)), false).query(),
            Some("_HLS_msn=5")
        );
    }

    #[test]
    fn rejects_non_http() {
        assert!(matches!(
            Session::new("ftp://h/a.m3u8", SessionConfig::default(), Instant::ZERO),
            Err(Error::UnsupportedScheme(_))
        ));
        assert!(Session::new("not a url", SessionConfig::default(), Instant::ZERO).is_err());
    }

    /// A hand-written LL playlist: segment 10 complete (parts 0..3), segment 11 with
    /// `tail` parts, and a hint naming `hint`.
    fn ll_text(tail: u32, hint: &str) -> String {
        let mut t = String::from(
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-VERSION:9\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75\n\
             #EXT-X-PART-INF:PART-TARGET=0.25\n#EXT-X-MEDIA-SEQUENCE:10\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n",
        );
        for p in 0..4 {
            t += &format!("#EXT-X-PART:DURATION=0.25,URI=\"a10.{p}.mp4\",INDEPENDENT=YES\n");
        }
        t += "#EXTINF:1.0,\ns10.mp4\n";
        for p in 0..tail {
            t += &format!("#EXT-X-PART:DURATION=0.25,URI=\"a11.{p}.mp4\",INDEPENDENT=YES\n");
        }
        t += &format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"\n");
        t
    }

    fn at(ms: u64) -> Instant {
        Instant::from_epoch(Duration::from_millis(ms))
    }

    fn ok(id: RequestId, body: &str, t: Instant) -> Event {
        Event::Response {
            id,
            status: 200,
            body: Bytes::from(body.to_string()),
            header_bytes: 0,
            encoded_len: None,
            first_byte: t,
            last_byte: t,
            first_read_bytes: 0,
        }
    }

    fn drain(s: &mut Session) -> Vec<Action> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    fn reqs(actions: &[Action]) -> Vec<Request> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Request(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// A session (fixed rendition) that asked for `http://o/live.m3u8` and got
    /// `ll_text(1, "a11.1.mp4")`, and the requests it made on it.
    fn joined() -> (Session, Vec<Request>) {
        let cfg = SessionConfig {
            abr: crate::abr::AbrKind::Fixed(0),
            ..SessionConfig::default()
        };
        let mut s = Session::new("http://o/live.m3u8", cfg, at(0)).expect("session");
        let root = reqs(&drain(&mut s));
        assert_eq!(root.len(), 1);
        s.handle(at(10), ok(root[0].id, &ll_text(1, "a11.1.mp4"), at(10)));
        let r = reqs(&drain(&mut s));
        (s, r)
    }

    #[test]
    fn scripted_hint_cancelled_when_it_disappears() {
        // checklist C-START-01, C-HINT-01, C-HINT-02
        let (mut s, r) = joined();
        let paths: Vec<String> = r
            .iter()
            .map(|q| q.url.path().to_string() + "?" + q.url.query().unwrap_or(""))
            .collect();
        // Hold-back 0.75 s = 3 parts back from the end: a10.2, a10.3, a11.0; then the
        // hint and a blocking reload for (11, 1).
        for want in [
            "/a10.2.mp4?",
            "/a10.3.mp4?",
            "/a11.0.mp4?",
            "/a11.1.mp4?",
            "/live.m3u8?_HLS_msn=11&_HLS_part=1",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
        }
        assert!(
            !paths.iter().any(|p| p == "/a10.1.mp4?"),
            "nothing before the hold-back point"
        );
        let hint = r
            .iter()
            .find(|q| q.kind == RequestKind::HintedPart)
            .expect("hint requested");
        let reload = r
            .iter()
            .find(|q| matches!(q.kind, RequestKind::MediaPlaylist { .. }))
            .expect("reload");
        // The server changed its mind: (11, 1) is now announced under another name.
        let mut next = ll_text(2, "b11.2.mp4");
        next = next.replace("a11.1.mp4", "b11.1.mp4");
        s.handle(at(260), ok(reload.id, &next, at(260)));
        let acts = drain(&mut s);
        assert!(
            acts.contains(&Action::Cancel(hint.id)),
            "stale hint cancelled: {acts:?}"
        );
        assert_eq!(s.stats().hints_cancelled, 1);
        // ... and the part is fetched under its listed name instead.
        assert!(reqs(&acts).iter().any(|q| q.url.path() == "/b11.1.mp4"));
    }

    #[test]
    fn a_broken_connection_is_retried_at_once_then_with_backoff_an_http_error_never_at_once() {
        let (mut s, r) = joined();
        let find = |r: &[Request], path: &str| r.iter().find(|q| q.url.path() == path).cloned();
        let fail = |id| Event::Failed {
            id,
            error: TransportError::Connection,
        };
        // A listed part whose connection broke: asked again in the same instant.
        let part = find(&r, "/a10.2.mp4").expect("part requested");
        s.handle(at(50), fail(part.id));
        let again = find(&reqs(&drain(&mut s)), "/a10.2.mp4").expect("retried at once");
        // Broken again: now it waits for the backoff (100–300 ms at the defaults).
        s.handle(at(60), fail(again.id));
        assert!(find(&reqs(&drain(&mut s)), "/a10.2.mp4").is_none());
        let due = s.poll_timeout().expect("a retry timer");
        assert!(due >= at(160) && due <= at(360), "{due:?}");
        // The hinted part: asked again at once too, as a hint.
        let hint = find(&r, "/a11.1.mp4").expect("hint requested");
        s.handle(at(70), fail(hint.id));
        let h = find(&reqs(&drain(&mut s)), "/a11.1.mp4").expect("hint again at once");
        assert_eq!(h.kind, RequestKind::HintedPart);
        // An HTTP error is the server speaking: never retried in the same instant.
        let other = find(&r, "/a10.3.mp4").expect("part requested");
        s.handle(
            at(80),
            Event::Response {
                id: other.id,
                status: 503,
                body: Bytes::new(),
                header_bytes: 0,
                encoded_len: None,
                first_byte: at(80),
                last_byte: at(80),
                first_read_bytes: 0,
            },
        );
        assert!(find(&reqs(&drain(&mut s)), "/a10.3.mp4").is_none());
    }

    #[test]
    fn scripted_hint_reused_when_listed() {
        // checklist C-HINT-02: a hint download that covers a listed part is reused.
        let (mut s, r) = joined();
        let hint = r
            .iter()
            .find(|q| q.kind == RequestKind::HintedPart)
            .expect("hint")
            .clone();
        let reload = r
            .iter()
            .find(|q| matches!(q.kind, RequestKind::MediaPlaylist { .. }))
            .expect("reload")
            .clone();
        // The hinted part completes before the playlist that lists it.
        for q in r
            .iter()
            .filter(|q| matches!(q.kind, RequestKind::Part | RequestKind::Init))
        {
            s.handle(at(20), ok(q.id, "media", at(20)));
        }
        s.handle(at(255), ok(hint.id, "hinted", at(255)));
        s.handle(at(260), ok(reload.id, &ll_text(2, "a11.2.mp4"), at(260)));
        let acts = drain(&mut s);
        assert!(
            !reqs(&acts).iter().any(|q| q.url.path() == "/a11.1.mp4"),
            "not fetched twice"
        );
        let chunks: Vec<(u64, Option<u32>, Bytes)> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Chunk(c) => Some((c.msn, c.part, c.data.clone())),
                _ => None,
            })
            .collect();
        assert!(
            chunks
                .iter()
                .any(|c| c.0 == 11 && c.1 == Some(1) && &c.2[..] == b"hinted"),
            "{chunks:?}"
        );
        assert_eq!(s.stats().hints_cancelled, 0);
    }

    #[test]
    fn scripted_inconsistent_reload_halts() {
        // checklist C-RELOAD-03
        let (mut s, r) = joined();
        let reload = r
            .into_iter()
            .find(|q| matches!(q.kind, RequestKind::MediaPlaylist { .. }))
            .expect("reload");
        s.handle(
            at(20),
            ok(
                reload.id,
                &ll_text(2, "a11.2.mp4").replace("s10.mp4", "other10.mp4"),
                at(20),
            ),
        );
        let acts = drain(&mut s);
        assert!(
            acts.iter().any(|a| matches!(
                a,
                Action::Failed(Error::InconsistentPlaylist { msn: 10, .. })
            )),
            "{acts:?}"
        );
        assert!(s.is_done());
    }

    #[test]
    fn scripted_jump_to_live_on_request() {
        let (mut s, r) = joined();
        let reload = r
            .iter()
            .find(|q| matches!(q.kind, RequestKind::MediaPlaylist { .. }))
            .expect("reload");
        // Nothing at the edge moves; asking to jump changes nothing.
        s.jump_to_live(at(20));
        assert!(
            !drain(&mut s)
                .iter()
                .any(|a| matches!(a, Action::JumpedToLive { .. }))
        );
        // The media requests hang while the stream moves 2 s on: segment 11 is
        // complete and segment 12 is listed too.
        let mut later = ll_text(0, "a13.0.mp4");
        let parts11: String = (0..4)
            .map(|p| format!("#EXT-X-PART:DURATION=0.25,URI=\"a11.{p}.mp4\",INDEPENDENT=YES\n"))
            .collect();
        let parts12: String = (0..4)
            .map(|p| format!("#EXT-X-PART:DURATION=0.25,URI=\"a12.{p}.mp4\",INDEPENDENT=YES\n"))
            .collect();
        later = later.replace(
            "#EXT-X-PRELOAD-HINT",
            &format!("{parts11}#EXTINF:1.0,\ns11.mp4\n{parts12}#EXTINF:1.0,\ns12.mp4\n#EXT-X-PRELOAD-HINT"),
        );
        s.handle(at(2000), ok(reload.id, &later, at(2000)));
        drain(&mut s);
        s.jump_to_live(at(2001));
        let acts = drain(&mut s);
        assert!(
            acts.iter()
                .any(|a| matches!(a, Action::JumpedToLive { .. })),
            "{acts:?}"
        );
        assert!(
            acts.iter().any(|a| matches!(a, Action::Cancel(_))),
            "old media cancelled"
        );
        // Hold-back from the new end: a12.1, a12.2, a12.3.
        let paths: Vec<String> = reqs(&acts)
            .iter()
            .map(|q| q.url.path().to_string())
            .collect();
        assert!(paths.iter().any(|p| p == "/a12.1.mp4"), "{paths:?}");
        assert_eq!(s.stats().live_jumps, 1);
    }
}
