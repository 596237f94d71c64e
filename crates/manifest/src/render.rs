//! Playlist text output: full media playlists, delta updates, multivariant playlists.
//!
//! Everything is appended to a caller-owned `Vec<u8>` so a cache can reuse one buffer
//! per rendition. Quoted strings never carry `"`, CR or LF (P-TXT-04): in URIs those
//! bytes are percent-encoded, elsewhere replaced, so any model renders valid text.

use crate::fmt::{write_date, write_iv, write_secs};
use crate::types::{
    ByteRange, HintType, Key, KeyMethod, Map, MediaPlaylist, MediaType, MultivariantPlaylist, Part,
    PlaylistType, Segment, Skip,
};
use std::io::Write;
use std::time::Duration;

/// Which form of a media playlist to render (`_HLS_skip`, S-SKIP-01..04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SkipMode {
    /// The full playlist.
    #[default]
    Full,
    /// `_HLS_skip=YES`: segments before the Skip Boundary become one `EXT-X-SKIP`.
    Yes,
    /// `_HLS_skip=v2`: as `Yes`, and old date ranges dropped with
    /// `RECENTLY-REMOVED-DATERANGES` (S-SKIP-03).
    V2,
}

fn write_uri(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"%22"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            _ => out.push(b),
        }
    }
}

fn write_text(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        out.push(match b {
            b'"' => b'\'',
            b'\r' | b'\n' => b' ',
            _ => b,
        });
    }
}

fn quoted_uri(out: &mut Vec<u8>, name: &str, uri: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    write_uri(out, uri);
    out.push(b'"');
}

fn quoted_text(out: &mut Vec<u8>, name: &str, s: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    write_text(out, s);
    out.push(b'"');
}

fn range_text(out: &mut Vec<u8>, r: &ByteRange) {
    let _ = write!(out, "{}", r.len);
    if let Some(o) = r.offset {
        let _ = write!(out, "@{o}");
    }
}

fn write_key(out: &mut Vec<u8>, key: Option<&Key>) {
    let Some(k) = key else {
        out.extend_from_slice(b"#EXT-X-KEY:METHOD=NONE\n");
        return;
    };
    out.extend_from_slice(b"#EXT-X-KEY:METHOD=");
    match &k.method {
        KeyMethod::Aes128 => out.extend_from_slice(b"AES-128"),
        KeyMethod::SampleAes => out.extend_from_slice(b"SAMPLE-AES"),
        KeyMethod::SampleAesCtr => out.extend_from_slice(b"SAMPLE-AES-CTR"),
        KeyMethod::Other(m) => write_text(out, m),
    }
    out.push(b',');
    quoted_uri(out, "URI", &k.uri);
    if let Some(iv) = &k.iv {
        out.extend_from_slice(b",IV=");
        write_iv(out, iv);
    }
    if let Some(f) = &k.key_format {
        out.push(b',');
        quoted_text(out, "KEYFORMAT", f);
    }
    if let Some(v) = &k.key_format_versions {
        out.push(b',');
        quoted_text(out, "KEYFORMATVERSIONS", v);
    }
    out.push(b'\n');
}

fn write_map(out: &mut Vec<u8>, map: &Map) {
    out.extend_from_slice(b"#EXT-X-MAP:");
    quoted_uri(out, "URI", &map.uri);
    if let Some(r) = &map.byte_range {
        out.extend_from_slice(b",BYTERANGE=\"");
        range_text(out, r);
        out.push(b'"');
    }
    out.push(b'\n');
}

fn write_part(out: &mut Vec<u8>, p: &Part) {
    out.extend_from_slice(b"#EXT-X-PART:DURATION=");
    write_secs(out, p.duration);
    out.push(b',');
    quoted_uri(out, "URI", &p.uri);
    if p.independent {
        out.extend_from_slice(b",INDEPENDENT=YES");
    }
    if let Some(r) = &p.byte_range {
        out.extend_from_slice(b",BYTERANGE=\"");
        range_text(out, r);
        out.push(b'"');
    }
    if p.gap {
        out.extend_from_slice(b",GAP=YES");
    }
    out.push(b'\n');
}

