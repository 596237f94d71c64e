//! A simulated LL-HLS origin: analytic (a pure function of time), so a request can be
//! answered for any instant without replaying the stream.
//!
//! URLs: `http://sim/main.m3u8` (multivariant), `http://<host>/r<i>/a.m3u8`
//! (media playlist, delivery directives honoured: S-BLK-01..03/06/08, S-SKIP-01),
//! `.../p<msn>.<part>.m4s` (parts; the next part is held until complete, P-HINT-04;
//! further ones 404, P-HINT-05), `.../s<msn>.m4s` (segments), `.../init.mp4`,
//! `/key` (AES-128 key when encryption is on).

use super::super::abr::Bitrate;
use crate::time::Instant;
use bytes::Bytes;
use std::fmt::Write as _;
use std::time::Duration;
use url::Url;

/// Injected failure: answer `status` to the next `times` requests whose URL contains
/// `pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Substring of the URL (host or path) to match.
    pub pattern: String,
    /// Status to answer.
    pub status: u16,
    /// How many matching requests fail.
    pub times: u32,
}

/// Simulated origin settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginConfig {
    /// Rendition bit rates (media payload), ascending.
    pub renditions: Vec<Bitrate>,
    /// Part duration (PART-TARGET).
    pub part_target: Duration,
    /// Parts per segment.
    pub parts_per_segment: u32,
    /// Complete segments kept in the playlist.
    pub window_segments: u64,
    /// Serve LL-HLS (parts, hints, blocking reload, reports). Off: plain live.
    pub low_latency: bool,
    /// Offer delta updates (CAN-SKIP-UNTIL = 6 × target duration).
    pub delta: bool,
    /// The stream has been running this long at time zero.
    pub running_for: Duration,
    /// End the stream (ENDLIST) at this time, if set; VOD when zero.
    pub ends_at: Option<Duration>,
    /// fMP4 overhead per part (moof + mdat headers), bytes.
    pub part_overhead: u64,
    /// HTTP response overhead per response (HEADERS frame, framing), bytes.
    pub response_overhead: u64,
    /// gzip playlists (their wire size is measured with flate2).
    pub gzip: bool,
    /// Also list each variant on a second host `backup` (redundant variants).
    pub redundant: bool,
    /// Encrypt segments with AES-128 (segments only; use with `low_latency: false`).
    pub aes_key: Option<[u8; 16]>,
    /// Injected failures.
    pub faults: Vec<Fault>,
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            renditions: vec![
                Bitrate::from_kbps(48),
                Bitrate::from_kbps(96),
                Bitrate::from_kbps(160),
            ],
            part_target: Duration::from_millis(200),
            parts_per_segment: 10,
            window_segments: 10,
            low_latency: true,
            delta: true,
            running_for: Duration::from_secs(30),
            ends_at: None,
            part_overhead: 120,
            response_overhead: 90,
            gzip: true,
            redundant: false,
            aes_key: None,
            faults: Vec::new(),
        }
    }
}

impl OriginConfig {
    /// Check the values are usable.
    pub fn validate(&self) -> Result<(), crate::Error> {
        if self.renditions.is_empty() || self.part_target.is_zero() || self.parts_per_segment == 0 {
            return Err(crate::Error::Config(
                "origin needs renditions, a part target and parts per segment",
            ));
        }
        if self.window_segments < 3 {
            return Err(crate::Error::Config(
                "origin window must hold at least 3 segments (S-GEN-04)",
            ));
        }
        Ok(())
    }
}

/// The origin's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// When the server starts sending (after any hold).
    pub ready_at: Instant,
    /// HTTP status.
    pub status: u16,
    /// Body as the client sees it (decompressed).
    pub body: Bytes,
    /// Bytes on the wire (compressed body + response overhead).
    pub wire_bytes: u64,
}

/// The simulated origin.
#[derive(Debug, Clone)]
pub struct SimOrigin {
    cfg: OriginConfig,
}

