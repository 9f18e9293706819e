//! The last hour of throughput per topic and lag per online group, sampled every
//! [`SAMPLE_EVERY_MS`] into ring buffers (the console's charts). Memory is bounded: at most
//! [`MAX_SERIES`] series of each kind, each at most `WINDOW_MS / SAMPLE_EVERY_MS + 1` points.
use super::topics::{DLQ_PREFIX, RETRY_PREFIX};
use super::Core;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How often the sampler records a point.
pub const SAMPLE_EVERY_MS: i64 = 10_000;
/// How far back the charts look.
pub const WINDOW_MS: i64 = 3_600_000;
/// Series kept per kind (topics, groups); later ones are not recorded.
pub const MAX_SERIES: usize = 10_000;

/// (time ms, value) points, oldest first.
pub type Points = Vec<(i64, f64)>;

type Ring = VecDeque<(i64, f32)>;

#[derive(Default)]
struct Inner {
    /// Messages stored per topic at the last sample, and when it was taken.
    last_stored: HashMap<String, u64>,
    last_at: Option<i64>,
    topics: HashMap<String, Ring>,
    groups: HashMap<String, Ring>,
}

#[derive(Default)]
pub struct History {
    inner: Mutex<Inner>,
}

fn push(map: &mut HashMap<String, Ring>, key: &str, at: i64, v: f64) {
    if !map.contains_key(key) && map.len() >= MAX_SERIES {
        return;
    }
    map.entry(key.to_string()).or_default().push_back((at, v as f32));
}

/// Drop points older than the window, and series left empty (their topic or group went away).
fn trim(map: &mut HashMap<String, Ring>, now: i64) {
    map.retain(|_, ring| {
        while ring.front().is_some_and(|(t, _)| *t < now - WINDOW_MS) {
            ring.pop_front();
        }
        !ring.is_empty()
    });
}

fn points(map: &HashMap<String, Ring>, key: &str) -> Points {
    map.get(key).map(|r| r.iter().map(|(t, v)| (*t, *v as f64)).collect()).unwrap_or_default()
}

impl History {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record one sample: `stored` = messages stored so far per topic (throughput is the rate
    /// since the previous sample), `lags` = current lag per group.
    pub fn record(&self, now: i64, stored: &[(String, u64)], lags: &HashMap<String, i64>) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(prev) = inner.last_at.filter(|p| now > *p) {
            let secs = (now - prev) as f64 / 1000.0;
            for (t, n) in stored {
                let before = inner.last_stored.get(t).copied().unwrap_or(0);
                push(&mut inner.topics, t, now, n.saturating_sub(before) as f64 / secs);
            }
        }
        inner.last_stored = stored.iter().cloned().collect();
        inner.last_at = Some(now);
        for (g, lag) in lags {
            push(&mut inner.groups, g, now, *lag as f64);
        }
        trim(&mut inner.topics, now);
        trim(&mut inner.groups, now);
    }

    /// Messages per second stored on `topic`, over the last hour.
    pub fn topic_throughput(&self, topic: &str) -> Points {
        points(&self.lock().topics, topic)
    }

    /// Lag (messages) of `group`, every subscribed topic summed, over the last hour.
    pub fn group_lag(&self, group: &str) -> Points {
        points(&self.lock().groups, group)
    }
}

impl Core {
    /// Take one history sample now (the sampler actor calls this every [`SAMPLE_EVERY_MS`]).
    pub fn sample_history(&self, now: i64) {
        let stored: Vec<(String, u64)> = self
            .stats
            .stored_snapshot()
            .into_iter()
            .filter(|(t, ..)| !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX))
            .map(|(t, m, _)| (t, m))
            .collect();
        let mut lags: HashMap<String, i64> = HashMap::new();
        for l in self.online_lags(now) {
            *lags.entry(l.group).or_default() += l.messages;
        }
        self.history.record(now, &stored, &lags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_is_a_rate_and_old_points_leave() {
        let h = History::default();
        let lags: HashMap<String, i64> = [("g".to_string(), 7)].into();
        h.record(0, &[("T".into(), 100)], &lags);
        h.record(10_000, &[("T".into(), 600)], &lags);
        assert_eq!(h.topic_throughput("T"), vec![(10_000, 50.0)]);
        assert_eq!(h.group_lag("g"), vec![(0, 7.0), (10_000, 7.0)]);
        h.record(WINDOW_MS + 5_000, &[("T".into(), 600)], &HashMap::new());
        assert_eq!(h.topic_throughput("T"), vec![(10_000, 50.0), (WINDOW_MS + 5_000, 0.0)]);
        assert_eq!(h.group_lag("g"), vec![(10_000, 7.0)]);
        h.record(2 * WINDOW_MS + 20_000, &[], &HashMap::new());
        assert!(h.group_lag("g").is_empty());
    }

    #[test]
    fn series_are_capped() {
        let h = History::default();
        let lags: HashMap<String, i64> = (0..MAX_SERIES + 5).map(|i| (format!("g{i}"), 1)).collect();
        h.record(0, &[], &lags);
        let n = (0..MAX_SERIES + 5).filter(|i| !h.group_lag(&format!("g{i}")).is_empty()).count();
        assert_eq!(n, MAX_SERIES);
    }
}
