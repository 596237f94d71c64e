//! Playlist side of the session: first load, blocking/delta/polled reloads,
//! live-edge start, rendition switches by report, hint bookkeeping.

use super::*;

impl Session {
    pub(super) fn send_playlist(&mut self, now: Instant, req: PlaylistReq) {
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
    pub(super) fn request_reload(&mut self, now: Instant, timer_fired: bool) {
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
                // With `k` parts more audio buffered than PART-HOLD-BACK + one part,
                // there is no hurry to hear of the next part: block `k` parts further
                // (capped under the Advance Part Limit), so one reload announces
                // `k + 1` parts. On a thin link, stalls grow the buffer until the
                // playlist overhead fits; at the target latency `k` is 0.
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

    pub(super) fn on_root(&mut self, now: Instant, body: Bytes) {
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

    pub(super) fn on_playlist_body(&mut self, now: Instant, req: PlaylistReq, body: Bytes) {
        let prev = self
            .pl
            .as_ref()
            .filter(|p| p.rendition == req.rendition && req.delta)
            .map(|p| &p.raw);
        match codec::parse(&body, prev) {
            Ok((Parsed::Media(view), raw)) => self.on_playlist(now, req, view, raw),
            Ok((Parsed::Multivariant(_), _)) => {
                self.on_failure(now, Pending::Playlist(req), None, false);
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
                self.on_failure(now, Pending::Playlist(req), None, false);
            }
        }
    }

    pub(super) fn ll_capable(&self, v: &MediaView) -> bool {
        // C-LL-01: parts, blocking reload, a part hint, dates; reports when several
        // renditions exist. Otherwise follow at regular latency. A stream that has just
        // started cannot show all of it yet: with no media listed there are no dates,
        // and in its first segment the other renditions may not have published, so no
        // reports. Asking for them then started a fresh stream's viewers a whole
        // segment late, in regular mode (first chunk after 0.86 s, latency 0.9 s at 85 ms
        // parts); dates are checked once media is listed, reports once a segment is
        // complete.
        let reports_due = v.segments.iter().any(|s| s.complete);
        self.cfg.low_latency
            && !v.ended
            && v.part_target.is_some()
            && v.can_block_reload
            && v.hint.is_some()
            && (v.segments.is_empty() || v.segments.iter().any(|s| s.pdt.is_some()))
            && (self.renditions.len() <= 1 || !v.reports.is_empty() || !reports_due)
    }

    pub(super) fn on_playlist(
        &mut self,
        now: Instant,
        req: PlaylistReq,
        view: MediaView,
        raw: codec::Raw,
    ) {
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
    ///
    /// Deferring the reload by `k` parts delays the parts after the listed edge by `k`
    /// parts. Two things cover that delay: audio the player already holds beyond
    /// PART-HOLD-BACK plus one part (the reported buffer), and the time the link stays
    /// busy anyway fetching parts already listed but not yet delivered. The latter is
    /// that backlog's duration scaled by rendition bitrate / measured throughput, not
    /// its duration: right after a deferred reload the backlog *is* the `k` parts the
    /// deferral held back, and counting them whole grew `k` by itself at every reload
    /// until parts came in bursts of up to 9 and playback stalled (issue #6). With a
    /// scale `r < 1` that growth converges (`k* = (b + r) / (1 − r)`, `b` the buffer
    /// term in parts); on a fat link `r` is about 0. At `r ≥ 1` (capped at 1) the link
    /// cannot carry the rendition, the ABR leaves it, and meanwhile fewer reloads are
    /// what helps; `MAX_RELOAD_LOOKAHEAD` bounds `k`.
    pub(super) fn reload_lookahead(&self) -> u32 {
        let Some(pl) = self.pl.as_ref() else { return 0 };
        let (Some(pd), Some(hold)) = (pl.view.part_target, pl.view.part_hold_back_or_default())
        else {
            return 0;
        };
        // How long the link stays busy with what is listed but not delivered yet, at
        // what the rendition really costs on the wire (framing and headers included:
        // on a thin link that is 15-20 % more than its BANDWIDTH).
        let cost = match self.wire_rate {
            Some((r, bps)) if r == pl.rendition => Some(bps),
            _ => self
                .renditions
                .get(pl.rendition)
                .map(|r| r.bandwidth.bps() as f64),
        };
        let busy = match (self.delivery_frontier(), cost, self.abr.estimate()) {
            (Some(pos), Some(cost), Some(est)) if est.bps() > 0 => {
                let load = (cost / est.bps() as f64).min(1.0);
                pl.view.duration_from(pos, false).mul_f64(load)
            }
            _ => Duration::ZERO,
        };
        let slack = (self.buffer + busy).saturating_sub(hold + pd);
        let k = (slack.as_secs_f64() / pd.as_secs_f64().max(1e-3)) as u32;
        k.min(MAX_RELOAD_LOOKAHEAD)
    }

    /// C-RELOAD-02: a plain live playlist unchanged for 1.5 × target duration.
    pub(super) fn check_stale(&mut self, now: Instant) {
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
    /// (default 3 target durations) otherwise, the first segment for VOD. `None` (not
    /// yet) for a low-latency stream that lists less than PART-HOLD-BACK in all.
    pub(super) fn start_pos(&self) -> Option<Pos> {
        let pl = self.pl.as_ref()?;
        let v = &pl.view;
        if v.ended {
            return Some(Pos {
                msn: v.first_msn(),
                part: 0,
            });
        }
        if pl.low_latency {
            let hold = v.part_hold_back_or_default()?;
            let mut acc = Duration::ZERO;
            let mut best = None;
            let mut enough = false;
            let mut older = false;
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
                        enough = true;
                        break 'outer;
                    }
                }
                if s.parts.is_empty() && s.complete {
                    older = true;
                    break;
                }
            }
            if !enough && !older {
                // A stream younger than PART-HOLD-BACK: everything it has is closer to
                // the edge than the hold-back. Wait (blocking reloads) until enough is
                // listed rather than play on a thin buffer (C-START-01).
                return None;
            }
            if best.is_some() {
                return best;
            }
        }
        let hold = v.hold_back_or_default();
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
    pub(super) fn rekey_hint(&mut self) {
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
}
