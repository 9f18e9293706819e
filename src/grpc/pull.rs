//! PullMessage: a 5.x pull of one queue from an offset (the SDKs' PullConsumer), on the same read
//! and long polling as a remoting pull: the answer streams a status, the messages, then the next
//! offset. A pull that finds nothing new waits up to its `long_polling_timeout` (parked through
//! [`Core::park`], woken by the next matching message).
use super::convert::to_pb;
use super::offsets::{group_of, queue_of};
use super::pb::{self, pull_message_response::Content, Code};
use super::{status, Grpc};
use crate::core::pull::{read_queue, ParkedPull, PullOutcome, PullRead, PullReply, PullStatus};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Messages per pull when the client asks for none; at most this many are handed out.
const DEFAULT_BATCH: i32 = 32;
/// The longest a pull waits (a longer timeout is cut to this).
const MAX_HOLD: Duration = Duration::from_secs(30);

/// A parked gRPC pull's way back to its stream.
struct Reply(oneshot::Sender<PullOutcome>);

impl PullReply for Reply {
    fn answer(self: Box<Self>, outcome: PullOutcome) {
        let _ = self.0.send(outcome);
    }
    fn alive(&self) -> bool {
        !self.0.is_closed()
    }
}

fn status_only(st: pb::Status) -> Vec<pb::PullMessageResponse> {
    vec![pb::PullMessageResponse { content: Some(Content::Status(st)) }]
}

pub async fn pull_message(g: &Grpc, req: pb::PullMessageRequest) -> Vec<pb::PullMessageResponse> {
    let (group, (tc, q)) = match (group_of(g, req.group.as_ref()), queue_of(g, req.message_queue.as_ref())) {
        (Err(st), _) | (_, Err(st)) => return status_only(st),
        (Ok(group), Ok(v)) => (group, v),
    };
    if req.offset < 0 {
        return status_only(status::of(Code::IllegalOffset, format!("offset {} is negative", req.offset)));
    }
    let (sql, expr) = match &req.filter_expression {
        Some(f) => (f.r#type == pb::FilterType::Sql as i32, f.expression.clone()),
        None => (false, "*".to_string()),
    };
    let filter = match g.core.consume_filter(&group, &tc.topic_name, sql, &expr) {
        Ok(f) => f,
        Err(e) => return status_only(status::consume(&e)),
    };
    let batch = if req.batch_size <= 0 { DEFAULT_BATCH } else { req.batch_size.min(DEFAULT_BATCH) };
    let read = PullRead::new(&tc.topic_name, q, req.offset, batch, None);
    let mut outcome = read_queue(&g.core.store, &read, &filter);
    let hold = req.long_polling_timeout.as_ref().map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32)).unwrap_or_default().min(MAX_HOLD);
    if matches!(outcome.status, PullStatus::NoNewMessage(_)) && !hold.is_zero() && g.core.config().long_polling_enable {
        let (tx, rx) = oneshot::channel();
        let parked = ParkedPull { read, filter, deadline: Instant::now() + hold, reply: Box::new(Reply(tx)) };
        if g.core.park(parked) {
            if let Ok(o) = rx.await {
                outcome = o;
            }
        }
    }
    if !outcome.messages.is_empty() {
        let bytes: usize = outcome.messages.iter().map(|m| m.len()).sum();
        g.core.stats.handed_out(&group, &tc.topic_name, outcome.messages.len() as u64, bytes as u64);
    }
    let st = match outcome.status {
        PullStatus::Found => status::ok(),
        PullStatus::OffsetMoved(why) => status::of(Code::IllegalOffset, format!("offset {} is out of range ({why}); next offset {}", req.offset, outcome.next_begin_offset)),
        PullStatus::NoNewMessage(why) | PullStatus::RetryImmediately(why) => status::of(Code::MessageNotFound, format!("no new message ({why})")),
    };
    let mut out = vec![pb::PullMessageResponse { content: Some(Content::Status(st)) }];
    out.extend(outcome.messages.iter().filter_map(|m| to_pb(m, None)).map(|m| pb::PullMessageResponse { content: Some(Content::Message(m)) }));
    out.push(pb::PullMessageResponse { content: Some(Content::NextOffset(outcome.next_begin_offset)) });
    out
}
