//! The simulated link: one bottleneck downlink that follows a [`Trace`], shared FIFO
//! by all responses (an HTTP/2 connection serialises frames on one TCP stream), plus
//! half the RTT each way.

use super::trace::Trace;
use crate::time::Instant;
use std::time::Duration;

/// Downlink state.
#[derive(Debug, Clone)]
pub struct Link {
    trace: Trace,
    busy_until: Instant,
}

/// When a response's body reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// First byte at the client.
    pub first_byte: Instant,
    /// Last byte at the client.
    pub last_byte: Instant,
}

impl Link {
    /// A link following `trace`.
    pub fn new(trace: Trace) -> Self {
        Link {
            trace,
            busy_until: Instant::ZERO,
        }
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// One-way propagation delay.
    pub fn one_way(&self) -> Duration {
        self.trace.rtt / 2
    }

    /// The server starts sending `bytes` at `server_time`; returns arrival times.
    pub fn send(&mut self, server_time: Instant, bytes: u64) -> Delivery {
        let start = server_time.max(self.busy_until);
        let end = self.trace.finish(start, bytes);
        self.busy_until = end;
        Delivery {
            first_byte: start + self.one_way(),
            last_byte: end + self.one_way(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abr::Bitrate;

    #[test]
    fn responses_queue_behind_each_other() {
        let tr = Trace::new(
            "flat",
            Duration::from_millis(100),
            vec![(Duration::from_secs(10), Bitrate::from_kbps(80))],
        );
        let mut l = Link::new(tr);
        let a = l.send(Instant::ZERO, 1_000); // 100 ms at 80 kb/s
        let b = l.send(Instant::ZERO, 1_000);
        assert_eq!(a.first_byte, Instant::from_epoch(Duration::from_millis(50)));
        assert_eq!(a.last_byte, Instant::from_epoch(Duration::from_millis(150)));
        assert_eq!(b.first_byte, a.last_byte);
        assert_eq!(b.last_byte - b.first_byte, Duration::from_millis(100));
    }
}
