//! Admin headers: topics (17, 215, 202, 351), subscription groups and consume stats (203, 204,
//! 207, 208, 300), offset reset (220, 222) and consumer running info (307).
use super::header;

header! {
    /// `CreateTopicRequestHeader` (17).
    CreateTopicRequestHeader {
        topic: String = "topic",
        default_topic: String = "defaultTopic",
        read_queue_nums: i32 = "readQueueNums",
        write_queue_nums: i32 = "writeQueueNums",
        perm: i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        topic_filter_type: String = "topicFilterType",
        topic_sys_flag: Option<i32> = "topicSysFlag",
        order: bool = "order",
    }
}
header! {
    /// `DeleteTopicRequestHeader` (215 broker; 216 name server also sends optional `clusterName`).
    DeleteTopicRequestHeader { topic: String = "topic" }
}
header! {
    /// `GetTopicConfigRequestHeader` (351, 5.x).
    GetTopicConfigRequestHeader { topic: String = "topic" }
}
header! {
    /// `GetTopicStatsInfoRequestHeader` (202).
    GetTopicStatsInfoRequestHeader { topic: String = "topic" }
}
header! {
    /// `GetConsumeStatsRequestHeader` (208).
    GetConsumeStatsRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: Option<String> = "topic",
    }
}
header! {
    /// `ResetOffsetRequestHeader` (222, admin to broker); the key is `isForce`.
    ResetOffsetRequestHeader {
        topic: String = "topic",
        group: String = "group",
        timestamp: i64 = "timestamp",
        is_force: bool = "isForce",
    }
}
header! {
    /// RESET_CONSUMER_CLIENT_OFFSET (220, broker to client): Java reuses `ResetOffsetRequestHeader`.
    ResetConsumerClientOffsetRequestHeader {
        topic: String = "topic",
        group: String = "group",
        timestamp: i64 = "timestamp",
        is_force: bool = "isForce",
    }
}
header! {
    /// `GetConsumerConnectionListRequestHeader` (203).
    GetConsumerConnectionListRequestHeader { consumer_group: String = "consumerGroup" }
}
header! {
    /// `GetProducerConnectionListRequestHeader` (204).
    GetProducerConnectionListRequestHeader { producer_group: String = "producerGroup" }
}
header! {
    /// `DeleteSubscriptionGroupRequestHeader` (207).
    DeleteSubscriptionGroupRequestHeader {
        group_name: String = "groupName",
        /// 4.9.7: also drop the group's stored offsets.
        remove_offset: bool = "removeOffset",
    }
}
header! {
    /// `GetConsumerRunningInfoRequestHeader` (307).
    GetConsumerRunningInfoRequestHeader {
        consumer_group: String = "consumerGroup",
        client_id: String = "clientId",
        jstack_enable: bool = "jstackEnable",
    }
}
header! {
    /// `QueryTopicConsumeByWhoRequestHeader` (300).
    QueryTopicConsumeByWhoRequestHeader { topic: String = "topic" }
}
header! {
    /// `ConsumeMessageDirectlyResultRequestHeader` (309, admin to broker to client).
    ConsumeMessageDirectlyResultRequestHeader {
        consumer_group: String = "consumerGroup",
        client_id: Option<String> = "clientId",
        msg_id: Option<String> = "msgId",
        broker_name: Option<String> = "brokerName",
    }
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
    /// `CloneGroupOffsetRequestHeader` (314).
    CloneGroupOffsetRequestHeader {
        src_group: String = "srcGroup",
        dest_group: String = "destGroup",
        topic: Option<String> = "topic",
        offline: bool = "offline",
    }
}
header! {
    /// `QueryConsumeTimeSpanRequestHeader` (303).
    QueryConsumeTimeSpanRequestHeader { topic: String = "topic", group: String = "group" }
}
header! {
    /// `GetBrokerConfigResponseHeader` (26): `version` is the DataVersion as JSON text.
    GetBrokerConfigResponseHeader { version: String = "version" }
}
