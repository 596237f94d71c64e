//! `Cache-Control` lifetimes per the draft's Appendix B guidance (checklist S-CC-01..05).
//!
//! Every lifetime is a multiple of the stream's target duration, so a CDN in front of
//! the origin keeps blocking responses (which are immutable for a given `_HLS_msn`/
//! `_HLS_part`) long enough to collapse requests, and plain reloads short enough to
//! follow the live edge.

use std::time::Duration;

/// What kind of response the header is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// A playlist answered to a blocking request (`_HLS_msn` given).
    BlockingPlaylist,
    /// A playlist answered without blocking directives.
    Playlist,
    /// A part or segment (immutable once published).
    Media,
    /// The init section (immutable for the life of the stream's current run).
    Init,
    /// The multivariant playlist.
    Multivariant,
    /// A failed blocking playlist request (404).
    BlockingPlaylistFailure,
    /// Any other failure.
    Failure,
}

/// The `Cache-Control` value for `response` of a stream with `target_duration`.
pub fn header_value(response: Response, target_duration: Duration, live: bool) -> String {
    let td = target_duration.as_secs_f64().max(1.0);
    let secs = |factor: f64| (td * factor).round().max(1.0) as u64;
    match response {
        // S-CC-01: ~6 target durations.
        Response::BlockingPlaylist => format!("public, max-age={}", secs(6.0)),
        // S-CC-03: ~half a target duration; after ENDLIST the playlist never changes.
        Response::Playlist | Response::Multivariant if live => {
            format!("public, max-age={}", secs(0.5))
        }
        Response::Playlist | Response::Multivariant => format!("public, max-age={}", secs(6.0)),
        // S-CC-04: media ~6 target durations (immutable content).
        Response::Media | Response::Init => format!("public, max-age={}", secs(6.0)),
        // S-CC-02: failed blocking playlist requests ~4 target durations.
        Response::BlockingPlaylistFailure => format!("public, max-age={}", secs(4.0)),
        // S-CC-03/04: failures ~1 target duration.
        Response::Failure => format!("public, max-age={}", secs(1.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_age(v: &str) -> u64 {
        v.rsplit('=').next().unwrap().parse().unwrap()
    }

    #[test]
    fn lifetimes_scale_with_target_duration() {
        // checklist S-CC-01..S-CC-05
        for td in [1u64, 2, 4, 6] {
            let t = Duration::from_secs(td);
            assert_eq!(
                max_age(&header_value(Response::BlockingPlaylist, t, true)),
                6 * td
            );
            assert_eq!(
                max_age(&header_value(Response::BlockingPlaylistFailure, t, true)),
                4 * td
            );
            assert_eq!(max_age(&header_value(Response::Media, t, true)), 6 * td);
            assert_eq!(max_age(&header_value(Response::Failure, t, true)), td);
            let plain = max_age(&header_value(Response::Playlist, t, true));
            assert!(plain >= 1 && plain <= td.div_ceil(2), "td {td}: {plain}");
        }
    }

    #[test]
    fn ended_playlists_cache_longer() {
        let t = Duration::from_secs(2);
        assert!(
            max_age(&header_value(Response::Playlist, t, false))
                > max_age(&header_value(Response::Playlist, t, true))
        );
    }
}
