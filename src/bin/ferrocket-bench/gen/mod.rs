//! The load generator behind `ferrocket-bench` (issue 11): closed- and open-loop producers,
//! a draining consumer, end-to-end latency and an exactly-once check, all over the wire with
//! pre-encoded frames so the generator costs far less per message than the broker it measures.
//!
//! - [`wire`]: frame templates and lean response parsing.
//! - [`produce`]: producers (closed loop: connections x requests in flight; open loop: fixed rate,
//!   latency from the intended send time).
//! - [`consume`]: pull-based draining, the exactly-once check and end-to-end latency.
//! - [`proc_stats`]: CPU time, RSS and bytes written of the broker process, read from `/proc`.
//! - [`scale`]: the scale scenarios of issue 21 (topics, routes, registration, offsets, pull latency).
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::{Duration, Instant};

pub mod consume;
pub mod grpc;
pub mod pop;
pub mod proc_stats;
pub mod produce;
pub mod floor;
pub mod scale;
pub mod wire;

/// Latency summary in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// A histogram of nanoseconds, 3 significant digits, up to 60 s.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns / 1000;
        Latency {
            count: h.len(),
            mean: (h.mean() / 1000.0 * 10.0).round() / 10.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

/// The generator's clock origin: stamps carry nanoseconds since it.
pub fn epoch() -> Instant {
    use std::sync::OnceLock;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub fn since_epoch_ns(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_nanos() as u64
}

pub fn instant_of(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}
