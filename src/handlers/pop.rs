//! POP consumption on the remoting protocol (5.x): POP_MESSAGE (200050), ACK_MESSAGE (200051),
//! BATCH_ACK_MESSAGE (200151), CHANGE_MESSAGE_INVISIBLETIME (200053), NOTIFICATION (200054),
//! POLLING_INFO (200055), and the request modes: QUERY_ASSIGNMENT (400),
//! SET_MESSAGE_REQUEST_MODE (401), GET_ALL_MESSAGE_REQUEST_MODE (402).
//!
//! The engine is [`crate::core::pop`]; this file decodes, checks and encodes
//! (`docs/protocol/pop.md` has the wire forms).
use super::{success, Conn, HandlerError, HandlerResult, Reply};
use crate::codec::body::{
    BatchAckMessageRequestBody, MessageQueue, MessageQueueAssignment, MessageRequestModeSerializeWrapper,
    QueryAssignmentRequestBody, QueryAssignmentResponseBody, SetMessageRequestModeRequestBody,
};
use crate::codec::codes::response_code as rc;
use crate::codec::header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader, NotificationRequestHeader,
    NotificationResponseHeader, PollingInfoRequestHeader, PollingInfoResponseHeader, PopMessageRequestHeader,
    PopMessageResponseHeader,
};
use crate::codec::RemotingCommand;
use crate::core::pop::{
    topic_of_mark, ChangeInvisible, ParkedPop, PopAnswer, PopBatch, PopError, PopReply, PopRequest, Receipt, MAX_POP_NUMS,
};
use crate::core::consume::ConsumeRefusal;
use crate::core::pull::Filter;
use crate::core::topics::RETRY_PREFIX;
use crate::core::{now_ms, ConnHandle, Core};
use crate::store::TopicConfig;
use bytes::BytesMut;
use std::time::{Duration, Instant};

/// Longest a pop or notification is held (longer `pollTime`s are cut to this).
const MAX_POLL: Duration = Duration::from_secs(60);

impl From<PopError> for HandlerError {
    fn from(e: PopError) -> Self {
        match e {
            PopError::BadReceipt(_) => HandlerError::new(rc::INVALID_PARAMETER, e.to_string()),
            _ => HandlerError::system(e.to_string()),
        }
    }
}

impl From<ConsumeRefusal> for HandlerError {
    fn from(e: ConsumeRefusal) -> Self {
        let code = match &e {
            ConsumeRefusal::GroupName(..) | ConsumeRefusal::GroupNotFound(_) => rc::SUBSCRIPTION_GROUP_NOT_EXIST,
            ConsumeRefusal::GroupDisabled(_) | ConsumeRefusal::NotReadable(_) => rc::NO_PERMISSION,
            ConsumeRefusal::TopicNotFound(_) => rc::TOPIC_NOT_EXIST,
            ConsumeRefusal::BadQueue { .. } => rc::INVALID_PARAMETER,
            ConsumeRefusal::SqlDisabled => rc::SYSTEM_ERROR,
            ConsumeRefusal::BadFilter(..) => rc::SUBSCRIPTION_PARSE_FAILED,
        };
        let remark = match &e {
            ConsumeRefusal::GroupName(_, m) => m.clone(),
            _ => e.to_string(),
        };
        HandlerError::new(code, remark)
    }
}

/// Group and topic checks shared by every POP request; returns the topic and the group's retry budget.
fn check(core: &Core, group: &str, topic: &str, queue_id: i32) -> Result<(TopicConfig, i32), HandlerError> {
    Ok(core.pop_target(group, topic, queue_id)?)
}

fn pop_filter(core: &Core, group: &str, topic: &str, exp_type: Option<&str>, exp: Option<&str>) -> Result<Filter, HandlerError> {
    let sql = exp_type.is_some_and(|t| t.eq_ignore_ascii_case("SQL92"));
    Ok(core.consume_filter(group, topic, sql, exp.unwrap_or("*"))?)
}

