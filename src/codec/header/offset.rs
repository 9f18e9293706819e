//! Offset, consumer-group and message-lookup headers (14, 15, 29-33, 35, 36, 38, 40, 12).
use super::header;

header! {
    /// `QueryConsumerOffsetRequestHeader` (14).
    QueryConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
    }
}
header! {
    /// `QueryConsumerOffsetResponseHeader`.
    QueryConsumerOffsetResponseHeader { offset: i64 = "offset" }
}
header! {
    /// `UpdateConsumerOffsetRequestHeader` (15).
    UpdateConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        commit_offset: i64 = "commitOffset",
    }
}
header! {
    /// `GetConsumerListByGroupRequestHeader` (38).
    GetConsumerListByGroupRequestHeader { consumer_group: String = "consumerGroup" }
}
header! {
    /// `UnregisterClientRequestHeader` (35); the key is `clientID`.
    UnregisterClientRequestHeader {
        client_id: String = "clientID",
        producer_group: Option<String> = "producerGroup",
        consumer_group: Option<String> = "consumerGroup",
    }
}
header! {
    /// `NotifyConsumerIdsChangedRequestHeader` (40, broker to client).
    NotifyConsumerIdsChangedRequestHeader { consumer_group: String = "consumerGroup" }
}
header! {
    /// `GetMaxOffsetRequestHeader` (30).
    GetMaxOffsetRequestHeader { topic: String = "topic", queue_id: i32 = "queueId" }
}
header! {
    /// `GetMaxOffsetResponseHeader`.
    GetMaxOffsetResponseHeader { offset: i64 = "offset" }
}
header! {
    /// `GetMinOffsetRequestHeader` (31).
    GetMinOffsetRequestHeader { topic: String = "topic", queue_id: i32 = "queueId" }
}
header! {
    /// `GetMinOffsetResponseHeader`.
    GetMinOffsetResponseHeader { offset: i64 = "offset" }
}
header! {
    /// `GetEarliestMsgStoretimeRequestHeader` (32).
    GetEarliestMsgStoretimeRequestHeader { topic: String = "topic", queue_id: i32 = "queueId" }
}
header! {
    /// `GetEarliestMsgStoretimeResponseHeader`.
    GetEarliestMsgStoretimeResponseHeader { timestamp: i64 = "timestamp" }
}
header! {
    /// `SearchOffsetRequestHeader` (29).
    SearchOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        timestamp: i64 = "timestamp",
    }
}
header! {
    /// `SearchOffsetResponseHeader`.
    SearchOffsetResponseHeader { offset: i64 = "offset" }
}
header! {
    /// `ConsumerSendMsgBackRequestHeader` (36); `offset` is a commit-log offset.
    ConsumerSendMsgBackRequestHeader {
        offset: i64 = "offset",
        group: String = "group",
        delay_level: i32 = "delayLevel",
        origin_msg_id: Option<String> = "originMsgId",
        origin_topic: Option<String> = "originTopic",
        unit_mode: bool = "unitMode",
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
    }
}
header! {
    /// `ViewMessageRequestHeader` (33): commit-log offset decoded from the offset msgId.
    ViewMessageRequestHeader { offset: i64 = "offset" }
}
header! {
    /// `QueryMessageRequestHeader` (12). The extra key `_UNIQUE_KEY_QUERY` is read with
    /// `RemotingCommand::ext`.
    QueryMessageRequestHeader {
        topic: String = "topic",
        key: String = "key",
        max_num: i32 = "maxNum",
        begin_timestamp: i64 = "beginTimestamp",
        end_timestamp: i64 = "endTimestamp",
    }
}
header! {
    /// `QueryMessageResponseHeader`.
    QueryMessageResponseHeader {
        index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}
