//! Name-server bodies: route data (105), cluster info (106), broker registration (103), topic
//! lists and KV tables.
use super::{de, json_body, DataVersion};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `TopicRouteData` (105 response). Written with quoted integer keys (what a 4.9.4+ name server
/// sends and every Java client reads).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    #[serde(deserialize_with = "de::list")]
    pub broker_datas: Vec<BrokerData>,
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_string"
    )]
    pub order_topic_conf: Option<String>,
    #[serde(deserialize_with = "de::list")]
    pub queue_datas: Vec<QueueData>,
}

/// `QueueData`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    #[serde(deserialize_with = "de::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "de::i32")]
    pub perm: i32,
    #[serde(deserialize_with = "de::i32")]
    pub read_queue_nums: i32,
    #[serde(deserialize_with = "de::i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "de::i32")]
    pub write_queue_nums: i32,
}

/// `BrokerData`: broker id (0 = master) to address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    pub broker_addrs: BTreeMap<i64, String>,
    #[serde(deserialize_with = "de::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "de::string")]
    pub cluster: String,
}

/// `ClusterInfo` (106 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

/// `RegisterBrokerBody` (103 request, when not compressed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    #[serde(deserialize_with = "de::strings")]
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

/// `TopicConfigSerializeWrapper` (inside 103; also the GET_ALL_TOPIC_CONFIG 21 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    pub data_version: DataVersion,
    pub topic_config_table: BTreeMap<String, TopicConfigWire>,
}

/// `TopicConfig` as it travels in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigWire {
    #[serde(deserialize_with = "de::bool")]
    pub order: bool,
    #[serde(deserialize_with = "de::i32")]
    pub perm: i32,
    #[serde(deserialize_with = "de::i32")]
    pub read_queue_nums: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    #[serde(deserialize_with = "de::string")]
    pub topic_filter_type: String,
    #[serde(deserialize_with = "de::string")]
    pub topic_name: String,
    #[serde(deserialize_with = "de::i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "de::i32")]
    pub write_queue_nums: i32,
}

/// `TopicList` (206, 224, 304, 305, 311-313, 23).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_string"
    )]
    pub broker_addr: Option<String>,
    #[serde(deserialize_with = "de::strings")]
    pub topic_list: Vec<String>,
}

/// `KVTable` (28, 219, 103 response).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    pub table: BTreeMap<String, String>,
}

json_body!(
    TopicRouteData,
    QueueData,
    BrokerData,
    ClusterInfo,
    RegisterBrokerBody,
    TopicConfigSerializeWrapper,
    TopicConfigWire,
    TopicList,
    KvTable,
);
