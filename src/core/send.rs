//! What every front end (remoting SEND_MESSAGE, gRPC SendMessage) does to a message before
//! [`Core::append`]: the broker's stamps on its properties, the properties' size limit, the
//! queue choice, the half / delay-level / timer redirects of a single message, and the timer
//! redirect of each message of a batch.
use super::redirect::{redirect_delayed, redirect_half, redirect_timer, TimerTooFar};
use super::Core;
use crate::codec::message::{join_pairs_of, prop, Properties};
use crate::store::NewMessage;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Longest encoded properties string the broker stores (Java's limit).
pub const MAX_PROPERTIES_LEN: usize = 32767;

/// What the broker stamps on every stored message: CLUSTER, and as the 5.x broker does,
/// MSG_REGION (`regionId`) and TRACE_ON (`traceOn`); the 5.x client drops consume-trace records
/// of messages without MSG_REGION.
pub struct Stamps<'a> {
    pub cluster: &'a str,
    pub region: &'a str,
    pub trace_on: &'static str,
}

impl Core {
    /// The stamps: the cluster borrowed from the broker's identity, the rest from `cfg` (a
    /// [`Core::config`] snapshot the caller holds: the config can change at run time).
    pub fn stamps<'a>(&'a self, cfg: &'a crate::config::BrokerConfig) -> Stamps<'a> {
        Stamps {
            cluster: &self.identity.cluster,
            region: &cfg.region_id,
            trace_on: if cfg.trace_on { "true" } else { "false" },
        }
    }

    /// Whether [`Core::redirect_single`] could move a message with this system flag and these
    /// properties of its producer's (the broker's own stamps name none of what it looks for):
    /// false for nearly every send, which then skips the searches of the stored properties.
    pub fn may_redirect(sys_flag: i32, producer_pairs: &[(&str, &str)]) -> bool {
        use crate::codec::message::{prop, sys_flag as sf};
        sys_flag & sf::TRANSACTION_MASK == sf::TRANSACTION_PREPARED
            || producer_pairs.iter().any(|(k, _)| *k == prop::DELAY || crate::core::redirect::TIMER_PROPERTIES.contains(k))
    }

    /// The half / delay-level / timer redirect of a single (non-batch) message, as the send
    /// path applies it (under `cfg`, the caller's read of the config); a delivery time beyond
    /// `timerMaxDelay` is refused.
    pub fn redirect_single(&self, cfg: &crate::config::BrokerConfig, m: &mut NewMessage, now_ms: &dyn Fn() -> i64) -> Result<(), TimerTooFar> {
        if !redirect_half(m) && !redirect_delayed(m, &cfg.message_delay_level, now_ms) {
            redirect_timer(m, now_ms, cfg.timer_max_delay)?;
        }
        Ok(())
    }

    /// The timer redirect of each message of a batch (SEND_BATCH_MESSAGE, a gRPC SendMessage
    /// with several messages): a message with a 5.x delivery time goes to the timer topic
    /// exactly as a single one would, the others stay where they are. Returns how many went;
    /// one delivery time beyond `timerMaxDelay` refuses the whole batch (the caller stores
    /// nothing). Batches carry no delay level and no transaction (refused before this). The
    /// cost for a batch without timers: one substring check per message.
    pub fn redirect_batch(&self, msgs: &mut [NewMessage], now_ms: &dyn Fn() -> i64) -> Result<usize, TimerTooFar> {
        let max_delay = self.config().timer_max_delay;
        let mut redirected = 0;
        // one clock read for the whole batch, when a message needs it
        let read = std::cell::OnceCell::new();
        let now = || *read.get_or_init(now_ms);
        for m in msgs.iter_mut() {
            redirected += usize::from(redirect_timer(m, &now, max_delay)?);
        }
        Ok(redirected)
    }

    /// The recall handle of each message of a batch after [`Core::redirect_batch`]: empty for a
    /// message that is not a timer.
    pub fn recall_handles(&self, msgs: &[NewMessage]) -> Vec<String> {
        let cfg = self.config();
        msgs.iter().map(|m| crate::core::timer::recall_handle(m, &cfg.broker_name).unwrap_or_default()).collect()
    }
}

/// Properties as stored: the message's own plus the stamps, without WAIT.
pub fn stored_properties(p: Properties, st: &Stamps) -> Result<String, String> {
    let pairs: Vec<(&str, &str)> = p.iter().collect();
    stored_properties_of("", &pairs, None, st)
}

/// [`stored_properties`] of borrowed pairs (as [`crate::codec::message::property_pairs`] reads
/// them: no allocation per property), with `RETRY_TOPIC` set first when the message goes to a DLQ:
/// one string built, the same one the parse / insert / encode path gives (a name already present
/// keeps its place with the new value, new names follow in order, empty values are left out).
/// `source`: the producer's properties string most pairs were read from (copied in runs).
pub fn stored_properties_of(source: &str, pairs: &[(&str, &str)], retry_topic: Option<&str>, st: &Stamps) -> Result<String, String> {
    let all = [
        (prop::RETRY_TOPIC, retry_topic.unwrap_or_default()),
        (prop::CLUSTER, st.cluster),
        (prop::MSG_REGION, st.region),
        (prop::TRACE_SWITCH, st.trace_on),
    ];
    // what the broker sets, names distinct
    let set = if retry_topic.is_some() { &all[..] } else { &all[1..] };
    let value_of = |k: &str| set.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let len = pairs.iter().chain(set).map(|(k, v)| k.len() + v.len() + 2).sum();
    let out = if retry_topic.is_none() && !pairs.iter().any(|(k, _)| value_of(k).is_some()) {
        // the usual send: the producer's pairs but WAIT, then the stamps, joined once per thread
        let mut out = join_pairs_of(source, pairs.iter().copied().filter(|(k, _)| *k != prop::WAIT), len);
        st.with_joined(|stamps| {
            if !out.is_empty() && !stamps.is_empty() {
                out.push(crate::codec::message::PROPERTY_SEPARATOR);
            }
            out.push_str(stamps);
        });
        out
    } else {
        let kept = pairs.iter().filter(|(k, _)| *k != prop::WAIT).map(|&(k, v)| (k, value_of(k).unwrap_or(v)));
        let added = set.iter().copied().filter(|(k, _)| !pairs.iter().any(|(n, _)| n == k));
        join_pairs_of(source, kept.chain(added).filter(|(k, v)| !k.is_empty() && !v.is_empty()), len)
    };
    if out.len() > MAX_PROPERTIES_LEN {
        return Err(format!("the message properties length {} is longer than {MAX_PROPERTIES_LEN}", out.len()));
    }
    Ok(out)
}

