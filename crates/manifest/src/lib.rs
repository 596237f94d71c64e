//! `aulos-manifest`: the LL-HLS playlist model, in both directions.
//!
//! Owns one set of types for media and multivariant playlists ([`MediaPlaylist`],
//! [`MultivariantPlaylist`]), the live-edge state machine that builds a media
//! playlist part by part ([`LiveBuilder`]: windows, part retention, hold-backs and
//! skip limits computed from the spec's rules), the renderer (full playlist and
//! `_HLS_skip` delta updates, into a reused buffer), a tolerant parser for what real
//! servers emit ([`parse`]), and [`M3u8Cache`]: the rendered + gzip'd bytes of one
//! rendition's playlist, produced once per update and shared by every request.
//!
//! Depends on `bytes`, `flate2` (gzip), `arc-swap`/`parking_lot` (the cache slot)
//! and `thiserror`. It never touches sockets, clocks (time is passed in) or media
//! bytes, and the parser never panics on any input. Protocol rules cite
//! `llhls-checklist.md` item IDs (P-*, S-*, M-*).

mod builder;
mod cache;
mod delta;
mod error;
mod fmt;
mod parse;
mod render;
mod types;

pub use builder::{LiveBuilder, LiveConfig, PartInfo, SegmentUris};
pub use cache::{DEFAULT_GZIP_LEVEL, M3u8Cache, Rendered, gzip_once};
pub use delta::merge_delta;
pub use error::{BuildError, DeltaError, ParseError, ParseErrorKind};
pub use fmt::{format_date, parse_date};
pub use parse::{MAX_PLAYLIST_BYTES, parse, parse_media, parse_multivariant};
pub use render::{SkipMode, render_media, render_multivariant};
pub use types::*;