/// Tags that precede a segment's parts and EXTINF: emitted where the effective
/// value changes (P-PART-06: before the first part).
struct Carry<'a> {
    map: Option<&'a Map>,
    key: Option<&'a Key>,
    bitrate: Option<u64>,
}

impl<'a> Carry<'a> {
    fn lead(
        &mut self,
        out: &mut Vec<u8>,
        discontinuity: bool,
        key: Option<&'a Key>,
        map: Option<&'a Map>,
        pdt: Option<std::time::SystemTime>,
    ) {
        if discontinuity {
            out.extend_from_slice(b"#EXT-X-DISCONTINUITY\n");
        }
        if key != self.key {
            write_key(out, key);
            self.key = key;
        }
        if map != self.map {
            if let Some(m) = map {
                write_map(out, m);
            }
            self.map = map;
        }
        if let Some(t) = pdt {
            out.extend_from_slice(b"#EXT-X-PROGRAM-DATE-TIME:");
            write_date(out, t);
            out.push(b'\n');
        }
    }
}

fn write_segment<'a>(out: &mut Vec<u8>, s: &'a Segment, carry: &mut Carry<'a>) {
    carry.lead(
        out,
        s.discontinuity,
        s.key.as_ref(),
        s.map.as_ref(),
        s.program_date_time,
    );
    if s.gap {
        out.extend_from_slice(b"#EXT-X-GAP\n");
    }
    if s.bitrate != carry.bitrate {
        // EXT-X-BITRATE applies until the next one; it is in kb/s in the text.
        if let Some(b) = s.bitrate {
            let _ = writeln!(out, "#EXT-X-BITRATE:{}", b / 1000);
        }
        carry.bitrate = s.bitrate;
    }
    for p in &s.parts {
        write_part(out, p);
    }
    out.extend_from_slice(b"#EXTINF:");
    write_secs(out, s.duration);
    out.push(b',');
    write_text(out, &s.title);
    out.push(b'\n');
    if let Some(r) = &s.byte_range {
        out.extend_from_slice(b"#EXT-X-BYTERANGE:");
        range_text(out, r);
        out.push(b'\n');
    }
    write_uri(out, &s.uri);
    out.push(b'\n');
}

/// How many leading segments a delta update replaces: those that end at least
/// CAN-SKIP-UNTIL before the end of the last segment (the Skip Boundary, S-SKIP-01).
pub(crate) fn skippable(pl: &MediaPlaylist) -> usize {
    let Some(until) = pl.server_control.and_then(|c| c.can_skip_until) else {
        return 0;
    };
    if pl.end_list || pl.skip.is_some() {
        return 0;
    }
    let total: Duration = pl.segments.iter().map(|s| s.duration).sum();
    let Some(boundary) = total.checked_sub(until) else {
        return 0;
    };
    let mut end = Duration::ZERO;
    let mut n = 0;
    for s in &pl.segments {
        end += s.duration;
        if end > boundary {
            break;
        }
        n += 1;
    }
    n
}

