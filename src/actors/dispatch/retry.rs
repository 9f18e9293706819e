//! CONSUMER_SEND_MSG_BACK (36): a consumer returns a failed message for a later retry, or for the
//! dead-letter queue once it has failed too often (`09-retry-dlq-delay.md` §4).
use super::{answer, header, success};
use crate::actors::context::BrokerContext;
use crate::actors::queue::Arrived;
use crate::actors::scheduler::{now_ms, redirect_delayed};
use crate::actors::topic::{perm, DLQ_PREFIX, RETRY_PREFIX};
use crate::codec::codes::response_code as rc;
use crate::codec::header::ConsumerSendMsgBackRequestHeader;
use crate::codec::message::{offset_msg_id, parse_properties, prop};
use crate::codec::stored::decode_stored;
use crate::codec::RemotingCommand;
use crate::store::NewMessage;
use std::sync::Arc;

pub fn send_back(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h: ConsumerSendMsgBackRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // The group names topics (%RETRY%g, %DLQ%g) and so directories: no `/`, no `..`.
    if let Err(remark) = crate::actors::topic::validate_topic_name(&format!("{RETRY_PREFIX}{}", h.group)) {
        return answer(req, rc::SUBSCRIPTION_GROUP_NOT_EXIST, remark);
    }
    let cfg = ctx.config();
    let Some(group) = ctx.groups.get_or_create(&h.group, cfg.auto_create_subscription_group) else {
        return answer(req, rc::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group not exist, {}", h.group));
    };
    if group.retry_queue_nums <= 0 {
        return success(req);
    }
    let retry = ctx.ensure_retry_topic(&h.group, group.retry_queue_nums);
    let Some(raw) = ctx.store.read_message(h.offset) else {
        return answer(req, rc::SYSTEM_ERROR, format!("look message by offset failed, {}", h.offset));
    };
    let Ok((m, _)) = decode_stored(&raw) else {
        return answer(req, rc::SYSTEM_ERROR, format!("look message by offset failed, {}", h.offset));
    };
    let mut props = parse_properties(&m.properties);
    if props.get(prop::RETRY_TOPIC).is_none() {
        props.insert(prop::RETRY_TOPIC, &m.topic);
    }
    if props.get(prop::ORIGIN_MESSAGE_ID).is_none() {
        props.insert(prop::ORIGIN_MESSAGE_ID, &offset_msg_id(m.store_host, m.commit_log_offset));
    }
    let max = h.max_reconsume_times.unwrap_or(group.retry_max_times);
    let levels = &cfg.message_delay_level;
    let (topic, queue_id) = if m.reconsume_times >= max || h.delay_level < 0 {
        let dlq = format!("{DLQ_PREFIX}{}", h.group);
        let (tc, created) = ctx.topics.ensure(&dlq, 1, perm::READ_WRITE);
        if created {
            ctx.announce(tc);
        }
        props.insert(prop::DELAY, "0");
        tracing::info!(group = %h.group, msg = %h.origin_msg_id.as_deref().unwrap_or(""), times = m.reconsume_times, "message moved to the dead-letter queue");
        (dlq, 0)
    } else {
        let level = if h.delay_level > 0 { h.delay_level } else { 3 + m.reconsume_times };
        let level = (level.max(1) as usize).min(levels.len().max(1));
        props.insert(prop::DELAY, &level.to_string());
        let q = (m.queue_offset.unsigned_abs() % retry.write_queue_nums.max(1) as u64) as i32;
        (retry.topic_name.clone(), q)
    };
    let (tags_code, keys, uniq_key) = crate::actors::index_fields(&props);
    let mut msg = NewMessage {
        topic,
        queue_id,
        flag: m.flag,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        reconsume_times: m.reconsume_times + 1,
        prepared_transaction_offset: 0,
        body: m.body.clone(),
        properties: props.encode(),
        tags_code,
        keys,
        uniq_key,
    };
    redirect_delayed(&mut msg, levels, now_ms());
    let (t, q, props) = (msg.topic.clone(), msg.queue_id, msg.properties.clone());
    match ctx.store.put(vec![msg]) {
        Ok(_) => {
            ctx.queue_actor.do_send(Arrived { topic: t, queue_id: q, tags_code, properties: Some(Arc::from(props.as_str())) });
            success(req)
        }
        Err(e) => answer(req, rc::SYSTEM_ERROR, format!("send message back failed: {e}")),
    }
}
