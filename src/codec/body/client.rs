//! Bodies clients send or read on the producer/consumer path: HEART_BEAT (34),
//! GET_CONSUMER_LIST_BY_GROUP (38), LOCK_BATCH_MQ / UNLOCK_BATCH_MQ (41/42).
use super::{de, json_body, MessageQueue};
use serde::{Deserialize, Serialize};

/// `HeartbeatData` (34 request body).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID", deserialize_with = "de::string")]
    pub client_id: String,
    #[serde(deserialize_with = "de::list")]
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(deserialize_with = "de::list")]
    pub producer_data_set: Vec<ProducerData>,
}

/// `ProducerData`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    #[serde(deserialize_with = "de::string")]
    pub group_name: String,
}

/// `ConsumerData`; the enums are kept as their Java names (ordinals from the C++ client are
/// converted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    #[serde(deserialize_with = "de::consume_from_where")]
    pub consume_from_where: String,
    /// `CONSUME_ACTIVELY` (pull) or `CONSUME_PASSIVELY` (push).
    #[serde(deserialize_with = "de::consume_type")]
    pub consume_type: String,
    #[serde(deserialize_with = "de::string")]
    pub group_name: String,
    /// `CLUSTERING` or `BROADCASTING`.
    #[serde(deserialize_with = "de::message_model")]
    pub message_model: String,
    #[serde(deserialize_with = "de::list")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(deserialize_with = "de::bool")]
    pub unit_mode: bool,
}

/// `SubscriptionData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    #[serde(deserialize_with = "de::bool")]
    pub class_filter_mode: bool,
    /// Tag hash codes (`message::tag_hash_code`) of `tags_set`.
    #[serde(deserialize_with = "de::i32s")]
    pub code_set: Vec<i32>,
    /// `TAG` (default) or `SQL92`.
    #[serde(deserialize_with = "de::string")]
    pub expression_type: String,
    #[serde(deserialize_with = "de::string")]
    pub sub_string: String,
    #[serde(deserialize_with = "de::i64")]
    pub sub_version: i64,
    #[serde(deserialize_with = "de::strings")]
    pub tags_set: Vec<String>,
    #[serde(deserialize_with = "de::string")]
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            code_set: Vec::new(),
            expression_type: "TAG".into(),
            sub_string: String::new(),
            sub_version: 0,
            tags_set: Vec::new(),
            topic: String::new(),
        }
    }
}

/// `GetConsumerListByGroupResponseBody` (38 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerListBody {
    #[serde(deserialize_with = "de::strings")]
    pub consumer_id_list: Vec<String>,
}

/// `LockBatchRequestBody` (41); `onlyThisBroker` is 5.x only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    #[serde(deserialize_with = "de::string")]
    pub client_id: String,
    #[serde(deserialize_with = "de::string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "de::list")]
    pub mq_set: Vec<MessageQueue>,
    #[serde(deserialize_with = "de::bool")]
    pub only_this_broker: bool,
}

/// `LockBatchResponseBody` (41 response): the queues now held by the client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", deserialize_with = "de::list")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

/// `UnlockBatchRequestBody` (42).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnlockBatchRequestBody {
    #[serde(deserialize_with = "de::string")]
    pub client_id: String,
    #[serde(deserialize_with = "de::string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "de::list")]
    pub mq_set: Vec<MessageQueue>,
    #[serde(deserialize_with = "de::bool")]
    pub only_this_broker: bool,
}

json_body!(
    HeartbeatData,
    ProducerData,
    ConsumerData,
    SubscriptionData,
    ConsumerListBody,
    LockBatchRequestBody,
    LockBatchResponseBody,
    UnlockBatchRequestBody,
);

/// `CheckClientRequestBody` (46): validate a non-TAG subscription before a consumer starts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    #[serde(deserialize_with = "de::string")]
    pub client_id: String,
    #[serde(deserialize_with = "de::string")]
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_data: Option<SubscriptionData>,
}

json_body!(CheckClientRequestBody);
