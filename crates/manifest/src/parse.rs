//! Playlist text input: one pass over the lines, no regex, no backtracking.
//!
//! Tolerant where real servers differ (BOM, CRLF, blank lines, unknown tags and
//! attributes, lowercase `t`/`z` in dates, attribute order), strict where the spec is
//! (`#EXTM3U` first, required attributes, integers that fit u64, mixed playlist
//! kinds). Every error names the line. Never panics: input is only sliced at byte
//! positions found by searching for ASCII delimiters.

use crate::error::{ParseError, ParseErrorKind as K};
use crate::fmt::{parse_date, parse_iv, parse_secs, parse_u64};
use crate::types::{
    ByteRange, DateRange, HintType, Key, KeyMethod, Map, MediaPlaylist, MediaType,
    MultivariantPlaylist, Part, Playlist, PlaylistType, PreloadHint, Rendition, RenditionReport,
    Segment, ServerControl, Skip, Variant,
};
use std::time::{Duration, SystemTime};

/// Largest playlist accepted (nothing unbounded on input).
pub const MAX_PLAYLIST_BYTES: usize = 16 << 20;

/// An attribute list iterator: `(name, value, quoted)`, quotes stripped.
struct Attrs<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (&'a str, &'a str, bool);
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.trim_start_matches([',', ' ']);
        let eq = rest.find('=')?;
        let name = rest[..eq].trim();
        let after = &rest[eq + 1..];
        if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            self.rest = q.get(end + 1..).unwrap_or("");
            Some((name, &q[..end], true))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            self.rest = &after[end..];
            Some((name, after[..end].trim(), false))
        }
    }
}

fn attrs(s: &str) -> Attrs<'_> {
    Attrs { rest: s }
}

/// A tag with an unknown `REQ-` attribute is ignored as a whole (P-TXT-06).
fn has_required_unknown(s: &str) -> bool {
    s.contains("REQ-") && attrs(s).any(|(n, _, _)| n.starts_with("REQ-"))
}

fn yes(v: &str) -> bool {
    v == "YES"
}

fn byte_range(v: &str) -> Option<ByteRange> {
    let (n, o) = match v.split_once('@') {
        Some((n, o)) => (n, Some(parse_u64(o.trim())?)),
        None => (v, None),
    };
    Some(ByteRange {
        len: parse_u64(n.trim())?,
        offset: o,
    })
}

#[derive(Default)]
struct Pending {
    discontinuity: bool,
    gap: bool,
    pdt: Option<SystemTime>,
    byte_range: Option<ByteRange>,
    extinf: Option<(Duration, String)>,
    parts: Vec<Part>,
}

struct State {
    line: usize,
    media_tag: Option<usize>,
    multi_tag: Option<usize>,
    media: MediaPlaylist,
    multi: MultivariantPlaylist,
    target_seen: bool,
    pending: Pending,
    map: Option<Map>,
    key: Option<Key>,
    bitrate: Option<u64>,
    stream_inf: Option<Variant>,
}

impl State {
    fn err(&self, kind: K) -> ParseError {
        ParseError {
            line: self.line,
            kind,
        }
    }

    fn invalid(&self, tag: &'static str, expected: &'static str) -> ParseError {
        self.err(K::Invalid { tag, expected })
    }

    fn missing(&self, tag: &'static str, attribute: &'static str) -> ParseError {
        self.err(K::MissingAttribute { tag, attribute })
    }

    fn media(&mut self) -> Result<(), ParseError> {
        if self.multi_tag.is_some() {
            return Err(self.err(K::Mixed));
        }
        self.media_tag.get_or_insert(self.line);
        Ok(())
    }

    fn multi(&mut self) -> Result<(), ParseError> {
        if self.media_tag.is_some() {
            return Err(self.err(K::Mixed));
        }
        self.multi_tag.get_or_insert(self.line);
        Ok(())
    }

