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
pub(crate) mod playlist;
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

/// How long a rendition whose playlists kept failing is left alone.
const DEAD_RENDITION_COOLDOWN: Duration = Duration::from_secs(30);

/// Small bounded cache (init sections, keys): at most `CACHE_CAP` entries, oldest
/// evicted first.
const CACHE_CAP: usize = 8;

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
    buffer: Duration,
    next_id: u64,
    actions: VecDeque<Action>,
    done: bool,
    last_status: Option<u16>,
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
    /// s.handle(t, Event::Response { id: req.id, status: 404, body, header_bytes: 0, encoded_len: None, first_byte: t, last_byte: t });
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
            buffer: Duration::ZERO,
            next_id: 0,
            actions: VecDeque::new(),
            done: false,
            last_status: None,
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
                    self.abr.on_transfer(&TransferSample {
                        kind,
                        bytes: encoded_len.unwrap_or(body.len() as u64),
                        header_bytes,
                        requested: sent,
                        first_byte,
                        last_byte,
                    });
                    self.on_success(now, p, body);
                } else {
                    self.on_failure(now, p, Some(status));
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
                self.on_failure(now, p, None);
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

    // ---- playlists -------------------------------------------------------------

    fn send_playlist(&mut self, now: Instant, req: PlaylistReq) {
        let Some(r) = self.renditions.get(req.rendition) else {
            return;
        };
        let url = directive_url(r.url(), req.block, req.delta);
        let kind = RequestKind::MediaPlaylist {
            rendition: req.rendition,
            blocking: req.block.is_some(),
            delta: req.delta,
        };
        let switch = req.switch;
        let id = self.request(now, url, None, kind, Pending::Playlist(req));
        if switch {
            self.switch_in_flight = Some(id);
        } else {
            self.playlist_in_flight = Some(id);
        }
    }

    /// Issue the next reload of the current playlist (blocking if possible).
    fn request_reload(&mut self, now: Instant, timer_fired: bool) {
        let Some(pl) = self.pl.as_ref() else { return };
        if pl.view.ended
            || self.playlist_in_flight.is_some()
            || self
                .retries
                .iter()
                .any(|r| matches!(&r.1, Pending::Playlist(p) if !p.switch))
        {
            return;
        }
        let block = if pl.view.can_block_reload && self.cfg.low_latency {
            if pl.low_latency {
                // Playing `k` parts further behind the edge than PART-HOLD-BACK asks
                // for, there is no hurry to hear of the next part: block `k` parts
                // further (capped under the Advance Part Limit), so one reload
                // announces `k + 1` parts. On a thin link, stalls push latency up
                // until the playlist overhead fits; at the edge `k` is 0.
                let k = self.reload_lookahead();
                pl.view
                    .next_part_pos()
                    .map(|p| pl.view.advance(p, k))
                    .map(|p| (p.msn, Some(p.part)))
            } else {
                Some((pl.view.next_msn(), None))
            }
        } else {
            None
        };
        if block.is_none() && !timer_fired {
            // Plain polling: only on the timer (C-RELOAD-01).
            return;
        }
        // C-SKIP-01: deltas only when our copy is younger than half the skip boundary.
        let delta = self.cfg.delta_updates
            && pl
                .view
                .can_skip_until
                .is_some_and(|until| now - pl.full_at < until / 2);
        let req = PlaylistReq {
            rendition: pl.rendition,
            delta,
            block,
            attempt: 0,
            switch: false,
            failover: false,
        };
        self.send_playlist(now, req);
    }

    fn on_root(&mut self, now: Instant, body: Bytes) {
        match codec::parse(&body, None) {
            Ok((Parsed::Multivariant(vars), _)) => {
                let mut rs: Vec<Rendition> = Vec::new();
                for v in vars {
                    let Ok(u) = resolve(&self.root, &v.uri) else {
                        continue;
                    };
                    // Redundant variants: same bandwidth and codecs (M-VAR-06).
                    if let Some(r) = rs.iter_mut().find(|r| r.bandwidth.bps() == v.bandwidth) {
                        if r.uris.len() < 4 {
                            r.uris.push(u);
                        }
                        continue;
                    }
                    rs.push(Rendition {
                        bandwidth: Bitrate(v.bandwidth),
                        uris: vec![u],
                        active: 0,
                        dead_until: None,
                    });
                }
                if rs.is_empty() {
                    return self.fail(Error::NoRenditions);
                }
                rs.sort_by_key(|r| r.bandwidth);
                self.renditions = rs;
                let ladder = self.ladder();
                let start = self.cfg.start_rendition.unwrap_or_else(|| {
                    self.abr.choose(&AbrContext {
                        now,
                        ladder: &ladder,
                        current: 0,
                        buffer: Duration::ZERO,
                        latency: None,
                        target_latency: Duration::from_secs(1),
                        unit_duration: Duration::from_millis(500),
                    })
                });
                self.current = start.min(self.renditions.len() - 1);
                let req = PlaylistReq {
                    rendition: self.current,
                    delta: false,
                    block: None,
                    attempt: 0,
                    switch: true,
                    failover: false,
                };
                self.send_playlist(now, req);
            }
            Ok((Parsed::Media(view), raw)) => {
                self.renditions = vec![Rendition {
                    bandwidth: Bitrate(0),
                    uris: vec![self.root.clone()],
                    active: 0,
                    dead_until: None,
                }];
                self.current = 0;
                let req = PlaylistReq {
                    rendition: 0,
                    delta: false,
                    block: None,
                    attempt: 0,
                    switch: true,
                    failover: false,
                };
                self.on_playlist(now, req, view, raw);
            }
            Err(e) => self.fail(e),
        }
    }

    fn on_playlist_body(&mut self, now: Instant, req: PlaylistReq, body: Bytes) {
        let prev = self
            .pl
            .as_ref()
            .filter(|p| p.rendition == req.rendition && req.delta)
            .map(|p| &p.raw);
        match codec::parse(&body, prev) {
            Ok((Parsed::Media(view), raw)) => self.on_playlist(now, req, view, raw),
            Ok((Parsed::Multivariant(_), _)) => {
                self.on_failure(now, Pending::Playlist(req), None);
            }
            Err(Error::Playlist(msg)) if req.delta => {
                // C-SKIP-01: the delta could not be merged: fetch the full playlist.
                tracing::debug!(%msg, "delta merge failed");
                self.stats.delta_merge_failures += 1;
                let req = PlaylistReq {
                    delta: false,
                    block: None,
                    ..req
                };
                self.send_playlist(now, req);
            }
            Err(e) => {
                tracing::warn!(error = %e, "playlist rejected");
                self.on_failure(now, Pending::Playlist(req), None);
            }
        }
    }

    fn ll_capable(&self, v: &MediaView) -> bool {
        // C-LL-01: parts, blocking reload, a part hint, dates; reports when several
        // renditions exist. Otherwise follow at regular latency.
        self.cfg.low_latency
            && !v.ended
            && v.part_target.is_some()
            && v.can_block_reload
            && v.hint.is_some()
            && v.segments.iter().any(|s| s.pdt.is_some())
            && (self.renditions.len() <= 1 || !v.reports.is_empty())
    }

    fn on_playlist(&mut self, now: Instant, req: PlaylistReq, view: MediaView, raw: codec::Raw) {
        let url = self.renditions[req.rendition].url().clone();
        // C-RELOAD-03: the same MSN keeps its URI.
        if let Some(old) = self.pl.as_ref().filter(|p| p.rendition == req.rendition) {
            for s in view.segments.iter().filter(|s| s.complete) {
                if let Some(o) = old
                    .view
                    .segment(s.msn)
                    .filter(|o| o.complete && o.uri != s.uri)
                {
                    let e = Error::InconsistentPlaylist {
                        msn: s.msn,
                        old: o.uri.clone(),
                        new: s.uri.clone(),
                    };
                    return self.fail(e);
                }
            }
        }
        let low_latency = self.ll_capable(&view);
        let changed = match self.pl.as_ref().filter(|p| p.rendition == req.rendition) {
            Some(old) => old.view.segments != view.segments || old.view.ended != view.ended,
            None => true,
        };
        let switching = self
            .pl
            .as_ref()
            .is_some_and(|p| p.rendition != req.rendition)
            || self.pl.is_none();
        let prev_changed = self
            .pl
            .as_ref()
            .filter(|p| p.rendition == req.rendition)
            .map(|p| p.changed);
        let loaded = Loaded {
            rendition: req.rendition,
            url,
            raw,
            changed: if changed {
                now
            } else {
                prev_changed.unwrap_or(now)
            },
            full_at: now,
            low_latency,
            view,
        };
        if switching {
            let from = self.pl.as_ref().map(|p| p.rendition);
            // Abandon the old rendition's reload and hint; keep its listed parts in flight.
            for id in [self.playlist_in_flight.take(), self.hint.take()]
                .into_iter()
                .flatten()
            {
                if let Some((_, Pending::Media(m))) = self.pending.remove(&id) {
                    self.next_fetch = Some(self.next_fetch.map_or(m.pos, |n| n.min(m.pos)));
                }
                self.actions.push_back(Action::Cancel(id));
            }
            self.retries
                .retain(|r| !matches!(&r.1, Pending::Playlist(p) if !p.switch));
            self.switch_to = None;
            self.current = req.rendition;
            if let Some(from) = from {
                self.stats.switches += 1;
                self.actions.push_back(Action::Switched {
                    from,
                    to: req.rendition,
                    reason: if req.failover {
                        SwitchReason::Failover
                    } else {
                        SwitchReason::Abr
                    },
                });
            }
        }
        let first = self.pl.is_none();
        // C-SYNC-01: carry the playback position over a switch by time.
        let anchor = if switching {
            self.pl
                .as_ref()
                .zip(self.next_fetch)
                .and_then(|(pl, p)| pl.view.time_of(p))
        } else {
            None
        };
        self.pl = Some(loaded);
        if first || self.next_fetch.is_none() {
            self.next_fetch = self.start_pos();
        } else if let Some(t) = anchor {
            // Same MSN numbering is only the fallback when dates are missing.
            if let Some(p) = self.pl.as_ref().and_then(|pl| pl.view.pos_at(t)) {
                self.next_fetch = Some(p);
            }
        }
        self.rekey_hint();
        // Plain live: reload timer (C-RELOAD-01).
        let pl = self.pl.as_ref().expect("just set");
        let polls = !(pl.view.can_block_reload && self.cfg.low_latency);
        if !pl.view.ended && polls {
            let wait = if changed {
                pl.view
                    .segments
                    .iter()
                    .rev()
                    .find(|s| s.complete)
                    .map(|s| s.duration)
                    .unwrap_or(pl.view.target_duration)
            } else {
                pl.view.target_duration / 2
            };
            self.reload_at = Some(now + wait.max(Duration::from_millis(100)));
        }
    }

    /// Parts of slack beyond the hold-back (see `request_reload`).
    fn reload_lookahead(&self) -> u32 {
        let Some(pl) = self.pl.as_ref() else { return 0 };
        let (Some(pd), Some(lat)) = (pl.view.part_target, self.latency()) else {
            return 0;
        };
        let hold = pl.view.part_hold_back.unwrap_or(pd * 3);
        let slack = lat.saturating_sub(hold + pd);
        let k = (slack.as_secs_f64() / pd.as_secs_f64().max(1e-3)) as u32;
        k.min(MAX_RELOAD_LOOKAHEAD)
    }

    /// C-RELOAD-02: a plain live playlist unchanged for 1.5 × target duration.
    fn check_stale(&mut self, now: Instant) {
        let Some(pl) = self.pl.as_ref() else { return };
        if now - pl.changed > pl.view.target_duration.mul_f64(1.5) {
            let r = &mut self.renditions[pl.rendition];
            if r.uris.len() > 1 {
                r.active = (r.active + 1) % r.uris.len();
                self.stats.failovers += 1;
                tracing::warn!("playlist stale for 1.5 target durations: failing over");
            }
        }
    }

    /// Where to start (C-START-01): PART-HOLD-BACK from the end in LL mode, HOLD-BACK
    /// (default 3 target durations) otherwise, the first segment for VOD.
    fn start_pos(&self) -> Option<Pos> {
        let pl = self.pl.as_ref()?;
        let v = &pl.view;
        if v.ended {
            return Some(Pos {
                msn: v.first_msn(),
                part: 0,
            });
        }
        if pl.low_latency {
            let hold = v.part_hold_back.unwrap_or(v.part_target? * 3);
            let mut acc = Duration::ZERO;
            let mut best = None;
            'outer: for s in v.segments.iter().rev() {
                for (i, p) in s.parts.iter().enumerate().rev() {
                    acc += p.duration;
                    if p.independent {
                        best = Some(Pos {
                            msn: s.msn,
                            part: u32::try_from(i).ok()?,
                        });
                    }
                    if acc >= hold && best.is_some() {
                        break 'outer;
                    }
                }
                if s.parts.is_empty() && s.complete {
                    break;
                }
            }
            if best.is_some() {
                return best;
            }
        }
        let hold = v.hold_back.unwrap_or(v.target_duration * 3);
        let mut acc = Duration::ZERO;
        let mut start = None;
        for s in v.segments.iter().rev().filter(|s| s.complete) {
            acc += s.duration;
            start = Some(Pos {
                msn: s.msn,
                part: 0,
            });
            if acc >= hold {
                break;
            }
        }
        start.or(Some(Pos {
            msn: v.first_msn(),
            part: 0,
        }))
    }

    /// After a playlist update: find where the in-flight hint is now listed (C-HINT-02).
    fn rekey_hint(&mut self) {
        let Some(id) = self.hint else { return };
        let Some(pl) = self.pl.as_ref() else { return };
        let Some((_, Pending::Media(m))) = self.pending.get(&id) else {
            return;
        };
        if let Some(q) = pl.view.find_part(&m.uri, m.range) {
            let meta = self.unit_meta(q, false);
            if let Some((_, Pending::Media(m))) = self.pending.get_mut(&id) {
                m.pos = q;
                m.meta = meta;
            }
            if self.next_fetch == Some(q) {
                self.next_fetch = Some(self.successor(q, false));
            }
        } else if pl
            .view
            .hint
            .as_ref()
            .is_none_or(|h| h.uri != m.uri || h.range != m.range)
        {
            // The hint vanished without becoming a part: cancel it.
            let pos = m.pos;
            self.pending.remove(&id);
            self.hint = None;
            self.stats.hints_cancelled += 1;
            self.actions.push_back(Action::Cancel(id));
            self.next_fetch = Some(self.next_fetch.map_or(pos, |n| n.min(pos)));
        }
    }

    // ---- media -----------------------------------------------------------------

    fn key_for(&self, base: &Url, key: &Key, msn: u64) -> Result<(Url, [u8; 16]), Error> {
        match &key.method {
            KeyMethod::Aes128 => Ok((resolve(base, &key.uri)?, aes::iv_for(key.iv, msn))),
            KeyMethod::Unsupported(m) => Err(Error::UnsupportedKey(m.clone())),
        }
    }

    fn unit_meta(&self, pos: Pos, whole: bool) -> Option<UnitMeta> {
        let pl = self.pl.as_ref()?;
        let s = pl.view.segment(pos.msn)?;
        let (duration, independent, offset) = if whole {
            (s.duration, true, Duration::ZERO)
        } else {
            let p = s.parts.get(pos.part as usize)?;
            let before: Duration = s
                .parts
                .iter()
                .take(pos.part as usize)
                .map(|p| p.duration)
                .sum();
            (p.duration, p.independent, before)
        };
        let map = s
            .map
            .as_ref()
            .and_then(|m| Some((resolve(&pl.url, &m.uri).ok()?, m.clone())));
        let key = match &s.key {
            Some(k) => Some(self.key_for(&pl.url, k, s.msn).ok()?),
            None => None,
        };
        Some(UnitMeta {
            duration,
            independent,
            discontinuity: s.discontinuity && (whole || pos.part == 0),
            pdt: s.pdt.map(|t| t + offset),
            map,
            key,
        })
    }

    fn successor(&self, pos: Pos, whole: bool) -> Pos {
        let next_seg = Pos {
            msn: pos.msn + 1,
            part: 0,
        };
        if whole {
            return next_seg;
        }
        match self.pl.as_ref().and_then(|pl| pl.view.segment(pos.msn)) {
            Some(s) if s.complete && pos.part as usize + 1 >= s.parts.len() => next_seg,
            _ => Pos {
                msn: pos.msn,
                part: pos.part + 1,
            },
        }
    }

    /// The unit at `pos`, if it can be fetched now: `(pos, whole, uri, range)`.
    #[allow(clippy::type_complexity)]
    fn plan(&self, mut pos: Pos) -> Result<Option<(Pos, bool, String, Option<ByteRange>)>, Error> {
        let Some(pl) = self.pl.as_ref() else {
            return Ok(None);
        };
        let v = &pl.view;
        // Bounded: at most one step per listed segment.
        for _ in 0..=v.segments.len() {
            let Some(s) = v.segment(pos.msn) else {
                return Ok(None);
            };
            if let Some(k) = &s.key {
                if let KeyMethod::Unsupported(m) = &k.method {
                    return Err(Error::UnsupportedKey(m.clone()));
                }
                // AES-128 is per segment: wait for the whole segment (see lib docs).
                if s.complete && pos.part == 0 && !s.gap {
                    return Ok(Some((pos, true, s.uri.clone(), s.range)));
                }
                if !s.complete {
                    return Ok(None);
                }
                pos = Pos {
                    msn: pos.msn + 1,
                    part: 0,
                };
                continue;
            }
            if s.gap {
                // C-GAP-01: do not load gaps.
                pos = Pos {
                    msn: pos.msn + 1,
                    part: 0,
                };
                continue;
            }
            if pl.low_latency && !s.parts.is_empty() {
                if let Some(p) = s.parts.get(pos.part as usize) {
                    if p.gap {
                        pos = self.successor(pos, false);
                        continue;
                    }
                    return Ok(Some((pos, false, p.uri.clone(), p.range)));
                }
                if s.complete {
                    pos = Pos {
                        msn: pos.msn + 1,
                        part: 0,
                    };
                    continue;
                }
                return Ok(None);
            }
            if !s.complete {
                return Ok(None);
            }
            if pos.part == 0 {
                return Ok(Some((pos, true, s.uri.clone(), s.range)));
            }
            // Parts of this segment slid out after we fetched some: skip the rest.
            pos = Pos {
                msn: pos.msn + 1,
                part: 0,
            };
        }
        Ok(None)
    }

    fn send_media(&mut self, now: Instant, m: MediaReq) {
        let kind = if m.hint {
            RequestKind::HintedPart
        } else if m.whole {
            RequestKind::Segment
        } else {
            RequestKind::Part
        };
        let is_hint = m.hint;
        let id = self.request(
            now,
            m.url.clone(),
            m.range,
            kind,
            Pending::Media(Box::new(m)),
        );
        if is_hint {
            self.hint = Some(id);
        }
    }

    fn media_in_flight(&self) -> usize {
        self.pending
            .values()
            .filter(|(_, p)| matches!(p, Pending::Media(m) if !m.hint))
            .count()
            + self
                .retries
                .iter()
                .filter(|r| matches!(&r.1, Pending::Media(_)))
                .count()
    }

    fn ensure_init(&mut self, now: Instant, url: &Url, map: &Map) {
        if self.inits.iter().any(|(u, m, _)| u == url && m == map)
            || self
                .pending
                .values()
                .any(|(_, p)| matches!(p, Pending::Init(u, m, _) if u == url && m == map))
            || self
                .retries
                .iter()
                .any(|(_, p)| matches!(p, Pending::Init(u, m, _) if u == url && m == map))
        {
            return;
        }
        self.request(
            now,
            url.clone(),
            map.range,
            RequestKind::Init,
            Pending::Init(url.clone(), map.clone(), 0),
        );
    }

    fn ensure_key(&mut self, now: Instant, url: &Url) {
        if self.keys.iter().any(|(u, _)| u == url)
            || self
                .pending
                .values()
                .any(|(_, p)| matches!(p, Pending::Key(u, _) if u == url))
            || self
                .retries
                .iter()
                .any(|(_, p)| matches!(p, Pending::Key(u, _) if u == url))
        {
            return;
        }
        self.request(
            now,
            url.clone(),
            None,
            RequestKind::Key,
            Pending::Key(url.clone(), 0),
        );
    }

    fn abr_check(&mut self, now: Instant) {
        if self.switch_to.is_some() || self.renditions.len() < 2 {
            return;
        }
        let Some(pl) = self.pl.as_ref() else { return };
        let target = if pl.low_latency {
            pl.view
                .part_hold_back
                .unwrap_or(pl.view.part_target.unwrap_or_default() * 3)
        } else {
            pl.view.hold_back.unwrap_or(pl.view.target_duration * 3)
        };
        let unit = if pl.low_latency {
            pl.view.part_target.unwrap_or(pl.view.target_duration)
        } else {
            pl.view.target_duration
        };
        let ladder = self.ladder();
        let ctx = AbrContext {
            now,
            ladder: &ladder,
            current: self.current,
            buffer: self.buffer,
            latency: self.latency(),
            target_latency: target,
            unit_duration: unit,
        };
        let want = self.abr.choose(&ctx).min(ladder.len() - 1);
        // Never back onto a rendition that just failed: the highest live one below.
        let alive = |r: &Rendition| r.dead_until.is_none_or(|t| t <= now);
        let want = (0..=want)
            .rev()
            .find(|&i| alive(&self.renditions[i]))
            .unwrap_or(self.current);
        if want == self.current {
            return;
        }
        // C-SWITCH-01: ask for the new playlist at the position its rendition report
        // gives, with blocking directives, so the first response is already current.
        let target_url = self.renditions[want].url().clone();
        let block = pl.view.reports.iter().find_map(|r| {
            let u = resolve(&pl.url, &r.uri).ok()?;
            (u.path() == target_url.path()).then_some((r.last_msn, r.last_part))
        });
        let block = if pl.view.can_block_reload {
            block
        } else {
            None
        };
        self.switch_to = Some(want);
        self.send_playlist(
            now,
            PlaylistReq {
                rendition: want,
                delta: false,
                block,
                attempt: 0,
                switch: true,
                failover: false,
            },
        );
    }

    fn fill_media(&mut self, now: Instant) {
        if self.pl.is_none() {
            return;
        }
        // Bounded by max_media_in_flight requests per pump.
        for _ in 0..self.cfg.max_media_in_flight + 1 {
            if self.media_in_flight() >= self.cfg.max_media_in_flight {
                break;
            }
            let Some(pos) = self.next_fetch else { break };
            if self.hint.is_some_and(
                |id| matches!(self.pending.get(&id), Some((_, Pending::Media(m))) if m.pos == pos),
            ) {
                // The hinted request already covers this part (C-HINT-02 reuse).
                self.next_fetch = Some(self.successor(pos, false));
                continue;
            }
            let planned = match self.plan(pos) {
                Ok(p) => p,
                Err(e) => return self.fail(e),
            };
            let Some((pos, whole, uri, range)) = planned else {
                self.maybe_hint(now, pos);
                break;
            };
            if self.is_covered(pos) {
                // Already fetched or fetching (e.g. a hint that completed before the
                // playlist listing it arrived): never fetch a unit twice.
                self.next_fetch = Some(self.successor(pos, whole));
                continue;
            }
            self.abr_check(now);
            let Some(pl) = self.pl.as_ref() else { break };
            let Ok(url) = resolve(&pl.url, &uri) else {
                self.stats.skipped_units += 1;
                self.next_fetch = Some(self.successor(pos, whole));
                continue;
            };
            let meta = self.unit_meta(pos, whole);
            if let Some(m) = &meta {
                if let Some((u, map)) = &m.map {
                    let (u, map) = (u.clone(), map.clone());
                    self.ensure_init(now, &u, &map);
                }
                if let Some((u, _)) = &m.key {
                    let u = u.clone();
                    self.ensure_key(now, &u);
                }
            }
            let m = MediaReq {
                pos,
                whole,
                rendition: self.current,
                url,
                uri,
                range,
                attempt: 0,
                hint: false,
                meta,
            };
            self.next_fetch = Some(self.successor(pos, whole));
            self.send_media(now, m);
        }
    }

    /// A media request for `pos` is in flight, waiting for a retry, or done.
    fn is_covered(&self, pos: Pos) -> bool {
        self.ready.contains_key(&pos)
            || self
                .pending
                .values()
                .any(|(_, p)| matches!(p, Pending::Media(m) if m.pos == pos))
            || self
                .retries
                .iter()
                .any(|(_, p)| matches!(p, Pending::Media(m) if m.pos == pos))
            || self.last_delivered.is_some_and(|d| pos <= d)
    }

    /// C-HINT-01: request the hinted part alongside the blocking reload.
    fn maybe_hint(&mut self, now: Instant, pos: Pos) {
        if self.hint.is_some() || self.is_covered(pos) {
            return;
        }
        let Some(pl) = self.pl.as_ref() else { return };
        if !pl.low_latency || pl.view.next_part_pos() != Some(pos) {
            return;
        }
        let Some(h) = pl.view.hint.clone() else {
            return;
        };
        self.abr_check(now);
        if self.switch_to.is_some() {
            // The new rendition's playlist is on its way; hint from it instead.
            return;
        }
        let Some(pl) = self.pl.as_ref() else { return };
        let Ok(url) = resolve(&pl.url, &h.uri) else {
            return;
        };
        let m = MediaReq {
            pos,
            whole: false,
            rendition: self.current,
            url,
            uri: h.uri,
            range: h.range,
            attempt: 0,
            hint: true,
            meta: None,
        };
        self.send_media(now, m);
    }

    fn delivery_frontier(&self) -> Option<Pos> {
        let pend = self.pending.values().filter_map(|(_, p)| match p {
            Pending::Media(m) => Some(m.pos),
            _ => None,
        });
        let retr = self.retries.iter().filter_map(|(_, p)| match p {
            Pending::Media(m) => Some(m.pos),
            _ => None,
        });
        pend.chain(retr)
            .chain(self.ready.keys().copied())
            .chain(self.next_fetch)
            .min()
    }

    fn deliver(&mut self, now: Instant) {
        let outstanding = self
            .pending
            .values()
            .filter_map(|(_, p)| match p {
                Pending::Media(m) => Some(m.pos),
                _ => None,
            })
            .chain(self.retries.iter().filter_map(|(_, p)| match p {
                Pending::Media(m) => Some(m.pos),
                _ => None,
            }))
            .min();
        while let Some(entry) = self.ready.first_entry() {
            if outstanding.is_some_and(|o| o < *entry.key()) {
                break;
            }
            let r = entry.get();
            let Some(meta) = r.req.meta.clone() else {
                break;
            }; // hint not yet listed
            let init = match &meta.map {
                Some((u, m)) => {
                    let found = self
                        .inits
                        .iter()
                        .find(|(iu, im, _)| iu == u && im == m)
                        .map(|e| e.2.clone());
                    match found {
                        Some(Some(b)) => Some(((u.clone(), m.clone()), b)),
                        Some(None) => None, // gave up on it: deliver without
                        None => {
                            self.ensure_init(now, u, m);
                            break; // init still loading
                        }
                    }
                }
                None => None,
            };
            let key = match &meta.key {
                Some((u, iv)) => {
                    let found = self
                        .keys
                        .iter()
                        .find(|(ku, _)| ku == u)
                        .map(|e| e.1.clone());
                    match found {
                        Some(Some(k)) => Some((k, *iv)),
                        Some(None) => None,
                        None => {
                            self.ensure_key(now, u);
                            break; // key still loading
                        }
                    }
                }
                None => None,
            };
            let r = entry.remove();
            if self.last_delivered.is_some_and(|d| r.req.pos <= d) {
                continue; // duplicate or stale: playback order is strictly increasing
            }
            self.last_delivered = Some(r.req.pos);
            let mut data = r.data;
            if let Some((k, iv)) = key {
                match aes::decrypt_segment(&k, iv, data) {
                    Some(d) => data = d,
                    None => {
                        tracing::warn!(
                            msn = r.req.pos.msn,
                            "AES-128 decryption failed: skipping segment"
                        );
                        self.stats.skipped_units += 1;
                        self.force_discontinuity = true;
                        continue;
                    }
                }
            } else if meta.key.is_some() {
                self.stats.skipped_units += 1;
                self.force_discontinuity = true;
                continue;
            }
            let init = match init {
                Some((id, bytes)) if self.delivered_init.as_ref() != Some(&id) => {
                    self.delivered_init = Some(id);
                    Some(bytes)
                }
                _ => None,
            };
            let discontinuity = meta.discontinuity || std::mem::take(&mut self.force_discontinuity);
            self.stats.chunks += 1;
            self.actions.push_back(Action::Chunk(Chunk {
                rendition: r.req.rendition,
                msn: r.req.pos.msn,
                part: (!r.req.whole).then_some(r.req.pos.part),
                data,
                duration: meta.duration,
                independent: meta.independent,
                discontinuity,
                program_date_time: meta.pdt,
                init,
            }));
        }
    }

    fn stall_check(&mut self, now: Instant) {
        let Some(pl) = self.pl.as_ref() else { return };
        if pl.view.ended {
            return;
        }
        let hold = pl
            .view
            .part_hold_back
            .filter(|_| pl.low_latency)
            .unwrap_or(pl.view.hold_back.unwrap_or(pl.view.target_duration * 3));
        let limit = self.cfg.max_latency.max(hold * 4);
        let Some(front) = self.delivery_frontier() else {
            return;
        };
        let behind = pl.view.duration_from(front, false);
        let fell_off = front.msn < pl.view.first_msn();
        if behind <= limit && !fell_off {
            return;
        }
        let Some(start) = self.start_pos() else {
            return;
        };
        if start <= front {
            return;
        }
        let skipped = behind.saturating_sub(pl.view.duration_from(start, false));
        tracing::info!(?skipped, "too far behind the live edge: jumping");
        let ids: Vec<RequestId> = self
            .pending
            .iter()
            .filter(|(_, (_, p))| matches!(p, Pending::Media(m) if m.pos < start))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.pending.remove(&id);
            if self.hint == Some(id) {
                self.hint = None;
            }
            self.actions.push_back(Action::Cancel(id));
        }
        self.retries
            .retain(|(_, p)| !matches!(p, Pending::Media(m) if m.pos < start));
        self.ready.retain(|p, _| *p >= start);
        self.next_fetch = Some(start.max(self.next_fetch.unwrap_or(start)));
        self.force_discontinuity = true;
        self.stats.live_jumps += 1;
        self.actions.push_back(Action::JumpedToLive { skipped });
        let _ = now;
    }

    fn check_end(&mut self) {
        let Some(pl) = self.pl.as_ref() else { return };
        if !pl.view.ended {
            return;
        }
        let after_last = pl.view.segments.last().map(|s| s.msn + 1).unwrap_or(0);
        let media_left = self
            .pending
            .values()
            .any(|(_, p)| matches!(p, Pending::Media(_)))
            || self
                .retries
                .iter()
                .any(|(_, p)| matches!(p, Pending::Media(_)))
            || !self.ready.is_empty();
        if !media_left && self.next_fetch.is_none_or(|n| n.msn >= after_last) {
            self.actions.push_back(Action::Ended);
            self.done = true;
        }
    }

    fn pump(&mut self, now: Instant) {
        if self.done {
            return;
        }
        self.request_reload(now, false);
        self.stall_check(now);
        self.fill_media(now);
        if self.done {
            return;
        }
        self.deliver(now);
        self.check_end();
    }

    // ---- outcomes --------------------------------------------------------------

    fn on_success(&mut self, now: Instant, p: Pending, body: Bytes) {
        match p {
            Pending::Root { .. } => self.on_root(now, body),
            Pending::Playlist(req) => self.on_playlist_body(now, req, body),
            Pending::Media(mut m) => {
                if m.meta.is_none() && !m.hint {
                    m.meta = self.unit_meta(m.pos, m.whole);
                }
                if m.hint && m.meta.is_none() {
                    // Arrived before the playlist that lists it: look it up now.
                    if let Some(q) = self
                        .pl
                        .as_ref()
                        .and_then(|pl| pl.view.find_part(&m.uri, m.range))
                    {
                        m.pos = q;
                        m.meta = self.unit_meta(q, false);
                    }
                }
                if m.meta.is_none() && !m.hint {
                    // The unit slid out of the playlist before we could describe it.
                    self.stats.skipped_units += 1;
                    self.force_discontinuity = true;
                    return;
                }
                if self.ready.len() >= 64 {
                    // Bounded reorder buffer: should not happen with <= 64 in flight.
                    self.stats.skipped_units += 1;
                    return;
                }
                let pos = m.pos;
                self.ready.insert(
                    pos,
                    Ready {
                        req: *m,
                        data: body,
                    },
                );
            }
            Pending::Init(u, m, _) => {
                if self.inits.len() >= CACHE_CAP {
                    self.inits.pop_front();
                }
                self.inits.push_back((u, m, Some(body)));
            }
            Pending::Key(u, _) => {
                if self.keys.len() >= CACHE_CAP {
                    self.keys.pop_front();
                }
                self.keys.push_back((u, Some(body)));
            }
        }
        // A hint that completed before being listed waits in `ready` without meta;
        // give it meta when the next playlist lists it.
        self.confirm_ready_hints();
    }

    fn confirm_ready_hints(&mut self) {
        let unconfirmed: Vec<Pos> = self
            .ready
            .iter()
            .filter(|(_, r)| r.req.meta.is_none())
            .map(|(p, _)| *p)
            .collect();
        for p in unconfirmed {
            let Some(r) = self.ready.remove(&p) else {
                continue;
            };
            let found = self
                .pl
                .as_ref()
                .and_then(|pl| pl.view.find_part(&r.req.uri, r.req.range));
            match found {
                Some(q) => {
                    let mut r = r;
                    r.req.meta = self.unit_meta(q, false);
                    r.req.pos = q;
                    if self.next_fetch == Some(q) {
                        self.next_fetch = Some(self.successor(q, false));
                    }
                    self.ready.insert(q, r);
                }
                None => {
                    self.ready.insert(p, r);
                }
            }
        }
    }

    fn on_failure(&mut self, now: Instant, p: Pending, status: Option<u16>) {
        match p {
            Pending::Root { attempt } => {
                if attempt + 1 >= self.cfg.max_retries {
                    return self.fail(Error::PlaylistsUnavailable { status });
                }
                self.schedule_retry(
                    now,
                    Pending::Root {
                        attempt: attempt + 1,
                    },
                    attempt,
                );
            }
            Pending::Playlist(mut req) => {
                let gone = matches!(status, Some(404 | 410));
                let r = &mut self.renditions[req.rendition];
                if (gone || req.attempt >= 1) && r.uris.len() > 1 {
                    r.active = (r.active + 1) % r.uris.len();
                    self.stats.failovers += 1;
                }
                if req.attempt + 1 >= self.cfg.max_retries {
                    // Give up on this rendition: fail over to a lower one if any.
                    if req.rendition > 0 {
                        let to = req.rendition - 1;
                        self.renditions[req.rendition].dead_until =
                            Some(now + DEAD_RENDITION_COOLDOWN);
                        if req.switch {
                            self.switch_to = None;
                        }
                        self.switch_to = Some(to);
                        return self.send_playlist(
                            now,
                            PlaylistReq {
                                rendition: to,
                                delta: false,
                                block: None,
                                attempt: 0,
                                switch: true,
                                failover: true,
                            },
                        );
                    }
                    return self.fail(Error::PlaylistsUnavailable { status });
                }
                let attempt = req.attempt;
                req.attempt += 1;
                // A failed delta or blocking request is retried as a plain full reload.
                req.delta = false;
                if status == Some(400) {
                    req.block = None;
                }
                if req.switch {
                    self.switch_to = Some(req.rendition);
                }
                self.schedule_retry(now, Pending::Playlist(req), attempt);
            }
            Pending::Media(mut m) => {
                if m.hint {
                    // A hint answered 404 (P-HINT-06) or failing: forget it; the part
                    // will be fetched from the playlist once listed.
                    self.next_fetch = Some(self.next_fetch.map_or(m.pos, |n| n.min(m.pos)));
                    return;
                }
                let retryable = !matches!(status, Some(410) | Some(400..=403));
                if retryable && m.attempt + 1 < self.cfg.max_retries {
                    let attempt = m.attempt;
                    m.attempt += 1;
                    self.schedule_retry(now, Pending::Media(m), attempt);
                } else {
                    tracing::warn!(
                        msn = m.pos.msn,
                        part = m.pos.part,
                        ?status,
                        "giving up on media"
                    );
                    self.stats.skipped_units += 1;
                    self.force_discontinuity = true;
                }
            }
            Pending::Init(u, m, a) => {
                if a + 1 < self.cfg.max_retries {
                    self.schedule_retry(now, Pending::Init(u, m, a + 1), a);
                } else {
                    self.inits.push_back((u, m, None));
                    if self.inits.len() > CACHE_CAP {
                        self.inits.pop_front();
                    }
                }
            }
            Pending::Key(u, a) => {
                if a + 1 < self.cfg.max_retries {
                    self.schedule_retry(now, Pending::Key(u, a + 1), a);
                } else {
                    self.keys.push_back((u, None));
                    if self.keys.len() > CACHE_CAP {
                        self.keys.pop_front();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn scripted_hint_cancelled_when_it_disappears() {
        // checklist C-START-01, C-HINT-01, C-HINT-02
        let cfg = SessionConfig {
            abr: crate::abr::AbrKind::Fixed(0),
            ..SessionConfig::default()
        };
        let mut s = Session::new("http://o/live.m3u8", cfg, at(0)).expect("session");
        let root = reqs(&drain(&mut s));
        assert_eq!(root.len(), 1);
        s.handle(at(10), ok(root[0].id, &ll_text(1, "a11.1.mp4"), at(10)));
        let r = reqs(&drain(&mut s));
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
    fn scripted_hint_reused_when_listed() {
        // checklist C-HINT-02: a hint download that covers a listed part is reused.
        let cfg = SessionConfig {
            abr: crate::abr::AbrKind::Fixed(0),
            ..SessionConfig::default()
        };
        let mut s = Session::new("http://o/live.m3u8", cfg, at(0)).expect("session");
        let root = reqs(&drain(&mut s));
        s.handle(at(10), ok(root[0].id, &ll_text(1, "a11.1.mp4"), at(10)));
        let r = reqs(&drain(&mut s));
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
        let cfg = SessionConfig {
            abr: crate::abr::AbrKind::Fixed(0),
            ..SessionConfig::default()
        };
        let mut s = Session::new("http://o/live.m3u8", cfg, at(0)).expect("session");
        let root = reqs(&drain(&mut s));
        s.handle(at(10), ok(root[0].id, &ll_text(1, "a11.1.mp4"), at(10)));
        let reload = reqs(&drain(&mut s))
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
}
