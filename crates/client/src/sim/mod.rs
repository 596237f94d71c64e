//! Deterministic trace simulator: a [`crate::Session`] against a simulated LL-HLS
//! origin over a link that follows a bandwidth trace, all in virtual time.

mod link;
mod trace;

pub use link::{Delivery, Link};
pub use trace::Trace;
