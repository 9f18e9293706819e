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
use crate::codec::body::ResetOffsetBody;
use crate::codec::codes::response_code as rc;
use crate::codec::header::*;
use crate::codec::RemotingCommand;
use crate::core::Core;

/// INVOKE_BROKER_TO_RESET_OFFSET (222).
pub fn reset_offset(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<ResetOffsetRequestHeader>()?;
    let done = core
        .reset_offsets(&h.group, &h.topic, h.timestamp, h.is_force, req.language == "CPP")
        .map_err(|e| HandlerError::new(rc::SYSTEM_ERROR, e))?;
    tracing::info!(
        caller = %conn.handle.peer, topic = %h.topic, group = %h.group, timestamp = h.timestamp,
        force = h.is_force, online = done.online_members, offsets = ?done.offsets.iter().map(|(m, o)| (m.queue_id, *o)).collect::<Vec<_>>(),
        "consumer offsets reset"
    );
    Ok(success(req).with_body(ResetOffsetBody { offset_table: done.offsets }.to_json()).into())
}
