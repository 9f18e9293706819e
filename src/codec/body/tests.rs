use super::*;

#[test]
fn cpp_heartbeat() {
    let raw = br#"{"clientID":"1.2.3.4@x","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"g","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1700000000000","topic":"t"}]}],"producerDataSet":[]}
"#;
    let h = HeartbeatData::from_json(raw).unwrap();
    let c = &h.consumer_data_set[0];
    assert_eq!(c.consume_from_where, "CONSUME_FROM_LAST_OFFSET");
    assert_eq!(c.consume_type, "CONSUME_PASSIVELY");
    assert_eq!(c.message_model, "CLUSTERING");
    assert!(!c.unit_mode);
    let s = &c.subscription_data_set[0];
    assert_eq!(s.sub_version, 1_700_000_000_000);
    assert_eq!(s.expression_type, "TAG");
    assert!(s.tags_set.is_empty());
}

#[test]
fn cluster_info_fastjson_form() {
    let raw = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
    let c = ClusterInfo::from_json(raw).unwrap();
    assert_eq!(
        c.broker_addr_table["broker-a"].broker_addrs[&1],
        "127.0.0.2:10911"
    );
    let back = ClusterInfo::from_json(&c.to_json()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn consume_stats_fastjson_form() {
    // 4.x form (no pullOffset) reads; 5.x form (with it) reads and writes back the same.
    let v4 = br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"t"}:{"brokerOffset":10,"consumerOffset":5,"lastTimestamp":1700000000000}}}"#;
    let s = ConsumeStats::from_json(v4).unwrap();
    assert_eq!(s.consume_tps, 1.5);
    assert_eq!(s.offset_table[0].0, MessageQueue::new("t", "broker-a", 0));
    assert_eq!(s.offset_table[0].1.pull_offset, 0);
    let want = br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"t"}:{"brokerOffset":10,"consumerOffset":5,"lastTimestamp":1700000000000,"pullOffset":8}}}"#;
    let s = ConsumeStats::from_json(want).unwrap();
    assert_eq!(s.offset_table[0].1.pull_offset, 8);
    assert_eq!(s.to_json(), want.to_vec());
    let zero = ConsumeStats::default().to_json();
    assert_eq!(zero, br#"{"consumeTps":0.0,"offsetTable":{}}"#.to_vec());
}

#[test]
fn reset_offset_both_forms() {
    let want = br#"{"offsetTable":{{"brokerName":"broker-a","queueId":3,"topic":"t"}:42}}"#;
    let b = ResetOffsetBody::from_json(want).unwrap();
    assert_eq!(
        b.offset_table,
        vec![(MessageQueue::new("t", "broker-a", 3), 42)]
    );
    assert_eq!(b.to_json(), want.to_vec());
    let cpp = b.to_json_cpp();
    assert_eq!(ResetOffsetBody::from_json(&cpp).unwrap(), b);
    let stats = TopicStatsTable {
        offset_table: vec![(
            MessageQueue::new("t", "b", 1),
            TopicOffset {
                last_update_timestamp: 5,
                max_offset: 9,
                min_offset: 1,
            },
        )],
    };
    assert_eq!(TopicStatsTable::from_json(&stats.to_json()).unwrap(), stats);
}

#[test]
fn lock_bodies_and_defaults() {
    let raw = br#"{"clientId":"c","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":"1","topic":"t"}]}"#;
    let l = LockBatchRequestBody::from_json(raw).unwrap();
    assert!(!l.only_this_broker);
    assert_eq!(l.mq_set[0].queue_id, 1);
    let resp = LockBatchResponseBody {
        lock_ok_mq_set: l.mq_set.clone(),
    };
    assert_eq!(
        resp.to_json(),
        br#"{"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"t"}]}"#.to_vec()
    );
    let g = SubscriptionGroupConfigWire::from_json(br#"{"groupName":"g"}"#).unwrap();
    assert_eq!(g.retry_max_times, 16);
    assert!(g.consume_enable);
    let t = TopicList {
        topic_list: vec!["a".into()],
        broker_addr: None,
    };
    assert_eq!(t.to_json(), br#"{"topicList":["a"]}"#.to_vec());
}

#[test]
fn message_queue_orders_like_java() {
    let mut v = [
        MessageQueue::new("b", "a", 0),
        MessageQueue::new("a", "z", 2),
        MessageQueue::new("a", "z", 1),
    ];
    v.sort();
    assert_eq!(v[0], MessageQueue::new("a", "z", 1));
    assert_eq!(v[2].topic, "b");
}

#[test]
fn rejects_wrong_shapes() {
    assert!(HeartbeatData::from_json(b"5").is_err());
    assert!(HeartbeatData::from_json(br#"{"consumerDataSet":5}"#).is_err());
    assert!(ConsumeStats::from_json(br#"{"offsetTable":{"x":1}}"#).is_err());
    assert!(ConsumerListBody::from_json(br#"{"consumerIdList":[{}]}"#).is_err());
}
