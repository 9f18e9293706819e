//! The broker's send checks (`docs/protocol/send.md` §2): what a client sees for invalid sends.
mod common;

use common::{assert_code, send_ok, sent, unique, DevBroker, T};
use ferrocket::client::codes;
use ferrocket::client::req::{self, Msg};

#[tokio::test]
async fn illegal_topic_names_are_rejected() {
    let b = DevBroker::start();
    let c = b.client().await;
    for topic in ["bad topic", "bad/topic", &"t".repeat(128)] {
        let resp = c.request(req::send_v2("pg", &Msg::new(topic, "x"), 0), T).await.unwrap();
        assert_ne!(resp.code, codes::SUCCESS, "topic {topic:?} accepted");
        assert!(resp.remark.is_some(), "no remark for topic {topic:?}: {resp:?}");
    }
    // The connection still works.
    send_ok(&c, &Msg::new(&unique("ok"), "x"), 0).await;
}

#[tokio::test]
async fn send_forbidden_system_topics_get_no_permission() {
    let b = DevBroker::start();
    let c = b.client().await;
    for topic in ["SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC"] {
        let resp = c.request(req::send_v2("pg", &Msg::new(topic, "x"), 0), T).await.unwrap();
        assert_code(&resp, 16);
    }
}

#[tokio::test]
async fn queue_id_out_of_range_is_rejected_and_negative_lets_the_broker_pick() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("qid");
    send_ok(&c, &Msg::new(&topic, "create"), 0).await;
    let resp = c.request(req::send_v2("pg", &Msg::new(&topic, "x"), 9), T).await.unwrap();
    assert_code(&resp, codes::SYSTEM_ERROR);
    let resp = c.request(req::send_v2("pg", &Msg::new(&topic, "x"), -1), T).await.unwrap();
    let s = sent(&resp);
    assert!((0..4).contains(&s.queue_id), "broker picked queue {}", s.queue_id);
}

#[tokio::test]
async fn oversized_body_is_message_illegal() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("big");
    send_ok(&c, &Msg::new(&topic, "create"), 0).await;
    let body = vec![b'x'; 4 * 1024 * 1024 + 1];
    let resp = c.request(req::send_v2("pg", &Msg::new(&topic, body), 0), T).await.unwrap();
    assert_code(&resp, 13);
    // A body of 4 MiB minus a little header room is accepted and pulled back intact.
    let body = vec![b'y'; 4 * 1024 * 1024 - 1024];
    let s = send_ok(&c, &Msg::new(&topic, body.clone()), 1).await;
    let (resp, msgs) = common::pull(&c, &req::Pull::new("cg_big", &topic, 1, s.queue_offset)).await;
    assert_code(&resp, codes::SUCCESS);
    assert!(msgs[0].body == body);
}

/// 4.9.7 counts only the body against maxMessageSize (4 MiB): a body of exactly 4 MiB is
/// accepted (`docs/protocol/send.md` §2, notes under the checks table).
#[tokio::test]
async fn body_of_exactly_4_mib_is_accepted() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("big4");
    let body = vec![b'y'; 4 * 1024 * 1024];
    send_ok(&c, &Msg::new(&topic, body), 0).await;
}
