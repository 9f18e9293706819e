//! Message backtracking: INVOKE_BROKER_TO_RESET_OFFSET (222).
//!
//! Per write queue the target is the first offset stored at or after `timestamp` (or the max
//! offset for `-1`); it replaces the group's offset when `isForce` or when it is smaller. The
//! offsets are stored at once (so an offline group, or a member that dies during its 10 s
//! pause, resumes from them), and every live member gets RESET_CONSUMER_CLIENT_OFFSET (220,
//! oneway). The Java broker answers CONSUMER_NOT_ONLINE for an offline group and lets the tool
//! fall back to its old path (208 + 29/30 + 15); ferrocket resets offline groups directly, and the
//! old path works as well.
use super::super::{success, Conn, HandlerError, HandlerResult};
use crate::core::Core;
use crate::codec::body::{MessageQueue, ResetOffsetBody};
use crate::codec::codes::{response_code as rc, RequestCode};
use crate::codec::header::*;
use crate::codec::RemotingCommand;

/// The new offset of every write queue.
fn targets(core: &Core, h: &ResetOffsetRequestHeader, queues: i32) -> Vec<(MessageQueue, i64)> {
    let store = &core.store;
    (0..queues)
        .map(|q| {
            let target = if h.timestamp == -1 { store.max_offset(&h.topic, q) } else { first_at_or_after(core, &h.topic, q, h.timestamp) }.max(0);
            let current = store.meta().consumer_offset(&h.group, &h.topic, q);
            let offset = match current {
                Some(cur) if !h.is_force && target >= cur => cur,
                _ => target,
            };
            (MessageQueue::new(&h.topic, core.identity.broker_name.clone(), q), offset)
        })
        .collect()
}

/// The first offset stored at or after `ts`. The store's search answers like Java's
/// getOffsetInQueueByTime, the *nearest* message, which may be one stored just before `ts`;
/// backtracking must not redeliver that one.
fn first_at_or_after(core: &Core, topic: &str, q: i32, ts: i64) -> i64 {
    let off = core.store.offset_by_time(topic, q, ts);
    match core.store.store_time_at(topic, q, off) {
        Some(t) if t < ts => off + 1,
        _ => off,
    }
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222).
pub fn reset_offset(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<ResetOffsetRequestHeader>()?;
    let Some(tc) = core.topics.get(&h.topic) else {
        let remark = format!("[reset-offset] reset offset failed, no topic in this broker. topic={}", h.topic);
        return Err(HandlerError::new(rc::SYSTEM_ERROR, remark));
    };
    let body = ResetOffsetBody { offset_table: targets(core, &h, tc.write_queue_nums) };
    for (mq, off) in &body.offset_table {
        if let Err(e) = core.store.meta().set_consumer_offset(&h.group, &h.topic, mq.queue_id, *off) {
            return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("[reset-offset] cannot store offsets: {e}")));
        }
    }
    let members: Vec<(crate::core::ConnHandle, String)> = {
        let reg = core.clients.registry.read().unwrap_or_else(|e| e.into_inner());
        reg.consumers
            .get(&h.group)
            .map(|g| g.channels.values().map(|c| (c.conn.clone(), c.language.clone())).collect())
            .unwrap_or_default()
    };
    let admin_cpp = req.language == "CPP";
    for (member, language) in &members {
        let mut cmd = RemotingCommand::oneway(RequestCode::ResetConsumerClientOffset.as_i32(), crate::core::topics::next_opaque());
        cmd.set_header(&ResetConsumerClientOffsetRequestHeader {
            topic: h.topic.clone(),
            group: h.group.clone(),
            timestamp: h.timestamp,
            is_force: h.is_force,
        });
        cmd.body = if admin_cpp || language == "CPP" { body.to_json_cpp() } else { body.to_json() }.into();
        member.send(cmd);
    }
    tracing::info!(
        caller = %conn.handle.peer, topic = %h.topic, group = %h.group, timestamp = h.timestamp,
        force = h.is_force, online = members.len(), offsets = ?body.offset_table.iter().map(|(m, o)| (m.queue_id, *o)).collect::<Vec<_>>(),
        "consumer offsets reset"
    );
    Ok(success(req).with_body(body.to_json()).into())
}
