//! Consumer offsets and queue offset/time queries (codes 14, 15, 29, 30, 31, 32).
use super::{success, Conn, HandlerError, HandlerResult};
use crate::core::Core;
use crate::codec::codes::response_code as rc;
use crate::codec::header::*;
use crate::codec::RemotingCommand;

/// QUERY_CONSUMER_OFFSET: the stored offset; for a group without one, 0 while the queue still
/// starts at offset 0 (the Java broker's "first message still in memory" rule, vector 0026), else
/// QUERY_NOT_FOUND so the client applies its consumeFromWhere.
pub fn query_consumer_offset(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<QueryConsumerOffsetRequestHeader>()?;
    let stored = core.store.meta().consumer_offset(&h.consumer_group, &h.topic, h.queue_id);
    // 5.x clients may ask not to get the "offset 0" answer.
    let zero_if_not_found = req.ext("setZeroIfNotFound").map(|v| !v.eq_ignore_ascii_case("false")).unwrap_or(true);
    let offset = match stored {
        Some(o) if o >= 0 => Some(o),
        _ if zero_if_not_found && core.store.min_offset(&h.topic, h.queue_id) <= 0 => Some(0),
        _ => None,
    };
    match offset {
        Some(offset) => {
            let mut r = success(req);
            r.set_header(&QueryConsumerOffsetResponseHeader { offset });
            Ok(r.into())
        }
        None => Err(HandlerError::new(rc::QUERY_NOT_FOUND, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")),
    }
}

/// UPDATE_CONSUMER_OFFSET: store the value sent, also when it moves backwards (resets rely on it).
pub fn update_consumer_offset(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<UpdateConsumerOffsetRequestHeader>()?;
    match core.store.meta().set_consumer_offset(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset) {
        Ok(()) => Ok(success(req).into()),
        Err(e) => Err(HandlerError::new(rc::SYSTEM_ERROR, format!("failed to store consumer offset: {e}"))),
    }
}

pub fn max_offset(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetMaxOffsetRequestHeader>()?;
    let mut r = success(req);
    r.set_header(&GetMaxOffsetResponseHeader { offset: core.store.max_offset(&h.topic, h.queue_id) });
    Ok(r.into())
}

pub fn min_offset(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetMinOffsetRequestHeader>()?;
    let mut r = success(req);
    r.set_header(&GetMinOffsetResponseHeader { offset: core.store.min_offset(&h.topic, h.queue_id) });
    Ok(r.into())
}

pub fn earliest_store_time(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetEarliestMsgStoretimeRequestHeader>()?;
    let mut r = success(req);
    let timestamp = core.store.earliest_store_time(&h.topic, h.queue_id).unwrap_or(-1);
    r.set_header(&GetEarliestMsgStoretimeResponseHeader { timestamp });
    Ok(r.into())
}

pub fn search_by_time(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<SearchOffsetRequestHeader>()?;
    let mut r = success(req);
    r.set_header(&SearchOffsetResponseHeader { offset: core.store.offset_by_time(&h.topic, h.queue_id, h.timestamp) });
    Ok(r.into())
}
