//! Heartbeats, unregistration, consumer lists and queue locks (codes 34, 35, 38, 41, 42, 46).
use super::{answer, bad_request, header, success, ConnInfo};
use crate::actors::consumer_group::send_notifications;
use crate::actors::context::BrokerContext;
use crate::codec::body::{CheckClientRequestBody, ConsumerListBody, HeartbeatData, LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody};
use crate::codec::codes::response_code as rc;
use crate::codec::header::{GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader};
use crate::codec::RemotingCommand;
use std::time::Instant;

/// HEART_BEAT: register producers and consumers of this connection; create `%RETRY%` topics for
/// clustering consumer groups and announce them at once; notify members on membership change.
pub fn heartbeat(ctx: &BrokerContext, conn: &ConnInfo, req: &RemotingCommand) -> RemotingCommand {
    let hb = match HeartbeatData::from_json(&req.body) {
        Ok(hb) => hb,
        Err(e) => return bad_request(req, &e),
    };
    let cfg = ctx.config();
    for c in &hb.consumer_data_set {
        // A group name that cannot make a legal `%RETRY%` topic gets no group and no retry topic.
        let retry = format!("{}{}", crate::actors::topic::RETRY_PREFIX, c.group_name);
        if let Err(e) = crate::actors::topic::validate_topic_name(&retry) {
            tracing::warn!(group = %c.group_name, peer = %conn.handle.peer, error = %e, "heartbeat for an illegal group name");
            continue;
        }
        if let Some(g) = ctx.groups.get_or_create(&c.group_name, cfg.auto_create_subscription_group) {
            if g.retry_queue_nums > 0 {
                ctx.ensure_retry_topic(&c.group_name, g.retry_queue_nums);
            }
        }
    }
    let notify = match ctx.clients.registry.write() {
        Ok(mut r) => r.heartbeat(&conn.handle, &conn.language, conn.version, &hb, Instant::now()),
        Err(_) => Vec::new(),
    };
    let notify = notify
        .into_iter()
        .filter(|(g, _)| ctx.groups.get(g).map(|c| c.notify_consumer_ids_changed_enable).unwrap_or(true))
        .collect();
    send_notifications(notify);
    success(req)
}

pub fn unregister(ctx: &BrokerContext, conn: &ConnInfo, req: &RemotingCommand) -> RemotingCommand {
    let h: UnregisterClientRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let notify = match ctx.clients.registry.write() {
        Ok(mut r) => r.unregister(conn.handle.id, h.producer_group.as_deref(), h.consumer_group.as_deref()),
        Err(_) => Vec::new(),
    };
    send_notifications(notify);
    let mut r = success(req);
    r.ext_fields = Some(Default::default());
    r
}

/// GET_CONSUMER_LIST_BY_GROUP: sorted client ids; SYSTEM_ERROR when the group has no consumer.
pub fn consumer_list(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumerListByGroupRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let ids = ctx.clients.registry.read().map(|r| r.consumer_ids(&h.consumer_group)).unwrap_or_default();
    if ids.is_empty() {
        return answer(req, rc::SYSTEM_ERROR, format!("no consumer for this group, {}", h.consumer_group));
    }
    let mut r = success(req);
    r.ext_fields = Some(Default::default());
    r.body = ConsumerListBody { consumer_id_list: ids }.to_json().into();
    r
}

pub fn lock(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let body = match LockBatchRequestBody::from_json(&req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(req, &e),
    };
    let expire = ctx.config().lock_expire;
    let ok = match ctx.clients.locks.lock() {
        Ok(mut l) => l.lock(&body.consumer_group, &body.client_id, &body.mq_set, Instant::now(), expire),
        Err(_) => Vec::new(),
    };
    let mut r = success(req);
    r.body = LockBatchResponseBody { lock_ok_mq_set: ok }.to_json().into();
    r
}

pub fn unlock(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let body = match UnlockBatchRequestBody::from_json(&req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(req, &e),
    };
    if let Ok(mut l) = ctx.clients.locks.lock() {
        l.unlock(&body.consumer_group, &body.client_id, &body.mq_set);
    }
    success(req)
}

/// CHECK_CLIENT_CONFIG: TAG subscriptions are fine; SQL92 needs enablePropertyFilter and an
/// expression that compiles (else SUBSCRIPTION_PARSE_FAILED, which `consumer.start()` reports).
pub fn check_client_config(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let body = match CheckClientRequestBody::from_json(&req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(req, &e),
    };
    let Some(sub) = body.subscription_data else { return success(req) };
    if !sub.expression_type.eq_ignore_ascii_case("SQL92") {
        return success(req);
    }
    if !ctx.config().enable_property_filter {
        return answer(req, rc::SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92");
    }
    match ctx.sql_filter(&body.group, &sub.topic, sub.sub_version, &sub.sub_string) {
        Ok(_) => success(req),
        Err(e) => answer(req, rc::SUBSCRIPTION_PARSE_FAILED, format!("parse the consumer's subscription[{}] failed: {e}", sub.sub_string)),
    }
}
