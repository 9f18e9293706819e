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
    push_props.insert(prop::PUSH_REPLY_TIME, now_ms().to_string());
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
            Reply::Sent(a) => Some(a.into_command()),
            Reply::Later(f) => f.await,
            Reply::SentLater(f) => Some(f.await.into_command()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::body::HeartbeatData;
    use crate::core::tests::Recorder;
    use crate::core::ConnHandle;
    use crate::store::FlushMode;
    use std::sync::Arc;

    /// Issue 16 (6): under SYNC_FLUSH a reply is pushed to the requester only once it is durable;
    /// when the flush times out the replier gets FLUSH_DISK_TIMEOUT and nothing is pushed.
    #[test]
    fn sync_flush_reply_is_not_pushed_before_it_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let core = crate::core::tests::test_core(dir.path(), FlushMode::Sync);
        let store = core.store.clone();
        let host = core.store_host;
        let requester = Arc::new(Recorder::default());
        let hb = HeartbeatData::from_json(br#"{"clientID":"requester@1","producerDataSet":[{"groupName":"pg"}],"consumerDataSet":[]}"#).unwrap();
        let conn = ConnHandle { id: 1, peer: host, out: requester.clone() };
        core.clients.registry.write().unwrap().heartbeat(&conn, "JAVA", 0, &hb, std::time::Instant::now());
        let replier = Conn::new(ConnHandle { id: 2, peer: host, out: Arc::new(Recorder::default()) });
        let msg = crate::client::req::Msg::new("T", "the answer").prop(prop::REPLY_TO_CLIENT, "requester@1");
        let req = crate::client::req::send_v2("pg", &msg, 0);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

        store.inject_sync_delay(400);
        let Ok(Reply::Later(fut)) = handle(&core, &replier, &req) else { panic!("a deferred answer") };
        let resp = rt.block_on(fut).expect("an answer");
        assert_eq!(resp.code, rc::FLUSH_DISK_TIMEOUT, "{:?}", resp.remark);
        assert!(requester.0.lock().unwrap().is_empty(), "pushed a reply that was not durable");

        store.inject_sync_delay(0);
        std::thread::sleep(Duration::from_millis(600)); // the slow sync finishes
        sc_retry(&rt, &core, &replier, &req, &requester);
    }

    /// Without a slow disk the same reply is stored, flushed and pushed (a loaded machine may
    /// still time out the 50 ms flush: then nothing may have been pushed).
    fn sc_retry(rt: &tokio::runtime::Runtime, core: &Core, replier: &Conn, req: &RemotingCommand, requester: &Recorder) {
        let Ok(Reply::Later(fut)) = handle(core, replier, req) else { panic!("a deferred answer") };
        let resp = rt.block_on(fut).expect("an answer");
        let pushed = requester.0.lock().unwrap().len();
        if resp.code == rc::SUCCESS {
            assert_eq!(pushed, 1, "a durable reply is pushed once");
        } else {
            assert_eq!(resp.code, rc::FLUSH_DISK_TIMEOUT);
            assert_eq!(pushed, 0);
        }
    }
}
