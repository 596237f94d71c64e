//! Keys, metadata and the chunk handed back to readers.

use std::time::Duration;

use bytes::Bytes;

/// A stream's handle in one [`ChunkCache`](crate::ChunkCache) (its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub(crate) u32);

impl StreamId {
    /// The stream's index, `0..Config::streams`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where a chunk sits in its stream: media sequence number and part index.
///
/// Keys order by `msn`, then `part`. A whole segment stored as one chunk uses part 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    /// Media sequence number of the segment.
    pub msn: u64,
    /// Index of the part within the segment, from 0.
    pub part: u32,
}

impl ChunkKey {
    /// Largest MSN a key may carry (2^39 − 1: 17,000 years of 1 s segments), so a
    /// key packs into one `u64` with the part for the lock-free `latest`.
    pub const MAX_MSN: u64 = (1 << 39) - 1;
    /// Largest part index a key may carry.
    pub const MAX_PART: u32 = (1 << 24) - 1;

    /// A key for part `part` of segment `msn`.
    pub const fn new(msn: u64, part: u32) -> Self {
        Self { msn, part }
    }

    /// Packs into a non-zero `u64` (0 means "none").
    pub(crate) fn pack(self) -> u64 {
        ((self.msn << 24) | u64::from(self.part)) + 1
    }

    /// Inverse of [`pack`](Self::pack); `None` for 0.
    pub(crate) fn unpack(v: u64) -> Option<Self> {
        let v = v.checked_sub(1)?;
        Some(Self {
            msn: v >> 24,
            part: (v & u64::from(Self::MAX_PART)) as u32,
        })
    }
}

/// Small metadata stored beside each payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Media duration of the chunk.
    pub duration: Duration,
    /// The chunk starts with an independent frame (decoding can start here).
    pub independent: bool,
    /// Opaque caller value (e.g. a discontinuity sequence or a checksum); the ring
    /// stores it and never interprets it.
    pub tag: u64,
}

/// A chunk as read back: exactly what was put under `key`, never a newer one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The key it was put under.
    pub key: ChunkKey,
    /// The payload (a clone of the put `Bytes`: no copy).
    pub data: Bytes,
    /// Its metadata.
    pub meta: ChunkMeta,
    /// The stream generation it was put in (changes on reset and reopen).
    pub generation: u64,
}

impl Chunk {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_orders() {
        let keys = [
            ChunkKey::new(0, 0),
            ChunkKey::new(0, 1),
            ChunkKey::new(0, ChunkKey::MAX_PART),
            ChunkKey::new(1, 0),
            ChunkKey::new(12345, 7),
            ChunkKey::new(ChunkKey::MAX_MSN, ChunkKey::MAX_PART),
        ];
        for w in keys.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].pack() < w[1].pack(), "packing keeps order");
        }
        for k in keys {
            assert_ne!(k.pack(), 0);
            assert_eq!(ChunkKey::unpack(k.pack()), Some(k));
        }
        assert_eq!(ChunkKey::unpack(0), None);
    }
}
