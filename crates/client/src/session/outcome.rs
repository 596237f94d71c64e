//! What the session does with each response or failure: retries with jittered
//! backoff, failover, skipping media that cannot be had.

use super::*;

impl Session {
    pub(super) fn on_success(&mut self, now: Instant, p: Pending, body: Bytes) {
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

    pub(super) fn confirm_ready_hints(&mut self) {
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

    /// A request failed: `status` is the HTTP status if there was a response, `reset`
    /// says the connection broke under it (reset, refused, closed early).
    ///
    /// The first retry after a reset goes out at once: a broken connection says
    /// nothing about the server's load, and on a live edge a part or blocking reload
    /// held back by a backoff (100–300 ms at the defaults) costs more than the buffer
    /// of a sub-second latency holds. Later attempts, and every HTTP error, back off.
    pub(super) fn on_failure(
        &mut self,
        now: Instant,
        p: Pending,
        status: Option<u16>,
        reset: bool,
    ) {
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
                self.retry(now, Pending::Playlist(req), attempt, reset);
            }
            Pending::Media(mut m) => {
                if m.hint {
                    if reset && m.attempt == 0 {
                        // The connection broke under a hinted request: ask once more
                        // at once, the part is still the one being produced.
                        m.attempt = 1;
                        return self.retry(now, Pending::Media(m), 0, true);
                    }
                    // A hint answered 404 (P-HINT-06) or failing: forget it; the part
                    // will be fetched from the playlist once listed.
                    self.next_fetch = Some(self.next_fetch.map_or(m.pos, |n| n.min(m.pos)));
                    return;
                }
                let retryable = !matches!(status, Some(410) | Some(400..=403));
                if retryable && m.attempt + 1 < self.cfg.max_retries {
                    let attempt = m.attempt;
                    m.attempt += 1;
                    self.retry(now, Pending::Media(m), attempt, reset);
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
