//! Aulos: live, low-latency audio over HLS.
//!
//! This umbrella crate re-exports the layered `aulos-*` crates so applications can
//! depend on one name; it owns no logic of its own. The stack, bottom up, is
//! described in `docs/architecture.md`: `ring` (chunk ring), `manifest` (LL-HLS
//! playlists), `registry` (live streams), `packager`, `source`, `origin`, `client`,
//! `decode`. It must not add behaviour the crates below do not have.
