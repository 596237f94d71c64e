//! M3u8Cache: one rendition's playlist, rendered and gzip'd once per update.
//!
//! Requests read an `Arc<Rendered>` (one atomic load, no lock) and send its `Bytes`
//! without copying; thousands of parked blocking reloads share the same bytes. The
//! update path renders into a reused buffer and compresses with a reused deflate
//! state (`flate2::Compress::reset`), so an update allocates only the output `Bytes`.

use crate::render::{SkipMode, render_media};
use crate::types::MediaPlaylist;
use arc_swap::ArcSwap;
use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// gzip level used by [`M3u8Cache::new`]. Chosen by measurement
/// (`cargo bench -p aulos-manifest`, see docs/performance.md): level 1 compresses a
/// 3 kB LL playlist within a few percent of level 6 at well under half the time.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;

/// One rendered version of a playlist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    /// Monotonic update counter (0 = nothing rendered yet).
    pub update: u64,
    /// Last `(msn, part)` the playlist lists (`part` is `None` when the last segment
    /// has no parts listed).
    pub last: Option<(u64, Option<u64>)>,
    /// MSN of the last complete segment.
    pub last_segment: Option<u64>,
    /// Number of parts listed in the open segment (the next part's index).
    pub next_part: u64,
    /// The playlist has EXT-X-ENDLIST.
    pub ended: bool,
    /// `(msn, part)` the next part will have (the preload hint), while live.
    pub next: Option<(u64, u64)>,
    /// TARGETDURATION.
    pub target_duration: Duration,
    /// The full playlist.
    pub full: Bytes,
    /// `full`, gzip'd.
    pub full_gzip: Bytes,
    /// The delta update (`_HLS_skip=YES`), when the playlist offers one and it skips
    /// at least one segment; otherwise requests get `full` (S-SKIP-04).
    pub delta: Option<Bytes>,
    /// `delta`, gzip'd.
    pub delta_gzip: Option<Bytes>,
}

impl Rendered {
    /// Does this version satisfy a blocking reload for `(msn, part)`? (S-BLK-01/02):
    /// with a part, the playlist must list that part or a later one; with the MSN
    /// alone, a complete segment with MSN ≥ `msn`. `part` beyond the last part of
    /// `msn` is satisfied by part 0 of `msn + 1` (S-BLK-03) — which "a later part"
    /// already covers once the segment is closed.
    pub fn satisfies(&self, msn: u64, part: Option<u64>) -> bool {
        if self.ended {
            return true; // S-BLK-05
        }
        match part {
            None => self.last_segment.is_some_and(|s| s >= msn),
            Some(p) => match self.last {
                None => false,
                Some((m, lp)) => {
                    // A part of a later segment is "a later part"; so part `p` beyond
                    // the last part of a closed segment `msn` waits for part 0 of
                    // msn + 1 (S-BLK-03).
                    m > msn || (m == msn && lp.is_some_and(|lp| lp >= p))
                }
            },
        }
    }
}

struct Scratch {
    text: Vec<u8>,
    deflate: Compress,
    level: u32,
}

/// The latest rendered playlist of one (stream, rendition), plus its init segment.
pub struct M3u8Cache {
    current: ArcSwap<Rendered>,
    init: ArcSwap<Option<Bytes>>,
    scratch: Mutex<Scratch>,
}

impl std::fmt::Debug for M3u8Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("M3u8Cache")
            .field("update", &self.current.load().update)
            .finish_non_exhaustive()
    }
}

impl Default for M3u8Cache {
    fn default() -> Self {
        Self::new()
    }
}

impl M3u8Cache {
    /// An empty cache with the default gzip level.
    pub fn new() -> Self {
        Self::with_level(DEFAULT_GZIP_LEVEL)
    }

    /// An empty cache with gzip level `level` (0–9, clamped).
    pub fn with_level(level: u32) -> Self {
        let level = level.min(9);
        Self {
            current: ArcSwap::from_pointee(Rendered::default()),
            init: ArcSwap::from_pointee(None),
            scratch: Mutex::new(Scratch {
                text: Vec::with_capacity(8 << 10),
                deflate: Compress::new(Compression::new(level), false),
                level,
            }),
        }
    }

    /// The current version's target duration, without taking a reference to it (no
    /// shared reference-count write: the media hot path asks this on every request).
    pub fn target_duration(&self) -> Duration {
        self.current.load().target_duration
    }

    /// The current version (one atomic load).
    pub fn load(&self) -> Arc<Rendered> {
        self.current.load_full()
    }

    /// The init segment, once set.
    pub fn init(&self) -> Option<Bytes> {
        (*self.init.load_full()).clone()
    }

    /// Set the init segment.
    pub fn set_init(&self, init: Bytes) {
        self.init.store(Arc::new(Some(init)));
    }

    /// Render `pl` (full and delta), gzip both, publish; returns the new version.
    /// Updates are serialised (one renderer at a time per cache).
    pub fn update(&self, pl: &MediaPlaylist) -> Arc<Rendered> {
        let mut s = self.scratch.lock();
        let Scratch {
            text,
            deflate,
            level,
        } = &mut *s;
        text.clear();
        render_media(pl, SkipMode::Full, text);
        let full = Bytes::copy_from_slice(text);
        let full_gzip = gzip(deflate, *level, text);
        text.clear();
        let skipped = render_media(pl, SkipMode::Yes, text);
        let (delta, delta_gzip) = if skipped > 0 {
            (
                Some(Bytes::copy_from_slice(text)),
                Some(gzip(deflate, *level, text)),
            )
        } else {
            (None, None)
        };
        let prev = self.current.load().update;
        let last_segment = pl
            .next_msn()
            .checked_sub(1)
            .filter(|_| !pl.segments.is_empty());
        let r = Arc::new(Rendered {
            update: prev + 1,
            last: pl.last_part(),
            last_segment,
            next_part: pl.partial_segment.len() as u64,
            ended: pl.end_list,
            next: (!pl.end_list).then(|| (pl.next_msn(), pl.partial_segment.len() as u64)),
            target_duration: Duration::from_secs(pl.target_duration),
            full,
            full_gzip,
            delta,
            delta_gzip,
        });
        self.current.store(r.clone());
        r
    }
}

/// gzip `input` once (for rarely rendered text such as multivariant playlists).
pub fn gzip_once(input: &[u8]) -> Bytes {
    let mut d = Compress::new(Compression::new(DEFAULT_GZIP_LEVEL), false);
    gzip(&mut d, DEFAULT_GZIP_LEVEL, input)
}

/// gzip (RFC 1952) with a reused raw-deflate state: header, deflate, CRC32 + size.
fn gzip(deflate: &mut Compress, level: u32, input: &[u8]) -> Bytes {
    deflate.reset();
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]);
    loop {
        let before = deflate.total_in() as usize;
        let status = deflate
            .compress_vec(&input[before..], &mut out, FlushCompress::Finish)
            .expect("deflate of an in-memory buffer cannot fail");
        if status == flate2::Status::StreamEnd {
            break;
        }
        out.reserve(out.capacity().max(256));
    }
    let mut crc = Crc::new();
    crc.update(input);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_round_trips_with_reused_state() {
        let mut d = Compress::new(Compression::new(1), false);
        for n in [0usize, 1, 100, 5000, 70_000] {
            let input: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let gz = gzip(&mut d, 1, &input);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, input, "n = {n}");
        }
    }
}
