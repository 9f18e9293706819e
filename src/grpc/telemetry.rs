//! Telemetry: the bidirectional stream every SDK opens. Each client `Settings` is answered with the
//! server's ([`super::route::server_settings`]). A producer's stream is also how the broker reaches
//! it: it is registered as a producer of each topic it publishes to (the producer group of its
//! transactional halves), with an [`Outlet`] that turns a transaction check-back
//! (CHECK_TRANSACTION_STATE) into a `RecoverOrphanedTransactionCommand`. A subscriber's stream
//! makes it a member of its consumer group, as a consumer heartbeat does over remoting.
use super::convert::to_pb;
use super::pb::{self, telemetry_command::Command};
use super::route::{server_settings, wrapped};
use crate::codec::body::{ConsumerData, HeartbeatData, SubscriptionData};
use super::{status, BoxStream, Grpc};
use crate::codec::codes::RequestCode;
use crate::codec::message::offset_msg_id;
use crate::codec::stored::decode_stored;
use crate::codec::RemotingCommand;
use crate::core::{Answer, ConnHandle, Outlet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

/// Connection ids of Telemetry streams: apart from the remoting connections' (which count from 1).
static NEXT_STREAM_ID: AtomicU64 = AtomicU64::new(1 << 62);

type Outbound = mpsc::Sender<Result<pb::TelemetryCommand, tonic::Status>>;

/// A Telemetry stream as the broker logic sees a client connection.
struct TelemetryOutlet {
    tx: Outbound,
}

/// The check-back of a half message, as the SDKs expect it: the message and the transaction id
/// (the half's offset message id, what SendMessage answered).
fn recover_command(cmd: &RemotingCommand) -> Option<pb::TelemetryCommand> {
    let (m, _) = decode_stored(&cmd.body).ok()?;
    let message = to_pb(&cmd.body, None)?;
    let rc = pb::RecoverOrphanedTransactionCommand { message: Some(message), transaction_id: offset_msg_id(m.store_host, m.commit_log_offset) };
    Some(pb::TelemetryCommand { status: Some(status::ok()), command: Some(Command::RecoverOrphanedTransactionCommand(rc)) })
}

impl Outlet for TelemetryOutlet {
    fn send(&self, cmd: RemotingCommand) {
        if cmd.code != RequestCode::CheckTransactionState.as_i32() {
            return;
        }
        match recover_command(&cmd) {
            // a client that does not read its stream loses check-backs, never the broker's memory
            Some(c) => {
                let _ = self.tx.try_send(Ok(c));
            }
            None => tracing::warn!("gRPC check-back: undecodable half message"),
        }
    }

    fn request(&self, _cmd: RemotingCommand, _timeout: Duration) -> Answer {
        Box::pin(async { None })
    }

    fn connected(&self) -> bool {
        !self.tx.is_closed()
    }
}

fn language(s: &pb::Settings) -> String {
    let l = s.user_agent.as_ref().map(|u| u.language).unwrap_or(0);
    pb::Language::try_from(l).map(|l| l.as_str_name().to_string()).unwrap_or_else(|_| "UNKNOWN".into())
}

/// A subscribing client as a consumer heartbeat would describe it: its group (clustering, as the
/// proxy registers 5.x consumers) and its subscriptions with their filter expressions.
fn consumer_data(client_id: &str, sub: &pb::Subscription) -> Option<HeartbeatData> {
    let group = sub.group.as_ref().filter(|r| !r.name.is_empty())?;
    let subscriptions = sub
        .subscriptions
        .iter()
        .filter_map(|e| {
            let topic = e.topic.as_ref().filter(|t| !t.name.is_empty())?;
            let (sql, expr) = match &e.expression {
                Some(f) => (f.r#type == pb::FilterType::Sql as i32, f.expression.clone()),
                None => (false, "*".to_string()),
            };
            Some(SubscriptionData { topic: wrapped(topic), sub_string: expr, expression_type: if sql { "SQL92" } else { "TAG" }.into(), ..Default::default() })
        })
        .collect();
    Some(HeartbeatData {
        client_id: client_id.to_string(),
        consumer_data_set: vec![ConsumerData {
            group_name: wrapped(group),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
            subscription_data_set: subscriptions,
            unit_mode: false,
        }],
        producer_data_set: Vec::new(),
    })
}

/// Register the client of a stream by its Settings: a publisher as a producer of its topics, a
/// subscriber as a member of its consumer group (shown by consumerConnection, counted as online
/// for lag), until the stream ends.
fn register(g: &Grpc, conn: &ConnHandle, client_id: &str, s: &pb::Settings) {
    match &s.pub_sub {
        Some(pb::settings::PubSub::Publishing(p)) => {
            let Ok(mut r) = g.core.clients.registry.write() else { return };
            for t in p.topics.iter().filter(|t| !t.name.is_empty()) {
                r.add_producer(&wrapped(t), conn, client_id, &language(s), Instant::now());
            }
        }
        Some(pb::settings::PubSub::Subscription(sub)) => {
            let Some(hb) = consumer_data(client_id, sub) else { return };
            let notify = match g.core.clients.registry.write() {
                Ok(mut r) => r.heartbeat(conn, &language(s), 0, &hb, Instant::now()),
                Err(_) => return,
            };
            g.core.notify_members(notify);
        }
        None => {}
    }
}

pub fn telemetry(g: &Grpc, client_id: String, peer: Option<SocketAddr>, mut inbound: tonic::Streaming<pb::TelemetryCommand>) -> BoxStream<pb::TelemetryCommand> {
    let (tx, rx) = mpsc::channel(16);
    let g = g.clone();
    let conn = ConnHandle {
        id: NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed),
        peer: peer.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        out: Arc::new(TelemetryOutlet { tx: tx.clone() }),
    };
    tokio::spawn(async move {
        while let Some(cmd) = inbound.next().await {
            let Ok(cmd) = cmd else { break };
            if let Some(Command::Settings(s)) = cmd.command {
                register(&g, &conn, &client_id, &s);
                let answer = pb::TelemetryCommand { status: Some(status::ok()), command: Some(Command::Settings(server_settings(&g, &s))) };
                if tx.send(Ok(answer)).await.is_err() {
                    break;
                }
            }
        }
        // the stream ended: the client is no longer reachable through it
        g.core.connection_closed(conn.id);
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