/// POP_MESSAGE.
pub fn pop(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: PopMessageRequestHeader = req.decode_header()?;
    let now = now_ms();
    if h.born_time > 0 && h.poll_time > 0 && now - h.born_time - h.poll_time > 500 {
        return Err(HandlerError::new(rc::POLLING_TIMEOUT, "the broker pop message is timeout too much"));
    }
    if h.max_msg_nums > MAX_POP_NUMS as i32 {
        return Err(HandlerError::new(rc::INVALID_PARAMETER, "the broker pop message's num is greater than 32"));
    }
    if h.invisible_time < 0 {
        return Err(HandlerError::new(rc::INVALID_PARAMETER, format!("invisibleTime {} must be >= 0", h.invisible_time)));
    }
    let (_, retry_max) = check(core, &h.consumer_group, &h.topic, h.queue_id)?;
    let filter = pop_filter(core, &h.consumer_group, &h.topic, h.exp_type.as_deref(), h.exp.as_deref())?;
    let preq = PopRequest {
        group: h.consumer_group.clone(),
        topic: h.topic.clone(),
        queue_id: h.queue_id,
        max: h.max_msg_nums.max(1) as usize,
        invisible_ms: h.invisible_time,
        order: h.order,
        filter,
        init_mode: h.init_mode,
        retry_max,
    };
    let batch = core.pop(&preq, now)?;
    if batch.is_empty() && h.poll_time > 0 {
        if core.pop.polling_total() >= core.config().max_pop_polling_size {
            return Ok(Reply::Now(pop_response(req, &h.consumer_group, h.order, &batch, rc::POLLING_FULL)));
        }
        let hold = Duration::from_millis(h.poll_time as u64).min(MAX_POLL);
        let reply = Box::new(ParkedPopReply { conn: conn.handle.clone(), req: req.clone(), group: h.consumer_group.clone(), order: h.order });
        if core.park_pop(Box::new(ParkedPop { req: preq, notify_only: false, deadline: Instant::now() + hold, reply })) {
            return Ok(Reply::Nothing);
        }
    }
    Ok(Reply::Now(pop_response(req, &h.consumer_group, h.order, &batch, rc::SUCCESS)))
}

/// The POP_MESSAGE response: SUCCESS with the messages, or POLLING_TIMEOUT / POLLING_FULL
/// (`code_if_empty`) with the mandatory header fields.
fn pop_response(req: &RemotingCommand, group: &str, order: bool, b: &PopBatch, code_if_empty: i32) -> RemotingCommand {
    let empty = b.is_empty();
    let (code, remark) = if empty {
        (if code_if_empty == rc::SUCCESS { rc::POLLING_TIMEOUT } else { code_if_empty }, "NO_MESSAGE_IN_QUEUE")
    } else {
        (rc::SUCCESS, "FOUND")
    };
    let mut resp = RemotingCommand::response_to(req, code, Some(remark.to_string()));
    resp.set_header(&PopMessageResponseHeader {
        pop_time: b.pop_time,
        invisible_time: b.invisible_ms,
        revive_qid: b.revive_qid,
        rest_num: b.rest,
        start_offset_info: (!empty).then(|| b.start_offset_info(group)),
        msg_offset_info: (!empty).then(|| b.msg_offset_info(group)),
        order_count_info: (!empty && order).then(|| b.order_count_info(group)),
    });
    if !empty {
        let total: usize = b.queues.iter().flat_map(|q| q.messages.iter()).map(|m| m.len()).sum();
        let mut body = BytesMut::with_capacity(total);
        for m in b.queues.iter().flat_map(|q| q.messages.iter()) {
            body.extend_from_slice(m);
        }
        resp.body = body.freeze();
    }
    resp
}

/// A parked pop's (or notification's) way back to its connection.
struct ParkedPopReply {
    conn: ConnHandle,
    req: RemotingCommand,
    group: String,
    order: bool,
}

impl PopReply for ParkedPopReply {
    fn answer(self: Box<Self>, a: PopAnswer) {
        let resp = match a {
            PopAnswer::Batch(b) => pop_response(&self.req, &self.group, self.order, &b, rc::SUCCESS),
            PopAnswer::Notified(has) => notification_response(&self.req, has, false),
            PopAnswer::Failed(e) => HandlerError::from(e).response(&self.req),
        };
        self.conn.send(resp);
    }
    fn alive(&self) -> bool {
        self.conn.connected()
    }
}


/// ACK_MESSAGE: an ack with a stale receipt answers SUCCESS and changes nothing (as Java).
pub fn ack(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: AckMessageRequestHeader = req.decode_header()?;
    let receipt = Receipt::parse(&h.extra_info)?;
    let topic = topic_of_mark(&h.consumer_group, &h.topic, &receipt.retry);
    if core.topics.get(&topic).is_none() {
        return Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist, apply first please!")));
    }
    let offset = receipt.offset.unwrap_or(h.offset);
    core.pop_ack(&h.consumer_group, &topic, h.queue_id, &[(offset, receipt.pop_time)])?;
    Ok(success(req).into())
}