/// Unix time of media time zero (for PROGRAM-DATE-TIME): 2026-01-01T00:00:00Z.
pub const PDT_EPOCH_UNIX: u64 = 1_767_225_600;

fn fmt_secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn fmt_date(media_time: Duration) -> String {
    let t = PDT_EPOCH_UNIX + media_time.as_secs();
    let (days, sod) = (t / 86_400, t % 86_400);
    // civil-from-days (Howard Hinnant), days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        media_time.subsec_millis()
    )
}

impl SimOrigin {
    /// An origin.
    pub fn new(cfg: OriginConfig) -> Self {
        SimOrigin { cfg }
    }

    /// Settings.
    pub fn config(&self) -> &OriginConfig {
        &self.cfg
    }

    fn seg_dur(&self) -> Duration {
        self.cfg.part_target * self.cfg.parts_per_segment
    }

    fn target_duration(&self) -> Duration {
        Duration::from_secs(self.seg_dur().as_secs_f64().ceil() as u64)
    }

    /// Media time produced by instant `t`.
    fn media_time(&self, t: Instant) -> Duration {
        let m = t.since_epoch() + self.cfg.running_for;
        match self.cfg.ends_at {
            Some(end) => m.min(end + self.cfg.running_for),
            None => m,
        }
    }

    fn ended(&self, t: Instant) -> bool {
        self.cfg.ends_at.is_some_and(|e| t.since_epoch() >= e)
    }

    /// Number of parts complete at `t`.
    fn parts_done(&self, t: Instant) -> u64 {
        (self.media_time(t).as_nanos() / self.cfg.part_target.as_nanos().max(1)) as u64
    }

    /// Instant part with global index `g` is complete.
    fn part_ready(&self, g: u64) -> Instant {
        let media_end = self.cfg.part_target * u32::try_from(g + 1).unwrap_or(u32::MAX);
        Instant::from_epoch(media_end.saturating_sub(self.cfg.running_for))
    }

    /// Capture (media) time at which part `(msn, part)` starts, for latency accounting.
    pub fn part_start(&self, msn: u64, part: u32) -> Duration {
        self.cfg.part_target
            * u32::try_from(msn * u64::from(self.cfg.parts_per_segment) + u64::from(part))
                .unwrap_or(u32::MAX)
    }

    /// Media time at the origin's live edge at `t`.
    pub fn live_edge(&self, t: Instant) -> Duration {
        self.media_time(t)
    }

    fn part_bytes(&self, r: usize) -> u64 {
        self.cfg.renditions[r].bytes_in(self.cfg.part_target) + self.cfg.part_overhead
    }

    fn body(len: u64, seed: u64) -> Bytes {
        // Deterministic filler so byte comparisons in tests mean something.
        let mut v = Vec::with_capacity(len as usize);
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        Bytes::from(v)
    }

    /// Bytes of part `(msn, part)` of rendition `r`.
    pub fn part_body(&self, r: usize, msn: u64, part: u32) -> Bytes {
        Self::body(
            self.part_bytes(r),
            (r as u64) << 48 ^ msn << 8 ^ u64::from(part),
        )
    }

