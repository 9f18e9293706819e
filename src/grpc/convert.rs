//! A stored message (RocketMQ's stored layout) as the `pb::Message` a 5.x consumer receives.
use super::pb::{self, DigestType, Encoding, MessageType};
use super::send::SHARDING_KEY;
use crate::codec::message::{offset_msg_id, parse_properties, prop, sys_flag};
use crate::codec::stored::decode_stored;
use crate::core::pop::{PROP_FIRST_POP_TIME, PROP_POP_CK};
use std::time::Duration;

/// Properties the broker or the protocol owns: not shown as user properties.
const SYSTEM: &[&str] = &[
    prop::KEYS, prop::TAGS, prop::WAIT, prop::DELAY, prop::RETRY_TOPIC, prop::REAL_TOPIC, prop::REAL_QID, prop::TRAN_MSG,
    prop::PGROUP, prop::MIN_OFFSET, prop::MAX_OFFSET, prop::ORIGIN_MESSAGE_ID, prop::RECONSUME_TIME, prop::MSG_REGION,
    prop::TRACE_SWITCH, prop::UNIQ_KEY, prop::MAX_RECONSUME_TIMES, prop::CONSUME_START_TIME, prop::CLUSTER,
    prop::TRAN_PREPARED_QUEUE_OFFSET, prop::TRANSACTION_CHECK_TIMES, prop::CHECK_IMMUNITY_TIME_IN_SECONDS,
    prop::TIMER_DELIVER_MS, prop::TIMER_DELAY_SEC, prop::TIMER_DELAY_MS, crate::core::redirect::TIMER_OUT_MS,
    SHARDING_KEY, PROP_POP_CK, PROP_FIRST_POP_TIME, prop::TRANSACTION_ID,
];

fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// The receipt and delivery facts a popped message carries.
pub struct Delivery {
    pub receipt_handle: String,
    pub invisible: Duration,
    /// 1 for a first delivery.
    pub attempt: i32,
}

/// Decode a stored record; `None` when it is corrupt (it is skipped, with a warning).
pub fn to_pb(record: &[u8], d: Option<Delivery>) -> Option<pb::Message> {
    let (m, _) = match decode_stored(record) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "gRPC receive: undecodable stored message skipped");
            return None;
        }
    };
    let props = parse_properties(&m.properties);
    let user_properties = props.iter().filter(|(k, _)| !SYSTEM.contains(k)).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let message_id = props.get(prop::UNIQ_KEY).map(str::to_string).unwrap_or_else(|| offset_msg_id(m.store_host, m.commit_log_offset));
    let group = props.get(SHARDING_KEY).map(str::to_string);
    let delayed = props.get(prop::TIMER_DELIVER_MS).or(props.get(prop::DELAY)).is_some()
        || props.get(prop::TIMER_DELAY_SEC).or(props.get(prop::TIMER_DELAY_MS)).is_some();
    let committed = m.sys_flag & sys_flag::TRANSACTION_MASK == sys_flag::TRANSACTION_COMMIT;
    let message_type = if committed || props.get(prop::TRAN_MSG).is_some_and(|v| v == "true") {
        MessageType::Transaction
    } else if group.is_some() {
        MessageType::Fifo
    } else if delayed {
        MessageType::Delay
    } else {
        MessageType::Normal
    };
    let compressed = m.sys_flag & sys_flag::COMPRESSED != 0;
    let sp = pb::SystemProperties {
        tag: props.get(prop::TAGS).map(str::to_string),
        keys: props.get(prop::KEYS).map(|k| k.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default(),
        message_id,
        body_digest: Some(pb::Digest { r#type: DigestType::Crc32 as i32, checksum: format!("{:08X}", crc32fast::hash(&m.body)) }),
        body_encoding: if compressed { Encoding::Gzip } else { Encoding::Identity } as i32,
        message_type: message_type as i32,
        born_timestamp: Some(timestamp(m.born_timestamp)),
        born_host: m.born_host.ip().to_string(),
        store_timestamp: Some(timestamp(m.store_timestamp)),
        store_host: m.store_host.to_string(),
        delivery_timestamp: props.get(prop::TIMER_DELIVER_MS).and_then(|v| v.parse::<i64>().ok()).map(timestamp),
        receipt_handle: d.as_ref().map(|d| d.receipt_handle.clone()),
        queue_id: m.queue_id,
        queue_offset: Some(m.queue_offset),
        invisible_duration: d.as_ref().map(|d| prost_types::Duration { seconds: d.invisible.as_secs() as i64, nanos: d.invisible.subsec_nanos() as i32 }),
        delivery_attempt: d.as_ref().map(|d| d.attempt),
        message_group: group,
        trace_context: props.get("TRACE_CONTEXT").map(str::to_string),
        ..Default::default()
    };
    Some(pb::Message {
        topic: Some(pb::Resource { resource_namespace: String::new(), name: m.topic.clone() }),
        user_properties,
        system_properties: Some(sp),
        body: m.body,
    })
}