/// BATCH_ACK_MESSAGE.
pub fn batch_ack(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = BatchAckMessageRequestBody::from_json(&req.body)?;
    for a in &body.acks {
        let topic = topic_of_mark(&a.consumer_group, &a.topic, &a.retry);
        let acks: Vec<(i64, i64)> = a.offsets().map(|o| (o, a.pop_time)).collect();
        core.pop_ack(&a.consumer_group, &topic, a.queue_id, &acks)?;
    }
    Ok(success(req).into())
}

/// CHANGE_MESSAGE_INVISIBLETIME: the response header makes the new receipt
/// (`offset popTime invisibleTime reviveQid ...`); the old receipt is stale from then on.
pub fn change_invisible(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: ChangeInvisibleTimeRequestHeader = req.decode_header()?;
    let receipt = Receipt::parse(&h.extra_info)?;
    if h.invisible_time < 0 {
        return Err(HandlerError::new(rc::INVALID_PARAMETER, format!("invisibleTime {} must be >= 0", h.invisible_time)));
    }
    let topic = topic_of_mark(&h.consumer_group, &h.topic, &receipt.retry);
    if core.topics.get(&topic).is_none() {
        return Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist, apply first please!")));
    }
    let now = now_ms();
    let offset = receipt.offset.unwrap_or(h.offset);
    let change = ChangeInvisible {
        group: h.consumer_group.clone(),
        topic,
        queue_id: h.queue_id,
        offset,
        pop_time: receipt.pop_time,
        invisible_ms: h.invisible_time,
        order: receipt.is_order(),
    };
    let changed = core.pop_change_invisible(&change, now)?;
    // A stale receipt changes nothing; as in Java the answer is still SUCCESS (acking the new
    // receipt is then a no-op too).
    let (pop_time, invisible_time) = changed.unwrap_or((now, h.invisible_time));
    let mut resp = success(req);
    resp.set_header(&ChangeInvisibleTimeResponseHeader { pop_time, invisible_time, revive_qid: receipt.revive_qid });
    Ok(resp.into())
}

fn notification_response(req: &RemotingCommand, has_msg: bool, polling_full: bool) -> RemotingCommand {
    let mut resp = success(req);
    resp.set_header(&NotificationResponseHeader { has_msg, polling_full });
    resp
}

/// NOTIFICATION: whether a pop would find a message, waiting up to `pollTime` for one.
pub fn notification(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: NotificationRequestHeader = req.decode_header()?;
    let (_, retry_max) = check(core, &h.consumer_group, &h.topic, h.queue_id)?;
    let preq = PopRequest {
        group: h.consumer_group.clone(),
        topic: h.topic.clone(),
        queue_id: h.queue_id,
        max: 1,
        invisible_ms: 0,
        order: h.order,
        filter: Filter::All,
        init_mode: 1,
        retry_max,
    };
    let now = now_ms();
    let has = core.pop_has_message(&preq, now);
    if has || h.poll_time <= 0 {
        return Ok(notification_response(req, has, false).into());
    }
    if core.pop.polling_total() >= core.config().max_pop_polling_size {
        return Ok(notification_response(req, false, true).into());
    }
    let hold = Duration::from_millis(h.poll_time as u64).min(MAX_POLL);
    let reply = Box::new(ParkedPopReply { conn: conn.handle.clone(), req: req.clone(), group: h.consumer_group, order: h.order });
    if core.park_pop(Box::new(ParkedPop { req: preq, notify_only: true, deadline: Instant::now() + hold, reply })) {
        return Ok(Reply::Nothing);
    }
    Ok(notification_response(req, false, false).into())
}

/// POLLING_INFO: how many pops are parked for (group, topic, queue).
pub fn polling_info(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: PollingInfoRequestHeader = req.decode_header()?;
    check(core, &h.consumer_group, &h.topic, h.queue_id)?;
    let mut resp = success(req);
    resp.set_header(&PollingInfoResponseHeader { polling_num: core.pop.polling(&h.consumer_group, &h.topic, h.queue_id) as i32 });
    Ok(resp.into())
}

/// The stored request mode of (topic, group): PULL unless set.
pub fn request_mode(core: &Core, topic: &str, group: &str) -> SetMessageRequestModeRequestBody {
    core.store
        .meta()
        .request_modes()
        .into_iter()
        .find(|(t, g, _)| t == topic && g == group)
        .and_then(|(_, _, v)| SetMessageRequestModeRequestBody::from_json(&v).ok())
        .unwrap_or_else(|| SetMessageRequestModeRequestBody { topic: topic.into(), consumer_group: group.into(), ..Default::default() })
}

