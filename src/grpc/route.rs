//! Where to send and read (QueryRoute, QueryAssignment), who is there (Heartbeat,
//! NotifyClientTermination), and the Telemetry stream that hands each client the server's
//! Settings (the SDKs wait for them before they start).
use super::pb::{self, Code, MessageType, Permission};
use super::{status, Grpc};
use crate::core::topics::perm;
use crate::store::TopicConfig;
use std::time::Duration;

/// Largest batch a consumer is told to receive.
const RECEIVE_BATCH_SIZE: i32 = 32;
/// The long-polling timeout the server's Settings give consumers (the proxy's maximum).
pub const LONG_POLLING: Duration = Duration::from_secs(20);

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

/// The message types a topic accepts, from its `message.type` attribute (MIXED: all four); without
/// one, FIFO for an ordered topic, else NORMAL (the 5.x default).
pub fn accepted_types(tc: &TopicConfig) -> Vec<i32> {
    let one = |t: MessageType| vec![t as i32];
    match tc.message_type.as_deref() {
        Some("FIFO") => one(MessageType::Fifo),
        Some("DELAY") => one(MessageType::Delay),
        Some("TRANSACTION") => one(MessageType::Transaction),
        Some("MIXED") => [MessageType::Normal, MessageType::Fifo, MessageType::Delay, MessageType::Transaction].iter().map(|t| *t as i32).collect(),
        _ if tc.order => one(MessageType::Fifo),
        _ => one(MessageType::Normal),
    }
}

/// The endpoints published in routes: those the client reached us at (as the proxy does), or
/// `brokerIP1:grpcServerPort`.
fn endpoints(g: &Grpc, asked: Option<pb::Endpoints>) -> pb::Endpoints {
    match asked {
        Some(e) if !e.addresses.is_empty() => e,
        _ => pb::Endpoints {
            scheme: if g.advertised.is_ipv4() { 1 } else { 2 },
            addresses: vec![pb::Address { host: g.advertised.ip().to_string(), port: g.advertised.port() as i32 }],
        },
    }
}

fn broker(g: &Grpc, asked: Option<pb::Endpoints>) -> pb::Broker {
    pb::Broker { name: g.core.identity.broker_name.clone(), id: 0, endpoints: Some(endpoints(g, asked)) }
}

/// The queues of a topic as the proxy lists them: read-only, then write-only, then read-write
/// ones, numbered from 0.
fn queues(tc: &TopicConfig, resource: &pb::Resource, broker: &pb::Broker) -> Vec<pb::MessageQueue> {
    let (r, w) = (tc.read_queue_nums.max(0), tc.write_queue_nums.max(0));
    let (readable, writable) = (tc.perm & perm::READ != 0, tc.perm & perm::WRITE != 0);
    let (ro, wo, rw) = match (readable, writable) {
        (true, true) => (r - r.min(w), w - r.min(w), r.min(w)),
        (false, true) => (0, w, 0),
        (true, false) => (r, 0, 0),
        (false, false) => (0, 0, 0),
    };
    let mut out = Vec::new();
    let mut id = 0;
    for (n, p) in [(ro, Permission::Read), (wo, Permission::Write), (rw, Permission::ReadWrite)] {
        for _ in 0..n {
            out.push(pb::MessageQueue {
                topic: Some(resource.clone()),
                id,
                permission: p as i32,
                broker: Some(broker.clone()),
                accept_message_types: accepted_types(tc),
            });
            id += 1;
        }
    }
    out
}

/// The broker-side name of a resource: `namespace%name` in a namespace (as the proxy wraps it),
/// else the name.
pub fn wrapped(r: &pb::Resource) -> String {
    if r.resource_namespace.is_empty() {
        r.name.clone()
    } else {
        format!("{}%{}", r.resource_namespace, r.name)
    }
}

/// A resource as its client names it: the namespace taken off a wrapped name.
pub fn unwrapped(full: &str, namespace: &str) -> pb::Resource {
    match full.strip_prefix(namespace).and_then(|rest| rest.strip_prefix('%')).filter(|_| !namespace.is_empty()) {
        Some(name) => pb::Resource { resource_namespace: namespace.to_string(), name: name.to_string() },
        None => pb::Resource { resource_namespace: String::new(), name: full.to_string() },
    }
}

/// A topic named by a request: it must be given and exist (gRPC never auto-creates topics). The
/// resource returned carries the broker-side (namespace-wrapped) name.
pub fn topic_of(g: &Grpc, res: Option<&pb::Resource>) -> Result<(pb::Resource, TopicConfig), pb::Status> {
    let Some(res) = res.filter(|r| !r.name.is_empty()) else {
        return Err(status::of(Code::IllegalTopic, "topic is required"));
    };
    let name = wrapped(res);
    if let Err(e) = crate::core::topics::validate_topic_name(&name) {
        return Err(status::of(Code::IllegalTopic, e.to_string()));
    }
    match g.core.topics.get(&name) {
        Some(tc) => Ok((pb::Resource { resource_namespace: String::new(), name }, tc)),
        None => Err(status::of(Code::TopicNotFound, format!("topic[{name}] not exist"))),
    }
}

