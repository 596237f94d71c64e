//! Deterministic trace simulator: a [`crate::Session`] against a simulated LL-HLS
//! origin over a link that follows a bandwidth trace, all in virtual time.
//!
//! Nothing here reads a clock or touches a socket; the same inputs give the same
//! report. Used by the `abr_sim` example (the ABR comparison table in `docs/abr.md`)
//! and by the session tests as a scripted server.

mod link;
mod origin;
mod run;
mod trace;

pub use link::{Delivery, Link};
pub use origin::{Fault, OriginConfig, PDT_EPOCH_UNIX, Reply, SimOrigin};
pub use run::{BufferReport, LOG_CAP, QoeWeights, SimConfig, SimReport, simulate, simulate_all};
pub use trace::{Trace, synthetic_traces};