    fn secs(&self, v: &str, tag: &'static str) -> Result<Duration, ParseError> {
        parse_secs(v.trim()).ok_or_else(|| self.invalid(tag, "a non-negative decimal number"))
    }

    fn int(&self, v: &str, tag: &'static str) -> Result<u64, ParseError> {
        parse_u64(v.trim()).ok_or_else(|| self.invalid(tag, "a decimal integer that fits u64"))
    }

    fn tag(&mut self, name: &str, value: &str) -> Result<(), ParseError> {
        match name {
            "#EXT-X-VERSION" => {
                let v = self.int(value, "EXT-X-VERSION")?;
                let v = u16::try_from(v).map_err(|_| self.invalid("EXT-X-VERSION", "≤ 65535"))?;
                self.media.version = v;
                self.multi.version = v;
            }
            "#EXT-X-INDEPENDENT-SEGMENTS" => {
                self.media.independent_segments = true;
                self.multi.independent_segments = true;
            }
            "#EXT-X-TARGETDURATION" => {
                self.media()?;
                self.media.target_duration = self.int(value, "EXT-X-TARGETDURATION")?;
                self.target_seen = true;
            }
            "#EXT-X-MEDIA-SEQUENCE" => {
                self.media()?;
                self.media.media_sequence = self.int(value, "EXT-X-MEDIA-SEQUENCE")?;
            }
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                self.media()?;
                self.media.discontinuity_sequence =
                    self.int(value, "EXT-X-DISCONTINUITY-SEQUENCE")?;
            }
            "#EXT-X-PLAYLIST-TYPE" => {
                self.media()?;
                self.media.playlist_type = match value.trim() {
                    "EVENT" => Some(PlaylistType::Event),
                    "VOD" => Some(PlaylistType::Vod),
                    _ => return Err(self.invalid("EXT-X-PLAYLIST-TYPE", "EVENT or VOD")),
                };
            }
            "#EXT-X-ENDLIST" => {
                self.media()?;
                self.media.end_list = true;
            }
            "#EXT-X-I-FRAMES-ONLY" => self.media()?,
            "#EXT-X-PART-INF" => {
                self.media()?;
                let t = attrs(value)
                    .find(|(n, _, _)| *n == "PART-TARGET")
                    .ok_or_else(|| self.missing("EXT-X-PART-INF", "PART-TARGET"))?;
                self.media.part_target = Some(self.secs(t.1, "EXT-X-PART-INF")?);
            }
            "#EXT-X-SERVER-CONTROL" => {
                self.media()?;
                let mut c = ServerControl::default();
                for (n, v, _) in attrs(value) {
                    match n {
                        "CAN-BLOCK-RELOAD" => c.can_block_reload = yes(v),
                        "CAN-SKIP-UNTIL" => {
                            c.can_skip_until = Some(self.secs(v, "EXT-X-SERVER-CONTROL")?)
                        }
                        "CAN-SKIP-DATERANGES" => c.can_skip_dateranges = yes(v),
                        "HOLD-BACK" => c.hold_back = Some(self.secs(v, "EXT-X-SERVER-CONTROL")?),
                        "PART-HOLD-BACK" => {
                            c.part_hold_back = Some(self.secs(v, "EXT-X-SERVER-CONTROL")?)
                        }
                        _ => {}
                    }
                }
                self.media.server_control = Some(c);
            }
            "#EXT-X-SKIP" => {
                self.media()?;
                let mut s = Skip::default();
                let mut seen = false;
                for (n, v, _) in attrs(value) {
                    match n {
                        "SKIPPED-SEGMENTS" => {
                            s.skipped_segments = self.int(v, "EXT-X-SKIP")?;
                            seen = true;
                        }
                        "RECENTLY-REMOVED-DATERANGES" => {
                            s.recently_removed_dateranges = Some(
                                v.split('\t')
                                    .filter(|x| !x.is_empty())
                                    .map(str::to_owned)
                                    .collect(),
                            )
                        }
                        _ => {}
                    }
                }
                if !seen {
                    return Err(self.missing("EXT-X-SKIP", "SKIPPED-SEGMENTS"));
                }
                self.media.skip = Some(s);
            }
            "#EXTINF" => {
                self.media()?;
                let (d, title) = value.split_once(',').unwrap_or((value, ""));
                let d = self.secs(d, "EXTINF")?;
                self.pending.extinf = Some((d, title.to_owned()));
            }
            "#EXT-X-BYTERANGE" => {
                self.media()?;
                self.pending.byte_range = Some(
                    byte_range(value)
                        .ok_or_else(|| self.invalid("EXT-X-BYTERANGE", "<n>[@<o>]"))?,
                );
            }
            "#EXT-X-DISCONTINUITY" => {
                self.media()?;
                self.pending.discontinuity = true;
            }
            "#EXT-X-GAP" => {
                self.media()?;
                self.pending.gap = true;
            }
            "#EXT-X-PROGRAM-DATE-TIME" => {
                self.media()?;
                self.pending.pdt =
                    Some(parse_date(value.trim()).ok_or_else(|| {
                        self.invalid("EXT-X-PROGRAM-DATE-TIME", "an RFC 3339 date")
                    })?);
            }
            "#EXT-X-BITRATE" => {
                self.media()?;
                let kbps = self.int(value, "EXT-X-BITRATE")?;
                self.bitrate = Some(kbps.saturating_mul(1000));
            }
            "#EXT-X-MAP" => {
                self.media()?;
                if has_required_unknown(value) {
                    return Ok(());
                }
                let mut uri = None;
                let mut range = None;
                for (n, v, _) in attrs(value) {
                    match n {
                        "URI" => uri = Some(v.to_owned()),
                        "BYTERANGE" => {
                            range = Some(
                                byte_range(v)
                                    .ok_or_else(|| self.invalid("EXT-X-MAP", "BYTERANGE=n@o"))?,
                            )
                        }
                        _ => {}
                    }
                }
                let uri = uri.ok_or_else(|| self.missing("EXT-X-MAP", "URI"))?;
                self.map = Some(Map {
                    uri,
                    byte_range: range,
                });
            }
            "#EXT-X-KEY" => {
                self.media()?;
                if has_required_unknown(value) {
                    return Ok(());
                }
                let mut method = None;
                let mut uri = None;
                let mut iv = None;
                let mut fmt = None;
                let mut fmtv = None;
                for (n, v, _) in attrs(value) {
                    match n {
                        "METHOD" => method = Some(v),
                        "URI" => uri = Some(v.to_owned()),
                        "IV" => {
                            iv = Some(
                                parse_iv(v)
                                    .ok_or_else(|| self.invalid("EXT-X-KEY", "IV=0x<hex>"))?,
                            )
                        }
                        "KEYFORMAT" => fmt = Some(v.to_owned()),
                        "KEYFORMATVERSIONS" => fmtv = Some(v.to_owned()),
                        _ => {}
                    }
                }
                let method = method.ok_or_else(|| self.missing("EXT-X-KEY", "METHOD"))?;
                self.key = match method {
                    "NONE" => None,
                    m => Some(Key {
                        method: match m {
                            "AES-128" => KeyMethod::Aes128,
                            "SAMPLE-AES" => KeyMethod::SampleAes,
                            "SAMPLE-AES-CTR" => KeyMethod::SampleAesCtr,
                            o => KeyMethod::Other(o.to_owned()),
                        },
                        uri: uri.ok_or_else(|| self.missing("EXT-X-KEY", "URI"))?,
                        iv,
                        key_format: fmt,
                        key_format_versions: fmtv,
                    }),
                };
            }
            "#EXT-X-PART" => {
                self.media()?;
                if has_required_unknown(value) {
                    return Ok(());
                }
                let mut p = Part {
                    uri: String::new(),
                    duration: Duration::ZERO,
                    independent: false,
                    byte_range: None,
                    gap: false,
                };
                let (mut has_uri, mut has_dur) = (false, false);
                for (n, v, _) in attrs(value) {
                    match n {
                        "URI" => {
                            p.uri = v.to_owned();
                            has_uri = true;
                        }
                        "DURATION" => {
                            p.duration = self.secs(v, "EXT-X-PART")?;
                            has_dur = true;
                        }
                        "INDEPENDENT" => p.independent = yes(v),
                        "GAP" => p.gap = yes(v),
                        "BYTERANGE" => {
                            p.byte_range = Some(
                                byte_range(v)
                                    .ok_or_else(|| self.invalid("EXT-X-PART", "BYTERANGE=n@o"))?,
                            )
                        }
                        _ => {}
                    }
                }
                // checklist P-PART-02
                if !has_uri {
                    return Err(self.missing("EXT-X-PART", "URI"));
                }
                if !has_dur {
                    return Err(self.missing("EXT-X-PART", "DURATION"));
                }
                self.pending.parts.push(p);
            }
            "#EXT-X-PRELOAD-HINT" => {
                self.media()?;
                if has_required_unknown(value) {
                    return Ok(());
                }
                let mut t = None;
                let mut uri = None;
                let (mut start, mut len) = (None, None);
                for (n, v, _) in attrs(value) {
                    match n {
                        "TYPE" => t = Some(v),
                        "URI" => uri = Some(v.to_owned()),
                        "BYTERANGE-START" => start = Some(self.int(v, "EXT-X-PRELOAD-HINT")?),
                        "BYTERANGE-LENGTH" => len = Some(self.int(v, "EXT-X-PRELOAD-HINT")?),
                        _ => {}
                    }
                }
                let hint_type = match t.ok_or_else(|| self.missing("EXT-X-PRELOAD-HINT", "TYPE"))? {
                    "PART" => HintType::Part,
                    "MAP" => HintType::Map,
                    // Unknown hint types are ignored (P-TXT-06 spirit).
                    _ => return Ok(()),
                };
                self.media.preload_hints.push(PreloadHint {
                    hint_type,
                    uri: uri.ok_or_else(|| self.missing("EXT-X-PRELOAD-HINT", "URI"))?,
                    byte_range_start: start,
                    byte_range_length: len,
                });
            }
            "#EXT-X-RENDITION-REPORT" => {
                self.media()?;
                let mut r = RenditionReport {
                    uri: String::new(),
                    last_msn: None,
                    last_part: None,
                };
                let mut has_uri = false;
                for (n, v, _) in attrs(value) {
                    match n {
                        "URI" => {
                            r.uri = v.to_owned();
                            has_uri = true;
                        }
                        "LAST-MSN" => r.last_msn = Some(self.int(v, "EXT-X-RENDITION-REPORT")?),
                        "LAST-PART" => r.last_part = Some(self.int(v, "EXT-X-RENDITION-REPORT")?),
                        _ => {}
                    }
                }
                if !has_uri {
                    return Err(self.missing("EXT-X-RENDITION-REPORT", "URI"));
                }
                self.media.rendition_reports.push(r);
            }
            "#EXT-X-DATERANGE" => {
                self.media()?;
                let mut id = None;
                let mut start = None;
                let mut rest = Vec::new();
                for (n, v, q) in attrs(value) {
                    match n {
                        "ID" => id = Some(v.to_owned()),
                        "START-DATE" => {
                            start = Some(parse_date(v).ok_or_else(|| {
                                self.invalid("EXT-X-DATERANGE", "START-DATE as an RFC 3339 date")
                            })?)
                        }
                        _ => rest.push((
                            n.to_owned(),
                            if q { format!("\"{v}\"") } else { v.to_owned() },
                        )),
                    }
                }
                self.media.date_ranges.push(DateRange {
                    id: id.ok_or_else(|| self.missing("EXT-X-DATERANGE", "ID"))?,
                    start_date: start
                        .ok_or_else(|| self.missing("EXT-X-DATERANGE", "START-DATE"))?,
                    attributes: rest,
                });
            }
            "#EXT-X-STREAM-INF" => {
                self.multi()?;
                let mut v = Variant {
                    uri: String::new(),
                    bandwidth: 0,
                    average_bandwidth: None,
                    codecs: None,
                    resolution: None,
                    frame_rate: None,
                    audio: None,
                    name: None,
                };
                let mut has_bw = false;
                for (n, val, _) in attrs(value) {
                    match n {
                        "BANDWIDTH" => {
                            v.bandwidth = self.int(val, "EXT-X-STREAM-INF")?;
                            has_bw = true;
                        }
                        "AVERAGE-BANDWIDTH" => {
                            v.average_bandwidth = Some(self.int(val, "EXT-X-STREAM-INF")?)
                        }
                        "CODECS" => v.codecs = Some(val.to_owned()),
                        "RESOLUTION" => v.resolution = Some(val.to_owned()),
                        "FRAME-RATE" => v.frame_rate = Some(val.to_owned()),
                        "AUDIO" => v.audio = Some(val.to_owned()),
                        "NAME" => v.name = Some(val.to_owned()),
                        _ => {}
                    }
                }
                // checklist M-VAR-01
                if !has_bw {
                    return Err(self.missing("EXT-X-STREAM-INF", "BANDWIDTH"));
                }
                self.stream_inf = Some(v);
            }
            "#EXT-X-MEDIA" => {
                self.multi()?;
                if has_required_unknown(value) {
                    return Ok(());
                }
                let mut t = None;
                let mut r = Rendition {
                    media_type: MediaType::Audio,
                    group_id: String::new(),
                    name: String::new(),
                    language: None,
                    default: false,
                    autoselect: false,
                    channels: None,
                    uri: None,
                };
                let (mut gid, mut name) = (false, false);
                for (n, v, _) in attrs(value) {
                    match n {
                        "TYPE" => t = Some(v),
                        "GROUP-ID" => {
                            r.group_id = v.to_owned();
                            gid = true;
                        }
                        "NAME" => {
                            r.name = v.to_owned();
                            name = true;
                        }
                        "LANGUAGE" => r.language = Some(v.to_owned()),
                        "DEFAULT" => r.default = yes(v),
                        "AUTOSELECT" => r.autoselect = yes(v),
                        "CHANNELS" => r.channels = Some(v.to_owned()),
                        "URI" => r.uri = Some(v.to_owned()),
                        _ => {}
                    }
                }
                r.media_type = match t.ok_or_else(|| self.missing("EXT-X-MEDIA", "TYPE"))? {
                    "AUDIO" => MediaType::Audio,
                    "VIDEO" => MediaType::Video,
                    "SUBTITLES" => MediaType::Subtitles,
                    "CLOSED-CAPTIONS" => MediaType::ClosedCaptions,
                    _ => {
                        return Err(self
                            .invalid("EXT-X-MEDIA", "TYPE=AUDIO|VIDEO|SUBTITLES|CLOSED-CAPTIONS"));
                    }
                };
                // checklist M-VAR-04
                if !gid {
                    return Err(self.missing("EXT-X-MEDIA", "GROUP-ID"));
                }
                if !name {
                    return Err(self.missing("EXT-X-MEDIA", "NAME"));
                }
                r.autoselect |= r.default;
                self.multi.renditions.push(r);
            }
            "#EXT-X-I-FRAME-STREAM-INF"
            | "#EXT-X-SESSION-DATA"
            | "#EXT-X-SESSION-KEY"
            | "#EXT-X-CONTENT-STEERING" => self.multi()?,
            // Unknown tags and comments are skipped (P-TXT-06).
            _ => {}
        }
        Ok(())
    }

    fn uri(&mut self, uri: &str) -> Result<(), ParseError> {
        if let Some(mut v) = self.stream_inf.take() {
            v.uri = uri.to_owned();
            self.multi.variants.push(v);
            return Ok(());
        }
        let Some((duration, title)) = self.pending.extinf.take() else {
            if self.multi_tag.is_some() {
                // A URI without EXT-X-STREAM-INF (e.g. after an I-frame tag): skip.
                return Ok(());
            }
            return Err(self.invalid("URI line", "a preceding EXTINF or EXT-X-STREAM-INF"));
        };
        let p = std::mem::take(&mut self.pending);
        self.media.segments.push(Segment {
            uri: uri.to_owned(),
            duration,
            title,
            byte_range: p.byte_range,
            discontinuity: p.discontinuity,
            gap: p.gap,
            program_date_time: p.pdt,
            bitrate: self.bitrate,
            map: self.map.clone(),
            key: self.key.clone(),
            parts: p.parts,
        });
        Ok(())
    }
}

