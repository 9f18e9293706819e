//! Name-server headers: routes (105), broker registration (103, 104), KV config (100-102, 219),
//! topic lists (224).
use super::header;

header! {
    /// `GetRouteInfoRequestHeader` (105).
    GetRouteInfoRequestHeader {
        topic: String = "topic",
        accept_standard_json_only: bool = "acceptStandardJsonOnly",
    }
}
header! {
    /// `RegisterBrokerRequestHeader` (103).
    RegisterBrokerRequestHeader {
        broker_name: String = "brokerName",
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        ha_server_addr: String = "haServerAddr",
        broker_id: i64 = "brokerId",
        compressed: bool = "compressed",
        /// Java initialises it to 0.
        body_crc32: i32 = "bodyCrc32" or 0,
    }
}
header! {
    /// `RegisterBrokerResponseHeader`: both empty for a master (`"extFields":{}`).
    RegisterBrokerResponseHeader {
        ha_server_addr: Option<String> = "haServerAddr",
        master_addr: Option<String> = "masterAddr",
    }
}
header! {
    /// `UnregisterBrokerRequestHeader` (104).
    UnregisterBrokerRequestHeader {
        broker_name: String = "brokerName",
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        broker_id: i64 = "brokerId",
    }
}
header! {
    /// `GetKVConfigRequestHeader` (101).
    GetKvConfigRequestHeader { namespace: String = "namespace", key: String = "key" }
}
header! {
    /// `GetKVConfigResponseHeader`.
    GetKvConfigResponseHeader { value: Option<String> = "value" }
}
header! {
    /// `PutKVConfigRequestHeader` (100).
    PutKvConfigRequestHeader {
        namespace: String = "namespace",
        key: String = "key",
        value: String = "value",
    }
}
header! {
    /// `DeleteKVConfigRequestHeader` (102).
    DeleteKvConfigRequestHeader { namespace: String = "namespace", key: String = "key" }
}
header! {
    /// `GetKVListByNamespaceRequestHeader` (219).
    GetKvListByNamespaceRequestHeader { namespace: String = "namespace" }
}
header! {
    /// `GetTopicsByClusterRequestHeader` (224).
    GetTopicsByClusterRequestHeader { cluster: String = "cluster" }
}
header! {
    /// `QueryDataVersionRequestHeader` (322, broker to name server; body = DataVersion).
    QueryDataVersionRequestHeader {
        broker_name: String = "brokerName",
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        broker_id: i64 = "brokerId",
    }
}
header! {
    /// `QueryDataVersionResponseHeader`.
    QueryDataVersionResponseHeader { changed: bool = "changed" }
}
header! {
    /// `WipeWritePermOfBrokerRequestHeader` (205).
    WipeWritePermOfBrokerRequestHeader { broker_name: String = "brokerName" }
}
header! {
    /// `WipeWritePermOfBrokerResponseHeader`.
    WipeWritePermOfBrokerResponseHeader { wipe_topic_count: i32 = "wipeTopicCount" }
}
header! {
    /// `AddWritePermOfBrokerRequestHeader` (327).
    AddWritePermOfBrokerRequestHeader { broker_name: String = "brokerName" }
}
header! {
    /// `AddWritePermOfBrokerResponseHeader`.
    AddWritePermOfBrokerResponseHeader { add_topic_count: i32 = "addTopicCount" }
}
header! {
    /// `DeleteTopicFromNamesrvRequestHeader` (216).
    DeleteTopicFromNamesrvRequestHeader {
        topic: String = "topic",
        cluster_name: Option<String> = "clusterName",
    }
}