/// SET_MESSAGE_REQUEST_MODE.
pub fn set_request_mode(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = SetMessageRequestModeRequestBody::from_json(&req.body)?;
    if body.topic.starts_with(RETRY_PREFIX) {
        return Err(HandlerError::new(rc::NO_PERMISSION, "retry topic is not allowed to set mode"));
    }
    if body.mode != "PULL" && body.mode != "POP" {
        return Err(HandlerError::new(rc::INVALID_PARAMETER, format!("unknown message request mode [{}]: PULL or POP", body.mode)));
    }
    if body.topic.trim().is_empty() || body.consumer_group.trim().is_empty() {
        return Err(HandlerError::new(rc::INVALID_PARAMETER, "topic and consumerGroup are required"));
    }
    core.store.meta().set_request_mode(&body.topic, &body.consumer_group, &body.to_json()).map_err(HandlerError::from)?;
    tracing::info!(topic = %body.topic, group = %body.consumer_group, mode = %body.mode, "message request mode set");
    Ok(success(req).into())
}

/// GET_ALL_MESSAGE_REQUEST_MODE.
pub fn all_request_modes(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let mut w = MessageRequestModeSerializeWrapper::default();
    for (t, g, v) in core.store.meta().request_modes() {
        if let Ok(b) = SetMessageRequestModeRequestBody::from_json(&v) {
            w.message_request_mode_map.entry(t).or_default().insert(g, b);
        }
    }
    Ok(success(req).with_body(w.to_json()).into())
}

/// QUERY_ASSIGNMENT: the queues this client consumes. POP mode: every client gets queue -1 (all
/// queues, the broker spreads them); PULL mode: the queues of this broker shared out evenly
/// (AVG) among the group's clients known by heartbeat, or all of them when broadcasting.
pub fn query_assignment(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = QueryAssignmentRequestBody::from_json(&req.body)?;
    let Some(tc) = core.topics.get(&body.topic) else {
        return Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!", body.topic)));
    };
    let mode = request_mode(core, &body.topic, &body.consumer_group);
    let broker = core.identity.broker_name.clone();
    let assign = |qid: i32, mode: &str| MessageQueueAssignment {
        message_queue: MessageQueue::new(body.topic.clone(), broker.clone(), qid),
        mode: mode.to_string(),
        attachments: Default::default(),
    };
    let assignments: Vec<MessageQueueAssignment> = if mode.mode == "POP" {
        vec![assign(-1, "POP")]
    } else {
        let queues: Vec<i32> = (0..tc.read_queue_nums).collect();
        if body.message_model == "BROADCASTING" {
            queues.iter().map(|q| assign(*q, "PULL")).collect()
        } else {
            let cids = core.clients.registry.read().map(|r| r.consumer_ids(&body.consumer_group)).unwrap_or_default();
            allocate_avg(&queues, &cids, &body.client_id).into_iter().map(|q| assign(q, "PULL")).collect()
        }
    };
    let resp = QueryAssignmentResponseBody { message_queue_assignments: assignments };
    Ok(success(req).with_body(resp.to_json()).into())
}

/// RocketMQ's AllocateMessageQueueAveragely: contiguous shares, the first `n % clients` one larger.
fn allocate_avg(queues: &[i32], cids: &[String], me: &str) -> Vec<i32> {
    let Some(index) = cids.iter().position(|c| c == me) else {
        // Not known by heartbeat yet: no share (as Java).
        return Vec::new();
    };
    let (n, c) = (queues.len(), cids.len());
    let rem = n % c;
    let avg = if n <= c { 1 } else if rem > 0 && index < rem { n / c + 1 } else { n / c };
    let start = if rem > 0 && index < rem { index * avg } else { index * avg + rem };
    let range = avg.min(n.saturating_sub(start));
    queues.iter().skip(start).take(range).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::allocate_avg;

    #[test]
    fn avg_allocation_matches_java() {
        let q: Vec<i32> = (0..8).collect();
        let c: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(allocate_avg(&q, &c, "a"), vec![0, 1, 2]);
        assert_eq!(allocate_avg(&q, &c, "b"), vec![3, 4, 5]);
        assert_eq!(allocate_avg(&q, &c, "c"), vec![6, 7]);
        assert!(allocate_avg(&q, &c, "z").is_empty());
        let few: Vec<i32> = (0..2).collect();
        assert_eq!(allocate_avg(&few, &c, "c"), Vec::<i32>::new());
    }
}
