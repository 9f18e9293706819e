//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361), with long polling.
//!
//! Status and nextBeginOffset follow `07-pull-and-offsets.md` §2 exactly; a pull that finds nothing
//! new and carries SUSPEND is parked with the queue actor.
use super::{answer, header, ConnInfo, Reply};
use crate::actors::context::BrokerContext;
use crate::actors::queue::{HeldPull, Hold};
use crate::actors::topic::perm;
use crate::codec::body::SubscriptionData;
use crate::codec::codes::response_code as rc;
use crate::codec::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use crate::codec::message::{pull_flag, tag_hash_code};
use crate::codec::stored::decode_stored;
use crate::codec::RemotingCommand;
use crate::filter::sql92::SqlFilter;
use crate::store::{GetStatus, MessageStore};
use bytes::BytesMut;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest batch and body of one pull (Java's in-memory transfer limits).
pub const MAX_PULL_COUNT: usize = 32;
pub const MAX_PULL_BYTES: usize = 256 * 1024;

/// Broker-side filter of a pull.
#[derive(Clone, Debug)]
pub enum Filter {
    All,
    /// Tag hash codes (`codeSet`).
    Tags(HashSet<i32>),
    /// A compiled SQL92 selector, evaluated on message properties.
    Sql(Arc<SqlFilter>),
}

impl Filter {
    /// Does a message with this tags code (and properties) pass? Messages without tags pass a
    /// tag filter; unknown properties pass an SQL filter (it is checked again when read).
    pub fn matches(&self, tags_code: i64, properties: Option<&str>) -> bool {
        match self {
            Filter::All => true,
            Filter::Tags(codes) => tags_code == 0 || codes.contains(&(tags_code as i32)),
            Filter::Sql(f) => properties.map(|p| f.matches_properties(p)).unwrap_or(true),
        }
    }

    /// A filter from a TAG expression (`*`, empty, or `a || b`).
    pub fn from_tag_expression(expr: &str) -> Filter {
        let expr = expr.trim();
        if expr.is_empty() || expr == "*" {
            return Filter::All;
        }
        let codes: HashSet<i32> = expr
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| tag_hash_code(t) as i32)
            .collect();
        if codes.is_empty() {
            Filter::All
        } else {
            Filter::Tags(codes)
        }
    }

    fn from_subscription(s: &SubscriptionData) -> Filter {
        if s.sub_string.trim() == "*" || s.sub_string.trim().is_empty() {
            return Filter::All;
        }
        if !s.code_set.is_empty() {
            return Filter::Tags(s.code_set.iter().copied().collect());
        }
        Filter::from_tag_expression(&s.sub_string)
    }
}

fn is_sql(expression_type: Option<&str>) -> bool {
    matches!(expression_type, Some(t) if t.eq_ignore_ascii_case("SQL92"))
}

/// The pull handler.
pub fn handle(ctx: &Arc<BrokerContext>, conn: &ConnInfo, req: RemotingCommand) -> Reply {
    let h: PullMessageRequestHeader = crate::try_reply!(header(&req));
    let cfg = ctx.config();
    let Some(group) = ctx.groups.get_or_create(&h.consumer_group, cfg.auto_create_subscription_group) else {
        return Reply::Now(answer(
            &req,
            rc::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{}] does not exist", h.consumer_group),
        ));
    };
    if !group.consume_enable {
        return Reply::Now(answer(&req, rc::NO_PERMISSION, format!("subscription group no permission, {}", h.consumer_group)));
    }
    let Some(topic) = ctx.topics.get(&h.topic) else {
        return Reply::Now(answer(&req, rc::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!", h.topic)));
    };
    if topic.perm & perm::READ == 0 {
        return Reply::Now(answer(&req, rc::NO_PERMISSION, format!("the topic[{}] pulling message is forbidden", h.topic)));
    }
    if h.queue_id < 0 || h.queue_id >= topic.read_queue_nums {
        return Reply::Now(answer(
            &req,
            rc::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id, h.topic, topic.read_queue_nums, conn.handle.peer
            ),
        ));
    }
    let filter = match pull_filter(ctx, &h) {
        Ok(f) => f,
        Err(resp) => return Reply::Now(answer(&req, resp.0, resp.1)),
    };
    if h.sys_flag & pull_flag::COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
        if let Err(e) = ctx.store.meta().set_consumer_offset(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset) {
            tracing::warn!(error = %e, "failed to store commit offset carried by a pull");
        }
    }
    let resp = read_queue(&ctx.store, &req, &h, &filter);
    if resp.code == rc::PULL_NOT_FOUND && h.sys_flag & pull_flag::SUSPEND != 0 {
        let hold = if cfg.long_polling_enable {
            Duration::from_millis(h.suspend_timeout_millis.clamp(0, 25_000) as u64)
        } else {
            cfg.short_polling_time
        };
        if !hold.is_zero() {
            ctx.queue_actor.do_send(Hold(HeldPull {
                conn: conn.handle.clone(),
                request: req,
                header: h,
                filter,
                deadline: Instant::now() + hold,
            }));
            return Reply::Nothing;
        }
    }
    Reply::Now(resp)
}

