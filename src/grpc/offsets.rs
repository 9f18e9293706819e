//! The 5.x offset RPCs: UpdateOffset (commit a group's offset of a queue), GetOffset (read it back),
//! QueryOffset (a queue's first offset, its end, or the offset of a point in time), on the same
//! offsets the remoting consumers and the admin CLI use.
use super::pb::{self, Code};
use super::route::{topic_of, wrapped};
use super::send::timestamp_ms;
use super::{status, Grpc};
use crate::store::TopicConfig;

/// The topic and queue of a request, checked: the topic exists and has the queue.
pub(super) fn queue_of(g: &Grpc, mq: Option<&pb::MessageQueue>) -> Result<(TopicConfig, i32), pb::Status> {
    let Some(mq) = mq else { return Err(status::of(Code::BadRequest, "message_queue is required")) };
    let (_, tc) = topic_of(g, mq.topic.as_ref())?;
    if mq.id < 0 || mq.id >= tc.read_queue_nums.max(tc.write_queue_nums) {
        return Err(status::of(Code::BadRequest, format!("queue {} does not exist in topic {} ({} queues)", mq.id, tc.topic_name, tc.read_queue_nums)));
    }
    Ok((tc, mq.id))
}

/// The group of a request, checked: named and known (or created when `autoCreateSubscriptionGroup`).
pub(super) fn group_of(g: &Grpc, r: Option<&pb::Resource>) -> Result<String, pb::Status> {
    let Some(r) = r.filter(|r| !r.name.is_empty()) else { return Err(status::of(Code::IllegalConsumerGroup, "group is required")) };
    let name = wrapped(r);
    match g.core.groups.get_or_create(&name, g.core.config().auto_create_subscription_group) {
        Some(_) => Ok(name),
        None => Err(status::of(Code::ConsumerGroupNotFound, format!("subscription group [{name}] does not exist"))),
    }
}

pub fn update_offset(g: &Grpc, req: pb::UpdateOffsetRequest) -> pb::UpdateOffsetResponse {
    let st = match (group_of(g, req.group.as_ref()), queue_of(g, req.message_queue.as_ref())) {
        (Err(st), _) | (_, Err(st)) => st,
        (Ok(_), Ok(_)) if req.offset < 0 => status::of(Code::IllegalOffset, format!("offset {} is negative", req.offset)),
        (Ok(group), Ok((tc, q))) => match g.core.store.meta().set_consumer_offset(&group, &tc.topic_name, q, req.offset) {
            Ok(()) => status::ok(),
            Err(e) => status::of(Code::InternalServerError, e.to_string()),
        },
    };
    pb::UpdateOffsetResponse { status: Some(st) }
}

pub fn get_offset(g: &Grpc, req: pb::GetOffsetRequest) -> pb::GetOffsetResponse {
    let (st, offset) = match (group_of(g, req.group.as_ref()), queue_of(g, req.message_queue.as_ref())) {
        (Err(st), _) | (_, Err(st)) => (st, 0),
        (Ok(group), Ok((tc, q))) => match g.core.store.meta().consumer_offset(&group, &tc.topic_name, q) {
            Some(o) => (status::ok(), o),
            None => (status::of(Code::OffsetNotFound, format!("group {group} has no offset on {} queue {q}", tc.topic_name)), 0),
        },
    };
    pb::GetOffsetResponse { status: Some(st), offset }
}

pub fn query_offset(g: &Grpc, req: pb::QueryOffsetRequest) -> pb::QueryOffsetResponse {
    let (tc, q) = match queue_of(g, req.message_queue.as_ref()) {
        Ok(v) => v,
        Err(st) => return pb::QueryOffsetResponse { status: Some(st), offset: 0 },
    };
    let store = &g.core.store;
    let t = &tc.topic_name;
    let offset = match pb::QueryOffsetPolicy::try_from(req.query_offset_policy) {
        Ok(pb::QueryOffsetPolicy::Beginning) => store.min_offset(t, q).max(0),
        Ok(pb::QueryOffsetPolicy::End) => store.max_offset(t, q).max(0),
        Ok(pb::QueryOffsetPolicy::Timestamp) => match req.timestamp.as_ref() {
            Some(ts) => store.offset_by_time(t, q, timestamp_ms(ts)).max(0),
            None => return pb::QueryOffsetResponse { status: Some(status::of(Code::BadRequest, "a TIMESTAMP query needs a timestamp")), offset: 0 },
        },
        Err(_) => return pb::QueryOffsetResponse { status: Some(status::of(Code::BadRequest, "unknown query_offset_policy")), offset: 0 },
    };
    pb::QueryOffsetResponse { status: Some(status::ok()), offset }
}
