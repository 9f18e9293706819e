//! Transaction headers: END_TRANSACTION (37) and CHECK_TRANSACTION_STATE (39).
use super::header;

header! {
    /// `EndTransactionRequestHeader`; `commitOrRollback` is 0 (not a transaction / unknown),
    /// 8 (commit) or 12 (rollback).
    EndTransactionRequestHeader {
        producer_group: String = "producerGroup",
        tran_state_table_offset: i64 = "tranStateTableOffset",
        commit_log_offset: i64 = "commitLogOffset",
        commit_or_rollback: i32 = "commitOrRollback",
        from_transaction_check: bool = "fromTransactionCheck",
        msg_id: String = "msgId",
        transaction_id: Option<String> = "transactionId",
    }
}
header! {
    /// `CheckTransactionStateRequestHeader` (broker to producer).
    CheckTransactionStateRequestHeader {
        tran_state_table_offset: i64 = "tranStateTableOffset",
        commit_log_offset: i64 = "commitLogOffset",
        msg_id: Option<String> = "msgId",
        transaction_id: Option<String> = "transactionId",
        offset_msg_id: Option<String> = "offsetMsgId",
    }
}
