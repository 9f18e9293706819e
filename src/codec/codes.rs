//! Request codes (an enum with an explicit unknown arm) and response codes (constants named as in
//! Java's `RemotingSysResponseCode` and `ResponseCode`). Numbers from 4.9.7 and 5.3.3; see
//! `docs/protocol/codes.md`.

macro_rules! request_codes {
    ($($(#[$m:meta])* $name:ident = $num:literal,)*) => {
        /// A remoting request code. Codes ferrocket does not know map to [`RequestCode::Unknown`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RequestCode {
            $($(#[$m])* $name,)*
            /// Any number not listed above, kept as received.
            Unknown(i32),
        }

        impl RequestCode {
            /// The code for a number (never fails: unlisted numbers become `Unknown`).
            pub fn from_i32(code: i32) -> RequestCode {
                match code {
                    $($num => RequestCode::$name,)*
                    other => RequestCode::Unknown(other),
                }
            }

            /// The number on the wire.
            pub fn as_i32(self) -> i32 {
                match self {
                    $(RequestCode::$name => $num,)*
                    RequestCode::Unknown(n) => n,
                }
            }

            /// Every named code (for tests and documentation).
            pub const ALL: &'static [RequestCode] = &[$(RequestCode::$name,)*];
        }
    };
}

request_codes! {
    SendMessage = 10,
    PullMessage = 11,
    QueryMessage = 12,
    QueryBrokerOffset = 13,
    QueryConsumerOffset = 14,
    UpdateConsumerOffset = 15,
    UpdateAndCreateTopic = 17,
    UpdateAndCreateTopicList = 18,
    GetAllTopicConfig = 21,
    GetTopicConfigList = 22,
    GetTopicNameList = 23,
    UpdateBrokerConfig = 25,
    GetBrokerConfig = 26,
    TriggerDeleteFiles = 27,
    GetBrokerRuntimeInfo = 28,
    SearchOffsetByTimestamp = 29,
    GetMaxOffset = 30,
    GetMinOffset = 31,
    GetEarliestMsgStoretime = 32,
    ViewMessageById = 33,
    HeartBeat = 34,
    UnregisterClient = 35,
    ConsumerSendMsgBack = 36,
    EndTransaction = 37,
    GetConsumerListByGroup = 38,
    CheckTransactionState = 39,
    NotifyConsumerIdsChanged = 40,
    LockBatchMq = 41,
    UnlockBatchMq = 42,
    GetAllConsumerOffset = 43,
    GetAllDelayOffset = 45,
    CheckClientConfig = 46,
    GetClientConfig = 47,
    UpdateAndCreateAclConfig = 50,
    DeleteAclConfig = 51,
    GetBrokerClusterAclInfo = 52,
    UpdateGlobalWhiteAddrsConfig = 53,
    GetBrokerClusterAclConfig = 54,
    GetTimerCheckPoint = 60,
    GetTimerMetrics = 61,
    PutKvConfig = 100,
    GetKvConfig = 101,
    DeleteKvConfig = 102,
    RegisterBroker = 103,
    UnregisterBroker = 104,
    GetRouteinfoByTopic = 105,
    GetBrokerClusterInfo = 106,
    UpdateAndCreateSubscriptiongroup = 200,
    GetAllSubscriptiongroupConfig = 201,
    GetTopicStatsInfo = 202,
    GetConsumerConnectionList = 203,
    GetProducerConnectionList = 204,
    WipeWritePermOfBroker = 205,
    GetAllTopicListFromNameserver = 206,
    DeleteSubscriptiongroup = 207,
    GetConsumeStats = 208,
    SuspendConsumer = 209,
    ResumeConsumer = 210,
    ResetConsumerOffsetInConsumer = 211,
    ResetConsumerOffsetInBroker = 212,
    AdjustConsumerThreadPool = 213,
    WhoConsumeTheMessage = 214,
    DeleteTopicInBroker = 215,
    DeleteTopicInNamesrv = 216,
    RegisterTopicInNamesrv = 217,
    GetKvlistByNamespace = 219,
    ResetConsumerClientOffset = 220,
    GetConsumerStatusFromClient = 221,
    InvokeBrokerToResetOffset = 222,
    InvokeBrokerToGetConsumerStatus = 223,
    GetTopicsByCluster = 224,
    UpdateAndCreateSubscriptiongroupList = 225,
    QueryTopicConsumeByWho = 300,
    RegisterFilterServer = 301,
    RegisterMessageFilterClass = 302,
    QueryConsumeTimeSpan = 303,
    GetSystemTopicListFromNs = 304,
    GetSystemTopicListFromBroker = 305,
    CleanExpiredConsumequeue = 306,
    GetConsumerRunningInfo = 307,
    QueryCorrectionOffset = 308,
    ConsumeMessageDirectly = 309,
    SendMessageV2 = 310,
    GetUnitTopicList = 311,
    GetHasUnitSubTopicList = 312,
    GetHasUnitSubUnunitTopicList = 313,
    CloneGroupOffset = 314,
    ViewBrokerStatsData = 315,
    CleanUnusedTopic = 316,
    GetBrokerConsumeStats = 317,
    UpdateNamesrvConfig = 318,
    GetNamesrvConfig = 319,
    SendBatchMessage = 320,
    QueryConsumeQueue = 321,
    QueryDataVersion = 322,
    ResumeCheckHalfMessage = 323,
    SendReplyMessage = 324,
    SendReplyMessageV2 = 325,
    PushReplyMessageToClient = 326,
    AddWritePermOfBroker = 327,
    GetAllProducerInfo = 328,
    DeleteExpiredCommitlog = 329,
    QueryTopicsByConsumer = 343,
    QuerySubscriptionByConsumer = 345,
    GetTopicConfig = 351,
    GetSubscriptiongroupConfig = 352,
    UpdateAndGetGroupForbidden = 353,
    CheckRocksdbCqWriteProgress = 354,
    ExportRocksdbConfigToJson = 355,
    LitePullMessage = 361,
    RecallMessage = 370,
    QueryAssignment = 400,
    SetMessageRequestMode = 401,
    GetAllMessageRequestMode = 402,
    UpdateAndCreateStaticTopic = 513,
    GetBrokerMemberGroup = 901,
    AddBroker = 902,
    RemoveBroker = 903,
    BrokerHeartbeat = 904,
    NotifyMinBrokerIdChange = 905,
    ExchangeBrokerHaInfo = 906,
    GetBrokerHaStatus = 907,
    ResetMasterFlushOffset = 908,
    ControllerAlterSyncStateSet = 1001,
    ControllerElectMaster = 1002,
    ControllerRegisterBroker = 1003,
    ControllerGetReplicaInfo = 1004,
    ControllerGetMetadataInfo = 1005,
    ControllerGetSyncStateData = 1006,
    GetBrokerEpochCache = 1007,
    NotifyBrokerRoleChanged = 1008,
    UpdateControllerConfig = 1009,
    GetControllerConfig = 1010,
    CleanBrokerData = 1011,
    ControllerGetNextBrokerId = 1012,
    ControllerApplyBrokerId = 1013,
    /// 1014-1018: internal events of the 5.x controller's Raft state machine, never on a client
    /// connection.
    BrokerCloseChannelRequest = 1014,
    CheckNotActiveBrokerRequest = 1015,
    GetBrokerLiveInfoRequest = 1016,
    GetSyncStateDataRequest = 1017,
    RaftBrokerHeartBeatEventRequest = 1018,
    UpdateColdDataFlowCtrConfig = 2001,
    RemoveColdDataFlowCtrConfig = 2002,
    GetColdDataFlowCtrInfo = 2003,
    SetCommitlogReadMode = 2004,
    AuthCreateUser = 3001,
    AuthUpdateUser = 3002,
    AuthDeleteUser = 3003,
    AuthGetUser = 3004,
    AuthListUser = 3005,
    AuthCreateAcl = 3006,
    AuthUpdateAcl = 3007,
    AuthDeleteAcl = 3008,
    AuthGetAcl = 3009,
    AuthListAcl = 3010,
    PopMessage = 200050,
    AckMessage = 200051,
    PeekMessage = 200052,
    ChangeMessageInvisibletime = 200053,
    Notification = 200054,
    PollingInfo = 200055,
    PopRollback = 200056,
    BatchAckMessage = 200151,
}

impl From<i32> for RequestCode {
    fn from(code: i32) -> Self {
        RequestCode::from_i32(code)
    }
}

/// Response codes, named exactly as in Java (`RemotingSysResponseCode` 0-4, `ResponseCode` the rest).
/// 209-211 carry different meanings in 4.9 and 5.x; both names are given.
pub mod response_code {
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const SYSTEM_BUSY: i32 = 2;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const TRANSACTION_FAILED: i32 = 4;
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    pub const MESSAGE_ILLEGAL: i32 = 13;
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    pub const NO_PERMISSION: i32 = 16;
    pub const TOPIC_NOT_EXIST: i32 = 17;
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    pub const PULL_NOT_FOUND: i32 = 19;
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    pub const PULL_OFFSET_MOVED: i32 = 21;
    pub const QUERY_NOT_FOUND: i32 = 22;
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    pub const FILTER_DATA_NOT_EXIST: i32 = 27;
    pub const FILTER_DATA_NOT_LATEST: i32 = 28;
    /// 5.x only.
    pub const INVALID_PARAMETER: i32 = 29;
    pub const TRANSACTION_SHOULD_COMMIT: i32 = 200;
    pub const TRANSACTION_SHOULD_ROLLBACK: i32 = 201;
    pub const TRANSACTION_STATE_UNKNOW: i32 = 202;
    pub const TRANSACTION_STATE_GROUP_WRONG: i32 = 203;
    pub const NO_BUYER_ID: i32 = 204;
    pub const NOT_IN_CURRENT_UNIT: i32 = 205;
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    pub const CONSUME_MSG_TIMEOUT: i32 = 207;
    pub const NO_MESSAGE: i32 = 208;
    /// 4.9 meaning of 209.
    pub const UPDATE_AND_CREATE_ACL_CONFIG_FAILED: i32 = 209;
    /// 4.9 meaning of 210.
    pub const DELETE_ACL_CONFIG_FAILED: i32 = 210;
    /// 4.9 meaning of 211.
    pub const UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED: i32 = 211;
    /// 5.x meaning of 209.
    pub const POLLING_FULL: i32 = 209;
    /// 5.x meaning of 210.
    pub const POLLING_TIMEOUT: i32 = 210;
    /// 5.x meaning of 211.
    pub const BROKER_NOT_EXIST: i32 = 211;
    pub const BROKER_DISPATCH_NOT_COMPLETE: i32 = 212;
    pub const BROADCAST_CONSUMPTION: i32 = 213;
    pub const FLOW_CONTROL: i32 = 215;
    pub const NOT_LEADER_FOR_QUEUE: i32 = 501;
    pub const ILLEGAL_OPERATION: i32 = 604;
    pub const GO_AWAY: i32 = 1500;
    pub const CONTROLLER_FENCED_MASTER_EPOCH: i32 = 2000;
    pub const CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH: i32 = 2001;
    pub const CONTROLLER_INVALID_MASTER: i32 = 2002;
    pub const CONTROLLER_INVALID_REPLICAS: i32 = 2003;
    pub const CONTROLLER_MASTER_NOT_AVAILABLE: i32 = 2004;
    pub const CONTROLLER_INVALID_REQUEST: i32 = 2005;
    pub const CONTROLLER_BROKER_NOT_ALIVE: i32 = 2006;
    pub const CONTROLLER_NOT_LEADER: i32 = 2007;
    pub const CONTROLLER_BROKER_METADATA_NOT_EXIST: i32 = 2008;
    pub const CONTROLLER_INVALID_CLEAN_BROKER_METADATA: i32 = 2009;
    pub const CONTROLLER_BROKER_NEED_TO_BE_REGISTERED: i32 = 2010;
    pub const CONTROLLER_MASTER_STILL_EXIST: i32 = 2011;
    pub const CONTROLLER_ELECT_MASTER_FAILED: i32 = 2012;
    pub const CONTROLLER_ALTER_SYNC_STATE_SET_FAILED: i32 = 2013;
    pub const CONTROLLER_BROKER_ID_INVALID: i32 = 2014;
    pub const CONTROLLER_JRAFT_INTERNAL_ERROR: i32 = 2015;
    pub const CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS: i32 = 2016;
    pub const USER_NOT_EXIST: i32 = 3001;
    /// 5.x client-internal codes; never on the wire.
    pub const RPC_UNKNOWN: i32 = -1000;
    pub const RPC_ADDR_IS_NULL: i32 = -1002;
    pub const RPC_SEND_TO_CHANNEL_FAILED: i32 = -1004;
    pub const RPC_TIME_OUT: i32 = -1006;
    pub const POLICY_NOT_EXIST: i32 = 3002;
}

impl crate::codec::command::RemotingCommand {
    /// The request code of a request (meaningless on a response, whose `code` is a response code).
    pub fn request_code(&self) -> RequestCode {
        RequestCode::from_i32(self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in RequestCode::ALL {
            assert_eq!(RequestCode::from_i32(c.as_i32()), *c);
        }
        assert_eq!(RequestCode::from_i32(310), RequestCode::SendMessageV2);
        assert_eq!(RequestCode::from_i32(999), RequestCode::Unknown(999));
        assert_eq!(RequestCode::Unknown(999).as_i32(), 999);
        assert_eq!(response_code::PULL_OFFSET_MOVED, 21);
    }
}
