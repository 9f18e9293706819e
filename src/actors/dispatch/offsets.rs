//! Consumer offsets and queue offset/time queries (codes 14, 15, 29, 30, 31, 32).
use super::{answer, header, success};
use crate::actors::context::BrokerContext;
use crate::codec::codes::response_code as rc;
use crate::codec::header::*;
use crate::codec::RemotingCommand;

macro_rules! hdr {
    ($req:expr, $t:ty) => {
        match header::<$t>($req) {
            Ok(h) => h,
            Err(resp) => return resp,
        }
    };
}

/// QUERY_CONSUMER_OFFSET: the stored offset; for a group without one, 0 while the queue still
/// starts at offset 0 (the Java broker's "first message still in memory" rule, vector 0026), else
/// QUERY_NOT_FOUND so the client applies its consumeFromWhere.
pub fn query_consumer_offset(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = hdr!(req, QueryConsumerOffsetRequestHeader);
    let stored = ctx.store.meta().consumer_offset(&h.consumer_group, &h.topic, h.queue_id);
    // 5.x clients may ask not to get the "offset 0" answer.
    let zero_if_not_found = req.ext("setZeroIfNotFound").map(|v| !v.eq_ignore_ascii_case("false")).unwrap_or(true);
    let offset = match stored {
        Some(o) if o >= 0 => Some(o),
        _ if zero_if_not_found && ctx.store.min_offset(&h.topic, h.queue_id) <= 0 => Some(0),
        _ => None,
    };
    match offset {
        Some(offset) => {
            let mut r = success(req);
            r.set_header(&QueryConsumerOffsetResponseHeader { offset });
            r
        }
        None => answer(req, rc::QUERY_NOT_FOUND, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first"),
    }
}

/// UPDATE_CONSUMER_OFFSET: store the value sent, also when it moves backwards (resets rely on it).
pub fn update_consumer_offset(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = hdr!(req, UpdateConsumerOffsetRequestHeader);
    match ctx.store.meta().set_consumer_offset(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset) {
        Ok(()) => success(req),
        Err(e) => answer(req, rc::SYSTEM_ERROR, format!("failed to store consumer offset: {e}")),
    }
}

pub fn max_offset(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = hdr!(req, GetMaxOffsetRequestHeader);
    let mut r = success(req);
    r.set_header(&GetMaxOffsetResponseHeader { offset: ctx.store.max_offset(&h.topic, h.queue_id) });
    r
}

pub fn min_offset(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = hdr!(req, GetMinOffsetRequestHeader);
    let mut r = success(req);
    r.set_header(&GetMinOffsetResponseHeader { offset: ctx.store.min_offset(&h.topic, h.queue_id) });
    r
}

pub fn earliest_store_time(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = hdr!(req, GetEarliestMsgStoretimeRequestHeader);
    let mut r = success(req);
    let timestamp = ctx.store.earliest_store_time(&h.topic, h.queue_id).unwrap_or(-1);
    r.set_header(&GetEarliestMsgStoretimeResponseHeader { timestamp });
    r
}

pub fn search_by_time(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = hdr!(req, SearchOffsetRequestHeader);
    let mut r = success(req);
    r.set_header(&SearchOffsetResponseHeader { offset: ctx.store.offset_by_time(&h.topic, h.queue_id, h.timestamp) });
    r
}
