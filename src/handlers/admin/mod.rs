//! Admin and lookup requests answered by the broker: topics, groups, lookups by id and key
//! (here); broker config and runtime info (`config.rs`); topic and consume statistics
//! (`stats.rs`); connections and relays to clients (`relay.rs`); offset reset (`reset.rs`).
pub mod acl;
mod config;
mod relay;
mod reset;
mod slave_sync;
mod stats;
pub use slave_sync::{all_consumer_offsets, all_delay_offsets};

pub use config::{get_config, runtime_info, update_config};
pub use relay::{all_producer_info, consume_directly, consumer_connections, consumer_running_info, consumer_status, producer_connections};
pub use reset::reset_offset;
pub use stats::{broker_consume_stats, clone_group_offset, consume_stats, consume_time_span, topic_stats};
use super::{success, Conn, HandlerError, HandlerResult, Reply};
use crate::core::{now_ms, Core};
use crate::core::topics::{new_topic, to_wire, validate_topic_name};
use crate::codec::body::{GroupList, SubscriptionGroupConfigWire, SubscriptionGroupWrapper, TopicConfigSerializeWrapper, TopicList};
use crate::codec::codes::response_code as rc;
use crate::codec::header::*;
use crate::codec::message::decode_offset_msg_id;
use crate::codec::RemotingCommand;
use crate::store::GroupConfig;
use bytes::BytesMut;

/// VIEW_MESSAGE_BY_ID (33): the stored message at a commit log offset.
pub fn view_message(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<ViewMessageRequestHeader>()?;
    match core.store.read_message(h.offset) {
        Some(bytes) => Ok(success(req).with_body(bytes).into()),
        None => Err(HandlerError::new(rc::SYSTEM_ERROR, format!("can not find message by the offset, {}", h.offset))),
    }
}

/// QUERY_MESSAGE (12): messages of a topic by key (KEYS or UNIQ_KEY) in a time range.
pub fn query_message(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<QueryMessageRequestHeader>()?;
    // Unique-key queries (`_UNIQUE_KEY_QUERY=true`, mqadmin queryMsgById's fallback) are capped at
    // defaultQueryMaxNum (32) like the Java broker; key queries at 64.
    let unique = req.ext("_UNIQUE_KEY_QUERY").is_some_and(crate::codec::header::parse_bool);
    let max = h.max_num.clamp(1, if unique { 32 } else { 64 }) as usize;
    let found = core.store.query_by_key(&h.topic, &h.key, max, h.begin_timestamp, h.end_timestamp);
    if found.is_empty() {
        return Err(HandlerError::new(rc::QUERY_NOT_FOUND, "can not find message, maybe time range not correct"));
    }
    let mut body = BytesMut::new();
    for m in &found {
        body.extend_from_slice(m);
    }
    let mut r = success(req);
    r.set_header(&QueryMessageResponseHeader {
        index_last_update_timestamp: now_ms(),
        index_last_update_phyoffset: core.store.max_commit_log_offset(),
    });
    r.body = body.freeze();
    Ok(r.into())
}

/// UPDATE_AND_CREATE_TOPIC (17).
pub fn create_topic(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<CreateTopicRequestHeader>()?;
    if let Err(e) = validate_topic_name(&h.topic) {
        return Err(HandlerError::system(e.to_string()));
    }
    if h.topic == h.default_topic {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("The topic[{}] is conflict with system topic.", h.topic)));
    }
    if !(1..=1024).contains(&h.read_queue_nums) || !(1..=1024).contains(&h.write_queue_nums) {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, "queue numbers must be between 1 and 1024"));
    }
    let mut tc = new_topic(&h.topic, h.read_queue_nums, h.perm);
    tc.write_queue_nums = h.write_queue_nums;
    tc.topic_filter_type = h.topic_filter_type.clone();
    tc.topic_sys_flag = h.topic_sys_flag.unwrap_or(0);
    tc.order = h.order;
    let old_type = core.topics.get(&h.topic).and_then(|t| t.message_type);
    tc.message_type = match req.ext("attributes") {
        Some(a) => crate::core::topics::apply_attributes(old_type, a).map_err(|e| HandlerError::new(rc::INVALID_PARAMETER, e))?,
        None => old_type,
    };
    tracing::info!(caller = %conn.handle.peer, topic = %h.topic, read = h.read_queue_nums, write = h.write_queue_nums, perm = h.perm, "topic created or updated");
    // Waits even when nothing changed: the same create from another connection may have made the
    // change and still be waiting for its registration.
    core.topics.put(tc);
    Ok(after_registration(core, success(req)))
}

/// Answer once the name servers know the topic table's latest change, as the Java broker
/// registers before it answers: a client that creates a topic and then asks for its route finds
/// it. The wait is bounded (`registerBrokerTimeoutMills`, see `actors/registrar.rs`); when a name
/// server is down or refuses, the answer is still SUCCESS (the broker has the change, and the
/// periodic registration carries it) and the registrar logs a warning.
fn after_registration(core: &Core, resp: RemotingCommand) -> Reply {
    let registered = core.announce();
    Reply::Later(Box::pin(async move {
        registered.await;
        Some(resp)
    }))
}

