//! CMAF/fMP4 audio packager for Aulos.
//!
//! Owns: the fMP4 init segment (`ftyp` + `moov`) and the LL-HLS parts (`moof` + `mdat`)
//! for one audio track, cut at frame boundaries; elementary-stream readers for ADTS (AAC)
//! and MPEG audio layer III used by ingest.
//! Depends on: `bytes`, `mp4-atom` (box encoding), `thiserror`.
//! Must not: do I/O, spawn tasks or know about playlists/HTTP (no tokio).
