//! `aulos-player`: live LL-HLS audio playback (skeleton).