impl Stamps<'_> {
    /// Call `f` with the stamps as stored (`CLUSTER`, `MSG_REGION`, `TRACE_ON` joined, empty
    /// values left out): joined once per thread while they stay the same.
    fn with_joined<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        type Joined = (String, String, &'static str, String);
        thread_local! {
            static LAST: std::cell::RefCell<Option<Joined>> = const { std::cell::RefCell::new(None) };
        }
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            let fresh = matches!(&*last, Some((c, r, t, _)) if c == self.cluster && r == self.region && *t == self.trace_on);
            if !fresh {
                let pairs = [(prop::CLUSTER, self.cluster), (prop::MSG_REGION, self.region), (prop::TRACE_SWITCH, self.trace_on)];
                let joined = join_pairs_of("", pairs.into_iter().filter(|(_, v)| !v.is_empty()), 0);
                *last = Some((self.cluster.to_string(), self.region.to_string(), self.trace_on, joined));
            }
            f(last.as_ref().map(|l| l.3.as_str()).unwrap_or_default())
        })
    }
}

/// Round-robin over a topic's write queues.
pub fn pick_queue(write_queues: i32) -> i32 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    (NEXT.fetch_add(1, Ordering::Relaxed) % write_queues.max(1) as usize) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::message::{parse_properties, property_pairs};

    /// What the send path stored before it kept the producer's pairs borrowed: parse, set, encode.
    fn by_parsing(props: &str, retry_topic: Option<&str>, st: &Stamps) -> String {
        let mut p = parse_properties(props);
        if let Some(t) = retry_topic {
            p.insert(prop::RETRY_TOPIC, t);
        }
        p.remove(prop::WAIT);
        p.insert(prop::CLUSTER, st.cluster);
        p.insert(prop::MSG_REGION, st.region);
        p.insert(prop::TRACE_SWITCH, st.trace_on);
        p.encode()
    }

    #[test]
    fn borrowed_pairs_store_what_parsing_stored() {
        let st = Stamps { cluster: "DefaultCluster", region: "DefaultRegion", trace_on: "true" };
        let no_region = Stamps { cluster: "c", region: "", trace_on: "false" };
        let cases = [
            "",
            "WAIT\u{1}true\u{2}TAGS\u{1}a\u{2}UNIQ_KEY\u{1}X",
            "TAGS\u{1}a\u{2}CLUSTER\u{1}theirs\u{2}WAIT\u{1}false\u{2}KEYS\u{1}k1 k2\u{2}",
            "A\u{1}1\u{2}A\u{1}2\u{2}\u{1}x\u{2}B\u{1}\u{2}TRACE_ON\u{1}false\u{2}RETRY_TOPIC\u{1}old",
            "MSG_REGION\u{1}r\u{2}WAIT\u{1}true",
            "UNIQ_KEY\u{1}X\u{2}WAIT\u{1}true\u{2}TAGS\u{1}a\u{2}KEYS\u{1}k\u{1}2\u{2}",
            "TAGS\u{1}a\u{2}TAGS\u{1}b\u{2}KEYS\u{1}k\u{2}\u{2}\u{2}X\u{1}1",
        ];
        for props in cases {
            for retry_topic in [None, Some("%RETRY%g")] {
                for st in [&st, &no_region] {
                    let got = stored_properties_of(props, &property_pairs(props), retry_topic, st).unwrap();
                    assert_eq!(got, by_parsing(props, retry_topic, st), "{props:?} {retry_topic:?}");
                }
            }
        }
    }

    #[test]
    fn stored_properties_over_the_limit_are_refused() {
        let st = Stamps { cluster: "c", region: "r", trace_on: "true" };
        let long = format!("K\u{1}{}", "v".repeat(MAX_PROPERTIES_LEN));
        assert!(stored_properties_of(&long, &property_pairs(&long), None, &st).unwrap_err().contains("longer than 32767"));
    }

    #[test]
    fn a_redirect_is_looked_for_only_when_one_could_happen() {
        use crate::codec::message::{prop, sys_flag};
        let plain = [(prop::UNIQ_KEY, "X"), (prop::WAIT, "true"), ("TIMER", "1"), ("note", "TIMER_DELAY_MS")];
        assert!(!Core::may_redirect(0, &plain));
        assert!(!Core::may_redirect(sys_flag::TRANSACTION_COMMIT, &plain));
        assert!(Core::may_redirect(sys_flag::TRANSACTION_PREPARED, &plain));
        for key in [prop::DELAY, prop::TIMER_DELIVER_MS, prop::TIMER_DELAY_SEC, prop::TIMER_DELAY_MS] {
            let with: Vec<_> = plain.iter().copied().chain([(key, "1")]).collect();
            assert!(Core::may_redirect(0, &with), "{key}");
        }
    }
}
