//! SEND_REPLY_MESSAGE (324) / SEND_REPLY_MESSAGE_V2 (325): request-reply.
//!
//! The reply is stored in the reply topic like any message (storeReplyMessageEnable), then pushed
//! to the requester's connection (found by `REPLY_TO_CLIENT` among producer connections) with
//! PUSH_REPLY_MESSAGE_TO_CLIENT (326). The replier gets SUCCESS (msgId "0", offset 0) when the push
//! succeeded, SYSTEM_ERROR with a remark when it did not.
use super::{answer, Conn, HandlerError, HandlerResult, Reply};
use crate::codec::codes::{response_code as rc, RequestCode};
use crate::codec::header::SendMessageRequestHeader;
use crate::codec::message::{parse_properties, prop};
use crate::codec::RemotingCommand;
use crate::core::{now_ms, Core};
use std::time::Duration;

pub fn handle(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = SendMessageRequestHeader::from_command(req).map_err(|e| HandlerError::system(format!("bad reply request: {e}")))?;
    let props = parse_properties(h.properties.as_deref().unwrap_or(""));
    let Some(client_id) = props.get(prop::REPLY_TO_CLIENT).map(String::from) else {
        return Err(HandlerError::system("reply message has no REPLY_TO_CLIENT property"));
    };
    // Store it first (the Java broker keeps replies in the reply topic by default).
    let stored = super::send::handle(core, conn, req)?;
    let target = core.clients.registry.read().ok().and_then(|r| r.producer_by_client_id(&client_id));
    let Some(target) = target else {
        return Err(HandlerError::system(format!("push reply message fail, channel of <{client_id}> not found.")));
    };
    let mut push_props = props.clone();
    push_props.insert(prop::PUSH_REPLY_TIME, &now_ms().to_string());
    let mut push = RemotingCommand::request(RequestCode::PushReplyMessageToClient.as_i32(), 0)
        .with_ext("producerGroup", &h.producer_group)
        .with_ext("topic", &h.topic)
        .with_ext("defaultTopic", &h.default_topic)
        .with_ext("defaultTopicQueueNums", h.default_topic_queue_nums)
        .with_ext("queueId", h.queue_id.max(0))
        .with_ext("sysFlag", h.sys_flag)
        .with_ext("bornTimestamp", h.born_timestamp)
        .with_ext("flag", h.flag)
        .with_ext("properties", push_props.encode())
        .with_ext("reconsumeTimes", h.reconsume_times.unwrap_or(0))
        .with_ext("unitMode", h.unit_mode)
        .with_ext("bornHost", conn.handle.peer)
        .with_ext("storeHost", core.store_host)
        .with_ext("storeTimestamp", now_ms());
    push.body = req.body.clone();
    let queue_id = h.queue_id.max(0);
    let req = req.clone();
    Ok(Reply::Later(Box::pin(async move {
        // The stored copy must be accepted, and under SYNC_FLUSH durable, before the push.
        let stored = match stored {
            Reply::Now(r) => Some(r),
            Reply::Later(f) => f.await,
            Reply::Nothing => None,
        };
        if let Some(r) = stored.filter(|r| r.code != rc::SUCCESS) {
            return Some(r);
        }
        match target.request(push, Duration::from_secs(3)).await {
            Some(r) if r.code == rc::SUCCESS => {
                let mut ok = RemotingCommand::response_to(&req, rc::SUCCESS, None);
                ok.set_ext("msgId", "0").set_ext("queueId", queue_id).set_ext("queueOffset", 0);
                Some(ok)
            }
            Some(r) => Some(answer(
                &req,
                rc::SYSTEM_ERROR,
                format!("push reply message to {client_id} failed: code {} {}", r.code, r.remark.unwrap_or_default()),
            )),
            None => Some(answer(&req, rc::SYSTEM_ERROR, format!("push reply message to {client_id} timed out"))),
        }
    })))
}