/// A group named by a request (namespace-wrapped): it must be given.
pub fn group_of(res: Option<&pb::Resource>) -> Result<String, pb::Status> {
    match res.filter(|r| !r.name.is_empty()) {
        Some(r) => Ok(wrapped(r)),
        None => Err(status::of(Code::IllegalConsumerGroup, "consumer group is required")),
    }
}

pub fn query_route(g: &Grpc, req: pb::QueryRouteRequest) -> pb::QueryRouteResponse {
    match topic_of(g, req.topic.as_ref()) {
        Ok((_, tc)) => {
            let b = broker(g, req.endpoints);
            let asked = req.topic.unwrap_or_default();
            pb::QueryRouteResponse { status: Some(status::ok()), message_queues: queues(&tc, &asked, &b) }
        }
        Err(st) => pb::QueryRouteResponse { status: Some(st), message_queues: Vec::new() },
    }
}

/// POP consumption: one assignment per broker, queue -1 (the broker spreads the queues).
pub fn query_assignment(g: &Grpc, req: pb::QueryAssignmentRequest) -> pb::QueryAssignmentResponse {
    let fail = |st| pb::QueryAssignmentResponse { status: Some(st), assignments: Vec::new() };
    let (res, tc) = match topic_of(g, req.topic.as_ref()) {
        Ok(t) => t,
        Err(st) => return fail(st),
    };
    let group = match group_of(req.group.as_ref()) {
        Ok(gr) => gr,
        Err(st) => return fail(st),
    };
    if let Err(e) = g.core.pop_target(&group, &res.name, -1) {
        return fail(status::consume(&e));
    }
    if tc.perm & perm::READ == 0 {
        return pb::QueryAssignmentResponse { status: Some(status::ok()), assignments: Vec::new() };
    }
    let mq = pb::MessageQueue {
        topic: req.topic.clone(),
        id: -1,
        permission: Permission::ReadWrite as i32,
        broker: Some(broker(g, req.endpoints)),
        accept_message_types: accepted_types(&tc),
    };
    pb::QueryAssignmentResponse { status: Some(status::ok()), assignments: vec![pb::Assignment { message_queue: Some(mq) }] }
}

/// A heartbeat: consumers' groups are checked (and created when `autoCreateSubscriptionGroup`).
pub fn heartbeat(g: &Grpc, client_id: &str, req: pb::HeartbeatRequest) -> pb::HeartbeatResponse {
    let consumer = matches!(
        pb::ClientType::try_from(req.client_type),
        Ok(pb::ClientType::PushConsumer | pb::ClientType::SimpleConsumer | pb::ClientType::PullConsumer)
    );
    if consumer {
        if let Some(group) = req.group.as_ref().filter(|r| !r.name.is_empty()) {
            let auto = g.core.config().auto_create_subscription_group;
            let name = wrapped(group);
            if g.core.groups.get_or_create(&name, auto).is_none() {
                let st = status::of(Code::ConsumerGroupNotFound, format!("subscription group [{name}] does not exist"));
                return pb::HeartbeatResponse { status: Some(st) };
            }
        }
    }
    if let Ok(mut r) = g.core.clients.registry.write() {
        r.touch(client_id, std::time::Instant::now());
    }
    tracing::trace!(client = client_id, client_type = req.client_type, "gRPC heartbeat");
    pb::HeartbeatResponse { status: Some(status::ok()) }
}

/// The server's answer to a client's Settings.
pub fn server_settings(g: &Grpc, client: &pb::Settings) -> pb::Settings {
    let cfg = g.core.config();
    let mut s = client.clone();
    match &mut s.pub_sub {
        Some(pb::settings::PubSub::Publishing(p)) => {
            p.max_body_size = cfg.max_message_size.min(i32::MAX as usize) as i32;
            p.validate_message_type = true;
            let attempts = client.backoff_policy.as_ref().map(|b| b.max_attempts).filter(|n| *n > 0).unwrap_or(3);
            s.backoff_policy = Some(pb::RetryPolicy {
                max_attempts: attempts,
                strategy: Some(pb::retry_policy::Strategy::ExponentialBackoff(pb::ExponentialBackoff {
                    initial: Some(duration(Duration::from_millis(10))),
                    max: Some(duration(Duration::from_secs(1))),
                    multiplier: 2.0,
                })),
            });
        }
        Some(pb::settings::PubSub::Subscription(sub)) => {
            let group = sub.group.as_ref().and_then(|r| g.core.groups.get(&wrapped(r)));
            let retry_max = group.as_ref().map(|gc| gc.retry_max_times).unwrap_or(16);
            sub.fifo = Some(group.is_some_and(|gc| gc.consume_message_orderly));
            sub.receive_batch_size = Some(RECEIVE_BATCH_SIZE);
            sub.long_polling_timeout = Some(duration(LONG_POLLING));
            // Redelivery waits as the delay levels from the third one (10 s, 30 s, 1 m, ...).
            let next = cfg.message_delay_level.iter().skip(2).map(|d| duration(*d)).collect();
            s.backoff_policy = Some(pb::RetryPolicy {
                max_attempts: retry_max.max(0) + 1,
                strategy: Some(pb::retry_policy::Strategy::CustomizedBackoff(pb::CustomizedBackoff { next })),
            });
        }
        None => {}
    }
    s
}
