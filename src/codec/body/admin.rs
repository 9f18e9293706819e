//! Admin bodies: consume stats (208), offset reset (220/222), topic stats (202), group lists
//! (300), connection lists (203/204), subscription group configs (200/201).
use super::{de, from_value, json_body, DataVersion, MessageQueue, SubscriptionData};
use crate::codec::error::CodecError;
use crate::codec::json::{parse_lenient, read_object_keyed_map, write_object_keyed_map};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;

/// `OffsetWrapper` (value of [`ConsumeStats::offset_table`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    #[serde(deserialize_with = "de::i64")]
    pub broker_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub consumer_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub last_timestamp: i64,
    /// 5.x: how far the group has been handed messages (POP: the pop cursor); 4.x tools ignore it.
    #[serde(deserialize_with = "de::i64")]
    pub pull_offset: i64,
}

/// `ConsumeStats` (208 response): an object-keyed map, see `docs/protocol/json-quirks.md`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    pub offset_table: Vec<(MessageQueue, OffsetWrapper)>,
    pub consume_tps: f64,
}

fn member<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

fn write_f64(out: &mut Vec<u8>, x: f64) {
    // fastjson writes doubles with a fraction; NaN/inf have no JSON form.
    let x = if x.is_finite() { x } else { 0.0 };
    let _ = serde_json::to_writer(&mut *out, &x);
}

impl ConsumeStats {
    pub fn from_json(b: &[u8]) -> Result<Self, CodecError> {
        let v = parse_lenient(b)?;
        let tps = match member(&v, "consumeTps") {
            Value::Null => 0.0,
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| CodecError::BadBody("consumeTps".into()))?,
            _ => return Err(CodecError::BadBody("consumeTps".into())),
        };
        Ok(ConsumeStats {
            offset_table: read_object_keyed_map(member(&v, "offsetTable"))?,
            consume_tps: tps,
        })
    }

    /// `{"consumeTps":1.5,"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:{...}}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = b"{\"consumeTps\":".to_vec();
        write_f64(&mut out, self.consume_tps);
        out.extend_from_slice(b",\"offsetTable\":");
        write_object_keyed_map(&mut out, &self.offset_table);
        out.push(b'}');
        out
    }
}

/// `ResetOffsetBody` (220 request body, 222 response body): queue to offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetOffsetBody {
    pub offset_table: Vec<(MessageQueue, i64)>,
}

impl ResetOffsetBody {
    /// Reads the fastjson form and the C++-style list `[{"brokerName","queueId","topic","offset"}]`.
    pub fn from_json(b: &[u8]) -> Result<Self, CodecError> {
        let v = parse_lenient(b)?;
        let table = member(&v, "offsetTable");
        if let Value::Array(items) = table {
            #[derive(Deserialize)]
            struct Entry {
                #[serde(flatten)]
                mq: MessageQueue,
                #[serde(default, deserialize_with = "de::i64")]
                offset: i64,
            }
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                let e: Entry = from_value(it.clone())?;
                out.push((e.mq, e.offset));
            }
            return Ok(ResetOffsetBody { offset_table: out });
        }
        Ok(ResetOffsetBody {
            offset_table: read_object_keyed_map(table)?,
        })
    }

    /// `{"offsetTable":{{"brokerName":"b","queueId":3,"topic":"t"}:42}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":".to_vec();
        write_object_keyed_map(&mut out, &self.offset_table);
        out.push(b'}');
        out
    }

    /// The list form a C++ consumer expects (request `language` = `CPP`).
    pub fn to_json_cpp(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":[".to_vec();
        for (i, (mq, off)) in self.offset_table.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"brokerName\":");
            let _ = serde_json::to_writer(&mut out, &mq.broker_name);
            let _ = write!(
                out,
                ",\"offset\":{off},\"queueId\":{},\"topic\":",
                mq.queue_id
            );
            let _ = serde_json::to_writer(&mut out, &mq.topic);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// `TopicOffset` (value of [`TopicStatsTable::offset_table`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    #[serde(deserialize_with = "de::i64")]
    pub last_update_timestamp: i64,
    #[serde(deserialize_with = "de::i64")]
    pub max_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub min_offset: i64,
}

/// `TopicStatsTable` (202 response).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicStatsTable {
    pub offset_table: Vec<(MessageQueue, TopicOffset)>,
}

impl TopicStatsTable {
    pub fn from_json(b: &[u8]) -> Result<Self, CodecError> {
        let v = parse_lenient(b)?;
        Ok(TopicStatsTable {
            offset_table: read_object_keyed_map(member(&v, "offsetTable"))?,
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":".to_vec();
        write_object_keyed_map(&mut out, &self.offset_table);
        out.push(b'}');
        out
    }
}

/// `GroupList` (300 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    #[serde(deserialize_with = "de::strings")]
    pub group_list: Vec<String>,
}

/// `Connection`: one client connection in admin listings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    #[serde(deserialize_with = "de::string")]
    pub client_addr: String,
    #[serde(deserialize_with = "de::string")]
    pub client_id: String,
    /// `LanguageCode` name (`JAVA`, `CPP`, ...).
    #[serde(deserialize_with = "de::language")]
    pub language: String,
    #[serde(deserialize_with = "de::i32")]
    pub version: i32,
}

/// `ConsumerConnection` (203 response).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    #[serde(deserialize_with = "de::list")]
    pub connection_set: Vec<Connection>,
    #[serde(deserialize_with = "de::consume_from_where")]
    pub consume_from_where: String,
    #[serde(deserialize_with = "de::consume_type")]
    pub consume_type: String,
    #[serde(deserialize_with = "de::message_model")]
    pub message_model: String,
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

/// `ProducerConnection` (204 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    #[serde(deserialize_with = "de::list")]
    pub connection_set: Vec<Connection>,
}

/// `SubscriptionGroupConfig` (200 request body, values of 201), 4.9.7 fields and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfigWire {
    #[serde(deserialize_with = "de::i64")]
    pub broker_id: i64,
    #[serde(deserialize_with = "de::bool")]
    pub consume_broadcast_enable: bool,
    #[serde(deserialize_with = "de::bool")]
    pub consume_enable: bool,
    #[serde(deserialize_with = "de::bool")]
    pub consume_from_min_enable: bool,
    #[serde(deserialize_with = "de::string")]
    pub group_name: String,
    #[serde(deserialize_with = "de::bool")]
    pub notify_consumer_ids_changed_enable: bool,
    #[serde(deserialize_with = "de::i32")]
    pub retry_max_times: i32,
    #[serde(deserialize_with = "de::i32")]
    pub retry_queue_nums: i32,
    #[serde(deserialize_with = "de::i64")]
    pub which_broker_when_consume_slowly: i64,
    /// 5.x: the group consumes in order (gRPC FIFO consumers); written only when true, so the
    /// 4.9.7 form is unchanged.
    #[serde(deserialize_with = "de::bool", skip_serializing_if = "std::ops::Not::not")]
    pub consume_message_orderly: bool,
}

impl Default for SubscriptionGroupConfigWire {
    fn default() -> Self {
        SubscriptionGroupConfigWire {
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            group_name: String::new(),
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            which_broker_when_consume_slowly: 1,
            consume_message_orderly: false,
        }
    }
}

/// `SubscriptionGroupWrapper` (201 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    pub data_version: DataVersion,
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfigWire>,
}

json_body!(
    OffsetWrapper,
    TopicOffset,
    GroupList,
    Connection,
    ConsumerConnection,
    ProducerConnection,
    SubscriptionGroupConfigWire,
    SubscriptionGroupWrapper,
);
