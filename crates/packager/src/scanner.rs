//! Shared frame-sync engine for the elementary-stream readers (ADTS, MPEG audio).
//!
//! Hand-written: the maintained demuxers (symphonia, ffmpeg bindings) work on whole
//! seekable files and decode too; ingest needs a push-based, bounded, resyncing splitter
//! that hands out frames as `Bytes` without decoding them.

use bytes::{Buf, Bytes, BytesMut};

/// What a format says about the bytes at the current position before frame parsing.
pub(crate) enum Metadata {
    /// Not metadata.
    None,
    /// Might be metadata; need more bytes to tell.
    NeedMore,
    /// Metadata of this many bytes (may extend beyond what is buffered) to discard.
    Skip(usize),
}

/// A frame syntax: sync word, header parser, frame length.
pub(crate) trait FrameSyntax {
    type Header: Copy;
    /// Bytes needed to parse a header.
    const HEADER_LEN: usize;
    /// Whether `b` (at least 2 bytes) starts with the sync pattern.
    fn is_sync(b: &[u8]) -> bool;
    /// Parses a header from `b` (at least `HEADER_LEN` bytes).
    fn parse(b: &[u8]) -> Result<Self::Header, &'static str>;
    /// Total frame length including the header.
    fn frame_len(h: &Self::Header) -> usize;
    /// Whether two consecutive headers plausibly belong to the same stream.
    fn same_stream(a: &Self::Header, b: &Self::Header) -> bool;
    /// Container metadata (ID3 tags) at the start of `b`.
    fn metadata(_b: &[u8]) -> Metadata {
        Metadata::None
    }
}

/// Errors of the sync engine, mapped to the public reader errors.
#[derive(Debug)]
pub(crate) enum ScanError {
    BufferFull {
        buffered: usize,
        chunk: usize,
        capacity: usize,
    },
    LostSync,
    InvalidHeader(&'static str),
    TooLarge {
        len: usize,
        max: usize,
    },
}

/// A frame found by the engine.
pub(crate) struct Found<H> {
    pub header: H,
    /// The whole frame, header included.
    pub frame: Bytes,
    /// Garbage bytes skipped since the previous frame (not counting metadata).
    pub skipped: usize,
}

#[derive(Debug)]
pub(crate) struct Scanner {
    buf: BytesMut,
    capacity: usize,
    max_frame: usize,
    synced: bool,
    eof: bool,
    discard: usize,
    pending_skipped: usize,
    pub(crate) skipped_total: u64,
    pub(crate) metadata_total: u64,
}

impl Scanner {
    pub(crate) fn new(capacity: usize, max_frame: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
            capacity,
            max_frame,
            synced: false,
            eof: false,
            discard: 0,
            pending_skipped: 0,
            skipped_total: 0,
            metadata_total: 0,
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn push(&mut self, mut chunk: &[u8]) -> Result<(), ScanError> {
        // Bytes inside a tag being skipped never enter the buffer, so a large tag
        // (cover art) does not need a large buffer.
        if self.discard > 0 && self.buf.is_empty() {
            let n = self.discard.min(chunk.len());
            chunk = &chunk[n..];
            self.discard -= n;
            self.metadata_total += n as u64;
        }
        if self.buf.len() + chunk.len() > self.capacity {
            return Err(ScanError::BufferFull {
                buffered: self.buf.len(),
                chunk: chunk.len(),
                capacity: self.capacity,
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub(crate) fn finish(&mut self) {
        self.eof = true;
    }

    fn skip_garbage(&mut self, n: usize) {
        self.buf.advance(n);
        self.pending_skipped += n;
        self.skipped_total += n as u64;
    }

    pub(crate) fn pop<S: FrameSyntax>(&mut self) -> Result<Option<Found<S::Header>>, ScanError> {
        loop {
            if self.discard > 0 {
                let n = self.discard.min(self.buf.len());
                self.buf.advance(n);
                self.discard -= n;
                self.metadata_total += n as u64;
                if self.discard > 0 {
                    return Ok(None);
                }
            }
            match S::metadata(&self.buf) {
                Metadata::NeedMore if !self.eof => return Ok(None),
                Metadata::Skip(n) => {
                    self.discard = n;
                    continue;
                }
                _ => {}
            }
            if self.buf.len() < 2 {
                return Ok(None);
            }
            if !S::is_sync(&self.buf) {
                if std::mem::take(&mut self.synced) {
                    return Err(ScanError::LostSync);
                }
                // Jump to the next possible sync byte (all our sync words start with 0xFF).
                let next = self.buf[1..]
                    .iter()
                    .position(|&b| b == 0xFF)
                    .map_or(self.buf.len(), |p| p + 1);
                self.skip_garbage(next);
                continue;
            }
            if self.buf.len() < S::HEADER_LEN {
                return Ok(None);
            }
            let header = match S::parse(&self.buf) {
                Ok(h) => h,
                Err(reason) => {
                    if std::mem::take(&mut self.synced) {
                        return Err(ScanError::InvalidHeader(reason));
                    }
                    self.skip_garbage(1);
                    continue;
                }
            };
            let len = S::frame_len(&header);
            if len > self.max_frame {
                self.synced = false;
                self.skip_garbage(1);
                return Err(ScanError::TooLarge {
                    len,
                    max: self.max_frame,
                });
            }
            if self.buf.len() < len {
                return Ok(None);
            }
            if !self.synced && !self.eof {
                // Not locked yet: a lone 0xFFF pattern in garbage is common, so confirm
                // with the header that must follow (or a tag) before trusting this one.
                if self.buf.len() < len + S::HEADER_LEN {
                    return Ok(None);
                }
                let next = &self.buf[len..];
                let confirmed = (S::is_sync(next)
                    && S::parse(next).is_ok_and(|n| S::same_stream(&header, &n)))
                    || matches!(S::metadata(next), Metadata::Skip(_));
                if !confirmed {
                    self.skip_garbage(1);
                    continue;
                }
            }
            self.synced = true;
            let frame = self.buf.split_to(len).freeze();
            return Ok(Some(Found {
                header,
                frame,
                skipped: std::mem::take(&mut self.pending_skipped),
            }));
        }
    }
}
