//! Applying a delta update (`EXT-X-SKIP`) to the previous full playlist (client side).

use crate::error::DeltaError;
use crate::types::MediaPlaylist;

/// Rebuild the full playlist from the previous full one and a delta update
/// (S-SKIP-01..03): the skipped segments come from `prev` (with their map, key and
/// date), everything else from `delta`. Date ranges: a `v2` delta lists removals and
/// omits old ranges, so `prev`'s ranges survive unless removed or re-listed. A
/// playlist without `EXT-X-SKIP` is returned as is.
pub fn merge_delta(
    prev: &MediaPlaylist,
    delta: &MediaPlaylist,
) -> Result<MediaPlaylist, DeltaError> {
    let Some(skip) = &delta.skip else {
        return Ok(delta.clone());
    };
    let first = delta.media_sequence;
    let prev_first = prev.first_listed_msn();
    let mut out = delta.clone();
    out.skip = None;
    out.version = prev.version;
    // The previous playlist bounds how many segments can be taken from it: a bogus
    // SKIPPED-SEGMENTS fails below instead of reserving memory for it.
    let want = usize::try_from(skip.skipped_segments).unwrap_or(usize::MAX);
    let mut segments = Vec::with_capacity(want.min(prev.segments.len()) + delta.segments.len());
    for msn in first..first.saturating_add(skip.skipped_segments) {
        let seg = msn
            .checked_sub(prev_first)
            .and_then(|i| prev.segments.get(usize::try_from(i).ok()?))
            .ok_or(DeltaError::MissingSegment { msn })?;
        segments.push(seg.clone());
    }
    segments.extend(delta.segments.iter().cloned());
    out.segments = segments;
    if let Some(removed) = &skip.recently_removed_dateranges {
        let mut ranges: Vec<_> = prev
            .date_ranges
            .iter()
            .filter(|d| !removed.contains(&d.id) && !delta.date_ranges.iter().any(|n| n.id == d.id))
            .cloned()
            .collect();
        ranges.extend(delta.date_ranges.iter().cloned());
        out.date_ranges = ranges;
    }
    Ok(out)
}
