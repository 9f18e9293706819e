//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and the reply sends (324/325).
//!
//! Checks in the order the 4.9.7 broker applies them (`docs/protocol/send.md` §2), then one store append (a
//! batch is one append with consecutive queue offsets), then a fire-and-forget wake-up for pulls
//! held on the queue. Under SYNC_FLUSH the answer waits for the group commit. Messages of a batch
//! with 5.x delivery times go to the timer topic in the same append, each as a single one would
//! (`recallHandle` then lists one handle per message, empty for the others).
use super::{Conn, HandlerError, HandlerResult, LateAnswer, Reply};
use crate::core::send::{pick_queue, stored_properties_of};
use crate::core::topics::{perm, validate_topic_name, DLQ_PREFIX, RETRY_PREFIX, SEND_FORBIDDEN};
use crate::core::ha::{SyncDecision, SyncOutcome};
use crate::core::{now_ms, Core};
use crate::codec::codes::response_code as rc;
use crate::codec::header::{SendAnswer, SendMessageRequestHeader, SendMessageResponseHeader};
use bytestring::ByteString;
use crate::codec::message::{decode_batch, prop, property_pairs, push_offset_msg_id};
use crate::codec::{Field, RemotingCommand};
use crate::config::BrokerConfig;
use crate::store::{NewMessage, PutOutcome, TopicConfig};

/// The send handler. Every answer, refusals included, carries the region and trace switch, as
/// the Java broker's does.
pub fn handle(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    send(core, conn, req).or_else(|e| {
        let mut r = e.response(req);
        region(&core.config(), &mut r);
        Ok(Reply::Now(r))
    })
}

fn region(cfg: &BrokerConfig, r: &mut RemotingCommand) {
    r.set_ext_field("MSG_REGION", Field::Owned(cfg.region_id.clone()));
    r.set_ext_field("TRACE_ON", Field::Static(if cfg.trace_on { "true" } else { "false" }));
}

