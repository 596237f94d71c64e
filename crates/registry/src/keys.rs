//! Publisher stream keys, compared in constant time.
//!
//! A stream key authorises ingest for one stream. Comparison uses `subtle` so the time
//! a guess takes does not reveal how many leading bytes were right; keys of different
//! lengths are rejected without comparing contents (their length is not secret).

use subtle::ConstantTimeEq;

/// A publisher's secret for one stream.
#[derive(Clone)]
pub struct StreamKey(Box<[u8]>);

impl StreamKey {
    /// Shortest key accepted: shorter keys are guessable.
    pub const MIN_LEN: usize = 8;
    /// Longest key accepted (keys travel in URLs).
    pub const MAX_LEN: usize = 256;

    /// Wraps `key`, rejecting keys outside `MIN_LEN..=MAX_LEN` bytes or containing
    /// characters that are unsafe in a URL path segment.
    pub fn new(key: &str) -> Result<Self, crate::Error> {
        let ok_len = (Self::MIN_LEN..=Self::MAX_LEN).contains(&key.len());
        let ok_chars = key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if !ok_len || !ok_chars {
            return Err(crate::Error::InvalidKey);
        }
        Ok(Self(key.as_bytes().into()))
    }

    /// Constant-time comparison with a presented key.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.len() == presented.len() && bool::from(self.0.ct_eq(presented))
    }
}

impl std::fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_key() {
        let k = StreamKey::new("s3cret-key_1").unwrap();
        assert!(k.matches(b"s3cret-key_1"));
        assert!(!k.matches(b"s3cret-key_2"));
        assert!(!k.matches(b"s3cret-key_"));
        assert!(!k.matches(b"s3cret-key_11"));
        assert!(!k.matches(b""));
    }

    #[test]
    fn rejects_weak_or_unsafe_keys() {
        assert!(StreamKey::new("short").is_err());
        assert!(StreamKey::new("has/slash-in-it").is_err());
        assert!(StreamKey::new("has space inside").is_err());
        assert!(StreamKey::new(&"x".repeat(StreamKey::MAX_LEN + 1)).is_err());
        assert!(StreamKey::new(&"x".repeat(StreamKey::MAX_LEN)).is_ok());
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let k = StreamKey::new("s3cret-key_1").unwrap();
        assert!(!format!("{k:?}").contains("s3cret"));
    }
}
