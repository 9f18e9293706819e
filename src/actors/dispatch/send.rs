//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and the reply sends (324/325).
//!
//! Checks in the order the 4.9.7 broker applies them (`06-send.md`), then one store append (a
//! batch is one append with consecutive queue offsets), then a fire-and-forget wake-up for pulls
//! held on the queue. Under SYNC_FLUSH the answer waits for the group commit.
use super::{ConnInfo, Reply};
use crate::actors::context::BrokerContext;
use crate::actors::queue::Arrived;
use crate::actors::scheduler::{now_ms, redirect_delayed, redirect_timer};
use crate::actors::transaction::redirect_half;
use crate::actors::topic::{perm, validate_topic_name, DLQ_PREFIX, RETRY_PREFIX, SEND_FORBIDDEN};
use crate::codec::codes::response_code as rc;
use crate::codec::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use crate::codec::message::{decode_batch, parse_properties, prop, Properties};
use crate::codec::RemotingCommand;
use crate::store::{NewMessage, PutOutcome, StoreError, TopicConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const MAX_PROPERTIES_LEN: usize = 32767;

/// The send handler.
pub fn handle(ctx: &Arc<BrokerContext>, conn: &ConnInfo, req: RemotingCommand) -> Reply {
    let mut resp = RemotingCommand::response_to(&req, rc::SUCCESS, None);
    resp.set_ext("MSG_REGION", "DefaultRegion");
    resp.set_ext("TRACE_ON", "true");
    let fail = |mut r: RemotingCommand, code: i32, remark: String| {
        r.code = code;
        r.remark = Some(remark);
        Reply::Now(r)
    };
    let h = match SendMessageRequestHeader::from_command(&req) {
        Ok(h) => h,
        Err(e) => return fail(resp, rc::SYSTEM_ERROR, format!("bad send request: {e}")),
    };
    if let Err(remark) = validate_topic_name(&h.topic) {
        return fail(resp, rc::SYSTEM_ERROR, remark);
    }
    if SEND_FORBIDDEN.contains(&h.topic.as_str()) {
        return fail(resp, rc::NO_PERMISSION, format!("Sending message to topic[{}] is forbidden.", h.topic));
    }
    let cfg = ctx.config();
    let topic = match resolve_topic(ctx, &h, cfg.auto_create_topic_enable) {
        Some(t) => t,
        None => {
            return fail(resp, rc::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!", h.topic))
        }
    };
    if topic.perm & perm::WRITE == 0 {
        return fail(resp, rc::NO_PERMISSION, format!("the topic[{}] sending message is forbidden", h.topic));
    }
    let queue_count = topic.write_queue_nums.max(topic.read_queue_nums);
    let queue_id = if h.queue_id < 0 { pick_queue(topic.write_queue_nums) } else { h.queue_id };
    if queue_id >= queue_count {
        return fail(
            resp,
            rc::SYSTEM_ERROR,
            format!("request queueId[{queue_id}] is illegal, {topic:?} Producer: {}", conn.handle.peer),
        );
    }
    if req.body.len() > cfg.max_message_size {
        return fail(resp, rc::MESSAGE_ILLEGAL, illegal_remark(cfg.max_message_size));
    }
    let mut header_props = parse_properties(h.properties.as_deref().unwrap_or(""));
    let wait = header_props.get(prop::WAIT).map(|v| !v.eq_ignore_ascii_case("false")).unwrap_or(true);
    let (target_topic, target_queue) = match retry_target(ctx, &h, queue_id) {
        Ok(t) => t,
        Err((code, remark)) => return fail(resp, code, remark),
    };
    let mut msgs = match build_messages(ctx, conn, &h, &req, &mut header_props, &target_topic, target_queue) {
        Ok(m) => m,
        Err(remark) => return fail(resp, rc::MESSAGE_ILLEGAL, remark),
    };
    if !h.batch && target_topic == h.topic {
        if let Some(m) = msgs.first_mut() {
            if !redirect_half(m) && !redirect_delayed(m, &cfg.message_delay_level, now_ms()) {
                if let Err(remark) = redirect_timer(m, now_ms(), cfg.timer_max_delay) {
                    return fail(resp, rc::MESSAGE_ILLEGAL, remark);
                }
            }
        }
    }
    // What parked pulls need to know; sent only if any pull is parked (checked after the put).
    let stored_in: Option<(String, i32)> = msgs.first().map(|m| (m.topic.clone(), m.queue_id));
    let tags: Vec<i64> = msgs.iter().map(|m| m.tags_code).collect();
    let outcome = match ctx.store.put(msgs) {
        Ok(o) => o,
        Err(e) => {
            let (code, remark) = store_error(&e);
            return fail(resp, code, remark);
        }
    };
    if let Some((topic, queue_id)) = stored_in {
        ctx.wake(tags.into_iter().map(|tags_code| Arrived {
            topic: topic.clone(),
            queue_id,
            tags_code,
            properties: None,
        }));
    }
    fill_response(&mut resp, &outcome, queue_id);
    match outcome.flush {
        Some(waiter) if wait && !req.is_oneway() => Reply::Later(Box::pin(async move {
            if let Err(e) = waiter.wait().await {
                tracing::warn!(error = %e, "sync flush did not complete in time");
                resp.code = rc::FLUSH_DISK_TIMEOUT;
                resp.remark = Some(format!("{e}"));
            }
            Some(resp)
        })),
        _ => Reply::Now(resp),
    }
}

fn illegal_remark(max: usize) -> String {
    format!(
        "the message is illegal, maybe msg body or properties length not matched. msg body length limit {max}B, msg properties length limit 32KB."
    )
}

fn pick_queue(write_queues: i32) -> i32 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    (NEXT.fetch_add(1, Ordering::Relaxed) % write_queues.max(1) as usize) as i32
}

/// The topic's config, auto-creating it from the default topic or as a retry topic.
fn resolve_topic(ctx: &BrokerContext, h: &SendMessageRequestHeader, auto_create: bool) -> Option<TopicConfig> {
    if let Some(t) = ctx.topics.get(&h.topic) {
        return Some(t);
    }
    if let Some(group) = h.topic.strip_prefix(RETRY_PREFIX) {
        let queues = ctx.groups.get(group).map(|g| g.retry_queue_nums).unwrap_or(1);
        return Some(ctx.ensure_retry_topic(group, queues));
    }
    if !auto_create {
        return None;
    }
    let template = ctx.topics.get(&h.default_topic)?;
    if template.perm & perm::INHERIT == 0 {
        return None;
    }
    let queues = h.default_topic_queue_nums.clamp(1, template.write_queue_nums.max(1));
    let mut tc = crate::actors::topic::new_topic(&h.topic, queues, template.perm & !perm::INHERIT);
    tc.topic_filter_type = template.topic_filter_type.clone();
    let (tc, created) = match ctx.topics.get(&h.topic) {
        Some(t) => (t, false),
        None => (tc.clone(), ctx.topics.put(tc)),
    };
    if created {
        tracing::info!(topic = %tc.topic_name, queues, producer = %h.producer_group, "auto-created topic");
        ctx.announce(tc.clone());
    }
    Some(tc)
}

/// Messages sent to `%RETRY%<group>` past their reconsume limit go to `%DLQ%<group>`.
fn retry_target(
    ctx: &BrokerContext,
    h: &SendMessageRequestHeader,
    queue_id: i32,
) -> Result<(String, i32), (i32, String)> {
    let Some(group) = h.topic.strip_prefix(RETRY_PREFIX) else {
        return Ok((h.topic.clone(), queue_id));
    };
    let cfg = ctx.config();
    let Some(g) = ctx.groups.get_or_create(group, cfg.auto_create_subscription_group) else {
        return Err((rc::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group not exist, {group}")));
    };
    let max = h.max_reconsume_times.unwrap_or(g.retry_max_times);
    if h.reconsume_times.unwrap_or(0) >= max {
        let dlq = format!("{DLQ_PREFIX}{group}");
        let (tc, created) = ctx.topics.ensure(&dlq, 1, perm::READ_WRITE);
        if created {
            ctx.announce(tc);
        }
        return Ok((dlq, 0));
    }
    Ok((h.topic.clone(), queue_id))
}

/// Properties as stored: the message's own, plus CLUSTER, without WAIT.
fn stored_properties(mut p: Properties, cluster: &str) -> Result<String, String> {
    p.remove(prop::WAIT);
    p.insert(prop::CLUSTER, cluster);
    let s = p.encode();
    if s.len() > MAX_PROPERTIES_LEN {
        return Err(format!("the message properties length {} is longer than 32767", s.len()));
    }
    Ok(s)
}

fn build_messages(
    ctx: &BrokerContext,
    conn: &ConnInfo,
    h: &SendMessageRequestHeader,
    req: &RemotingCommand,
    header_props: &mut Properties,
    topic: &str,
    queue_id: i32,
) -> Result<Vec<NewMessage>, String> {
    let cluster = ctx.identity.cluster.clone();
    let base = |body, props: Properties, flag| -> Result<NewMessage, String> {
        let (tags_code, keys, uniq_key) = crate::actors::index_fields(&props);
        let mut props = props;
        if topic != h.topic {
            // redirected to the DLQ: keep where it came from
            props.insert(prop::RETRY_TOPIC, &h.topic);
        }
        Ok(NewMessage {
            topic: topic.to_string(),
            queue_id,
            flag,
            sys_flag: h.sys_flag,
            born_timestamp: h.born_timestamp,
            born_host: conn.handle.peer,
            reconsume_times: h.reconsume_times.unwrap_or(0),
            prepared_transaction_offset: 0,
            body,
            properties: stored_properties(props, &cluster)?,
            tags_code,
            keys,
            uniq_key,
        })
    };
    if !h.batch {
        return Ok(vec![base(req.body.clone(), std::mem::take(header_props), h.flag)?]);
    }
    if h.sys_flag & crate::codec::message::sys_flag::TRANSACTION_MASK != 0 {
        return Err("batch message does not support transaction".into());
    }
    let entries = decode_batch(&req.body).map_err(|e| format!("malformed batch body: {e}"))?;
    if entries.is_empty() {
        return Err("empty batch".into());
    }
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let mut p = parse_properties(&e.properties);
        if p.get(prop::DELAY).is_some() {
            return Err("batch message does not support delay message".into());
        }
        for (k, v) in header_props.iter() {
            if p.get(k).is_none() {
                p.insert(k, v);
            }
        }
        out.push(base(e.body, p, e.flag)?);
    }
    Ok(out)
}

fn fill_response(resp: &mut RemotingCommand, outcome: &PutOutcome, queue_id: i32) {
    let ids: Vec<&str> = outcome.results.iter().map(|r| r.msg_id.as_str()).collect();
    let first = outcome.results.first().map(|r| r.queue_offset).unwrap_or(0);
    let h = SendMessageResponseHeader { msg_id: ids.join(","), queue_id, queue_offset: first, transaction_id: None };
    resp.set_header(&h);
}

/// Map a store failure to the response code the Java producer expects.
pub fn store_error(e: &StoreError) -> (i32, String) {
    match e {
        StoreError::DiskFull(_) => (rc::SERVICE_NOT_AVAILABLE, format!("service not available now: {e}")),
        StoreError::MessageTooLarge => (rc::MESSAGE_ILLEGAL, format!("{e}")),
        _ => (rc::SYSTEM_ERROR, format!("store error: {e}")),
    }
}

