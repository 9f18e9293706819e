//! POP consumption (5.x) bodies: BATCH_ACK_MESSAGE, QUERY_ASSIGNMENT, SET_MESSAGE_REQUEST_MODE,
//! GET_ALL_MESSAGE_REQUEST_MODE.
use super::{de, json_body, MessageQueue};
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// One group of acks in `BatchAckMessageRequestBody` (fastjson short names, long ones accepted).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchAck {
    #[serde(rename = "c", alias = "consumerGroup", deserialize_with = "de::string")]
    pub consumer_group: String,
    #[serde(rename = "t", alias = "topic", deserialize_with = "de::string")]
    pub topic: String,
    /// Retry mark: "0" normal, "1"/"2" the POP retry topic.
    #[serde(rename = "r", alias = "retry", deserialize_with = "de::string")]
    pub retry: String,
    #[serde(rename = "so", alias = "startOffset", deserialize_with = "de::i64")]
    pub start_offset: i64,
    #[serde(rename = "q", alias = "queueId", deserialize_with = "de::i32")]
    pub queue_id: i32,
    #[serde(rename = "rq", alias = "reviveQueueId", deserialize_with = "de::i32")]
    pub revive_queue_id: i32,
    #[serde(rename = "pt", alias = "popTime", deserialize_with = "de::i64")]
    pub pop_time: i64,
    #[serde(rename = "it", alias = "invisibleTime", deserialize_with = "de::i64")]
    pub invisible_time: i64,
    /// Acked offsets, counted from `start_offset` (Java `BitSet`, base64 of its little-endian bytes).
    #[serde(rename = "b", alias = "bitSet", deserialize_with = "bit_set", serialize_with = "write_bit_set")]
    pub bits: Vec<u32>,
}

impl BatchAck {
    /// The acked queue offsets.
    pub fn offsets(&self) -> impl Iterator<Item = i64> + '_ {
        self.bits.iter().map(move |b| self.start_offset + *b as i64)
    }
}

fn bit_set<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    use serde::de::Error;
    let bytes: Vec<u8> = match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(s) => base64::engine::general_purpose::STANDARD.decode(s.trim()).map_err(D::Error::custom)?,
        // A plain array of bytes is accepted too.
        serde_json::Value::Array(a) => a.iter().map(|v| v.as_i64().unwrap_or(0) as u8).collect(),
        _ => return Err(D::Error::custom("expected a base64 bit set")),
    };
    if bytes.len() > 1 << 16 {
        return Err(D::Error::custom("bit set too large"));
    }
    let mut out = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        for bit in 0..8 {
            if b & (1 << bit) != 0 {
                out.push((i * 8 + bit) as u32);
            }
        }
    }
    Ok(out)
}

fn write_bit_set<S: serde::Serializer>(bits: &[u32], s: S) -> Result<S::Ok, S::Error> {
    let len = bits.iter().max().map(|m| *m as usize / 8 + 1).unwrap_or(0);
    let mut bytes = vec![0u8; len];
    for b in bits {
        bytes[*b as usize / 8] |= 1 << (b % 8);
    }
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `BatchAckMessageRequestBody` (200151).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchAckMessageRequestBody {
    #[serde(deserialize_with = "de::list")]
    pub acks: Vec<BatchAck>,
    #[serde(deserialize_with = "de::string")]
    pub broker_name: String,
}

/// `QueryAssignmentRequestBody` (400).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryAssignmentRequestBody {
    #[serde(deserialize_with = "de::string")]
    pub client_id: String,
    #[serde(deserialize_with = "de::string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "de::message_model")]
    pub message_model: String,
    #[serde(deserialize_with = "de::string")]
    pub strategy_name: String,
    #[serde(deserialize_with = "de::string")]
    pub topic: String,
}

/// `MessageQueueAssignment`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueueAssignment {
    pub attachments: BTreeMap<String, String>,
    pub message_queue: MessageQueue,
    #[serde(deserialize_with = "de::request_mode")]
    pub mode: String,
}

/// `QueryAssignmentResponseBody` (400 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryAssignmentResponseBody {
    #[serde(deserialize_with = "de::list")]
    pub message_queue_assignments: Vec<MessageQueueAssignment>,
}

/// `SetMessageRequestModeRequestBody` (401), also the stored form of a group's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetMessageRequestModeRequestBody {
    #[serde(deserialize_with = "de::string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "de::request_mode")]
    pub mode: String,
    #[serde(deserialize_with = "de::i32")]
    pub pop_share_queue_num: i32,
    #[serde(deserialize_with = "de::string")]
    pub topic: String,
}

impl Default for SetMessageRequestModeRequestBody {
    fn default() -> Self {
        SetMessageRequestModeRequestBody { consumer_group: String::new(), mode: "PULL".into(), pop_share_queue_num: 0, topic: String::new() }
    }
}

/// `MessageRequestModeSerializeWrapper` (402 response): topic -> group -> mode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageRequestModeSerializeWrapper {
    pub message_request_mode_map: BTreeMap<String, BTreeMap<String, SetMessageRequestModeRequestBody>>,
}

json_body!(
    BatchAckMessageRequestBody,
    QueryAssignmentRequestBody,
    QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody,
    MessageRequestModeSerializeWrapper,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ack_reads_short_and_long_names_and_the_bit_set() {
        // Java BitSet {0, 2, 9} -> bytes [0b101, 0b10] -> base64 "BQI="
        let b = br#"{"acks":[{"c":"g","t":"T","r":"0","so":100,"q":3,"rq":0,"pt":5,"it":60000,"b":"BQI="}],"brokerName":"b"}"#;
        let body = BatchAckMessageRequestBody::from_json(b).unwrap();
        let a = &body.acks[0];
        assert_eq!((a.consumer_group.as_str(), a.queue_id, a.pop_time), ("g", 3, 5));
        assert_eq!(a.offsets().collect::<Vec<_>>(), vec![100, 102, 109]);
        let long = br#"{"acks":[{"consumerGroup":"g","topic":"T","retry":"1","startOffset":"7","queueId":0,"popTime":1,"bitSet":"AQ=="}]}"#;
        let body = BatchAckMessageRequestBody::from_json(long).unwrap();
        assert_eq!(body.acks[0].offsets().collect::<Vec<_>>(), vec![7]);
        let again = BatchAckMessageRequestBody::from_json(&body.to_json()).unwrap();
        assert_eq!(again, body);
    }

    #[test]
    fn request_mode_by_name_or_ordinal() {
        let b = SetMessageRequestModeRequestBody::from_json(br#"{"topic":"T","consumerGroup":"g","mode":1,"popShareQueueNum":0}"#).unwrap();
        assert_eq!(b.mode, "POP");
        let b = SetMessageRequestModeRequestBody::from_json(br#"{"topic":"T","consumerGroup":"g","mode":"POP"}"#).unwrap();
        assert_eq!(b.mode, "POP");
    }
}
