//! The RocketMQ 5.x gRPC front end: `apache.rocketmq.v2.MessagingService`, what the official
//! 5.x SDKs (Java, Go, C#, C++, Python, Node, Rust) speak. It sits at the level of `net`: every
//! RPC checks its input, calls [`crate::core`] (the same topics, groups, store and POP engine as
//! the remoting front end) and answers with the `Code` the SDKs map; it never calls the remoting
//! handlers. `docs/grpc.md` lists what is served and what is not.
//!
//! * `route.rs`: QueryRoute, QueryAssignment, Heartbeat, NotifyClientTermination, the server's
//!   Settings; `telemetry.rs`: the Telemetry stream (Settings, transaction check-backs).
//! * `send.rs`: SendMessage (a `pb::Message` becomes a [`crate::store::NewMessage`]), EndTransaction.
//! * `receive.rs`: ReceiveMessage over [`Core::pop`] (long polling through [`Core::park_pop`]),
//!   AckMessage, ChangeInvisibleDuration, ForwardMessageToDeadLetterQueue.
//! * `convert.rs`: a stored message as a `pb::Message`; `status.rs`: answers and codes.
//!
//! The server runs on a multi-threaded tokio runtime of its own (as many threads as the remoting
//! connection workers, see `broker/mod.rs`), so gRPC traffic spreads over the cores and does not
//! share the actors' threads.
use crate::core::Core;
use std::net::SocketAddr;
use std::sync::Arc;
use tonic::{Request, Response, Status as RpcStatus, Streaming};

mod auth;
pub mod coalesce;
mod convert;
mod offsets;
mod pull;
mod receive;
mod route;
mod send;
mod status;
mod telemetry;
mod tls;

/// The generated types and stubs of `proto/apache/rocketmq/v2/*.proto` (client included, for
/// tests and tools).
#[allow(clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("apache.rocketmq.v2");
}

use pb::messaging_service_server::{MessagingService, MessagingServiceServer};

/// Largest gRPC message accepted: a batch of messages of `maxMessageSize` and some headroom.
const MAX_DECODING: usize = 64 << 20;

/// The service: shared broker state and the endpoint this server publishes in routes.
#[derive(Clone)]
pub struct Grpc {
    core: Arc<Core>,
    /// `brokerIP1:grpcPort`: the endpoint routes name when the client did not give its own.
    advertised: SocketAddr,
}

impl Grpc {
    pub fn new(core: Arc<Core>, advertised: SocketAddr) -> Self {
        Grpc { core, advertised }
    }
}

/// Serve on `listener` until `shutdown` resolves; must run inside a tokio runtime.
/// With `tls`, connections are told apart and wrapped as `tls.server.mode` says (`tls.rs`);
/// every connection counts against `limits.max_conns_per_ip` in `totals` (shared with remoting),
/// and one connection has at most `limits.max_in_flight` calls open at once.
pub async fn serve(
    grpc: Grpc,
    listener: std::net::TcpListener,
    tls: Option<Arc<crate::net::tls::Tls>>,
    limits: crate::net::connection::Limits,
    totals: Arc<crate::net::connection::Totals>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let svc = MessagingServiceServer::new(grpc).max_decoding_message_size(MAX_DECODING);
    let server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        // HTTP/2's own bound (SETTINGS_MAX_CONCURRENT_STREAMS): the client learns it and waits
        .max_concurrent_streams(u32::try_from(limits.max_in_flight.max(1)).unwrap_or(u32::MAX))
        .add_service(svc);
    let incoming = tls::incoming(listener, tls, totals, limits.max_conns_per_ip);
    server.serve_with_incoming_shutdown(incoming, shutdown).await.map_err(|e| e.to_string())
}

/// The deadline the client gave the call (`grpc-timeout`: digits and a unit H, M, S, m, u, n).
fn deadline<T>(req: &Request<T>) -> Option<std::time::Duration> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (n, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => std::time::Duration::from_secs(n.saturating_mul(3600)),
        "M" => std::time::Duration::from_secs(n.saturating_mul(60)),
        "S" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_millis(n),
        "u" => std::time::Duration::from_micros(n),
        "n" => std::time::Duration::from_nanos(n),
        _ => return None,
    })
}

