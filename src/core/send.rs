//! What every front end (remoting SEND_MESSAGE, gRPC SendMessage) does to a message before
//! [`Core::append`]: the broker's stamps on its properties, the properties' size limit, the
//! queue choice, the half / delay-level / timer redirects of a single message, and the timer
//! redirect of each message of a batch.
use super::redirect::{redirect_delayed, redirect_half, redirect_timer, TimerTooFar};
use super::Core;
use crate::codec::message::{prop, Properties};
use crate::store::NewMessage;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Longest encoded properties string the broker stores (Java's limit).
pub const MAX_PROPERTIES_LEN: usize = 32767;

/// What the broker stamps on every stored message: CLUSTER, and as the 5.x broker does,
/// MSG_REGION (`regionId`) and TRACE_ON (`traceOn`); the 5.x client drops consume-trace records
/// of messages without MSG_REGION.
pub struct Stamps {
    pub cluster: String,
    pub region: String,
    pub trace_on: &'static str,
}

impl Core {
    pub fn stamps(&self) -> Stamps {
        let cfg = self.config();
        Stamps {
            cluster: self.identity.cluster.clone(),
            region: cfg.region_id.clone(),
            trace_on: if cfg.trace_on { "true" } else { "false" },
        }
    }

    /// The half / delay-level / timer redirect of a single (non-batch) message, as the send
    /// path applies it; a delivery time beyond `timerMaxDelay` is refused.
    pub fn redirect_single(&self, m: &mut NewMessage, now_ms: i64) -> Result<(), TimerTooFar> {
        let cfg = self.config();
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
    pub fn redirect_batch(&self, msgs: &mut [NewMessage], now_ms: i64) -> Result<usize, TimerTooFar> {
        let max_delay = self.config().timer_max_delay;
        let mut redirected = 0;
        for m in msgs.iter_mut() {
            redirected += usize::from(redirect_timer(m, now_ms, max_delay)?);
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
pub fn stored_properties(mut p: Properties, st: &Stamps) -> Result<String, String> {
    p.remove(prop::WAIT);
    p.insert(prop::CLUSTER, st.cluster.as_str());
    p.insert(prop::MSG_REGION, st.region.as_str());
    p.insert(prop::TRACE_SWITCH, st.trace_on);
    let s = p.encode();
    if s.len() > MAX_PROPERTIES_LEN {
        return Err(format!("the message properties length {} is longer than {MAX_PROPERTIES_LEN}", s.len()));
    }
    Ok(s)
}

/// Round-robin over a topic's write queues.
pub fn pick_queue(write_queues: i32) -> i32 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    (NEXT.fetch_add(1, Ordering::Relaxed) % write_queues.max(1) as usize) as i32
}
