//! Heartbeats, unregistration, consumer lists and queue locks (codes 34, 35, 38, 41, 42, 46).
use super::{success, Conn, HandlerError, HandlerResult};
use crate::core::clients::send_notifications;
use crate::core::Core;
use crate::codec::body::{CheckClientRequestBody, ConsumerListBody, HeartbeatData, LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody};
use crate::codec::codes::response_code as rc;
use crate::codec::header::{GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader};
use crate::codec::RemotingCommand;
use std::time::Instant;

/// HEART_BEAT: register producers and consumers of this connection; create `%RETRY%` topics for
/// clustering consumer groups and announce them at once; notify members on membership change.
pub fn heartbeat(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let hb = HeartbeatData::from_json(&req.body)?;
    // The connection's span (net) names its client from now on.
    tracing::Span::current().record("client_id", hb.client_id.as_str());
    let cfg = core.config();
    for c in &hb.consumer_data_set {
        // A group name that cannot make a legal `%RETRY%` topic gets no group and no retry topic.
        let retry = format!("{}{}", crate::core::topics::RETRY_PREFIX, c.group_name);
        if let Err(e) = crate::core::topics::validate_topic_name(&retry) {
            tracing::warn!(group = %c.group_name, peer = %conn.handle.peer, error = %e, "heartbeat for an illegal group name");
            continue;
        }
        if let Some(g) = core.groups.get_or_create(&c.group_name, cfg.auto_create_subscription_group) {
            if g.retry_queue_nums > 0 {
                core.ensure_retry_topic(&c.group_name, g.retry_queue_nums);
            }
        }
    }
    let notify = match core.clients.registry.write() {
        Ok(mut r) => r.heartbeat(&conn.handle, &req.language, req.version, &hb, Instant::now()),
        Err(_) => Vec::new(),
    };
    core.notify_members(notify);
    Ok(success(req).into())
}

pub fn unregister(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: UnregisterClientRequestHeader = req.decode_header()?;
    let notify = match core.clients.registry.write() {
        Ok(mut r) => r.unregister(conn.handle.id, h.producer_group.as_deref(), h.consumer_group.as_deref()),
        Err(_) => Vec::new(),
    };
    send_notifications(notify);
    let mut r = success(req);
    r.ext_fields = Some(Default::default());
    Ok(r.into())
}

/// GET_CONSUMER_LIST_BY_GROUP: sorted client ids; SYSTEM_ERROR when the group has no consumer.
pub fn consumer_list(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: GetConsumerListByGroupRequestHeader = req.decode_header()?;
    let ids = core.clients.registry.read().map(|r| r.consumer_ids(&h.consumer_group)).unwrap_or_default();
    if ids.is_empty() {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("no consumer for this group, {}", h.consumer_group)));
    }
    let mut r = success(req);
    r.ext_fields = Some(Default::default());
    r.body = ConsumerListBody { consumer_id_list: ids }.to_json().into();
    Ok(r.into())
}

pub fn lock(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = LockBatchRequestBody::from_json(&req.body)?;
    let expire = core.config().lock_expire;
    let ok = match core.clients.locks.lock() {
        Ok(mut l) => l.lock(&body.consumer_group, &body.client_id, &body.mq_set, Instant::now(), expire),
        Err(_) => Vec::new(),
    };
    let mut r = success(req);
    r.body = LockBatchResponseBody { lock_ok_mq_set: ok }.to_json().into();
    Ok(r.into())
}

pub fn unlock(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = UnlockBatchRequestBody::from_json(&req.body)?;
    if let Ok(mut l) = core.clients.locks.lock() {
        l.unlock(&body.consumer_group, &body.client_id, &body.mq_set);
    }
    Ok(success(req).into())
}

/// CHECK_CLIENT_CONFIG: TAG subscriptions are fine; SQL92 needs enablePropertyFilter and an
/// expression that compiles (else SUBSCRIPTION_PARSE_FAILED, which `consumer.start()` reports).
pub fn check_client_config(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = CheckClientRequestBody::from_json(&req.body)?;
    let Some(sub) = body.subscription_data else { return Ok(success(req).into()) };
    if !sub.expression_type.eq_ignore_ascii_case("SQL92") {
        return Ok(success(req).into());
    }
    if !core.config().enable_property_filter {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92"));
    }
    match core.sql_filter(&body.group, &sub.topic, sub.sub_version, &sub.sub_string) {
        Ok(_) => Ok(success(req).into()),
        Err(e) => Err(HandlerError::new(rc::SUBSCRIPTION_PARSE_FAILED, format!("parse the consumer's subscription[{}] failed: {e}", sub.sub_string))),
    }
}
