//! Where a message really goes when it is stored: a transaction's half message waits in the half
//! topic, a message with a delay level in `SCHEDULE_TOPIC_XXXX`, a message with a 5.x delivery time
//! in the timer topic. Each keeps its real topic and queue in `REAL_TOPIC`/`REAL_QID`.
use memchr::memmem::Finder;
use std::sync::LazyLock;
use super::topics::{SCHEDULE_TOPIC, TRANS_HALF_TOPIC};
use crate::codec::message::{parse_properties, prop, sys_flag};
use crate::store::NewMessage;
use std::time::Duration;

/// Where messages with a 5.x delivery time wait (queue 0), as in RocketMQ 5.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// The due time of a timer message, as stored.
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";

/// Park a prepared message in the half topic; returns true when redirected.
pub fn redirect_half(msg: &mut NewMessage) -> bool {
    if msg.sys_flag & sys_flag::TRANSACTION_MASK != sys_flag::TRANSACTION_PREPARED {
        return false;
    }
    let mut props = parse_properties(&msg.properties);
    if props.get(prop::TRAN_MSG).map(|v| v.eq_ignore_ascii_case("true")) != Some(true) {
        return false;
    }
    props.insert(prop::REAL_TOPIC, &*msg.topic);
    props.insert(prop::REAL_QID, msg.queue_id.to_string());
    msg.properties = props.encode();
    msg.sys_flag &= !sys_flag::TRANSACTION_MASK;
    msg.topic = bytestring::ByteString::from_static(TRANS_HALF_TOPIC);
    msg.queue_id = 0;
    true
}

/// Park a message for later if it has a delay level; returns true when redirected. `now_ms`
/// (the wall clock) is read only for such a message.
pub fn redirect_delayed(msg: &mut NewMessage, levels: &[Duration], now_ms: &dyn Fn() -> i64) -> bool {
    // a searcher built once (`str::contains` prepares one on every call: ~150 instructions a send)
    static DELAY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("DELAY\u{1}"));
    if DELAY.find(msg.properties.as_bytes()).is_none() || levels.is_empty() {
        return false;
    }
    let tx = msg.sys_flag & sys_flag::TRANSACTION_MASK;
    if tx == sys_flag::TRANSACTION_PREPARED
        || tx == sys_flag::TRANSACTION_ROLLBACK
    {
        return false;
    }
    let mut props = parse_properties(&msg.properties);
    let level = match props.get(prop::DELAY).and_then(|v| v.trim().parse::<i64>().ok()) {
        Some(l) if l > 0 => (l as usize).min(levels.len()),
        _ => return false,
    };
    props.insert(prop::REAL_TOPIC, &*msg.topic);
    props.insert(prop::REAL_QID, msg.queue_id.to_string());
    props.insert(prop::DELAY, level.to_string());
    msg.properties = props.encode();
    msg.topic = bytestring::ByteString::from_static(SCHEDULE_TOPIC);
    msg.queue_id = level as i32 - 1;
    msg.tags_code = now_ms() + levels[level - 1].as_millis() as i64;
    true
}

/// The 5.x timer properties: a message carrying none is not a timer.
pub const TIMER_PROPERTIES: [&str; 3] = [prop::TIMER_DELIVER_MS, prop::TIMER_DELAY_SEC, prop::TIMER_DELAY_MS];

/// Delivery time requested through the 5.x timer properties, if any.
fn timer_due(props: &crate::codec::message::Properties, now_ms: i64) -> Option<i64> {
    let num = |k: &str| props.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(at) = num(prop::TIMER_DELIVER_MS) {
        return Some(at);
    }
    if let Some(sec) = num(prop::TIMER_DELAY_SEC) {
        return Some(now_ms.saturating_add(sec.saturating_mul(1000)));
    }
    num(prop::TIMER_DELAY_MS).map(|ms| now_ms.saturating_add(ms))
}

/// A 5.x delivery time further away than `timerMaxDelay`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the delivery time is too far in the future: {ahead_ms} ms > timerMaxDelay {max_ms} ms")]
pub struct TimerTooFar {
    pub ahead_ms: i64,
    pub max_ms: i64,
}

/// Park a message carrying a 5.x delivery time (`TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`,
/// `TIMER_DELAY_MS`) in the timer topic. Times already past are delivered at once (not
/// redirected); times beyond `max_delay` are refused with the reason. `now_ms` (the wall clock)
/// is read only for a message with timer properties.
pub fn redirect_timer(msg: &mut NewMessage, now_ms: &dyn Fn() -> i64, max_delay: Duration) -> Result<bool, TimerTooFar> {
    static TIMER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("TIMER_"));
    if TIMER.find(msg.properties.as_bytes()).is_none() {
        return Ok(false);
    }
    let now_ms = now_ms();
    let mut props = parse_properties(&msg.properties);
    let Some(due) = timer_due(&props, now_ms) else { return Ok(false) };
    if due <= now_ms {
        return Ok(false);
    }
    if due - now_ms > max_delay.as_millis() as i64 {
        return Err(TimerTooFar { ahead_ms: due - now_ms, max_ms: max_delay.as_millis() as i64 });
    }
    props.insert(prop::REAL_TOPIC, &*msg.topic);
    props.insert(prop::REAL_QID, msg.queue_id.to_string());
    props.insert(TIMER_OUT_MS, due.to_string());
    msg.properties = props.encode();
    msg.topic = bytestring::ByteString::from_static(TIMER_TOPIC);
    msg.queue_id = 0;
    msg.tags_code = due;
    Ok(true)
}

