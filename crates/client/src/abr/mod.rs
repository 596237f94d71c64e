//! Adaptive bitrate selection.
//!
//! Two rules share one interface ([`AbrRule`]):
//! - [`HlsJsRule`]: a baseline that follows hls.js's `abr-controller` (fast/slow EWMA
//!   with 3 s / 9 s half-lives, estimate = min of both, ×0.95 to stay or go down,
//!   ×0.7 to go up). Kept for comparison in the trace simulator.
//! - [`LowLatencyRule`]: our LL-aware rule (in the spirit of LoL+/L2A/BOLA): small
//!   parts aggregated before estimating, request overhead (playlists, headers) charged
//!   to each rendition, buffer- and latency-aware safety factor, fast down-switch and
//!   hysteresis on up-switch.
//!
//! Throughput is always measured from first byte to last byte of a response, so the
//! time a blocking request (or a preload-hinted part) waited at the server is excluded.

mod estimator;
mod hlsjs;
mod ll;

pub use estimator::{Ewma, ThroughputAggregator};
pub use hlsjs::{HlsJsConfig, HlsJsRule};
pub use ll::{LowLatencyConfig, LowLatencyRule};

use crate::time::Instant;
use std::fmt;
use std::time::Duration;

/// A bit rate in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bitrate(pub u64);

impl Bitrate {
    /// From kilobits per second.
    pub const fn from_kbps(kbps: u64) -> Self {
        Bitrate(kbps * 1000)
    }

    /// Bits per second.
    pub const fn bps(self) -> u64 {
        self.0
    }

    /// As megabits per second (for reporting and QoE only).
    pub fn mbps(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Bytes carried in `d` at this rate.
    pub fn bytes_in(self, d: Duration) -> u64 {
        (self.0 as f64 * d.as_secs_f64() / 8.0) as u64
    }

    /// Rate that carries `bytes` in `d` (`None` for a zero duration).
    pub fn from_transfer(bytes: u64, d: Duration) -> Option<Self> {
        let s = d.as_secs_f64();
        (s > 0.0).then(|| Bitrate((bytes as f64 * 8.0 / s) as u64))
    }
}

impl fmt::Display for Bitrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.0} kb/s", self.0 as f64 / 1000.0)
    }
}

/// What a completed transfer carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// A media part, segment or init section.
    Media,
    /// A playlist (or key) response: overhead to charge to the current rendition.
    Playlist,
}

/// One completed HTTP response, as measured by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferSample {
    /// What was fetched.
    pub kind: TransferKind,
    /// Body bytes received.
    pub bytes: u64,
    /// Bytes of HTTP framing/headers, if the driver knows them (else 0).
    pub header_bytes: u64,
    /// When the request was sent.
    pub requested: Instant,
    /// When the first body byte arrived (after any blocking wait at the server).
    pub first_byte: Instant,
    /// When the last body byte arrived.
    pub last_byte: Instant,
    /// A media part or segment: one unit of playback time delivered (false for init
    /// sections, playlists and keys).
    pub unit: bool,
    /// Bytes (headers included) that had arrived by `first_byte` (see
    /// `Event::Response::first_read_bytes`); 0 when not known.
    pub first_read_bytes: u64,
}

impl TransferSample {
    /// Time spent receiving the body (first byte to last byte).
    pub fn transfer_time(&self) -> Duration {
        self.last_byte - self.first_byte
    }
}

/// Everything a rule may look at when choosing the next rendition.
#[derive(Debug, Clone, Copy)]
pub struct AbrContext<'a> {
    /// Current time.
    pub now: Instant,
    /// Advertised bit rates of the renditions, ascending (index = rendition index).
    pub ladder: &'a [Bitrate],
    /// Rendition currently being fetched.
    pub current: usize,
    /// Media buffered ahead of the playhead (as reported by the player).
    pub buffer: Duration,
    /// Current end-to-end latency estimate (live edge to playhead), if known.
    pub latency: Option<Duration>,
    /// Latency the session aims for (derived from PART-HOLD-BACK / HOLD-BACK).
    pub target_latency: Duration,
    /// Media duration of one fetch unit (part target, or target duration without parts).
    pub unit_duration: Duration,
}

/// An ABR rule: sees every transfer, answers which rendition to fetch next.
pub trait AbrRule: fmt::Debug + Send {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// Feed one completed transfer.
    fn on_transfer(&mut self, sample: &TransferSample);
    /// Pick the rendition index (into `ctx.ladder`) for the next fetch.
    fn choose(&mut self, ctx: &AbrContext<'_>) -> usize;
    /// Current bandwidth estimate, if any.
    fn estimate(&self) -> Option<Bitrate>;
}

/// Which ABR rule to build (for configs and the simulator).
// A `Copy` config value read once per session: boxing the config would cost `Copy`
// for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum AbrKind {
    /// [`LowLatencyRule`] with default config.
    #[default]
    LowLatency,
    /// [`LowLatencyRule`] with the given config.
    LowLatencyWith(LowLatencyConfig),
    /// [`HlsJsRule`] with default config.
    HlsJs,
    /// Always the given rendition (tests, manual selection).
    Fixed(usize),
}

impl AbrKind {
    /// Build the rule.
    pub fn build(self) -> Box<dyn AbrRule> {
        match self {
            AbrKind::LowLatency => Box::new(LowLatencyRule::new(LowLatencyConfig::default())),
            AbrKind::LowLatencyWith(c) => Box::new(LowLatencyRule::new(c)),
            AbrKind::HlsJs => Box::new(HlsJsRule::new(HlsJsConfig::default())),
            AbrKind::Fixed(i) => Box::new(FixedRule(i)),
        }
    }
}

/// Always picks one rendition (clamped to the ladder).
#[derive(Debug, Clone, Copy)]
pub struct FixedRule(pub usize);

impl AbrRule for FixedRule {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn on_transfer(&mut self, _sample: &TransferSample) {}
    fn choose(&mut self, ctx: &AbrContext<'_>) -> usize {
        self.0.min(ctx.ladder.len().saturating_sub(1))
    }
    fn estimate(&self) -> Option<Bitrate> {
        None
    }
}