/// The client id of a request (`x-mq-client-id`), empty when absent.
fn client_id<T>(req: &Request<T>) -> String {
    req.metadata().get("x-mq-client-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// The topic of an optional message queue (empty when absent).
fn queue_topic(q: &Option<pb::MessageQueue>) -> &str {
    q.as_ref().map_or("", |q| name(&q.topic))
}

/// The name of an optional resource (empty when absent).
fn name(r: &Option<pb::Resource>) -> &str {
    r.as_ref().map_or("", |r| r.name.as_str())
}

impl Grpc {
    /// With ACL on, authenticate the call and check what it needs (`auth.rs`); one branch when off.
    fn auth<T>(&self, req: &Request<T>, rpc: &str, needs: impl FnOnce(&T) -> crate::core::acl::Needs) -> Result<(), RpcStatus> {
        let Some(setup) = self.core.acl() else { return Ok(()) };
        let needs = needs(req.get_ref());
        let peer = req.remote_addr();
        auth::check(&setup.acl, req.metadata(), peer.map(|a| a.ip()), rpc, &needs, crate::core::now_ms()).inspect_err(|e| {
            tracing::info!(rpc, peer = ?peer, remark = e.message(), "gRPC call refused by ACL");
        })
    }
}

type RpcResult<T> = Result<Response<T>, RpcStatus>;
type BoxStream<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, RpcStatus>> + Send + 'static>>;

#[tonic::async_trait]
impl MessagingService for Grpc {
    async fn query_route(&self, req: Request<pb::QueryRouteRequest>) -> RpcResult<pb::QueryRouteResponse> {
        self.auth(&req, "QueryRoute", |_| Default::default())?;
        Ok(Response::new(route::query_route(self, req.into_inner())))
    }

    async fn heartbeat(&self, req: Request<pb::HeartbeatRequest>) -> RpcResult<pb::HeartbeatResponse> {
        self.auth(&req, "Heartbeat", |_| Default::default())?;
        let id = client_id(&req);
        Ok(Response::new(route::heartbeat(self, &id, req.into_inner())))
    }

    async fn send_message(&self, req: Request<pb::SendMessageRequest>) -> RpcResult<pb::SendMessageResponse> {
        self.auth(&req, "SendMessage", |r| auth::publish(r.messages.iter().map(|m| name(&m.topic))))?;
        let peer = req.remote_addr();
        Ok(Response::new(send::send_message(self, peer, req.into_inner()).await))
    }

    async fn query_assignment(&self, req: Request<pb::QueryAssignmentRequest>) -> RpcResult<pb::QueryAssignmentResponse> {
        self.auth(&req, "QueryAssignment", |r| auth::consume(name(&r.topic), name(&r.group)))?;
        Ok(Response::new(route::query_assignment(self, req.into_inner())))
    }

    type ReceiveMessageStream = BoxStream<pb::ReceiveMessageResponse>;

    async fn receive_message(&self, req: Request<pb::ReceiveMessageRequest>) -> RpcResult<Self::ReceiveMessageStream> {
        self.auth(&req, "ReceiveMessage", |r| auth::consume(queue_topic(&r.message_queue), name(&r.group)))?;
        let within = deadline(&req);
        let answers = receive::receive_message(self, req.into_inner(), within).await;
        Ok(Response::new(Box::pin(tokio_stream::iter(answers.into_iter().map(Ok)))))
    }

    async fn ack_message(&self, req: Request<pb::AckMessageRequest>) -> RpcResult<pb::AckMessageResponse> {
        self.auth(&req, "AckMessage", |r| auth::consume(name(&r.topic), name(&r.group)))?;
        Ok(Response::new(receive::ack_message(self, req.into_inner())))
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        req: Request<pb::ForwardMessageToDeadLetterQueueRequest>,
    ) -> RpcResult<pb::ForwardMessageToDeadLetterQueueResponse> {
        self.auth(&req, "ForwardMessageToDeadLetterQueue", |r| auth::consume(name(&r.topic), name(&r.group)))?;
        Ok(Response::new(receive::forward_to_dlq(self, req.into_inner())))
    }

    type PullMessageStream = BoxStream<pb::PullMessageResponse>;

    async fn pull_message(&self, req: Request<pb::PullMessageRequest>) -> RpcResult<Self::PullMessageStream> {
        self.auth(&req, "PullMessage", |r| auth::consume(queue_topic(&r.message_queue), name(&r.group)))?;
        let items = pull::pull_message(self, req.into_inner()).await;
        Ok(Response::new(Box::pin(tokio_stream::iter(items.into_iter().map(Ok)))))
    }

    async fn update_offset(&self, req: Request<pb::UpdateOffsetRequest>) -> RpcResult<pb::UpdateOffsetResponse> {
        self.auth(&req, "UpdateOffset", |r| auth::consume(queue_topic(&r.message_queue), name(&r.group)))?;
        Ok(Response::new(offsets::update_offset(self, req.into_inner())))
    }

    async fn get_offset(&self, req: Request<pb::GetOffsetRequest>) -> RpcResult<pb::GetOffsetResponse> {
        self.auth(&req, "GetOffset", |r| auth::consume(queue_topic(&r.message_queue), name(&r.group)))?;
        Ok(Response::new(offsets::get_offset(self, req.into_inner())))
    }

    async fn query_offset(&self, req: Request<pb::QueryOffsetRequest>) -> RpcResult<pb::QueryOffsetResponse> {
        self.auth(&req, "QueryOffset", |r| crate::core::acl::Needs::default().topic(queue_topic(&r.message_queue), crate::config::acl::Perm::SUB))?;
        Ok(Response::new(offsets::query_offset(self, req.into_inner())))
    }

    async fn end_transaction(&self, req: Request<pb::EndTransactionRequest>) -> RpcResult<pb::EndTransactionResponse> {
        self.auth(&req, "EndTransaction", |r| auth::publish(std::iter::once(name(&r.topic))))?;
        Ok(Response::new(send::end_transaction(self, req.into_inner())))
    }

    type TelemetryStream = BoxStream<pb::TelemetryCommand>;

    async fn telemetry(&self, req: Request<Streaming<pb::TelemetryCommand>>) -> RpcResult<Self::TelemetryStream> {
        self.auth(&req, "Telemetry", |_| Default::default())?;
        let (id, peer) = (client_id(&req), req.remote_addr());
        Ok(Response::new(telemetry::telemetry(self, id, peer, req.into_inner())))
    }

    async fn notify_client_termination(
        &self,
        req: Request<pb::NotifyClientTerminationRequest>,
    ) -> RpcResult<pb::NotifyClientTerminationResponse> {
        self.auth(&req, "NotifyClientTermination", |_| Default::default())?;
        Ok(Response::new(pb::NotifyClientTerminationResponse { status: Some(status::ok()) }))
    }

    async fn change_invisible_duration(
        &self,
        req: Request<pb::ChangeInvisibleDurationRequest>,
    ) -> RpcResult<pb::ChangeInvisibleDurationResponse> {
        self.auth(&req, "ChangeInvisibleDuration", |r| auth::consume(name(&r.topic), name(&r.group)))?;
        Ok(Response::new(receive::change_invisible_duration(self, req.into_inner())))
    }

    async fn recall_message(&self, req: Request<pb::RecallMessageRequest>) -> RpcResult<pb::RecallMessageResponse> {
        self.auth(&req, "RecallMessage", |r| auth::publish(std::iter::once(name(&r.topic))))?;
        Ok(Response::new(send::recall_message(self, req.into_inner())))
    }

    async fn sync_lite_subscription(
        &self,
        _req: Request<pb::SyncLiteSubscriptionRequest>,
    ) -> RpcResult<pb::SyncLiteSubscriptionResponse> {
        Ok(Response::new(pb::SyncLiteSubscriptionResponse { status: Some(status::not_implemented("SyncLiteSubscription")) }))
    }
}