/// DELETE_TOPIC_IN_BROKER (215).
pub fn delete_topic(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<DeleteTopicRequestHeader>()?;
    tracing::info!(caller = %conn.handle.peer, topic = %h.topic, "topic deleted");
    let removed = core.topics.remove(&h.topic);
    core.store.delete_topic(&h.topic);
    if !removed {
        return Ok(success(req).into());
    }
    // A registration cannot remove a topic from a name server (its table is merged); the admin
    // tools send DELETE_TOPIC_IN_NAMESRV next. Answering after the registration keeps the order:
    // no registration in flight still carries the deleted topic when the name server drops it.
    Ok(after_registration(core, success(req)))
}

/// GET_ALL_TOPIC_CONFIG (21).
pub fn all_topic_config(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = TopicConfigSerializeWrapper {
        topic_config_table: core.topics.all().iter().map(|t| (t.topic_name.clone(), to_wire(t))).collect(),
        data_version: core.topics.data_version(),
    };
    Ok(success(req).with_body(serde_json::to_vec(&body).unwrap_or_default()).into())
}

/// GET_TOPIC_CONFIG (351, 5.x clients).
pub fn topic_config(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetTopicConfigRequestHeader>()?;
    match core.topics.get(&h.topic) {
        Some(t) => {
            // TopicConfigAndQueueMapping: the TopicConfig members plus attributes and mappingDetail.
            let mut body = serde_json::to_value(to_wire(&t)).unwrap_or_default();
            if let Some(o) = body.as_object_mut() {
                let attrs = match &t.message_type {
                    Some(mt) => serde_json::json!({ "message.type": mt }),
                    None => serde_json::json!({}),
                };
                o.insert("attributes".into(), attrs);
                o.insert("mappingDetail".into(), serde_json::Value::Null);
            }
            Ok(success(req).with_body(body.to_string()).into())
        }
        None => Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("No topic in this broker. topic: {}", h.topic))),
    }
}

/// GET_TOPIC_NAME_LIST (23).
pub fn topic_names(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let list = TopicList { topic_list: core.topics.all().into_iter().map(|t| t.topic_name).collect(), broker_addr: None };
    Ok(success(req).with_body(list.to_json()).into())
}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200).
pub fn create_group(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let w: SubscriptionGroupConfigWire = crate::codec::json::parse_lenient(&req.body)
        .and_then(|v| serde_json::from_value(v).map_err(|e| crate::codec::CodecError::BadBody(e.to_string())))?;
    if w.group_name.trim().is_empty() {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, "groupName is blank"));
    }
    tracing::info!(caller = %conn.handle.peer, group = %w.group_name, "subscription group created or updated");
    core.groups.put(GroupConfig::from(w));
    Ok(success(req).into())
}

/// DELETE_SUBSCRIPTIONGROUP (207).
pub fn delete_group(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<DeleteSubscriptionGroupRequestHeader>()?;
    tracing::info!(caller = %conn.handle.peer, group = %h.group_name, remove_offset = h.remove_offset, "subscription group deleted");
    core.groups.remove(&h.group_name);
    if h.remove_offset {
        if let Err(e) = core.store.meta().delete_consumer_offsets(&h.group_name, None) {
            tracing::warn!(group = %h.group_name, error = %e, "failed to remove the group's offsets");
        }
    }
    Ok(success(req).into())
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201).
pub fn all_groups(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let body = SubscriptionGroupWrapper {
        subscription_group_table: core.groups.all().into_iter().map(|g| (g.group_name.clone(), group_wire(&g))).collect(),
        data_version: core.topics.data_version(),
    };
    Ok(success(req).with_body(serde_json::to_vec(&body).unwrap_or_default()).into())
}

// `..Default` keeps this compiling when the wire type grows members (5.x fields).
#[allow(clippy::needless_update)]
fn group_wire(g: &GroupConfig) -> SubscriptionGroupConfigWire {
    SubscriptionGroupConfigWire {
        group_name: g.group_name.clone(),
        consume_enable: g.consume_enable,
        consume_from_min_enable: g.consume_from_min_enable,
        consume_broadcast_enable: g.consume_broadcast_enable,
        retry_queue_nums: g.retry_queue_nums,
        retry_max_times: g.retry_max_times,
        broker_id: g.broker_id,
        which_broker_when_consume_slowly: g.which_broker_when_consume_slowly,
        notify_consumer_ids_changed_enable: g.notify_consumer_ids_changed_enable,
        consume_message_orderly: g.consume_message_orderly,
        ..Default::default()
    }
}

/// QUERY_TOPIC_CONSUME_BY_WHO (300): groups subscribed to the topic or holding offsets on it.
pub fn who_consumes(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<QueryTopicConsumeByWhoRequestHeader>()?;
    let mut groups: std::collections::BTreeSet<String> = core
        .clients
        .registry
        .read()
        .map(|r| {
            r.consumers.iter().filter(|(_, g)| g.subscriptions.contains_key(&h.topic)).map(|(n, _)| n.clone()).collect()
        })
        .unwrap_or_default();
    for (g, t, _, _) in core.store.meta().consumer_offsets() {
        if t == h.topic {
            groups.insert(g);
        }
    }
    Ok(success(req).with_body(GroupList { group_list: groups.into_iter().collect() }.to_json()).into())
}

/// Decode an offset msgId for lookups (used by admin tools through VIEW_MESSAGE_BY_ID).
pub fn offset_of_msg_id(id: &str) -> Option<i64> {
    decode_offset_msg_id(id).ok().map(|(_, off)| off)
}
