//! POP consumption (5.x) headers: POP_MESSAGE, ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME,
//! NOTIFICATION, POLLING_INFO.
use super::header;

header! {
    /// `PopMessageRequestHeader`.
    PopMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        /// -1: any queue of the topic.
        queue_id: i32 = "queueId",
        max_msg_nums: i32 = "maxMsgNums",
        invisible_time: i64 = "invisibleTime",
        poll_time: i64 = "pollTime",
        born_time: i64 = "bornTime",
        init_mode: i32 = "initMode",
        exp_type: Option<String> = "expType",
        exp: Option<String> = "exp",
        order: bool = "order",
        attempt_id: Option<String> = "attemptId",
        bname: Option<String> = "bname",
    }
}

header! {
    /// `PopMessageResponseHeader`: the first four are mandatory for the Java client whenever the
    /// response carries a header at all.
    PopMessageResponseHeader {
        pop_time: i64 = "popTime",
        invisible_time: i64 = "invisibleTime",
        revive_qid: i32 = "reviveQid",
        rest_num: i64 = "restNum",
        start_offset_info: Option<String> = "startOffsetInfo",
        msg_offset_info: Option<String> = "msgOffsetInfo",
        order_count_info: Option<String> = "orderCountInfo",
    }
}

header! {
    /// `AckMessageRequestHeader`.
    AckMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        extra_info: String = "extraInfo",
        offset: i64 = "offset",
        bname: Option<String> = "bname",
    }
}

header! {
    /// `ChangeInvisibleTimeRequestHeader`.
    ChangeInvisibleTimeRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        extra_info: String = "extraInfo",
        offset: i64 = "offset",
        invisible_time: i64 = "invisibleTime",
        bname: Option<String> = "bname",
    }
}

header! {
    /// `ChangeInvisibleTimeResponseHeader`.
    ChangeInvisibleTimeResponseHeader {
        pop_time: i64 = "popTime",
        invisible_time: i64 = "invisibleTime",
        revive_qid: i32 = "reviveQid",
    }
}

header! {
    /// `NotificationRequestHeader`.
    NotificationRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        poll_time: i64 = "pollTime",
        born_time: i64 = "bornTime",
        order: bool = "order",
        attempt_id: Option<String> = "attemptId",
    }
}

header! {
    /// `NotificationResponseHeader`.
    NotificationResponseHeader {
        has_msg: bool = "hasMsg",
        polling_full: bool = "pollingFull",
    }
}

header! {
    /// `PollingInfoRequestHeader`.
    PollingInfoRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
    }
}

header! {
    /// `PollingInfoResponseHeader`.
    PollingInfoResponseHeader {
        polling_num: i32 = "pollingNum",
    }
}
