//! Operations headers: broker config (25/26), consume-directly (309), time span (303), clone
//! offsets (314), broker consume stats (317), consumer status (221/223), write permission (205/327).
use super::header;

header! {
    /// `GetBrokerConfigResponseHeader` (26): `version` is the DataVersion JSON.
    GetBrokerConfigResponseHeader { version: Option<String> = "version" }
}
header! {
    /// `ConsumeMessageDirectlyResultRequestHeader` (309, admin to broker and broker to client).
    ConsumeMessageDirectlyResultRequestHeader {
        consumer_group: String = "consumerGroup",
        client_id: Option<String> = "clientId",
        msg_id: Option<String> = "msgId",
        broker_name: Option<String> = "brokerName",
    }
}
header! {
    /// `QueryConsumeTimeSpanRequestHeader` (303).
    QueryConsumeTimeSpanRequestHeader { topic: String = "topic", group: String = "group" }
}
header! {
    /// `CloneGroupOffsetRequestHeader` (314).
    CloneGroupOffsetRequestHeader {
        src_group: String = "srcGroup",
        dest_group: String = "destGroup",
        topic: Option<String> = "topic",
        offline: bool = "offline",
    }
}
header! {
    /// `GetConsumeStatsInBrokerHeader` (317).
    GetConsumeStatsInBrokerHeader { is_order: bool = "isOrder" }
}
header! {
    /// `GetConsumerStatusRequestHeader` (221 broker to client, 223 admin to broker).
    GetConsumerStatusRequestHeader {
        topic: String = "topic",
        group: String = "group",
        client_addr: Option<String> = "clientAddr",
    }
}
header! {
    /// `WipeWritePermOfBrokerRequestHeader` (205) and `AddWritePermOfBrokerRequestHeader` (327).
    WritePermOfBrokerRequestHeader { broker_name: String = "brokerName" }
}
header! {
    /// `WipeWritePermOfBrokerResponseHeader` (205).
    WipeWritePermOfBrokerResponseHeader { wipe_topic_count: i32 = "wipeTopicCount" }
}
header! {
    /// `AddWritePermOfBrokerResponseHeader` (327).
    AddWritePermOfBrokerResponseHeader { add_topic_count: i32 = "addTopicCount" }
}
