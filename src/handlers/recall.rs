//! RECALL_MESSAGE (370, 5.3): cancel a waiting timer message by the recall handle its send
//! returned. Refusals as the Java broker answers them: `TOPIC_NOT_EXIST` for an unknown topic,
//! `ILLEGAL_OPERATION` (604) for a malformed handle, a topic or broker mismatch, or a time in the
//! past or beyond `timerMaxDelay`. Unlike Java (which answers SUCCESS for any well-formed future
//! handle), a handle whose message is not waiting (unknown, already delivered or recalled) is
//! refused with 604 and a remark saying so.
use super::{Conn, HandlerError, HandlerResult};
use crate::codec::codes::response_code as rc;
use crate::codec::header::{RecallMessageRequestHeader, RecallMessageResponseHeader};
use crate::codec::RemotingCommand;
use crate::core::timer::RecallError;
use crate::core::{now_ms, Core};

pub fn recall(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: RecallMessageRequestHeader = req.decode_header()?;
    if core.topics.get(&h.topic).is_none() {
        return Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("recall failed, the topic[{}] not exist", h.topic)));
    }
    let msg_id = core.timers.recall(core, &h.topic, &h.recall_handle, now_ms()).map_err(|e| match e {
        RecallError::Invalid(_) | RecallError::NotPending(_) => HandlerError::new(rc::ILLEGAL_OPERATION, e.to_string()),
        RecallError::Unavailable(_) => HandlerError::new(rc::SERVICE_NOT_AVAILABLE, e.to_string()),
        RecallError::Store(s) => HandlerError::from(s),
    })?;
    let mut r = RemotingCommand::response_to(req, rc::SUCCESS, None);
    r.set_ext("MSG_REGION", &core.config().region_id);
    r.set_header(&RecallMessageResponseHeader { msg_id });
    Ok(r.into())
}
