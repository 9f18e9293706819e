//! `ferrocket admin <command>` against a running broker: every command, text and `--json`
//! output, and non-zero exits carrying the broker's remark.
mod admin_support;
mod common;

use admin_support::{admin_err, admin_json, admin_ok, create_topic, eventually, wait_route};
use common::{assert_code, send_ok, unique, DevBroker, T};
use ferrocket::client::codes;
use ferrocket::client::req::{self, ConsumerSpec, Msg};
use serde_json::Value;
use std::time::Duration;

/// (cluster name, broker name) from `clusterList --json`.
fn identity(b: &DevBroker) -> (String, String) {
    let v = admin_json(b, &["clusterList"]);
    let row = v.as_array().and_then(|a| a.first()).cloned().expect("one broker");
    assert_eq!(row["addr"], b.broker.to_string());
    (row["cluster"].as_str().unwrap().to_string(), row["brokerName"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn cluster_topic_list_route_and_status() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("cli_t");
    create_topic(&b, &c, &topic, 2).await;
    send_ok(&c, &Msg::new(&topic, "a"), 1).await;
    let (cluster, broker) = identity(&b);
    let text = admin_ok(&b, &["clusterList"]);
    assert!(text.contains("#Cluster Name") && text.contains(&broker), "{text}");
    let list = admin_json(&b, &["topicList"]);
    assert!(list.as_array().unwrap().iter().any(|t| t == &Value::from(topic.clone())));
    assert!(admin_ok(&b, &["topicList"]).lines().any(|l| l == topic));
    let by_cluster = admin_json(&b, &["topicList", "-c"]);
    assert!(by_cluster.as_array().unwrap().iter().any(|r| r["topic"] == topic.as_str() && r["cluster"] == cluster.as_str()));
    let route = admin_json(&b, &["topicRoute", "-t", &topic]);
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 2);
    assert!(admin_ok(&b, &["topicRoute", "-t", &topic]).contains(&b.broker.to_string()));
    let status = admin_json(&b, &["topicStatus", "-t", &topic]);
    let q1 = status.as_array().unwrap().iter().find(|q| q["queueId"] == 1).unwrap().clone();
    assert_eq!((q1["minOffset"].as_i64(), q1["maxOffset"].as_i64()), (Some(0), Some(1)));
    assert!(admin_ok(&b, &["topicStatus", "-t", &topic]).contains("#Max Offset"));
}

#[tokio::test]
async fn update_and_delete_topic_and_groups() {
    let b = DevBroker::start();
    let (cluster, _) = identity(&b);
    let topic = unique("cli_u");
    admin_ok(&b, &["updateTopic", "-c", &cluster, "-t", &topic, "-r", "3", "-w", "3"]);
    let route = wait_route(&b, &topic).await;
    assert_eq!(route.queue_datas[0].write_queue_nums, 3);
    admin_ok(&b, &["updateTopic", "-b", &b.broker.to_string(), "-t", &topic, "-r", "5", "-w", "5", "-p", "6"]);
    let (bref, tref) = (&b, &topic);
    eventually(T, "route with 5 queues", move || async move {
        (wait_route(bref, tref).await.queue_datas[0].write_queue_nums == 5).then_some(())
    })
    .await;
    admin_ok(&b, &["deleteTopic", "-t", &topic, "-c", &cluster]);
    let ns = b.namesrv_client().await;
    let r = ns.request(req::route(&topic), T).await.unwrap();
    assert_code(&r, codes::TOPIC_NOT_EXIST);

    let group = unique("cli_g");
    admin_ok(&b, &["updateSubGroup", "-c", &cluster, "-g", &group, "-r", "5", "-q", "2"]);
    let c = b.client().await;
    let r = c.request(admin_support::cmd(201), T).await.unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["subscriptionGroupTable"][&group]["retryMaxTimes"], 5);
    assert_eq!(v["subscriptionGroupTable"][&group]["retryQueueNums"], 2);
    admin_ok(&b, &["deleteSubGroup", "-c", &cluster, "-g", &group, "-r", "true"]);
    let r = c.request(admin_support::cmd(201), T).await.unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["subscriptionGroupTable"].get(&group).is_none());
}