    /// Bytes of segment `msn` (its parts concatenated; encrypted if AES is on).
    pub fn segment_body(&self, r: usize, msn: u64) -> Bytes {
        let mut v = Vec::new();
        for p in 0..self.cfg.parts_per_segment {
            v.extend_from_slice(&self.part_body(r, msn, p));
        }
        match self.cfg.aes_key {
            Some(key) => {
                use aes::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
                let iv = crate::session::iv_for_msn(msn);
                Bytes::from(
                    cbc::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into())
                        .encrypt_padded_vec::<Pkcs7>(&v),
                )
            }
            None => Bytes::from(v),
        }
    }

    fn wire(&self, body: &[u8], compress: bool) -> u64 {
        let n = if compress && self.cfg.gzip {
            use flate2::{Compression, write::GzEncoder};
            use std::io::Write;
            let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
            // Writing into a Vec cannot fail.
            let _ = e.write_all(body);
            e.finish().map(|v| v.len()).unwrap_or(body.len())
        } else {
            body.len()
        };
        n as u64 + self.cfg.response_overhead
    }

    fn reply(&self, ready_at: Instant, status: u16, body: Bytes, compress: bool) -> Reply {
        let wire_bytes = self.wire(&body, compress);
        Reply {
            ready_at,
            status,
            body,
            wire_bytes,
        }
    }

    fn not_found(&self, at: Instant, status: u16) -> Reply {
        Reply {
            ready_at: at,
            status,
            body: Bytes::new(),
            wire_bytes: self.cfg.response_overhead,
        }
    }

    /// Answer a request that reaches the server at `arrival`.
    pub fn respond(&mut self, url: &Url, arrival: Instant) -> Reply {
        let text = url.as_str().to_string();
        if let Some(f) = self
            .cfg
            .faults
            .iter_mut()
            .find(|f| f.times > 0 && text.contains(&f.pattern))
        {
            f.times -= 1;
            let status = f.status;
            return self.not_found(arrival, status);
        }
        let path = url.path();
        if path == "/main.m3u8" {
            return self.reply(arrival, 200, Bytes::from(self.multivariant()), true);
        }
        if path == "/key" {
            return match self.cfg.aes_key {
                Some(k) => self.reply(arrival, 200, Bytes::copy_from_slice(&k), false),
                None => self.not_found(arrival, 404),
            };
        }
        let mut segs = path.trim_start_matches('/').splitn(2, '/');
        let (Some(r), Some(file)) = (segs.next(), segs.next()) else {
            return self.not_found(arrival, 404);
        };
        let Some(r) = r
            .strip_prefix('r')
            .and_then(|r| r.parse::<usize>().ok())
            .filter(|&r| r < self.cfg.renditions.len())
        else {
            return self.not_found(arrival, 404);
        };
        let pps = u64::from(self.cfg.parts_per_segment);
        if file == "a.m3u8" {
            let q: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let msn = get("_HLS_msn").map(|v| v.parse::<u64>());
            let part = get("_HLS_part").map(|v| v.parse::<u64>());
            let skip = get("_HLS_skip") == Some("YES");
            let mut at = arrival;
            if !self.ended(arrival) && self.cfg.low_latency {
                let target = match (msn, part) {
                    (None, Some(_)) | (Some(Err(_)), _) | (_, Some(Err(_))) => {
                        return self.not_found(arrival, 400);
                    } // S-BLK-07/09
                    (Some(Ok(m)), Some(Ok(p))) => Some(m.saturating_mul(pps).saturating_add(p)),
                    (Some(Ok(m)), None) => Some((m + 1).saturating_mul(pps).saturating_sub(1)),
                    (None, None) => None,
                };
                if let Some(g) = target {
                    let done = self.parts_done(arrival);
                    if g > done + pps * 2 {
                        return self.not_found(arrival, 400); // S-BLK-06
                    }
                    let ready = self.part_ready(g);
                    if ready - arrival > self.target_duration() * 3 {
                        return self.not_found(arrival + self.target_duration() * 3, 503); // S-BLK-08
                    }
                    at = at.max(ready);
                }
            }
            let body = self.media_playlist(r, at, skip && self.cfg.delta);
            return self.reply(at, 200, Bytes::from(body), true);
        }
        if file == "init.mp4" {
            return self.reply(arrival, 200, Self::body(600, r as u64), false);
        }
        let done = self.parts_done(arrival);
        let oldest = (done / pps).saturating_sub(self.cfg.window_segments + 3);
        if let Some(name) = file.strip_prefix('p').and_then(|f| f.strip_suffix(".m4s")) {
            let Some((m, p)) = name.split_once('.') else {
                return self.not_found(arrival, 404);
            };
            let (Ok(m), Ok(p)) = (m.parse::<u64>(), p.parse::<u32>()) else {
                return self.not_found(arrival, 404);
            };
            if u64::from(p) >= pps || m < oldest || !self.cfg.low_latency {
                return self.not_found(arrival, 404);
            }
            let g = m * pps + u64::from(p);
            if g < done {
                return self.reply(arrival, 200, self.part_body(r, m, p), false);
            }
            if g == done && !self.ended(arrival) {
                // P-HINT-04: the hinted part is held until complete.
                return self.reply(self.part_ready(g), 200, self.part_body(r, m, p), false);
            }
            return self.not_found(arrival, 404); // P-HINT-05
        }
        if let Some(m) = file
            .strip_prefix('s')
            .and_then(|f| f.strip_suffix(".m4s"))
            .and_then(|m| m.parse::<u64>().ok())
        {
            if m < oldest || (m + 1) * pps > done {
                return self.not_found(arrival, 404);
            }
            return self.reply(arrival, 200, self.segment_body(r, m), false);
        }
        self.not_found(arrival, 404)
    }

    /// The multivariant playlist.
    pub fn multivariant(&self) -> String {
        let mut s = String::from("#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        // Primary URIs are relative (so the origin can be served from any host, as
        // the driver tests do); the redundant copies name the `backup` host.
        let prefixes: &[&str] = if self.cfg.redundant {
            &["", "http://backup/"]
        } else {
            &[""]
        };
        for prefix in prefixes {
            for (i, b) in self.cfg.renditions.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"mp4a.40.2\"\n{prefix}r{i}/a.m3u8",
                    b.bps()
                );
            }
        }
        s
    }

    /// Media playlist of rendition `r` as of `t`.
    pub fn media_playlist(&self, r: usize, t: Instant, skip: bool) -> String {
        let pps = u64::from(self.cfg.parts_per_segment);
        let done = self.parts_done(t);
        let complete = done / pps; // segments 0..complete are complete
        let first = complete.saturating_sub(self.cfg.window_segments);
        let ended = self.ended(t);
        let td = self.target_duration();
        let ll = self.cfg.low_latency;
        let mut s = String::with_capacity(4096);
        let _ = writeln!(
            s,
            "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{}",
            if ll { 9 } else { 7 },
            td.as_secs()
        );
        if ll {
            let skip_until = if self.cfg.delta {
                format!(",CAN-SKIP-UNTIL={}", fmt_secs(td * 6))
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES{skip_until},PART-HOLD-BACK={}\n#EXT-X-PART-INF:PART-TARGET={}",
                fmt_secs(self.cfg.part_target * 3),
                fmt_secs(self.cfg.part_target)
            );
        }
        let _ = writeln!(
            s,
            "#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-MAP:URI=\"init.mp4\""
        );
        if self.cfg.aes_key.is_some() {
            let _ = writeln!(s, "#EXT-X-KEY:METHOD=AES-128,URI=\"/key\"");
        }
        let seg_dur = self.seg_dur();
        let mut from = first;
        if skip && ll && self.cfg.delta && !ended {
            // Skip boundary: segments ending more than 6 TD before the playlist end.
            let end_media = self.cfg.part_target * u32::try_from(done).unwrap_or(u32::MAX);
            let boundary = end_media.saturating_sub(td * 6);
            let n = (first..complete)
                .take_while(|m| seg_dur * u32::try_from(m + 1).unwrap_or(u32::MAX) <= boundary)
                .count() as u64;
            if n > 0 {
                let _ = writeln!(s, "#EXT-X-SKIP:SKIPPED-SEGMENTS={n}");
                from = first + n;
            }
        }
        let part_line = |s: &mut String, m: u64, p: u64| {
            let _ = writeln!(
                s,
                "#EXT-X-PART:DURATION={},URI=\"p{m}.{p}.m4s\",INDEPENDENT=YES",
                fmt_secs(self.cfg.part_target)
            );
        };
        for m in from..complete {
            if from == m || !ll {
                let _ = writeln!(
                    s,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    fmt_date(seg_dur * u32::try_from(m).unwrap_or(0))
                );
            }
            if ll && m + 3 >= complete {
                for p in 0..pps {
                    part_line(&mut s, m, p);
                }
            }
            let _ = writeln!(s, "#EXTINF:{},\ns{m}.m4s", fmt_secs(seg_dur));
        }
        if ll && !ended {
            if from == complete {
                let _ = writeln!(
                    s,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    fmt_date(seg_dur * u32::try_from(complete).unwrap_or(0))
                );
            }
            for p in 0..done % pps {
                part_line(&mut s, complete, p);
            }
            let _ = writeln!(
                s,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p{}.{}.m4s\"",
                complete,
                done % pps
            );
            let (lm, lp) = if done.is_multiple_of(pps) {
                (complete.saturating_sub(1), pps - 1)
            } else {
                (complete, done % pps - 1)
            };
            for o in 0..self.cfg.renditions.len() {
                if o != r {
                    let _ = writeln!(
                        s,
                        "#EXT-X-RENDITION-REPORT:URI=\"../r{o}/a.m3u8\",LAST-MSN={lm},LAST-PART={lp}"
                    );
                }
            }
        }
        if ended {
            s.push_str("#EXT-X-ENDLIST\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_epoch(Duration::from_millis(ms))
    }

    #[test]
    fn blocking_reload_is_held_until_the_part_exists() {
        // checklist S-BLK-02, S-BLK-03
        let mut o = SimOrigin::new(OriginConfig {
            running_for: Duration::from_millis(2100),
            ..OriginConfig::default()
        });
        // At t=0: 10 parts done (segment 0 complete) -> next part is (1, 0).
        let u = Url::parse("http://sim/r0/a.m3u8?_HLS_msn=1&_HLS_part=1").expect("url");
        let rep = o.respond(&u, at(0));
        assert_eq!(rep.status, 200);
        assert_eq!(rep.ready_at, at(300)); // part (1,1) completes at media 2.4 s
        let text = String::from_utf8(rep.body.to_vec()).expect("utf8");
        assert!(text.contains("p1.1.m4s\",INDEPENDENT"), "{text}");
        assert!(
            text.contains("PRELOAD-HINT:TYPE=PART,URI=\"p1.2.m4s\""),
            "{text}"
        );
        // _HLS_part past the end of segment 0 means part 0 of segment 1.
        let u = Url::parse("http://sim/r0/a.m3u8?_HLS_msn=0&_HLS_part=10").expect("url");
        assert_eq!(o.respond(&u, at(0)).ready_at, at(100)); // = (1, 0)
        // Far future: 400.
        let u = Url::parse("http://sim/r0/a.m3u8?_HLS_msn=9&_HLS_part=0").expect("url");
        assert_eq!(o.respond(&u, at(0)).status, 400);
    }

    #[test]
    fn hinted_part_held_and_unknown_part_404() {
        // checklist P-HINT-04, P-HINT-05
        let mut o = SimOrigin::new(OriginConfig {
            running_for: Duration::from_millis(2100),
            ..OriginConfig::default()
        });
        let rep = o.respond(&Url::parse("http://sim/r2/p1.0.m4s").expect("url"), at(0));
        assert_eq!((rep.status, rep.ready_at), (200, at(100)));
        assert_eq!(rep.body.len() as u64, 160_000 / 5 / 8 + 120);
        let rep = o.respond(&Url::parse("http://sim/r2/p1.5.m4s").expect("url"), at(0));
        assert_eq!((rep.status, rep.ready_at), (404, at(0)));
    }

    #[test]
    fn dates_render() {
        assert_eq!(
            fmt_date(Duration::from_millis(1500)),
            "2026-01-01T00:00:01.500Z"
        );
        assert_eq!(
            fmt_date(Duration::from_secs(86_400 * 59)),
            "2026-03-01T00:00:00.000Z"
        );
    }
}