fn send(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = SendMessageRequestHeader::borrowed(req)
        .map_err(|e| HandlerError::system(format!("bad send request: {e}")))?;
    validate_topic_name(h.topic).map_err(|e| HandlerError::system(e.to_string()))?;
    if SEND_FORBIDDEN.contains(&h.topic) {
        return Err(HandlerError::new(rc::NO_PERMISSION, format!("Sending message to topic[{}] is forbidden.", h.topic)));
    }
    let cfg = core.config();
    // (perm, write queues, read queues), read in place for a known topic
    let dims = |t: &TopicConfig| (t.perm, t.write_queue_nums, t.read_queue_nums);
    let known = core.topics.with(h.topic, dims);
    let Some((perms, write_queues, read_queues)) = known.or_else(|| resolve_topic(core, conn, &h, cfg.auto_create_topic_enable).as_ref().map(dims)) else {
        return Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!", h.topic)));
    };
    if perms & perm::WRITE == 0 {
        return Err(HandlerError::new(rc::NO_PERMISSION, format!("the topic[{}] sending message is forbidden", h.topic)));
    }
    let queue_count = write_queues.max(read_queues);
    let queue_id = if h.queue_id < 0 { pick_queue(write_queues) } else { h.queue_id };
    if queue_id >= queue_count {
        let topic = core.topics.get(h.topic).map(|t| format!("{t:?}")).unwrap_or_default();
        return Err(HandlerError::system(format!(
            "request queueId[{queue_id}] is illegal, {topic} Producer: {}",
            conn.handle.peer
        )));
    }
    if req.body.len() > cfg.max_message_size {
        return Err(HandlerError::new(rc::MESSAGE_ILLEGAL, illegal_remark(cfg.max_message_size)));
    }
    // the producer's properties as borrowed pairs: read, then written once into the stored string
    let header_props = property_pairs(h.properties.unwrap_or(""));
    let wait = lookup(&header_props, prop::WAIT).map(|v| !v.eq_ignore_ascii_case("false")).unwrap_or(true);
    let (dlq, target_queue) = retry_target(core, &h, queue_id)?;
    // the request's topic shares its frame (the one text of the header the message keeps)
    let target_topic = dlq.as_deref().map_or_else(|| req.header_text(h.topic), ByteString::from);
    let (mut msgs, may_redirect) = build_messages(core, &cfg, conn, &h, req, &header_props, &target_topic, target_queue)
        .map_err(|remark| HandlerError::new(rc::MESSAGE_ILLEGAL, remark))?;
    let mut recall_handle = None;
    // at most one clock read, for the timer redirects and a SYNC_MASTER wait's deadline (most
    // sends need neither)
    let clock = std::cell::OnceCell::new();
    let now = || *clock.get_or_init(now_ms);
    if dlq.is_none() {
        let illegal = |e: crate::core::redirect::TimerTooFar| HandlerError::new(rc::MESSAGE_ILLEGAL, e.to_string());
        if !h.batch {
            if let Some(m) = msgs.first_mut() {
                if may_redirect {
                    core.redirect_single(&cfg, m, &now).map_err(illegal)?;
                }
                recall_handle = crate::core::timer::recall_handle(m, &cfg.broker_name);
            }
        } else if may_redirect && core.redirect_batch(&mut msgs, &now).map_err(illegal)? > 0 {
            // one handle per message, in the batch's order, as msgId lists the ids
            recall_handle = Some(core.recall_handles(&msgs).join(","));
        }
    }
    let outcome = core.append_at(msgs, conn.now_ms())?;
    let mut answer = SendAnswer {
        opaque: req.opaque,
        serialize_type: req.serialize_type,
        code: rc::SUCCESS,
        region: region_text(&cfg.region_id),
        trace_on: cfg.trace_on,
        header: response_header(&outcome, queue_id, recall_handle),
    };
    if !wait || req.is_oneway() {
        return Ok(Reply::Sent(answer));
    }
    let ha = core.sync_master_wait(&outcome, &now);
    match (outcome.flush, ha) {
        (None, SyncDecision::Done) => Ok(Reply::Sent(answer)),
        (None, SyncDecision::NoSlave) => {
            answer.code = rc::SLAVE_NOT_AVAILABLE;
            Ok(Reply::Sent(answer))
        }
        // Under SYNC_FLUSH the answer waits for the group commit, under SYNC_MASTER for a
        // slave's acknowledgement (parked: the HA side completes it); the slave's answer wins.
        (flush, ha) => Ok(Reply::SentLater(Box::pin(async move {
            let mut remark = None;
            if let Some(waiter) = flush {
                if let Err(e) = waiter.wait().await {
                    tracing::warn!(error = %e, "sync flush did not complete in time");
                    answer.code = rc::FLUSH_DISK_TIMEOUT;
                    remark = Some(format!("{e}"));
                }
            }
            match ha {
                SyncDecision::Done => {}
                SyncDecision::NoSlave => answer.code = rc::SLAVE_NOT_AVAILABLE,
                SyncDecision::Wait(rx) => {
                    if rx.await != Ok(SyncOutcome::Replicated) {
                        answer.code = rc::FLUSH_SLAVE_TIMEOUT;
                    }
                }
            }
            match remark {
                None => LateAnswer::Send(answer),
                Some(remark) => {
                    let mut resp = answer.into_command();
                    resp.remark = Some(remark);
                    LateAnswer::Command(resp)
                }
            }
        }))),
    }
}

/// The region as shared text: the last one made on this thread while the config's is the same
/// (no copy per answer).
fn region_text(region: &str) -> ByteString {
    thread_local! {
        static LAST: std::cell::RefCell<ByteString> = const { std::cell::RefCell::new(ByteString::new()) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if &**last != region {
            *last = ByteString::from(region);
        }
        last.clone()
    })
}

fn illegal_remark(max: usize) -> String {
    format!(
        "the message is illegal, maybe msg body or properties length not matched. msg body length limit {max}B, msg properties length limit 32KB."
    )
}

