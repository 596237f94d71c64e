//! Media side of the session: planning parts/segments, hints, init and key
//! fetches, ABR checks, in-order delivery, jumps to the live edge.

use super::*;

impl Session {
    pub(super) fn key_for(
        &self,
        base: &Url,
        key: &Key,
        msn: u64,
    ) -> Result<(Url, [u8; 16]), Error> {
        match &key.method {
            KeyMethod::Aes128 => Ok((resolve(base, &key.uri)?, aes::iv_for(key.iv, msn))),
            KeyMethod::Unsupported(m) => Err(Error::UnsupportedKey(m.clone())),
        }
    }

    pub(super) fn unit_meta(&self, pos: Pos, whole: bool) -> Option<UnitMeta> {
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

    pub(super) fn successor(&self, pos: Pos, whole: bool) -> Pos {
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
    pub(super) fn plan(
        &self,
        mut pos: Pos,
    ) -> Result<Option<(Pos, bool, String, Option<ByteRange>)>, Error> {
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

    pub(super) fn send_media(&mut self, now: Instant, m: MediaReq) {
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

    pub(super) fn media_in_flight(&self) -> usize {
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

    pub(super) fn ensure_init(&mut self, now: Instant, url: &Url, map: &Map) {
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

    pub(super) fn ensure_key(&mut self, now: Instant, url: &Url) {
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

    pub(super) fn abr_check(&mut self, now: Instant) {
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

    pub(super) fn fill_media(&mut self, now: Instant) {
        if self.pl.is_none() {
            return;
        }
        // Bounded by max_media_in_flight requests per pump.
        let cap = self.media_cap();
        for _ in 0..self.cfg.max_media_in_flight + 1 {
            if self.media_in_flight() >= cap {
                break;
            }
            let Some(pos) = self.next_fetch else { break };
            if self.switch_to.is_some_and(|w| w < self.current) && self.switch_in_flight.is_some() {
                // A switch down is on its way: the old rendition's parts cost more than
                // the new one's and would queue ahead of them on a link that just got
                // thinner. Wait the round trip for the new playlist instead.
                break;
            }
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

    /// Media requests allowed in flight: `max_media_in_flight`, but only
    /// [`THIN_IN_FLIGHT`] while the last media response came slower than the current
    /// rendition plays. Every request made commits the link to the rendition chosen
    /// when it was made, and the rule is asked only when a request is made: four
    /// parts requested at once over a link that has just halved kept a rendition it
    /// could not carry for 1.5 s before the rule was asked again (80 ms RTT staircase,
    /// 180 -> 90 kb/s).
    fn media_cap(&self) -> usize {
        let cap = self.cfg.max_media_in_flight;
        match (self.last_media_rate, self.wire_rate) {
            (Some(rate), Some((r, cost))) if r == self.current && rate < cost => {
                cap.min(THIN_IN_FLIGHT)
            }
            _ => cap,
        }
    }

    /// A media request for `pos` is in flight, waiting for a retry, or done.
    pub(super) fn is_covered(&self, pos: Pos) -> bool {
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
    pub(super) fn maybe_hint(&mut self, now: Instant, pos: Pos) {
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
        // The hinted part's init section is that of the newest segment: ask for it now,
        // not once the part has arrived (after a switch that cost a round trip of
        // silence before the first part of the new rendition could be delivered).
        let map = pl.view.segments.last().and_then(|s| {
            let m = s.map.as_ref()?;
            Some((resolve(&pl.url, &m.uri).ok()?, m.clone()))
        });
        if let Some((u, m)) = map {
            self.ensure_init(now, &u, &m);
        }
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

    pub(super) fn delivery_frontier(&self) -> Option<Pos> {
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

    pub(super) fn deliver(&mut self, now: Instant) {
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

    pub(super) fn stall_check(&mut self, now: Instant) {
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
        let asked = std::mem::take(&mut self.jump_requested);
        if behind <= limit && !fell_off && !asked {
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

    pub(super) fn check_end(&mut self) {
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
        // Past the end: beyond the last segment, or beyond the last part of the final
        // segment (a stream that ends mid-segment closes it short, so the part the
        // client was heading for — often the hinted one — never exists).
        let past_end = |n: Pos| {
            n.msn >= after_last
                || (n.msn + 1 == after_last
                    && pl.view.segment(n.msn).is_some_and(|s| {
                        s.complete && !s.parts.is_empty() && n.part as usize >= s.parts.len()
                    }))
        };
        if !media_left && self.next_fetch.is_none_or(past_end) {
            self.actions.push_back(Action::Ended);
            self.done = true;
        }
    }

    pub(super) fn pump(&mut self, now: Instant) {
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
}
