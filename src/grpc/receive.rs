//! ReceiveMessage over the POP engine, AckMessage, ChangeInvisibleDuration and
//! ForwardMessageToDeadLetterQueue. A receipt handle is the POP receipt ([`Receipt`], Java's
//! `extraInfo` string), opaque to the SDKs.
use super::convert::{to_pb, Delivery};
use super::pb::{self, receive_message_response::Content, Code, FilterType};
use super::route::{group_of, topic_of, unwrapped, LONG_POLLING};
use super::{status, Grpc};
use crate::core::pop::{topic_of_mark, ChangeInvisible, ParkedPop, PopAnswer, PopBatch, PopReply, PopRequest, Receipt, MAX_POP_NUMS};
use crate::core::now_ms;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The proxy's least invisible duration on receive (`minInvisibleTimeMillsForRecv`): shorter
/// requests are raised to it.
const MIN_INVISIBLE: Duration = Duration::from_secs(10);
/// The longest invisible duration accepted (the proxy's `maxInvisibleTimeMills`).
const MAX_INVISIBLE: Duration = Duration::from_secs(12 * 3600);
/// Invisible duration of a receive without one (auto-renewing push consumers).
const DEFAULT_INVISIBLE: Duration = Duration::from_secs(60);

fn duration_of(d: &prost_types::Duration) -> Option<Duration> {
    (d.seconds >= 0 && d.nanos >= 0).then(|| Duration::new(d.seconds as u64, d.nanos.clamp(0, 999_999_999) as u32))
}

fn only_status(st: pb::Status) -> Vec<pb::ReceiveMessageResponse> {
    vec![pb::ReceiveMessageResponse { content: Some(Content::Status(st)) }]
}

/// A parked receive's way back: the answer goes through a oneshot to the waiting RPC.
struct ReceiveReply(oneshot::Sender<PopAnswer>);

impl PopReply for ReceiveReply {
    fn answer(self: Box<Self>, a: PopAnswer) {
        let _ = self.0.send(a);
    }
    fn alive(&self) -> bool {
        !self.0.is_closed()
    }
}

/// The pop request a ReceiveMessage asks for, or the status that refuses it.
fn pop_request(g: &Grpc, req: &pb::ReceiveMessageRequest) -> Result<PopRequest, pb::Status> {
    let group = group_of(req.group.as_ref())?;
    let mq = req.message_queue.as_ref().ok_or_else(|| status::of(Code::BadRequest, "message queue is required"))?;
    let (res, _) = topic_of(g, mq.topic.as_ref())?;
    // As the proxy: the queue only names the broker; a receive pops from every queue (-1). Some
    // SDKs (Node) always name queue 0.
    let (_, retry_max) = g.core.pop_target(&group, &res.name, -1).map_err(|e| status::consume(&e))?;
    let (sql, expr) = match req.filter_expression.as_ref() {
        Some(f) if f.r#type == FilterType::Sql as i32 => (true, f.expression.as_str()),
        Some(f) if !f.expression.trim().is_empty() => (false, f.expression.as_str()),
        _ => (false, "*"),
    };
    let filter = g.core.consume_filter(&group, &res.name, sql, expr).map_err(|e| status::consume(&e))?;
    if req.batch_size <= 0 {
        return Err(status::of(Code::BadRequest, format!("batch size {} must be > 0", req.batch_size)));
    }
    let invisible = match req.invisible_duration.as_ref() {
        Some(d) => duration_of(d).ok_or_else(|| status::of(Code::IllegalInvisibleTime, "invisible duration must not be negative"))?,
        None => DEFAULT_INVISIBLE,
    };
    if invisible > MAX_INVISIBLE {
        return Err(status::of(Code::IllegalInvisibleTime, format!("invisible duration {invisible:?} exceeds {MAX_INVISIBLE:?}")));
    }
    // a FIFO group (`consumeMessageOrderly`) pops in order: a queue with a message in flight
    // hands out nothing more until it is acked or comes back
    let orderly = g.core.groups.get(&group).is_some_and(|gc| gc.consume_message_orderly);
    Ok(PopRequest {
        group,
        topic: res.name,
        queue_id: -1,
        max: (req.batch_size as usize).min(MAX_POP_NUMS),
        invisible_ms: invisible.max(MIN_INVISIBLE).as_millis() as i64,
        order: orderly,
        filter,
        init_mode: 0,
        retry_max,
    })
}

/// What a receive keeps of the client's deadline to send its answer (the proxy's
/// `longPollingReserveTimeInMillis`, with room for a slow machine).
const DEADLINE_RESERVE: Duration = Duration::from_millis(300);