#[tokio::test]
async fn send_query_and_consume_messages() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("cli_m");
    create_topic(&b, &c, &topic, 2).await;
    let (_, broker) = identity(&b);
    let sent = admin_json(&b, &["sendMessage", "-t", &topic, "-p", "hello admin", "-k", "key-1", "-c", "tagA", "-i", "1"]);
    assert_eq!(sent["sendStatus"], "SEND_OK");
    assert_eq!(sent["queueId"], 1);
    let uniq = sent["msgId"].as_str().unwrap().to_string();
    let offset_id = sent["offsetMsgId"].as_str().unwrap().to_string();
    assert!(admin_ok(&b, &["sendMessage", "-t", &topic, "-p", "second", "-i", "1"]).contains("SEND_OK"));

    let (bref, tref) = (&b, &topic);
    let by_key = eventually(T, "queryMsgByKey", move || async move {
        let out = admin_support::admin(bref, &["--json", "queryMsgByKey", "-t", tref, "-k", "key-1"]);
        out.status.success().then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap())
    })
    .await;
    assert_eq!(by_key[0]["body"], "hello admin");
    assert_eq!(by_key[0]["tags"], "tagA");
    assert!(admin_ok(&b, &["queryMsgByKey", "-t", &topic, "-k", "key-1"]).contains(&uniq));

    let by_id = admin_json(&b, &["queryMsgById", "-i", &offset_id]);
    assert_eq!(by_id[0]["body"], "hello admin");
    assert_eq!(by_id[0]["msgId"], uniq.as_str());
    let by_uniq = admin_json(&b, &["queryMsgById", "-i", &uniq, "-t", &topic]);
    assert_eq!(by_uniq[0]["offsetMsgId"], offset_id.as_str());
    assert!(admin_ok(&b, &["queryMsgById", "-i", &offset_id]).contains("hello admin"));

    let at = admin_json(&b, &["queryMsgByOffset", "-t", &topic, "-b", &broker, "-i", "1", "-o", "1"]);
    assert_eq!(at[0]["body"], "second");
    admin_err(&b, &["queryMsgByOffset", "-t", &topic, "-b", &broker, "-i", "1", "-o", "7"]);

    let consumed = admin_json(&b, &["consumeMessage", "-t", &topic]);
    let bodies: Vec<&str> = consumed.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, vec!["hello admin", "second"]);
    let one = admin_json(&b, &["consumeMessage", "-t", &topic, "-b", &broker, "-i", "1", "-o", "1", "-c", "1"]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert!(admin_ok(&b, &["consumeMessage", "-t", &topic]).contains("Consumed 2 message(s)."));
}

#[tokio::test]
async fn consumer_progress_connections_and_reset() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("cli_c");
    let group = unique("cli_cg");
    create_topic(&b, &c, &topic, 1).await;
    let member = b.client().await;
    let hb = req::heartbeat("10.2.2.2@cli", &["cli_pg"], &[ConsumerSpec::push(&group, &topic, "*")]);
    assert_code(&member.request(hb, T).await.unwrap(), codes::SUCCESS);
    wait_route(&b, &format!("%RETRY%{group}")).await;
    for i in 0..3 {
        send_ok(&c, &Msg::new(&topic, format!("early{i}")), 0).await;
    }
    // SEARCH_OFFSET_BY_TIMESTAMP answers the *nearest* message (Java's rule): keep the later
    // messages much closer to `ts` than the earlier ones.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ts = req::now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for i in 0..2 {
        send_ok(&c, &Msg::new(&topic, format!("late{i}")), 0).await;
    }
    c.request(req::update_offset(&group, &topic, 0, 4), T).await.unwrap();

    let p = admin_json(&b, &["consumerProgress", "-g", &group]);
    assert_eq!(p["diffTotal"], 1);
    let q = p["queues"].as_array().unwrap().iter().find(|q| q["topic"] == topic.as_str()).unwrap().clone();
    assert_eq!((q["brokerOffset"].as_i64(), q["consumerOffset"].as_i64()), (Some(5), Some(4)));
    assert!(admin_ok(&b, &["consumerProgress", "-g", &group]).contains("Diff Total: 1"));
    let all = admin_json(&b, &["consumerProgress"]);
    assert!(all.as_array().unwrap().iter().any(|g| g["group"] == group.as_str()));

    let conn = admin_json(&b, &["consumerConnection", "-g", &group]);
    assert_eq!(conn["connectionSet"][0]["clientId"], "10.2.2.2@cli");
    assert!(admin_ok(&b, &["consumerConnection", "-g", &group]).contains("CONSUME_PASSIVELY"));
    let err = admin_err(&b, &["consumerConnection", "-g", &unique("nobody"), "-b", &b.broker.to_string()]);
    assert!(err.contains("206") || err.contains("not online"), "{err}");
    let pc = admin_json(&b, &["producerConnection", "-g", "cli_pg", "-t", &topic]);
    assert_eq!(pc["connectionSet"][0]["clientId"], "10.2.2.2@cli");

    let ts_s = ts.to_string();
    let reset = admin_json(&b, &["resetOffsetByTime", "-g", &group, "-t", &topic, "-s", &ts_s]);
    assert_eq!(reset["queues"][0]["offset"], 3);
    let r = c.request(req::query_offset(&group, &topic, 0), T).await.unwrap();
    assert_eq!(req::ext_i64(&r, "offset"), Some(3));
    let text = admin_ok(&b, &["resetOffsetByTime", "-g", &group, "-t", &topic, "-s", "now"]);
    assert!(text.contains("#brokerName"), "{text}");
    let r = c.request(req::query_offset(&group, &topic, 0), T).await.unwrap();
    assert_eq!(req::ext_i64(&r, "offset"), Some(5));
    drop(member);
}

