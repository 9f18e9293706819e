//! Per wire type: round trips, every-prefix truncation and exact bytes for headers and bodies.
#[path = "frames/mod.rs"]
mod common;
use common::*;
use ferrocket::codec::body::*;
use ferrocket::codec::command::ExtFields;
use ferrocket::codec::header::*;
use std::collections::BTreeMap;

/// Every key any header uses, set to "1" (a valid string, number and boolean).
fn full_map() -> ExtFields {
    let keys = [
        "producerGroup",
        "topic",
        "defaultTopic",
        "defaultTopicQueueNums",
        "queueId",
        "sysFlag",
        "bornTimestamp",
        "flag",
        "properties",
        "reconsumeTimes",
        "unitMode",
        "maxReconsumeTimes",
        "batch",
        "bname",
        "msgId",
        "queueOffset",
        "transactionId",
        "consumerGroup",
        "maxMsgNums",
        "commitOffset",
        "suspendTimeoutMillis",
        "subscription",
        "subVersion",
        "expressionType",
        "maxMsgBytes",
        "suggestWhichBrokerId",
        "nextBeginOffset",
        "minOffset",
        "maxOffset",
        "offset",
        "clientID",
        "timestamp",
        "group",
        "delayLevel",
        "originMsgId",
        "originTopic",
        "tranStateTableOffset",
        "commitLogOffset",
        "commitOrRollback",
        "fromTransactionCheck",
        "offsetMsgId",
        "acceptStandardJsonOnly",
        "brokerName",
        "brokerAddr",
        "clusterName",
        "haServerAddr",
        "brokerId",
        "compressed",
        "bodyCrc32",
        "masterAddr",
        "namespace",
        "key",
        "value",
        "readQueueNums",
        "writeQueueNums",
        "perm",
        "topicFilterType",
        "topicSysFlag",
        "order",
        "maxNum",
        "beginTimestamp",
        "endTimestamp",
        "indexLastUpdateTimestamp",
        "indexLastUpdatePhyoffset",
        "isForce",
        "groupName",
        "removeOffset",
        "clientId",
        "jstackEnable",
        "changed",
        "wipeTopicCount",
        "addTopicCount",
        "clientAddr",
        "srcGroup",
        "destGroup",
        "offline",
        "version",
        "cluster",
        "a",
        "b",
        "c",
        "d",
        "e",
        "f",
        "g",
        "h",
        "i",
        "j",
        "k",
        "l",
        "m",
        "n",
    ];
    keys.iter()
        .map(|k| (k.to_string(), "1".to_string()))
        .collect()
}

