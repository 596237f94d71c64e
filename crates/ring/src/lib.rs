//! aulos-ring (under construction).
