//! What a slave fetches from its master every few seconds, as Java's SlaveSynchronize does:
//! GET_ALL_CONSUMER_OFFSET (43) and GET_ALL_DELAY_OFFSET (45). (Topics and groups are 21 and
//! 201, answered in `mod.rs`.)
use std::collections::BTreeMap;

use super::super::{success, Conn, HandlerResult};
use crate::core::Core;
use crate::codec::RemotingCommand;

/// GET_ALL_CONSUMER_OFFSET (43): `{"offsetTable":{"topic@group":{"0":12,...}}}`
/// (ConsumerOffsetSerializeWrapper; numeric keys quoted, which fastjson reads as well).
pub fn all_consumer_offsets(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let mut table: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
    for (group, topic, queue, offset) in core.store.meta().consumer_offsets() {
        table.entry(format!("{topic}@{group}")).or_default().insert(queue, offset);
    }
    let body = serde_json::json!({ "offsetTable": table });
    Ok(success(req).with_body(body.to_string()).into())
}

/// GET_ALL_DELAY_OFFSET (45): `{"offsetTable":{"1":0,...}}` (DelayOffsetSerializeWrapper: the
/// next SCHEDULE_TOPIC_XXXX queue offset to deliver per delay level).
pub fn all_delay_offsets(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let levels = core.config().message_delay_level.len();
    let table: BTreeMap<usize, i64> = (1..=levels).map(|l| (l, core.store.meta().delay_cursor(l))).collect();
    let body = serde_json::json!({ "offsetTable": table });
    Ok(success(req).with_body(body.to_string()).into())
}