fn check<T: CommandHeader + PartialEq + std::fmt::Debug>(name: &str) {
    let full = T::decode(&full_map()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut ext = ExtFields::default();
    full.encode(&mut ext);
    assert!(!ext.is_empty() || name.is_empty(), "{name}");
    for v in ext.values() {
        assert!(v == "1" || v == "true", "{name}: {v}");
    }
    assert_eq!(T::decode(&ext).unwrap(), full, "{name}");
    // Dropping any written key either fails with MissingField for that key or decodes.
    for k in ext.keys() {
        let mut less = ext.clone();
        less.remove(k);
        if let Err(e) = T::decode(&less) {
            assert!(
                matches!(e, ferrocket::codec::CodecError::MissingField(f) if f == k),
                "{name} {k}"
            );
        }
    }
}

macro_rules! check_all {
    ($($t:ty),* $(,)?) => {$( check::<$t>(stringify!($t)); )*};
}

#[test]
fn every_header_round_trips() {
    common::with_all_headers!(check_all);
    let v2 = SendMessageRequestHeader::decode_v2(&full_map()).unwrap();
    let mut ext = ExtFields::default();
    v2.encode_v2(&mut ext);
    assert_eq!(ext.len(), 14);
    assert_eq!(SendMessageRequestHeader::decode_v2(&ext).unwrap(), v2);
}

/// A JSON body: round trip, exact bytes, and every strict prefix rejected.
fn body_case<T: PartialEq + std::fmt::Debug>(
    v: &T,
    to: impl Fn(&T) -> Vec<u8>,
    from: impl Fn(&[u8]) -> Result<T, ferrocket::codec::CodecError>,
    want: &str,
) {
    let bytes = to(v);
    assert_eq!(String::from_utf8_lossy(&bytes), want);
    assert_eq!(&from(&bytes).unwrap(), v);
    for n in 0..bytes.len() {
        assert!(from(&bytes[..n]).is_err(), "prefix {n} of {want}");
    }
}

#[test]
fn bodies_exact_bytes() {
    let mq = MessageQueue::new("t", "b", 1);
    let sub = SubscriptionData {
        code_set: vec![2598919],
        sub_string: "TagA".into(),
        sub_version: 7,
        tags_set: vec!["TagA".into()],
        topic: "t".into(),
        ..Default::default()
    };
    let hb = HeartbeatData {
        client_id: "c".into(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            group_name: "g".into(),
            message_model: "CLUSTERING".into(),
            subscription_data_set: vec![sub.clone()],
            unit_mode: false,
        }],
        producer_data_set: vec![ProducerData {
            group_name: "p".into(),
        }],
    };
    body_case(
        &hb,
        HeartbeatData::to_json,
        HeartbeatData::from_json,
        r#"{"clientID":"c","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"g","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":7,"tagsSet":["TagA"],"topic":"t"}],"unitMode":false}],"producerDataSet":[{"groupName":"p"}]}"#,
    );
    let ci = ClusterInfo {
        broker_addr_table: BTreeMap::from([(
            "b".to_string(),
            BrokerData {
                broker_addrs: BTreeMap::from([(0, "a:1".to_string())]),
                broker_name: "b".into(),
                cluster: "c".into(),
            },
        )]),
        cluster_addr_table: BTreeMap::from([("c".to_string(), vec!["b".to_string()])]),
    };
    body_case(
        &ci,
        ClusterInfo::to_json,
        ClusterInfo::from_json,
        r#"{"brokerAddrTable":{"b":{"brokerAddrs":{"0":"a:1"},"brokerName":"b","cluster":"c"}},"clusterAddrTable":{"c":["b"]}}"#,
    );
    let lock = LockBatchRequestBody {
        client_id: "c".into(),
        consumer_group: "g".into(),
        mq_set: vec![mq.clone()],
        only_this_broker: true,
    };
    body_case(
        &lock,
        LockBatchRequestBody::to_json,
        LockBatchRequestBody::from_json,
        r#"{"clientId":"c","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":1,"topic":"t"}],"onlyThisBroker":true}"#,
    );
    let unlock = UnlockBatchRequestBody {
        client_id: "c".into(),
        consumer_group: "g".into(),
        mq_set: vec![],
        only_this_broker: false,
    };
    body_case(
        &unlock,
        UnlockBatchRequestBody::to_json,
        UnlockBatchRequestBody::from_json,
        r#"{"clientId":"c","consumerGroup":"g","mqSet":[],"onlyThisBroker":false}"#,
    );
    let tl = TopicList {
        broker_addr: Some("a:1".into()),
        topic_list: vec!["x".into()],
    };
    body_case(
        &tl,
        TopicList::to_json,
        TopicList::from_json,
        r#"{"brokerAddr":"a:1","topicList":["x"]}"#,
    );
    let kv = KvTable {
        table: BTreeMap::from([("k".to_string(), "v".to_string())]),
    };
    body_case(
        &kv,
        KvTable::to_json,
        KvTable::from_json,
        r#"{"table":{"k":"v"}}"#,
    );
    let gl = GroupList {
        group_list: vec!["g".into()],
    };
    body_case(
        &gl,
        GroupList::to_json,
        GroupList::from_json,
        r#"{"groupList":["g"]}"#,
    );
    let conn = Connection {
        client_addr: "1.2.3.4:5".into(),
        client_id: "c".into(),
        language: "JAVA".into(),
        version: 407,
    };
    let pc = ProducerConnection {
        connection_set: vec![conn.clone()],
    };
    body_case(
        &pc,
        ProducerConnection::to_json,
        ProducerConnection::from_json,
        r#"{"connectionSet":[{"clientAddr":"1.2.3.4:5","clientId":"c","language":"JAVA","version":407}]}"#,
    );
    let cc = ConsumerConnection {
        connection_set: vec![conn],
        consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
        consume_type: "CONSUME_ACTIVELY".into(),
        message_model: "BROADCASTING".into(),
        subscription_table: BTreeMap::from([("t".to_string(), sub)]),
    };
    assert_eq!(ConsumerConnection::from_json(&cc.to_json()).unwrap(), cc);
    let sg = SubscriptionGroupWrapper {
        data_version: DataVersion {
            counter: 1,
            timestamp: 2,
        },
        subscription_group_table: BTreeMap::from([(
            "g".to_string(),
            SubscriptionGroupConfigWire {
                group_name: "g".into(),
                ..Default::default()
            },
        )]),
    };
    body_case(
        &sg,
        SubscriptionGroupWrapper::to_json,
        SubscriptionGroupWrapper::from_json,
        r#"{"dataVersion":{"counter":1,"timestamp":2},"subscriptionGroupTable":{"g":{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"groupName":"g","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}}}"#,
    );
    let cs = ConsumeStats {
        offset_table: vec![(
            mq.clone(),
            OffsetWrapper {
                broker_offset: 10,
                consumer_offset: 5,
                last_timestamp: 1,
                pull_offset: 7,
            },
        )],
        consume_tps: 2.25,
    };
    body_case(
        &cs,
        ConsumeStats::to_json,
        ConsumeStats::from_json,
        r#"{"consumeTps":2.25,"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:{"brokerOffset":10,"consumerOffset":5,"lastTimestamp":1,"pullOffset":7}}}"#,
    );
    let ro = ResetOffsetBody {
        offset_table: vec![(mq.clone(), 42)],
    };
    body_case(
        &ro,
        ResetOffsetBody::to_json,
        ResetOffsetBody::from_json,
        r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:42}}"#,
    );
    let ts = TopicStatsTable {
        offset_table: vec![(
            mq,
            TopicOffset {
                last_update_timestamp: 3,
                max_offset: 2,
                min_offset: 1,
            },
        )],
    };
    body_case(
        &ts,
        TopicStatsTable::to_json,
        TopicStatsTable::from_json,
        r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:{"lastUpdateTimestamp":3,"maxOffset":2,"minOffset":1}}}"#,
    );
}

#[test]
fn vector_bodies_reject_every_prefix() {
    for n in [2u32, 5, 7, 24, 43] {
        let body = cmd(n).body;
        for cut in 0..body.len() {
            let b = &body[..cut];
            assert!(
                TopicRouteData::from_json(b).is_err()
                    && HeartbeatData::from_json(b).is_err()
                    && ConsumerListBody::from_json(b).is_err()
                    && RegisterBrokerBody::from_json(b).is_err(),
                "vector {n} prefix {cut}"
            );
        }
    }
}