/// Parse a media or multivariant playlist.
pub fn parse(input: &[u8]) -> Result<Playlist, ParseError> {
    let whole = |kind| ParseError { line: 0, kind };
    if input.len() > MAX_PLAYLIST_BYTES {
        return Err(whole(K::TooLarge(MAX_PLAYLIST_BYTES)));
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = 1 + input[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ParseError {
            line,
            kind: K::NotUtf8,
        }
    })?;
    let mut st = State {
        line: 0,
        media_tag: None,
        multi_tag: None,
        media: MediaPlaylist::default(),
        multi: MultivariantPlaylist::default(),
        target_seen: false,
        pending: Pending::default(),
        map: None,
        key: None,
        bitrate: None,
        stream_inf: None,
    };
    let mut header = false;
    for raw in text.split('\n') {
        st.line += 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() {
            continue;
        }
        if !header {
            if line != "#EXTM3U" {
                return Err(st.err(K::MissingHeader));
            }
            header = true;
            continue;
        }
        if line.starts_with('#') {
            if !line.starts_with("#EXT") {
                continue; // comment
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            st.tag(name, value)?;
        } else {
            st.uri(line)?;
        }
    }
    if !header {
        return Err(whole(K::MissingHeader));
    }
    if let Some(v) = &st.stream_inf {
        let _ = v;
        return Err(st.err(K::MissingUri("EXT-X-STREAM-INF")));
    }
    if st.multi_tag.is_some() {
        return Ok(Playlist::Multivariant(st.multi));
    }
    if st.pending.extinf.is_some() {
        return Err(st.err(K::MissingUri("EXTINF")));
    }
    if !st.target_seen {
        return Err(whole(K::MissingTargetDuration));
    }
    let p = std::mem::take(&mut st.pending);
    let mut m = st.media;
    m.partial_segment = p.parts;
    m.partial_discontinuity = p.discontinuity;
    m.partial_program_date_time = p.pdt;
    if !m.partial_segment.is_empty() || p.discontinuity || p.pdt.is_some() {
        m.partial_map = st.map;
        m.partial_key = st.key;
    }
    Ok(Playlist::Media(m))
}

/// Parse a media playlist; a multivariant playlist is an error.
pub fn parse_media(input: &[u8]) -> Result<MediaPlaylist, ParseError> {
    match parse(input)? {
        Playlist::Media(m) => Ok(m),
        Playlist::Multivariant(_) => Err(ParseError {
            line: 0,
            kind: K::WrongKind("media"),
        }),
    }
}

/// Parse a multivariant playlist; a media playlist is an error.
pub fn parse_multivariant(input: &[u8]) -> Result<MultivariantPlaylist, ParseError> {
    match parse(input)? {
        Playlist::Multivariant(m) => Ok(m),
        Playlist::Media(_) => Err(ParseError {
            line: 0,
            kind: K::WrongKind("multivariant"),
        }),
    }
}
