//! PULL_MESSAGE (11) headers.
use super::header;

header! {
    /// `PullMessageRequestHeader`.
    PullMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        queue_offset: i64 = "queueOffset",
        max_msg_nums: i32 = "maxMsgNums",
        /// Pull flags, see `message::pull_flag`.
        sys_flag: i32 = "sysFlag",
        commit_offset: i64 = "commitOffset",
        suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        subscription: Option<String> = "subscription",
        sub_version: i64 = "subVersion",
        expression_type: Option<String> = "expressionType",
        /// 5.x only.
        max_msg_bytes: Option<i32> = "maxMsgBytes",
        bname: Option<String> = "bname",
    }
}

header! {
    /// `PullMessageResponseHeader`: all four fields are mandatory for the Java client.
    PullMessageResponseHeader {
        suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        next_begin_offset: i64 = "nextBeginOffset",
        min_offset: i64 = "minOffset",
        max_offset: i64 = "maxOffset",
    }
}