/// The topic's config, auto-creating it from the default topic or as a retry topic.
fn resolve_topic(core: &Core, conn: &Conn, h: &SendMessageRequestHeader<&str>, auto_create: bool) -> Option<TopicConfig> {
    if let Some(t) = core.topics.get(h.topic) {
        return Some(t);
    }
    if let Some(group) = h.topic.strip_prefix(RETRY_PREFIX) {
        let queues = core.groups.get(group).map(|g| g.retry_queue_nums).unwrap_or(1);
        return Some(core.ensure_retry_topic(group, queues));
    }
    if !auto_create {
        return None;
    }
    let template = core.topics.get(h.default_topic)?;
    if template.perm & perm::INHERIT == 0 {
        return None;
    }
    let queues = h.default_topic_queue_nums.clamp(1, template.write_queue_nums.max(1));
    let mut tc = crate::core::topics::new_topic(h.topic, queues, template.perm & !perm::INHERIT);
    tc.topic_filter_type = template.topic_filter_type.clone();
    let (tc, created) = match core.topics.get(h.topic) {
        Some(t) => (t, false),
        None => (tc.clone(), core.topics.put(tc)),
    };
    if created {
        // a send is handled outside the connection's span: the line names the connection
        tracing::info!(conn = conn.handle.id, peer = %conn.handle.peer, topic = %tc.topic_name, queues, producer = %h.producer_group, "auto-created topic");
        drop(core.announce()); // registered at once; the send does not wait for it
    }
    Some(tc)
}

