//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361), with long polling.
//!
//! Status and nextBeginOffset follow `docs/protocol/pull-and-offsets.md` §2 exactly; a pull that finds nothing
//! new and carries SUSPEND is parked through [`Core::park`] (the queue actor) and answered by
//! [`ParkedReply`] when a message arrives or its time is up.
use super::{Conn, HandlerError, HandlerResult, Reply};
use crate::codec::codes::response_code as rc;
use crate::codec::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use crate::codec::message::pull_flag;
use crate::codec::RemotingCommand;
use crate::core::pull::{read_queue, Filter, ParkedPull, PullOutcome, PullRead, PullReply, PullStatus};
use crate::core::topics::perm;
use crate::core::stats::Stats;
use crate::core::{ConnHandle, Core};
use std::sync::Arc;
use bytes::BytesMut;
use std::time::{Duration, Instant};

fn is_sql(expression_type: Option<&str>) -> bool {
    matches!(expression_type, Some(t) if t.eq_ignore_ascii_case("SQL92"))
}

/// The pull handler.
pub fn handle(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: PullMessageRequestHeader = req.decode_header()?;
    let cfg = core.config();
    let Some(group) = core.groups.get_or_create(&h.consumer_group, cfg.auto_create_subscription_group) else {
        return Err(HandlerError::new(rc::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group [{}] does not exist", h.consumer_group)));
    };
    if !group.consume_enable {
        return Err(HandlerError::new(rc::NO_PERMISSION, format!("subscription group no permission, {}", h.consumer_group)));
    }
    let Some(topic) = core.topics.get(&h.topic) else {
        return Err(HandlerError::new(rc::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!", h.topic)));
    };
    if topic.perm & perm::READ == 0 {
        return Err(HandlerError::new(rc::NO_PERMISSION, format!("the topic[{}] pulling message is forbidden", h.topic)));
    }
    if h.queue_id < 0 || h.queue_id >= topic.read_queue_nums {
        return Err(HandlerError::system(format!(
            "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
            h.queue_id, h.topic, topic.read_queue_nums, conn.handle.peer
        )));
    }
    let filter = pull_filter(core, &h)?;
    // A slave does not store the offset a pull carries (Java: storeOffsetEnable is false on a
    // slave); an explicit UPDATE_CONSUMER_OFFSET is stored.
    if h.sys_flag & pull_flag::COMMIT_OFFSET != 0 && h.commit_offset >= 0 && !core.replication.is_slave() {
        if let Err(e) = core.store.meta().set_consumer_offset(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset) {
            tracing::warn!(error = %e, "failed to store commit offset carried by a pull");
        }
    }
    let read = PullRead::new(&h.topic, h.queue_id, h.queue_offset, h.max_msg_nums, h.max_msg_bytes);
    let outcome = read_queue(&core.store, &read, &filter);
    if matches!(outcome.status, PullStatus::NoNewMessage(_)) && h.sys_flag & pull_flag::SUSPEND != 0 {
        let hold = if cfg.long_polling_enable {
            Duration::from_millis(h.suspend_timeout_millis.clamp(0, 25_000) as u64)
        } else {
            cfg.short_polling_time
        };
        if !hold.is_zero() {
            let reply = Box::new(ParkedReply {
                conn: conn.handle.clone(),
                req: req.clone(),
                stats: core.stats.clone(),
                group: h.consumer_group.clone(),
                // What arrives for a parked pull is new: never "consuming slowly".
                suggest: if cfg.slave_read_enable { group.broker_id } else { 0 },
            });
            let parked = ParkedPull { read, filter, deadline: Instant::now() + hold, reply };
            if core.park(parked) {
                return Ok(Reply::Nothing);
            }
        }
    }
    count_out(&core.stats, &h.consumer_group, &h.topic, &outcome);
    let suggest = suggest_broker(core, cfg.slave_read_enable, &group, &outcome);
    Ok(Reply::Now(response(req, outcome, suggest)))
}

/// `suggestWhichBrokerId` as the 4.9.7 broker computes it: 0 (the master) unless
/// `slaveReadEnable`; then the group's `whichBrokerWhenConsumeSlowly` (1) when the consumer is
/// more than `accessMessageInMemoryMaxRatio` (40 %) of the machine's memory behind the log's end
/// (what it reads is no longer in the page cache), else the group's `brokerId` (0).
fn suggest_broker(core: &Core, slave_read_enable: bool, group: &crate::store::GroupConfig, outcome: &PullOutcome) -> i64 {
    if !slave_read_enable {
        return 0;
    }
    let last = outcome.messages.last().and_then(|m| m.get(28..36)).and_then(|b| b.try_into().ok()).map(i64::from_be_bytes);
    let behind = last.map(|l| core.store.max_commit_log_offset() - l).unwrap_or(0);
    if behind > core.replication.slow_read_bytes() {
        group.which_broker_when_consume_slowly
    } else {
        group.broker_id
    }
}

/// Messages handed out by a pull, for the metrics.
fn count_out(stats: &Stats, group: &str, topic: &str, outcome: &PullOutcome) {
    if !outcome.messages.is_empty() {
        let bytes: usize = outcome.messages.iter().map(|m| m.len()).sum();
        stats.handed_out(group, topic, outcome.messages.len() as u64, bytes as u64);
    }
}

/// A parked pull's way back to its connection.
struct ParkedReply {
    conn: ConnHandle,
    req: RemotingCommand,
    stats: Arc<Stats>,
    group: String,
    suggest: i64,
}

impl PullReply for ParkedReply {
    fn answer(self: Box<Self>, outcome: PullOutcome) {
        let topic = self.req.ext("topic").unwrap_or_default().to_string();
        count_out(&self.stats, &self.group, &topic, &outcome);
        self.conn.send(response(&self.req, outcome, self.suggest));
    }
    fn alive(&self) -> bool {
        self.conn.connected()
    }
}

/// The PULL_MESSAGE response for an outcome: code, status remark, offsets, the messages as body.
pub fn response(req: &RemotingCommand, outcome: PullOutcome, suggest_which_broker_id: i64) -> RemotingCommand {
    let (code, remark) = match outcome.status {
        PullStatus::Found => (rc::SUCCESS, "FOUND"),
        PullStatus::RetryImmediately(s) => (rc::PULL_RETRY_IMMEDIATELY, s),
        PullStatus::NoNewMessage(s) => (rc::PULL_NOT_FOUND, s),
        PullStatus::OffsetMoved(s) => (rc::PULL_OFFSET_MOVED, s),
    };
    let mut resp = RemotingCommand::response_to(req, code, Some(remark.to_string()));
    resp.set_header(&PullMessageResponseHeader {
        suggest_which_broker_id,
        next_begin_offset: outcome.next_begin_offset,
        min_offset: outcome.min_offset,
        max_offset: outcome.max_offset,
    });
    if code == rc::SUCCESS {
        let total: usize = outcome.messages.iter().map(|m| m.len()).sum();
        let mut body = BytesMut::with_capacity(total);
        for m in &outcome.messages {
            body.extend_from_slice(m);
        }
        resp.body = body.freeze();
    }
    resp
}

const SQL_DISABLED: &str = "The broker does not support consumer to filter message by SQL92 (enablePropertyFilter=false)";

fn pull_filter(core: &Core, h: &PullMessageRequestHeader) -> Result<Filter, HandlerError> {
    let sql_enabled = core.config().enable_property_filter;
    if h.sys_flag & pull_flag::SUBSCRIPTION != 0 {
        let expr = h.subscription.as_deref().unwrap_or("*");
        if is_sql(h.expression_type.as_deref()) {
            if !sql_enabled {
                return Err(HandlerError::system(SQL_DISABLED));
            }
            return core.sql_filter(&h.consumer_group, &h.topic, h.sub_version, expr).map(Filter::Sql).map_err(|e| {
                HandlerError::new(rc::SUBSCRIPTION_PARSE_FAILED, format!("parse the consumer's subscription[{expr}] failed: {e}"))
            });
        }
        return Ok(Filter::from_tag_expression(expr));
    }
    let sub = core.clients.registry.read().ok().and_then(|r| r.subscription(&h.consumer_group, &h.topic));
    match sub {
        Some(s) if is_sql(Some(&s.expression_type)) => {
            if !sql_enabled {
                return Err(HandlerError::system(SQL_DISABLED));
            }
            core.sql_filter(&h.consumer_group, &h.topic, s.sub_version, &s.sub_string).map(Filter::Sql).map_err(|e| {
                HandlerError::new(rc::SUBSCRIPTION_PARSE_FAILED, format!("parse the consumer's subscription[{}] failed: {e}", s.sub_string))
            })
        }
        Some(s) => Ok(Filter::from_subscription(&s)),
        // As the Java broker: a pull that relies on the heartbeat's subscription needs one.
        None => Err(HandlerError::new(
            rc::SUBSCRIPTION_NOT_EXIST,
            format!("the consumer's subscription not exist, group: {} topic: {}", h.consumer_group, h.topic),
        )),
    }
}
