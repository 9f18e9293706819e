//! Offsets seen from the admin side: GET_TOPIC_STATS_INFO (202), GET_CONSUME_STATS (208),
//! GET_BROKER_CONSUME_STATS (317), QUERY_CONSUME_TIME_SPAN (303), CLONE_GROUP_OFFSET (314).
use super::super::{success, Conn, HandlerError, HandlerResult};
use crate::core::Core;
use crate::codec::body::{ConsumeStats, MessageQueue, OffsetWrapper, TopicOffset, TopicStatsTable};
use crate::codec::codes::response_code as rc;
use crate::codec::header::*;
use crate::codec::RemotingCommand;
use crate::store::TopicConfig;
use std::collections::BTreeSet;
use std::io::Write;

fn mq(core: &Core, topic: &str, queue_id: i32) -> MessageQueue {
    MessageQueue::new(topic, core.identity.broker_name.clone(), queue_id)
}

/// GET_TOPIC_STATS_INFO (202): min/max offset and last store time per write queue.
pub fn topic_stats(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetTopicStatsInfoRequestHeader>()?;
    let Some(tc) = core.topics.get(&h.topic) else {
        return Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("topic[{}] not exist", h.topic)));
    };
    let store = &core.store;
    let offset_table = (0..tc.write_queue_nums)
        .map(|q| {
            let max = store.max_offset(&h.topic, q);
            let last = if max > 0 { store.store_time_at(&h.topic, q, max - 1).unwrap_or(0) } else { 0 };
            let off = TopicOffset { min_offset: store.min_offset(&h.topic, q), max_offset: max, last_update_timestamp: last };
            (mq(core, &h.topic, q), off)
        })
        .collect();
    Ok(success(req).with_body(TopicStatsTable { offset_table }.to_json()).into())
}

/// The ConsumeStats rows of one topic (queue ids `0..max(read, write)`).
fn consume_rows(core: &Core, group: &str, tc: &TopicConfig) -> Vec<(MessageQueue, OffsetWrapper)> {
    core.queue_progress(group, tc)
        .into_iter()
        .map(|p| {
            let o = OffsetWrapper { broker_offset: p.broker_offset, consumer_offset: p.consumer_offset, last_timestamp: p.last_timestamp, pull_offset: p.pull_offset };
            (mq(core, &p.topic, p.queue_id), o)
        })
        .collect()
}

/// GET_CONSUME_STATS (208): per-queue broker and consumer offsets of a group.
pub fn consume_stats(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetConsumeStatsRequestHeader>()?;
    let topics: BTreeSet<String> = match h.topic.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(t) => [t.to_string()].into(),
        None => core.topics_of_group(&h.consumer_group),
    };
    let mut stats = ConsumeStats::default();
    for topic in topics {
        let Some(tc) = core.topics.get(&topic) else { continue };
        if !core.subscribed_or_offline(&h.consumer_group, &topic) {
            continue;
        }
        stats.offset_table.extend(consume_rows(core, &h.consumer_group, &tc));
    }
    Ok(success(req).with_body(stats.to_json()).into())
}

/// GET_BROKER_CONSUME_STATS (317): ConsumeStatsList for every subscription group.
pub fn broker_consume_stats(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetConsumeStatsInBrokerHeader>()?;
    let mut total_diff = 0i64;
    let mut out = b"{\"brokerAddr\":".to_vec();
    let _ = serde_json::to_writer(&mut out, &core.identity.broker_addr);
    out.extend_from_slice(b",\"consumeStatsList\":[");
    for (i, g) in core.groups.all().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let _ = serde_json::to_writer(&mut out, &g.group_name);
        out.extend_from_slice(b":[");
        let mut first = true;
        for topic in core.topics_of_group(&g.group_name) {
            let Some(tc) = core.topics.get(&topic) else { continue };
            if (h.is_order && !tc.order) || !core.subscribed_or_offline(&g.group_name, &topic) {
                continue;
            }
            let stats = ConsumeStats { offset_table: consume_rows(core, &g.group_name, &tc), consume_tps: 0.0 };
            total_diff += stats.offset_table.iter().map(|(_, o)| o.broker_offset - o.consumer_offset).sum::<i64>();
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&stats.to_json());
        }
        out.extend_from_slice(b"]}");
    }
    let _ = write!(out, "],\"totalDiff\":{total_diff}}}");
    Ok(success(req).with_body(out).into())
}

/// QUERY_CONSUME_TIME_SPAN (303): store-time span and the group's position per queue.
pub fn consume_time_span(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<QueryConsumeTimeSpanRequestHeader>()?;
    let Some(tc) = core.topics.get(&h.topic) else {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("topic[{}] not exist", h.topic)));
    };
    let store = &core.store;
    let spans: Vec<serde_json::Value> = (0..tc.write_queue_nums)
        .map(|q| {
            let min_t = store.earliest_store_time(&h.topic, q).unwrap_or(0);
            let max = store.max_offset(&h.topic, q);
            let max_t = if max > 0 { store.store_time_at(&h.topic, q, max - 1).unwrap_or(0) } else { 0 };
            let consumer = store.meta().consumer_offset(&h.group, &h.topic, q).unwrap_or(0);
            let consume_t = if consumer > 0 {
                store.store_time_at(&h.topic, q, consumer - 1).unwrap_or(min_t)
            } else {
                min_t
            };
            let delay = if consumer < max { max_t - consume_t } else { 0 };
            serde_json::json!({
                "consumeTimeStamp": consume_t,
                "delayTime": delay,
                "maxTimeStamp": max_t,
                "messageQueue": mq(core, &h.topic, q),
                "minTimeStamp": min_t,
            })
        })
        .collect();
    Ok(success(req).with_body(serde_json::json!({ "consumeTimeSpanSet": spans }).to_string()).into())
}

/// CLONE_GROUP_OFFSET (314): copy `srcGroup`'s offsets to `destGroup` (one topic or all).
pub fn clone_group_offset(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<CloneGroupOffsetRequestHeader>()?;
    let only = h.topic.as_deref().filter(|t| !t.trim().is_empty());
    let mut copied = 0;
    for (g, topic, q, off) in core.store.meta().consumer_offsets() {
        if g != h.src_group || only.is_some_and(|t| t != topic) || core.topics.get(&topic).is_none() {
            continue;
        }
        if !h.offline && !core.subscribed_or_offline(&h.src_group, &topic) {
            continue;
        }
        if let Err(e) = core.store.meta().set_consumer_offset(&h.dest_group, &topic, q, off) {
            return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("clone offset failed: {e}")));
        }
        copied += 1;
    }
    tracing::info!(caller = %conn.handle.peer, src = %h.src_group, dest = %h.dest_group, topic = ?only, queues = copied, "group offsets cloned");
    Ok(success(req).into())
}