#[tokio::test]
async fn broker_status_and_config_commands() {
    let b = DevBroker::start();
    let addr = b.broker.to_string();
    let st = admin_json(&b, &["brokerStatus", "-b", &addr]);
    assert_eq!(st["brokerVersionDesc"], "V4_9_7");
    assert!(admin_ok(&b, &["brokerStatus", "-b", &addr]).contains("commitLogMaxOffset"));
    let (cluster, _) = identity(&b);
    admin_ok(&b, &["brokerStatus", "-c", &cluster]);
    let cfg = admin_json(&b, &["getBrokerConfig", "-b", &addr]);
    assert!(cfg["maxMessageSize"].is_string());
    admin_ok(&b, &["updateBrokerConfig", "-b", &addr, "-k", "maxMessageSize", "-v", "2000000"]);
    let cfg = admin_json(&b, &["getBrokerConfig", "-c", &cluster]);
    assert_eq!(cfg["maxMessageSize"], "2000000");
    assert!(admin_ok(&b, &["getBrokerConfig", "-b", &addr]).contains("maxMessageSize"));
    let err = admin_err(&b, &["updateBrokerConfig", "-b", &addr, "-k", "listenPort", "-v", "1"]);
    assert!(err.contains("listenPort") && err.contains("16"), "{err}");
}

#[tokio::test]
async fn failures_exit_non_zero_with_the_remark() {
    let b = DevBroker::start();
    let err = admin_err(&b, &["topicRoute", "-t", &unique("missing")]);
    assert!(err.contains("No topic route info"), "{err}");
    let err = admin_err(&b, &["topicStatus"]);
    assert!(err.contains("--topic"), "clap usage error: {err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocket"))
        .args(["admin", "-n", "127.0.0.1:1", "clusterList"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}

#[tokio::test]
async fn set_consume_mode_and_pop_progress() {
    use ferrocket::client::pop::{self as pop, Pop};
    let b = DevBroker::start();
    let (cluster, _) = identity(&b);
    let c = b.client().await;
    let topic = unique("cli_pop");
    for i in 0..6 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 0).await;
    }
    let group = unique("cli_popg");
    let out = admin_ok(&b, &["setConsumeMode", "-c", &cluster, "-t", &topic, "-g", &group, "-m", "POP"]);
    assert!(out.contains("success"), "{out}");
    admin_err(&b, &["setConsumeMode", "-c", &cluster, "-t", &topic, "-g", &group, "-m", "PUSH"]);
    // Pop 4 of 6 and ack 1: 3 in flight.
    let r = c.request(Pop::new(&group, &topic).queue(0).max(4).build(), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let got = pop::read_pop(&r, &group, &topic, "broker-a").unwrap();
    assert_eq!(got.len(), 4);
    assert_code(&c.request(pop::ack(&group, &got[0]), T).await.unwrap(), codes::SUCCESS);
    let v = eventually(Duration::from_secs(10), "3 in flight", || {
        let v = admin_json(&b, &["consumerProgress", "-g", &group]);
        async move { (v["inflightTotal"] == 3).then_some(v) }
    })
    .await;
    assert_eq!(v["requestModes"][&topic], "POP");
    let row = v["queues"].as_array().unwrap().iter().find(|q| q["topic"] == topic.as_str()).unwrap().clone();
    assert_eq!((row["brokerOffset"].as_i64(), row["consumerOffset"].as_i64(), row["inflight"].as_i64()), (Some(6), Some(1), Some(3)));
    let text = admin_ok(&b, &["consumerProgress", "-g", &group]);
    assert!(text.contains(&format!("Request Mode: {topic} POP")), "{text}");
    assert!(text.contains("Consume Inflight Total: 3"), "{text}");
}