/// Messages sent to `%RETRY%<group>` past their reconsume limit go to `%DLQ%<group>`: that
/// topic and its queue, or (None, `queue_id`) when the message stays on the header's topic.
fn retry_target(
    core: &Core,
    h: &SendMessageRequestHeader<&str>,
    queue_id: i32,
) -> Result<(Option<String>, i32), HandlerError> {
    let Some(group) = h.topic.strip_prefix(RETRY_PREFIX) else {
        return Ok((None, queue_id));
    };
    let cfg = core.config();
    let Some(g) = core.groups.get_or_create(group, cfg.auto_create_subscription_group) else {
        return Err(HandlerError::new(rc::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group not exist, {group}")));
    };
    let max = h.max_reconsume_times.unwrap_or(g.retry_max_times);
    if h.reconsume_times.unwrap_or(0) >= max {
        let dlq = format!("{DLQ_PREFIX}{group}");
        core.ensure_topic(&dlq, 1);
        return Ok((Some(dlq), 0));
    }
    Ok((None, queue_id))
}

fn lookup<'a>(pairs: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

#[allow(clippy::too_many_arguments)]
fn build_messages(
    core: &Core,
    cfg: &BrokerConfig,
    conn: &Conn,
    h: &SendMessageRequestHeader<&str>,
    req: &RemotingCommand,
    header_props: &[(&str, &str)],
    topic: &ByteString,
    queue_id: i32,
) -> Result<(Vec<NewMessage>, bool), String> {
    // the messages, and whether a redirect could move any of them (`Core::may_redirect`: most
    // sends then skip the searches of their stored properties)
    let stamps = core.stamps(cfg);
    // redirected to the DLQ: keep where it came from
    let retry_topic = (*topic != h.topic).then_some(h.topic);
    // `source`: the properties string most of `pairs` come from
    let base = |body, source: &str, pairs: &[(&str, &str)], flag| -> Result<NewMessage, String> {
        let (tags_code, keys, uniq_key) = crate::core::message::index_fields_by(|k| lookup(pairs, k));
        Ok(NewMessage {
            topic: topic.clone(),
            queue_id,
            flag,
            sys_flag: h.sys_flag,
            born_timestamp: h.born_timestamp,
            born_host: conn.handle.peer,
            reconsume_times: h.reconsume_times.unwrap_or(0),
            prepared_transaction_offset: 0,
            body,
            properties: stored_properties_of(source, pairs, retry_topic, &stamps)?,
            tags_code,
            keys,
            uniq_key,
        })
    };
    if !h.batch {
        let may_redirect = Core::may_redirect(h.sys_flag, header_props);
        return Ok((vec![base(req.body.clone(), h.properties.unwrap_or(""), header_props, h.flag)?], may_redirect));
    }
    if h.sys_flag & crate::codec::message::sys_flag::TRANSACTION_MASK != 0 {
        return Err("batch message does not support transaction".into());
    }
    let entries = decode_batch(&req.body).map_err(|e| format!("malformed batch body: {e}"))?;
    if entries.is_empty() {
        return Err("empty batch".into());
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut may_redirect = false;
    for e in entries {
        let mut p = property_pairs(&e.properties);
        if lookup(&p, prop::DELAY).is_some() {
            return Err("batch message does not support delay message".into());
        }
        // the batch header's properties fill in what an entry does not set
        for (k, v) in header_props {
            if lookup(&p, k).is_none() {
                p.push((k, v));
            }
        }
        may_redirect |= Core::may_redirect(0, &p);
        out.push(base(e.body, &e.properties, &p, e.flag)?);
    }
    Ok((out, may_redirect))
}

/// The answer's header: a batch's msgIds listed with commas, written into one string.
fn response_header(outcome: &PutOutcome, queue_id: i32, recall_handle: Option<String>) -> SendMessageResponseHeader {
    let msg_id = match outcome.results.as_slice() {
        [one] => one.msg_id(),
        many => {
            let mut ids = String::with_capacity(many.len() * 33);
            for (i, r) in many.iter().enumerate() {
                if i > 0 {
                    ids.push(',');
                }
                push_offset_msg_id(&mut ids, r.store_host, r.commit_log_offset);
            }
            ids
        }
    };
    let first = outcome.results.first().map(|r| r.queue_offset).unwrap_or(0);
    SendMessageResponseHeader { msg_id, queue_id, queue_offset: first, transaction_id: None, recall_handle }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tests::Recorder;
    use crate::core::ConnHandle;
    use crate::store::FlushMode;
    use std::sync::Arc;

    /// Under SYNC_FLUSH a send's answer waits for the group commit and comes as a typed answer
    /// (written without building its command); a flush that times out answers
    /// FLUSH_DISK_TIMEOUT with the reason as its remark.
    #[test]
    fn a_sync_flush_answer_waits_for_the_flush_and_a_timeout_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let core = crate::core::tests::test_core(dir.path(), FlushMode::Sync);
        let conn = Conn::new(ConnHandle { id: 1, peer: core.store_host, out: Arc::new(Recorder::default()) });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let req = crate::client::req::send_v2("pg", &crate::client::req::Msg::new("T", "durable"), 0);
        // the test store's flush timeout is 50 ms: a loaded machine may miss it (then try again)
        let mut offset = 0;
        for attempt in 1.. {
            let Ok(Reply::SentLater(fut)) = handle(&core, &conn, &req) else { panic!("a deferred answer") };
            match rt.block_on(fut) {
                LateAnswer::Send(a) => {
                    assert_eq!((a.code, a.opaque, a.header.queue_id, a.header.queue_offset), (rc::SUCCESS, req.opaque, 0, offset));
                    break;
                }
                LateAnswer::Command(c) if c.code == rc::FLUSH_DISK_TIMEOUT && attempt < 5 => offset += 1,
                LateAnswer::Command(c) => panic!("a plain flush answered {} {:?}", c.code, c.remark),
            }
        }

        core.store.inject_sync_delay(400);
        let Ok(Reply::SentLater(fut)) = handle(&core, &conn, &req) else { panic!("a deferred answer") };
        let late = rt.block_on(fut);
        assert_eq!(late.code(), rc::FLUSH_DISK_TIMEOUT);
        let LateAnswer::Command(c) = late else { panic!("a timeout without its reason") };
        assert!(c.remark.as_deref().is_some_and(|r| !r.is_empty()), "{:?}", c.remark);
        assert_eq!(c.opaque, req.opaque);
        core.store.inject_sync_delay(0);
    }
}
