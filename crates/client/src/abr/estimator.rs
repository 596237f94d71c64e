//! Bandwidth estimators: an hls.js-style weighted EWMA and a small-part aggregator.

use super::{Bitrate, TransferSample};
use crate::time::Instant;
use std::time::Duration;

/// Exponentially weighted moving average whose weight is time (hls.js `EWMA`):
/// a sample of weight `w` seconds decays the old estimate by `alpha^w`, with
/// `alpha = 0.5^(1/half_life)`. The estimate is corrected for the zero start.
#[derive(Debug, Clone)]
pub struct Ewma {
    alpha: f64,
    estimate: f64,
    total_weight: f64,
}

impl Ewma {
    /// A new average with the given half-life.
    pub fn new(half_life: Duration) -> Self {
        let hl = half_life.as_secs_f64().max(1e-3);
        Ewma {
            alpha: (0.5f64.ln() / hl).exp(),
            estimate: 0.0,
            total_weight: 0.0,
        }
    }

    /// Add `value` with weight `weight` (seconds).
    pub fn sample(&mut self, weight: Duration, value: f64) {
        let w = weight.as_secs_f64();
        let adj = self.alpha.powf(w);
        self.estimate = value * (1.0 - adj) + adj * self.estimate;
        self.total_weight += w;
    }

    /// Total weight seen so far (seconds).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// Zero-corrected estimate, `None` before any sample.
    pub fn estimate(&self) -> Option<f64> {
        let zero_factor = 1.0 - self.alpha.powf(self.total_weight);
        (self.total_weight > 0.0 && zero_factor > 0.0).then(|| self.estimate / zero_factor)
    }
}

/// Aggregates the first-to-last-byte intervals of consecutive small media transfers
/// until enough bytes or transfer time has accumulated for one meaningful sample.
///
/// A 200 ms part of 48 kb/s audio is ~1.3 kB: on its own its transfer time is
/// dominated by timer and scheduling noise, so single parts are not measured alone.
#[derive(Debug, Clone)]
pub struct ThroughputAggregator {
    min_bytes: u64,
    min_time: Duration,
    bytes: u64,
    time: Duration,
    first: Option<Instant>,
}

/// One aggregated measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggregatedSample {
    /// Bytes in the aggregate.
    pub bytes: u64,
    /// Sum of first-to-last-byte intervals.
    pub transfer_time: Duration,
    /// Wall time from the first sample's first byte to the last sample's last byte.
    pub span: Duration,
    /// Measured rate.
    pub rate: Bitrate,
}

impl ThroughputAggregator {
    /// Emit a sample once `min_bytes` and `min_time` (transfer time) are both reached,
    /// or once the transfer time alone reaches 4 × `min_time` (slow links).
    pub fn new(min_bytes: u64, min_time: Duration) -> Self {
        ThroughputAggregator {
            min_bytes,
            min_time,
            bytes: 0,
            time: Duration::ZERO,
            first: None,
        }
    }

    /// Add one transfer; returns a sample when the aggregate is complete.
    pub fn push(&mut self, s: &TransferSample) -> Option<AggregatedSample> {
        let first = *self.first.get_or_insert(s.first_byte);
        // Bytes the first read brought took no measured time: count only what came
        // after it (unbiased on a link that delivers a response in several reads). A
        // response that came in one read keeps all its bytes: its time is unknown but
        // short, and a fat link delivers everything that way.
        let all = s.bytes + s.header_bytes;
        self.bytes += match all.checked_sub(s.first_read_bytes) {
            Some(later) if later > 0 && s.first_read_bytes > 0 => later,
            _ => all,
        };
        // Floor each interval at 1 ms: a zero interval (same virtual tick) carries no rate.
        self.time += s.transfer_time().max(Duration::from_millis(1));
        let enough = (self.bytes >= self.min_bytes && self.time >= self.min_time)
            || self.time >= self.min_time * 4;
        if !enough {
            return None;
        }
        let out = AggregatedSample {
            bytes: self.bytes,
            transfer_time: self.time,
            span: s.last_byte - first,
            rate: Bitrate::from_transfer(self.bytes, self.time)?,
        };
        self.bytes = 0;
        self.time = Duration::ZERO;
        self.first = None;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abr::TransferKind;

    #[test]
    fn ewma_converges_and_halves() {
        let mut e = Ewma::new(Duration::from_secs(3));
        e.sample(Duration::from_secs(1), 100.0);
        // Zero-corrected: one sample gives exactly that sample.
        assert!((e.estimate().unwrap_or(0.0) - 100.0).abs() < 1e-9);
        // After one half-life of a new value the estimate is half-way.
        e.sample(Duration::from_secs(30), 100.0);
        e.sample(Duration::from_secs(3), 200.0);
        let v = e.estimate().unwrap_or(0.0);
        assert!((v - 150.0).abs() < 1.0, "{v}");
    }

    #[test]
    fn aggregator_waits_for_enough_bytes() {
        let mut a = ThroughputAggregator::new(10_000, Duration::from_millis(20));
        let mk = |t: u64, bytes| TransferSample {
            kind: TransferKind::Media,
            bytes,
            header_bytes: 0,
            requested: Instant::from_epoch(Duration::from_millis(t)),
            first_byte: Instant::from_epoch(Duration::from_millis(t)),
            last_byte: Instant::from_epoch(Duration::from_millis(t + 10)),
            unit: true,
            first_read_bytes: 0,
        };
        assert!(a.push(&mk(0, 4000)).is_none());
        assert!(a.push(&mk(200, 4000)).is_none());
        let s = a.push(&mk(400, 4000)).expect("12 kB, 30 ms");
        assert_eq!(s.bytes, 12_000);
        // 12 kB in 30 ms of transfer = 3.2 Mb/s, whatever the idle gaps between.
        assert_eq!(s.rate, Bitrate(3_200_000));
        assert_eq!(s.span, Duration::from_millis(410));
    }

    #[test]
    fn what_the_first_read_brought_is_not_counted_over_the_time_of_the_rest() {
        // A 4,320-byte response (headers included) over a 150 kb/s link in three TCP
        // segments: the first read brings 1,448 bytes at first_byte, the last one
        // arrives 154 ms later. 4,320 bytes / 154 ms read as 224 kb/s; the 2,872 bytes
        // that came in those 154 ms say 149 kb/s.
        let mk = |first_read_bytes| TransferSample {
            kind: TransferKind::Media,
            bytes: 4_064,
            header_bytes: 256,
            requested: Instant::from_epoch(Duration::ZERO),
            first_byte: Instant::from_epoch(Duration::from_millis(100)),
            last_byte: Instant::from_epoch(Duration::from_millis(254)),
            unit: true,
            first_read_bytes,
        };
        let rate = |first_read| {
            let mut a = ThroughputAggregator::new(1_000, Duration::from_millis(20));
            a.push(&mk(first_read))
                .expect("one response is enough")
                .rate
        };
        assert_eq!(
            rate(1_448),
            Bitrate::from_transfer(2_872, Duration::from_millis(154)).unwrap()
        );
        assert!((rate(1_448).bps() as i64 - 149_000).abs() < 1_000);
        // Unknown (0), or everything in one read: all bytes count, as before.
        assert_eq!(
            rate(0),
            Bitrate::from_transfer(4_320, Duration::from_millis(154)).unwrap()
        );
        assert_eq!(rate(4_320), rate(0));
    }
}