/// Render a media playlist (full, or a delta update when `mode` asks for one and
/// the playlist allows it: CAN-SKIP-UNTIL present and no ENDLIST, S-SKIP-04).
/// Appends to `out`. Returns the number of segments skipped.
pub fn render_media(pl: &MediaPlaylist, mode: SkipMode, out: &mut Vec<u8>) -> u64 {
    let skipped = if mode == SkipMode::Full {
        0
    } else {
        skippable(pl)
    };
    let skip = if skipped > 0 {
        Some(Skip {
            skipped_segments: skipped as u64,
            recently_removed_dateranges: (mode == SkipMode::V2).then(Vec::new),
        })
    } else {
        pl.skip.clone()
    };
    let version = {
        let mut v = pl.required_version();
        if let Some(s) = &skip {
            v = v.max(if s.recently_removed_dateranges.is_some() {
                10
            } else {
                9
            });
        }
        v.max(pl.version)
    };
    out.extend_from_slice(b"#EXTM3U\n");
    let _ = writeln!(out, "#EXT-X-VERSION:{version}");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", pl.target_duration);
    match pl.playlist_type {
        Some(PlaylistType::Event) => out.extend_from_slice(b"#EXT-X-PLAYLIST-TYPE:EVENT\n"),
        Some(PlaylistType::Vod) => out.extend_from_slice(b"#EXT-X-PLAYLIST-TYPE:VOD\n"),
        None => {}
    }
    if pl.independent_segments {
        out.extend_from_slice(b"#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    if let Some(c) = &pl.server_control {
        out.extend_from_slice(b"#EXT-X-SERVER-CONTROL:");
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !std::mem::replace(&mut first, false) {
                out.push(b',');
            }
        };
        if c.can_block_reload {
            sep(out);
            out.extend_from_slice(b"CAN-BLOCK-RELOAD=YES");
        }
        if let Some(d) = c.can_skip_until {
            sep(out);
            out.extend_from_slice(b"CAN-SKIP-UNTIL=");
            write_secs(out, d);
        }
        if c.can_skip_dateranges {
            sep(out);
            out.extend_from_slice(b"CAN-SKIP-DATERANGES=YES");
        }
        if let Some(d) = c.hold_back {
            sep(out);
            out.extend_from_slice(b"HOLD-BACK=");
            write_secs(out, d);
        }
        if let Some(d) = c.part_hold_back {
            sep(out);
            out.extend_from_slice(b"PART-HOLD-BACK=");
            write_secs(out, d);
        }
        out.push(b'\n');
    }
    if let Some(t) = pl.part_target {
        out.extend_from_slice(b"#EXT-X-PART-INF:PART-TARGET=");
        write_secs(out, t);
        out.push(b'\n');
    }
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", pl.media_sequence);
    let has_dis = pl.segments.iter().any(|s| s.discontinuity) || pl.partial_discontinuity;
    if pl.discontinuity_sequence != 0 || has_dis {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            pl.discontinuity_sequence
        );
    }
    if let Some(s) = &skip {
        let _ = write!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={}", s.skipped_segments);
        if let Some(ids) = &s.recently_removed_dateranges {
            out.extend_from_slice(b",RECENTLY-REMOVED-DATERANGES=\"");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                write_text(out, id);
            }
            out.push(b'"');
        }
        out.push(b'\n');
    }
    let listed = &pl.segments[skipped..];
    // v2 drops date ranges that start before the first listed segment (S-SKIP-03).
    let dr_floor = (mode == SkipMode::V2 && skipped > 0)
        .then(|| listed.first().and_then(|s| s.program_date_time))
        .flatten();
    for d in &pl.date_ranges {
        if dr_floor.is_some_and(|f| d.start_date < f) {
            continue;
        }
        out.extend_from_slice(b"#EXT-X-DATERANGE:");
        quoted_text(out, "ID", &d.id);
        out.extend_from_slice(b",START-DATE=\"");
        write_date(out, d.start_date);
        out.push(b'"');
        for (k, v) in &d.attributes {
            out.push(b',');
            write_text(out, k);
            out.push(b'=');
            // Raw value as written (quotes included); only line breaks are unsafe.
            out.extend(
                v.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
        }
        out.push(b'\n');
    }
    let mut carry = Carry {
        map: None,
        key: None,
        bitrate: None,
    };
    for s in listed {
        write_segment(out, s, &mut carry);
    }
    if !pl.partial_segment.is_empty()
        || pl.partial_discontinuity
        || pl.partial_program_date_time.is_some()
    {
        carry.lead(
            out,
            pl.partial_discontinuity,
            pl.partial_key.as_ref(),
            pl.partial_map.as_ref(),
            pl.partial_program_date_time,
        );
        for p in &pl.partial_segment {
            write_part(out, p);
        }
    }
    if !pl.end_list {
        for h in &pl.preload_hints {
            out.extend_from_slice(match h.hint_type {
                HintType::Part => b"#EXT-X-PRELOAD-HINT:TYPE=PART,",
                HintType::Map => b"#EXT-X-PRELOAD-HINT:TYPE=MAP,",
            });
            quoted_uri(out, "URI", &h.uri);
            if let Some(s) = h.byte_range_start {
                let _ = write!(out, ",BYTERANGE-START={s}");
            }
            if let Some(l) = h.byte_range_length {
                let _ = write!(out, ",BYTERANGE-LENGTH={l}");
            }
            out.push(b'\n');
        }
    }
    for r in &pl.rendition_reports {
        out.extend_from_slice(b"#EXT-X-RENDITION-REPORT:");
        quoted_uri(out, "URI", &r.uri);
        if let Some(m) = r.last_msn {
            let _ = write!(out, ",LAST-MSN={m}");
        }
        if let Some(p) = r.last_part {
            let _ = write!(out, ",LAST-PART={p}");
        }
        out.push(b'\n');
    }
    if pl.end_list {
        out.extend_from_slice(b"#EXT-X-ENDLIST\n");
    }
    skipped as u64
}

