//! Live audio sources for Aulos.
//!
//! Owns: a deterministic synthetic signal, the AAC encoder wrapper, the rendition ladder
//! (PCM → N AAC encoders → packagers), the wall-clock paced live task and the optional
//! transcoder. Depends on `aulos-packager`. Must not: serve HTTP or render playlists.
