//! CONSUMER_SEND_MSG_BACK (36): a consumer returns a failed message for a later retry, or for the
//! dead-letter queue once it has failed too often (`docs/protocol/retry-dlq-delay.md` §4).
use super::{success, Conn, HandlerError, HandlerResult};
use crate::core::redirect::redirect_delayed;
use crate::core::topics::{validate_topic_name, DLQ_PREFIX, RETRY_PREFIX};
use crate::core::{now_ms, Core};
use crate::codec::codes::response_code as rc;
use crate::codec::header::ConsumerSendMsgBackRequestHeader;
use crate::codec::message::{offset_msg_id, parse_properties, prop};
use crate::codec::stored::decode_stored;
use crate::codec::RemotingCommand;

pub fn send_back(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: ConsumerSendMsgBackRequestHeader = req.decode_header()?;
    // The group names topics (%RETRY%g, %DLQ%g) and so directories: no `/`, no `..`.
    if let Err(e) = validate_topic_name(&format!("{RETRY_PREFIX}{}", h.group)) {
        return Err(HandlerError::new(rc::SUBSCRIPTION_GROUP_NOT_EXIST, e.to_string()));
    }
    let cfg = core.config();
    let Some(group) = core.groups.get_or_create(&h.group, cfg.auto_create_subscription_group) else {
        return Err(HandlerError::new(rc::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group not exist, {}", h.group)));
    };
    if group.retry_queue_nums <= 0 {
        return Ok(success(req).into());
    }
    let retry = core.ensure_retry_topic(&h.group, group.retry_queue_nums);
    let Some(raw) = core.store.read_message(h.offset) else {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("look message by offset failed, {}", h.offset)));
    };
    let Ok((m, _)) = decode_stored(&raw) else {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("look message by offset failed, {}", h.offset)));
    };
    let mut props = parse_properties(&m.properties);
    if props.get(prop::RETRY_TOPIC).is_none() {
        props.insert(prop::RETRY_TOPIC, &m.topic);
    }
    if props.get(prop::ORIGIN_MESSAGE_ID).is_none() {
        props.insert(prop::ORIGIN_MESSAGE_ID, offset_msg_id(m.store_host, m.commit_log_offset));
    }
    let max = h.max_reconsume_times.unwrap_or(group.retry_max_times);
    let levels = &cfg.message_delay_level;
    let (topic, queue_id) = if m.reconsume_times >= max || h.delay_level < 0 {
        let dlq = format!("{DLQ_PREFIX}{}", h.group);
        core.ensure_topic(&dlq, 1);
        props.insert(prop::DELAY, "0");
        core.stats.to_dlq(&h.group);
        tracing::info!(group = %h.group, msg = %h.origin_msg_id.as_deref().unwrap_or(""), times = m.reconsume_times, "message moved to the dead-letter queue");
        (dlq, 0)
    } else {
        let level = if h.delay_level > 0 { h.delay_level } else { 3 + m.reconsume_times };
        let level = (level.max(1) as usize).min(levels.len().max(1));
        props.insert(prop::DELAY, level.to_string());
        let q = (m.queue_offset.unsigned_abs() % retry.write_queue_nums.max(1) as u64) as i32;
        (retry.topic_name.clone(), q)
    };
    let mut msg = crate::core::message::restore(&m, topic, queue_id, &props);
    msg.reconsume_times = m.reconsume_times + 1;
    msg.prepared_transaction_offset = 0;
    redirect_delayed(&mut msg, levels, &now_ms);
    core.append(vec![msg]).map_err(|e| HandlerError::system(format!("send message back failed: {e}")))?;
    Ok(success(req).into())
}