/// Render a multivariant playlist. Appends to `out`.
pub fn render_multivariant(pl: &MultivariantPlaylist, out: &mut Vec<u8>) {
    out.extend_from_slice(b"#EXTM3U\n");
    if pl.version > 0 {
        let _ = writeln!(out, "#EXT-X-VERSION:{}", pl.version);
    }
    if pl.independent_segments {
        out.extend_from_slice(b"#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    for r in &pl.renditions {
        out.extend_from_slice(b"#EXT-X-MEDIA:TYPE=");
        out.extend_from_slice(match r.media_type {
            MediaType::Audio => b"AUDIO".as_slice(),
            MediaType::Video => b"VIDEO",
            MediaType::Subtitles => b"SUBTITLES",
            MediaType::ClosedCaptions => b"CLOSED-CAPTIONS",
        });
        out.push(b',');
        quoted_text(out, "GROUP-ID", &r.group_id);
        out.push(b',');
        quoted_text(out, "NAME", &r.name);
        if let Some(l) = &r.language {
            out.push(b',');
            quoted_text(out, "LANGUAGE", l);
        }
        if r.default {
            out.extend_from_slice(b",DEFAULT=YES");
        }
        // DEFAULT=YES implies AUTOSELECT=YES (M-VAR-04).
        if r.autoselect || r.default {
            out.extend_from_slice(b",AUTOSELECT=YES");
        }
        if let Some(c) = &r.channels {
            out.push(b',');
            quoted_text(out, "CHANNELS", c);
        }
        if let Some(u) = &r.uri {
            out.push(b',');
            quoted_uri(out, "URI", u);
        }
        out.push(b'\n');
    }
    for v in &pl.variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some(a) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={a}");
        }
        if let Some(c) = &v.codecs {
            out.push(b',');
            quoted_text(out, "CODECS", c);
        }
        if let Some(r) = &v.resolution {
            out.extend_from_slice(b",RESOLUTION=");
            write_text(out, r);
        }
        if let Some(f) = &v.frame_rate {
            out.extend_from_slice(b",FRAME-RATE=");
            write_text(out, f);
        }
        if let Some(a) = &v.audio {
            out.push(b',');
            quoted_text(out, "AUDIO", a);
        }
        if let Some(n) = &v.name {
            out.push(b',');
            quoted_text(out, "NAME", n);
        }
        out.push(b'\n');
        write_uri(out, &v.uri);
        out.push(b'\n');
    }
}