const SQL_DISABLED: &str = "The broker does not support consumer to filter message by SQL92 (enablePropertyFilter=false)";

fn pull_filter(ctx: &BrokerContext, h: &PullMessageRequestHeader) -> Result<Filter, (i32, String)> {
    let sql_enabled = ctx.config().enable_property_filter;
    if h.sys_flag & pull_flag::SUBSCRIPTION != 0 {
        let expr = h.subscription.as_deref().unwrap_or("*");
        if is_sql(h.expression_type.as_deref()) {
            if !sql_enabled {
                return Err((rc::SYSTEM_ERROR, SQL_DISABLED.into()));
            }
            return ctx.sql_filter(&h.consumer_group, &h.topic, h.sub_version, expr).map(Filter::Sql).map_err(|e| {
                (rc::SUBSCRIPTION_PARSE_FAILED, format!("parse the consumer's subscription[{expr}] failed: {e}"))
            });
        }
        return Ok(Filter::from_tag_expression(expr));
    }
    let sub = ctx.clients.registry.read().ok().and_then(|r| r.subscription(&h.consumer_group, &h.topic));
    match sub {
        Some(s) if is_sql(Some(&s.expression_type)) => {
            if !sql_enabled {
                return Err((rc::SYSTEM_ERROR, SQL_DISABLED.into()));
            }
            ctx.sql_filter(&h.consumer_group, &h.topic, s.sub_version, &s.sub_string).map(Filter::Sql).map_err(|e| {
                (rc::SUBSCRIPTION_PARSE_FAILED, format!("parse the consumer's subscription[{}] failed: {e}", s.sub_string))
            })
        }
        Some(s) => Ok(Filter::from_subscription(&s)),
        // As the Java broker: a pull that relies on the heartbeat's subscription needs one.
        None => Err((
            rc::SUBSCRIPTION_NOT_EXIST,
            format!("the consumer's subscription not exist, group: {} topic: {}", h.consumer_group, h.topic),
        )),
    }
}

/// Read a queue for a pull and build the response (also used by the queue actor on wake-up).
pub fn read_queue(
    store: &MessageStore,
    req: &RemotingCommand,
    h: &PullMessageRequestHeader,
    filter: &Filter,
) -> RemotingCommand {
    let max_count = (h.max_msg_nums.max(1) as usize).min(MAX_PULL_COUNT);
    let max_bytes = h.max_msg_bytes.filter(|b| *b > 0).map(|b| b as usize).unwrap_or(MAX_PULL_BYTES).min(MAX_PULL_BYTES * 4);
    let mut res = store.get(&h.topic, h.queue_id, h.queue_offset, max_count, max_bytes, &|code| filter.matches(code, None));
    if let (Filter::Sql(f), GetStatus::Found) = (filter, res.status) {
        // Property filters need the message itself: drop what does not match; the offset still
        // moves past everything scanned.
        res.messages.retain(|m| match decode_stored(m) {
            Ok((sm, _)) => f.matches_properties(&sm.properties),
            Err(_) => true,
        });
        if res.messages.is_empty() {
            res.status = GetStatus::NoMatchedMessage;
        }
    }
    let (code, remark) = match res.status {
        GetStatus::Found => (rc::SUCCESS, "FOUND"),
        GetStatus::NoMatchedMessage => (rc::PULL_RETRY_IMMEDIATELY, "NO_MATCHED_MESSAGE"),
        GetStatus::MessageWasRemoving => (rc::PULL_RETRY_IMMEDIATELY, "MESSAGE_WAS_REMOVING"),
        GetStatus::OffsetFoundNull => (rc::PULL_NOT_FOUND, "OFFSET_FOUND_NULL"),
        GetStatus::OffsetOverflowOne => (rc::PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE"),
        GetStatus::OffsetOverflowBadly => (rc::PULL_OFFSET_MOVED, "OFFSET_OVERFLOW_BADLY"),
        GetStatus::OffsetTooSmall => (rc::PULL_OFFSET_MOVED, "OFFSET_TOO_SMALL"),
        GetStatus::NoMessageInQueue if h.queue_offset == 0 => (rc::PULL_NOT_FOUND, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::NoMessageInQueue => (rc::PULL_OFFSET_MOVED, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::NoMatchedLogicQueue if h.queue_offset == 0 => (rc::PULL_NOT_FOUND, "NO_MATCHED_LOGIC_QUEUE"),
        GetStatus::NoMatchedLogicQueue => (rc::PULL_OFFSET_MOVED, "NO_MATCHED_LOGIC_QUEUE"),
    };
    let mut resp = RemotingCommand::response_to(req, code, Some(remark.to_string()));
    resp.set_header(&PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: res.next_begin_offset,
        min_offset: res.min_offset,
        max_offset: res.max_offset,
    });
    if code == rc::SUCCESS {
        let total: usize = res.messages.iter().map(|m| m.len()).sum();
        let mut body = BytesMut::with_capacity(total);
        for m in &res.messages {
            body.extend_from_slice(m);
        }
        resp.body = body.freeze();
    }
    resp
}
