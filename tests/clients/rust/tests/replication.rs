//! Master/slave failover through the rocketmq-rust client (docs/replication.md): a SYNC_MASTER and
//! its slave as two `ferrocket dev` processes on loopback. Every send is SEND_OK (so each message is
//! on the slave); the master is killed with SIGKILL while a slow consumer is part-way through; that
//! consumer carries on from the slave, and a new group reads every message from the slave alone.
#![recursion_limit = "512"]

mod common;

use common::{client_runtime, now_ms, start_broker_with, Broker};
use rocketmq_client_rust::{
    ClientConfig, ClientResult, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQProducer,
    DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::result::SendStatus;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COMMON: &str = "mappedFileSizeCommitLog=65536\nmaxMessageSize=16384\nregisterNameServerPeriod=1000\n\
                      haSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\n";

/// `ferrocket dev` with `conf` as its broker.conf.
async fn start_with_conf(name: &str, conf: &str) -> Broker {
    let dir = std::env::temp_dir().join(format!("ferrocket-rustclient-ha-{name}-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broker.conf");
    std::fs::write(&path, conf).unwrap();
    start_broker_with(&["--config", path.to_str().unwrap()]).await
}

/// Records the bodies it is given; sleeps `delay` per message (a slow application).
struct Collect {
    got: Arc<Mutex<HashSet<String>>>,
    delay: Duration,
}

impl MessageListenerConcurrently for Collect {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            let body = String::from_utf8_lossy(&m.body().map(|b| b.to_vec()).unwrap_or_default()).into_owned();
            if body.starts_with("ha ") {
                self.got.lock().unwrap().insert(body);
            }
            std::thread::sleep(self.delay);
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// A push consumer from the first offset that takes one message at a time (pull batch 1, flow
/// control past 1 cached) and polls the name server every 10 s (the client's minimum).
async fn consumer(
    owner: &RuntimeOwner,
    scope: &'static str,
    namesrv: &str,
    topic: &str,
    delay: Duration,
) -> (DefaultMQPushConsumer, Arc<Mutex<HashSet<String>>>) {
    let mut cfg = ClientConfig::default();
    cfg.set_poll_name_server_interval(10_000);
    let got = Arc::new(Mutex::new(HashSet::new()));
    let mut c = DefaultMQPushConsumer::builder(client_runtime(owner, scope))
        .client_config(cfg)
        .name_server_addr(namesrv.to_string())
        .consumer_group(format!("rust_ha_{scope}_{}", now_ms()))
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .pull_batch_size(1)
        .pull_threshold_for_queue(1)
        .build();
    c.subscribe(topic, "*").await.expect("subscribe");
    c.register_message_listener_concurrently(Collect { got: got.clone(), delay });
    c.start().await.expect("consumer start");
    (c, got)
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ok = done();
    if !ok {
        eprintln!("timed out after {limit:?}: {what}");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_ok_messages_are_consumed_from_the_slave_after_kill_9_of_the_master() {
    // The slave first: its name server serves the clients and outlives the master, which registers there.
    let slave = start_with_conf("slave", &format!("{COMMON}brokerRole=SLAVE\nbrokerId=1\n")).await;
    let mut master =
        start_with_conf("master", &format!("{COMMON}brokerRole=SYNC_MASTER\nnamesrvAddr={}\n", slave.namesrv)).await;
    let logs = |m: &Broker, s: &Broker| format!("\nmaster stderr:\n{}\nslave stderr:\n{}", m.log_tail(), s.log_tail());
    let owner = RuntimeOwner::plan(RuntimeConfig { thread_name: "ferrocket-rust-ha".into(), ..Default::default() })
        .expect("runtime plan")
        .build()
        .expect("runtime");
    let topic = format!("rust_ha_{}", now_ms());
    let mut producer = DefaultMQProducer::builder(client_runtime(&owner, "producer"))
        .producer_group(format!("rust_ha_pg_{}", now_ms()))
        .name_server_addr(slave.namesrv.clone())
        .build();
    producer.start().await.expect("producer start");
    let msg = |body: &str| Message::builder().topic(topic.as_str()).tags("TagA").body_slice(body.as_bytes()).build_unchecked();

    // The topic is created through TBW102 by the first send. A SYNC_MASTER answers
    // SLAVE_NOT_AVAILABLE until the slave follows: probe until a send is SEND_OK.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = producer.send_with_timeout(msg("probe"), 5000).await;
        if matches!(&res, Ok(Some(r)) if r.send_status == SendStatus::SendOk) {
            break;
        }
        assert!(Instant::now() < deadline, "no SEND_OK from the SYNC_MASTER within 60 s: {res:?}{}", logs(&master, &slave));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let (mut a, got_a) = consumer(&owner, "a", &slave.namesrv, &topic, Duration::from_millis(150)).await;
    const N: usize = 60;
    let mut acked = Vec::new();
    for i in 0..N {
        let body = format!("ha {i}");
        let res = producer.send_with_timeout(msg(&body), 5000).await.expect("send").expect("send result");
        assert_eq!(res.send_status, SendStatus::SendOk, "send {i}{}", logs(&master, &slave));
        acked.push(body);
    }
    producer.shutdown().await;
    master.kill().await;
    let before_kill = got_a.lock().unwrap().len();

    let missing = |got: &Arc<Mutex<HashSet<String>>>| {
        let g = got.lock().unwrap();
        acked.iter().filter(|b| !g.contains(*b)).cloned().collect::<Vec<_>>()
    };
    let done = wait_for("consumer a", Duration::from_secs(120), || missing(&got_a).is_empty()).await;
    assert!(
        done,
        "the consumer reading from the master did not finish from the slave: {before_kill} at the kill, missing {:?}{}",
        &missing(&got_a)[..missing(&got_a).len().min(10)],
        logs(&master, &slave)
    );
    assert!(before_kill < N, "the consumer had every message before the kill: nothing was read from the slave");

    // A group that starts after the master is gone reads everything from the slave.
    let (mut b, got_b) = consumer(&owner, "b", &slave.namesrv, &topic, Duration::ZERO).await;
    let done = wait_for("consumer b", Duration::from_secs(90), || missing(&got_b).is_empty()).await;
    assert!(done, "a new group missed {:?} on the slave{}", &missing(&got_b)[..missing(&got_b).len().min(10)], logs(&master, &slave));

    a.shutdown().await;
    b.shutdown().await;
    drop(master);
    drop(slave);
}