/// ReceiveMessage: a status, the messages, then the delivery timestamp; MESSAGE_NOT_FOUND when
/// nothing came within the long-polling timeout. The poll ends before the call's deadline
/// (`within`): some SDKs (Rust) give the call exactly their long-polling timeout.
pub async fn receive_message(g: &Grpc, req: pb::ReceiveMessageRequest, within: Option<Duration>) -> Vec<pb::ReceiveMessageResponse> {
    let preq = match pop_request(g, &req) {
        Ok(p) => p,
        Err(st) => return only_status(st),
    };
    let mut poll = req.long_polling_timeout.as_ref().and_then(duration_of).unwrap_or(LONG_POLLING).min(LONG_POLLING);
    if let Some(d) = within {
        poll = poll.min(d.saturating_sub(DEADLINE_RESERVE));
    }
    let batch = match g.core.pop(&preq, now_ms()) {
        Ok(b) => b,
        Err(e) => return only_status(status::pop(&e)),
    };
    let batch = if batch.is_empty() && !poll.is_zero() { park(g, preq.clone(), poll).await } else { Ok(batch) };
    match batch {
        Ok(b) if !b.is_empty() => {
            let ns = req.group.as_ref().map(|r| r.resource_namespace.as_str()).unwrap_or_default();
            answer(g, &preq, &b, ns)
        }
        Ok(_) => only_status(status::of(Code::MessageNotFound, "no new message")),
        Err(st) => only_status(st),
    }
}

/// Hold the receive until a message arrives or `poll` passes.
async fn park(g: &Grpc, preq: PopRequest, poll: Duration) -> Result<PopBatch, pb::Status> {
    if g.core.pop.polling_total() >= g.core.config().max_pop_polling_size {
        return Err(status::of(Code::TooManyRequests, "too many receives are waiting"));
    }
    let (tx, rx) = oneshot::channel();
    let parked = ParkedPop { req: preq, notify_only: false, deadline: Instant::now() + poll, reply: Box::new(ReceiveReply(tx)) };
    if !g.core.park_pop(Box::new(parked)) {
        return Ok(PopBatch::default());
    }
    // The queue actor answers at the deadline at the latest; the margin only guards a lost answer.
    match tokio::time::timeout(poll + Duration::from_secs(2), rx).await {
        Ok(Ok(PopAnswer::Batch(b))) => Ok(b),
        Ok(Ok(PopAnswer::Failed(e))) => Err(status::pop(&e)),
        _ => Ok(PopBatch::default()),
    }
}

/// The found messages as the stream sends them; topics in the client's namespace `ns`.
fn answer(g: &Grpc, preq: &PopRequest, b: &PopBatch, ns: &str) -> Vec<pb::ReceiveMessageResponse> {
    let receipts = b.receipts(&g.core.identity.broker_name, &preq.group);
    let mut out = Vec::with_capacity(b.count() + 2);
    out.push(pb::ReceiveMessageResponse { content: Some(Content::Status(status::ok())) });
    let mut receipts = receipts.into_iter();
    for q in &b.queues {
        for (i, record) in q.messages.iter().enumerate() {
            let Some(receipt) = receipts.next() else { break };
            let reconsume = crate::codec::stored::decode_stored(record).map(|(m, _)| m.reconsume_times).unwrap_or(0);
            let attempt = q.attempts.get(i).map(|a| a + 1).unwrap_or(reconsume + 1);
            let d = Delivery { receipt_handle: receipt.to_string(), invisible: Duration::from_millis(b.invisible_ms as u64), attempt };
            if let Some(mut m) = to_pb(record, Some(d)) {
                if let Some(t) = m.topic.as_mut().filter(|_| !ns.is_empty()) {
                    *t = unwrapped(&t.name, ns);
                }
                out.push(pb::ReceiveMessageResponse { content: Some(Content::Message(m)) });
            }
        }
    }
    let now = now_ms();
    let ts = prost_types::Timestamp { seconds: now / 1000, nanos: ((now % 1000) * 1_000_000) as i32 };
    out.push(pb::ReceiveMessageResponse { content: Some(Content::DeliveryTimestamp(ts)) });
    out
}

/// The receipt of an ack or change: parsed, with the message's offset.
fn receipt_of(handle: &str) -> Result<(Receipt, i64), pb::Status> {
    let r = Receipt::parse(handle).map_err(|e| status::pop(&e))?;
    let offset = r.offset.ok_or_else(|| status::of(Code::InvalidReceiptHandle, format!("receipt handle without offset [{handle}]")))?;
    Ok((r, offset))
}

