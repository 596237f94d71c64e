//! `aulos-decode`: turns HLS media chunks into PCM and plays or writes it.
//!
//! Work in progress skeleton.