/// The overall status of per-entry results: OK when all are, the common one when all agree,
/// else MULTIPLE_RESULTS.
fn overall<'a>(all: impl Iterator<Item = &'a pb::Status>) -> pb::Status {
    let v: Vec<&pb::Status> = all.collect();
    match v.first() {
        None => status::ok(),
        Some(first) if v.iter().all(|s| s.code == first.code) => (*first).clone(),
        _ => status::of(Code::MultipleResults, "entries have different results"),
    }
}

fn ack_one(g: &Grpc, group: &str, topic: &str, e: &pb::AckMessageEntry) -> pb::Status {
    let (r, offset) = match receipt_of(&e.receipt_handle) {
        Ok(v) => v,
        Err(st) => return st,
    };
    let t = topic_of_mark(group, topic, &r.retry);
    match g.core.pop_ack(group, &t, r.queue_id, &[(offset, r.pop_time)]) {
        Ok(_) => status::ok(),
        Err(e) => status::pop(&e),
    }
}

pub fn ack_message(g: &Grpc, req: pb::AckMessageRequest) -> pb::AckMessageResponse {
    let fail = |st: pb::Status| pb::AckMessageResponse { status: Some(st), entries: Vec::new() };
    let group = match group_of(req.group.as_ref()) {
        Ok(gr) => gr,
        Err(st) => return fail(st),
    };
    let (res, _) = match topic_of(g, req.topic.as_ref()) {
        Ok(t) => t,
        Err(st) => return fail(st),
    };
    if req.entries.is_empty() {
        return fail(status::of(Code::BadRequest, "no entry to ack"));
    }
    let entries: Vec<pb::AckMessageResultEntry> = req
        .entries
        .iter()
        .map(|e| pb::AckMessageResultEntry {
            message_id: e.message_id.clone(),
            receipt_handle: e.receipt_handle.clone(),
            status: Some(ack_one(g, &group, &res.name, e)),
        })
        .collect();
    let st = overall(entries.iter().filter_map(|e| e.status.as_ref()));
    pb::AckMessageResponse { status: Some(st), entries }
}

/// The message one receipt names: (group, the topic its queue is in, receipt, offset).
fn receipt_target(
    g: &Grpc,
    group: Option<&pb::Resource>,
    topic: Option<&pb::Resource>,
    handle: &str,
) -> Result<(String, String, Receipt, i64), pb::Status> {
    let group = group_of(group)?;
    let (res, _) = topic_of(g, topic)?;
    let (r, offset) = receipt_of(handle)?;
    let topic = topic_of_mark(&group, &res.name, &r.retry);
    Ok((group, topic, r, offset))
}

pub fn change_invisible_duration(g: &Grpc, req: pb::ChangeInvisibleDurationRequest) -> pb::ChangeInvisibleDurationResponse {
    let fail = |st: pb::Status| pb::ChangeInvisibleDurationResponse { status: Some(st), receipt_handle: String::new() };
    let (group, topic, r, offset) = match receipt_target(g, req.group.as_ref(), req.topic.as_ref(), &req.receipt_handle) {
        Ok(v) => v,
        Err(st) => return fail(st),
    };
    let Some(invisible) = req.invisible_duration.as_ref().and_then(duration_of).filter(|d| *d <= MAX_INVISIBLE) else {
        return fail(status::of(Code::IllegalInvisibleTime, "invisible duration is required, between 0 and 12 h"));
    };
    let now = now_ms();
    let change = ChangeInvisible {
        group,
        topic,
        queue_id: r.queue_id,
        offset,
        pop_time: r.pop_time,
        invisible_ms: invisible.as_millis() as i64,
        order: r.is_order(),
    };
    match g.core.pop_change_invisible(&change, now) {
        Ok(changed) => {
            let (pop_time, invisible_time) = changed.unwrap_or((now, change.invisible_ms));
            let fresh = Receipt { pop_time, invisible_time, ..r };
            pb::ChangeInvisibleDurationResponse { status: Some(status::ok()), receipt_handle: fresh.to_string() }
        }
        Err(e) => fail(status::pop(&e)),
    }
}

/// ForwardMessageToDeadLetterQueue: a push consumer out of attempts moves the message itself.
pub fn forward_to_dlq(g: &Grpc, req: pb::ForwardMessageToDeadLetterQueueRequest) -> pb::ForwardMessageToDeadLetterQueueResponse {
    let answer = |st| pb::ForwardMessageToDeadLetterQueueResponse { status: Some(st) };
    let (group, topic, r, offset) = match receipt_target(g, req.group.as_ref(), req.topic.as_ref(), &req.receipt_handle) {
        Ok(v) => v,
        Err(st) => return answer(st),
    };
    match g.core.pop_to_dlq(&group, &topic, r.queue_id, offset, r.pop_time) {
        Ok(_) => answer(status::ok()),
        Err(e) => answer(status::pop(&e)),
    }
}
