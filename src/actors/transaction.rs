//! The transaction-checker actor and the half-message lifecycle.
//!
//! - A half message (sysFlag PREPARED, `TRAN_MSG=true`) is stored in `RMQ_SYS_TRANS_HALF_TOPIC`
//!   queue 0 with its real topic and queue in `REAL_TOPIC`/`REAL_QID` ([`redirect_half`]); consumers
//!   never see it.
//! - END_TRANSACTION ([`end_transaction`]) commits (the message is stored on its real topic with
//!   sysFlag COMMIT and `preparedTransactionOffset` = the half's commit log offset), rolls back, or
//!   leaves it for check-back. Each decision is recorded in sled keyed by the half's commit log
//!   offset, so a repeated END_TRANSACTION is ignored. A commit is recorded as "applying" before the
//!   store and "done" after; on restart an "applying" commit is checked against the real queue
//!   (a message whose preparedTransactionOffset is the half's offset) and applied only if missing:
//!   each decision takes effect exactly once.
//! - Every `transactionCheckInterval` the actor walks the half queue from a persisted cursor; halves
//!   older than `transactionTimeOut` (or their `CHECK_IMMUNITY_TIME_IN_SECONDS`) get
//!   CHECK_TRANSACTION_STATE on the connection of a live producer of their group; after
//!   `transactionCheckMax` checks a half is discarded and logged. With no producer online the
//!   broker tries again at the next round.
use super::context::BrokerContext;
use super::queue::Arrived;
use super::topic::TRANS_HALF_TOPIC;
use crate::codec::codes::RequestCode;
use crate::codec::header::{CheckTransactionStateRequestHeader, EndTransactionRequestHeader};
use crate::codec::message::{offset_msg_id, parse_properties, prop, sys_flag};
use crate::codec::stored::{decode_stored, encode_stored, StoredMessage};
use crate::codec::RemotingCommand;
use crate::store::{GetStatus, NewMessage};
use actix::prelude::*;
use bytes::BytesMut;
use std::sync::Arc;
use std::time::Duration;

const OP_NS: &str = "tx_op";
const CHECKS_NS: &str = "tx_checks";
const CURSOR_NS: &str = "tx_cursor";

const OP_APPLYING: u8 = b'A';
const OP_COMMITTED: u8 = b'C';
const OP_ROLLED_BACK: u8 = b'R';
const OP_DISCARDED: u8 = b'D';

fn op_key(commit_log_offset: i64) -> String {
    format!("{commit_log_offset:020}")
}

/// Park a prepared message in the half topic; returns true when redirected.
pub fn redirect_half(msg: &mut NewMessage) -> bool {
    if msg.sys_flag & sys_flag::TRANSACTION_MASK != sys_flag::TRANSACTION_PREPARED {
        return false;
    }
    let mut props = parse_properties(&msg.properties);
    if props.get(prop::TRAN_MSG).map(|v| v.eq_ignore_ascii_case("true")) != Some(true) {
        return false;
    }
    props.insert(prop::REAL_TOPIC, &msg.topic);
    props.insert(prop::REAL_QID, &msg.queue_id.to_string());
    msg.properties = props.encode();
    msg.sys_flag &= !sys_flag::TRANSACTION_MASK;
    msg.topic = TRANS_HALF_TOPIC.to_string();
    msg.queue_id = 0;
    true
}

fn op_of(ctx: &BrokerContext, clog: i64) -> Option<u8> {
    ctx.store.meta().get_kv(OP_NS, &op_key(clog)).and_then(|v| v.first().copied())
}

fn set_op(ctx: &BrokerContext, clog: i64, op: u8) {
    if let Err(e) = ctx.store.meta().put_kv(OP_NS, &op_key(clog), &[op]) {
        tracing::error!(offset = clog, error = %e, "failed to record transaction decision");
    }
}

fn load_half(ctx: &BrokerContext, clog: i64) -> Result<StoredMessage, String> {
    let raw = ctx.store.read_message(clog).ok_or_else(|| format!("no half message at offset {clog}"))?;
    let (m, _) = decode_stored(&raw).map_err(|e| format!("undecodable half message at {clog}: {e}"))?;
    if m.topic != TRANS_HALF_TOPIC {
        return Err(format!("message at offset {clog} is not a half message"));
    }
    Ok(m)
}

/// END_TRANSACTION (37). Returns the error text for a non-oneway request, if any.
pub fn end_transaction(ctx: &BrokerContext, h: &EndTransactionRequestHeader) -> Result<(), String> {
    let decision = h.commit_or_rollback & sys_flag::TRANSACTION_MASK;
    if decision != sys_flag::TRANSACTION_COMMIT && decision != sys_flag::TRANSACTION_ROLLBACK {
        return Ok(()); // UNKNOW: leave it for the check-back
    }
    let half = load_half(ctx, h.commit_log_offset)?;
    let props = parse_properties(&half.properties);
    if props.get(prop::PGROUP) != Some(h.producer_group.as_str()) {
        return Err(format!("the producer group wrong: {} is not the group of this half message", h.producer_group));
    }
    match op_of(ctx, h.commit_log_offset) {
        Some(OP_COMMITTED) | Some(OP_ROLLED_BACK) | Some(OP_DISCARDED) => {
            tracing::debug!(offset = h.commit_log_offset, "transaction already decided; ignored");
            return Ok(());
        }
        Some(OP_APPLYING) => {
            // recovered below: apply only if the commit is not in the real queue yet
            if committed_copy_exists(ctx, &half) {
                set_op(ctx, h.commit_log_offset, OP_COMMITTED);
                return Ok(());
            }
        }
        _ => {}
    }
    if decision == sys_flag::TRANSACTION_ROLLBACK {
        set_op(ctx, h.commit_log_offset, OP_ROLLED_BACK);
        tracing::debug!(offset = h.commit_log_offset, "transaction rolled back");
        return Ok(());
    }
    set_op(ctx, h.commit_log_offset, OP_APPLYING);
    commit(ctx, &half)?;
    set_op(ctx, h.commit_log_offset, OP_COMMITTED);
    Ok(())
}

/// Store the committed copy on the real topic.
fn commit(ctx: &BrokerContext, half: &StoredMessage) -> Result<(), String> {
    let mut props = parse_properties(&half.properties);
    let topic = props.get(prop::REAL_TOPIC).map(String::from).ok_or("half message without REAL_TOPIC")?;
    let queue_id = props.get(prop::REAL_QID).and_then(|q| q.parse::<i32>().ok()).unwrap_or(0);
    props.remove(prop::REAL_TOPIC);
    props.remove(prop::REAL_QID);
    props.remove(prop::TRANSACTION_CHECK_TIMES);
    props.insert(prop::TRAN_PREPARED_QUEUE_OFFSET, &half.queue_offset.to_string());
    let (tags_code, keys, uniq_key) = crate::actors::index_fields(&props);
    let properties = props.encode();
    let msg = NewMessage {
        topic: topic.clone(),
        queue_id,
        flag: half.flag,
        sys_flag: (half.sys_flag & !sys_flag::TRANSACTION_MASK) | sys_flag::TRANSACTION_COMMIT,
        born_timestamp: half.born_timestamp,
        born_host: half.born_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half.commit_log_offset,
        body: half.body.clone(),
        properties: properties.clone(),
        tags_code,
        keys,
        uniq_key,
    };
    ctx.store.put(vec![msg]).map_err(|e| format!("commit failed: {e}"))?;
    ctx.queue_actor.do_send(Arrived { topic, queue_id, tags_code, properties: Some(Arc::from(properties.as_str())) });
    Ok(())
}

/// Whether the real queue already holds the committed copy of `half` (crash recovery).
fn committed_copy_exists(ctx: &BrokerContext, half: &StoredMessage) -> bool {
    let props = parse_properties(&half.properties);
    let (Some(topic), Some(qid)) =
        (props.get(prop::REAL_TOPIC), props.get(prop::REAL_QID).and_then(|q| q.parse::<i32>().ok()))
    else {
        return false;
    };
    let mut offset = ctx.store.offset_by_time(topic, qid, half.store_timestamp).saturating_sub(1).max(0);
    loop {
        let res = ctx.store.get(topic, qid, offset, 32, 4 << 20, &|_| true);
        if res.status != GetStatus::Found {
            return false;
        }
        for raw in &res.messages {
            if let Ok((m, _)) = decode_stored(raw) {
                if m.prepared_transaction_offset == half.commit_log_offset {
                    return true;
                }
            }
        }
        if res.next_begin_offset <= offset {
            return false;
        }
        offset = res.next_begin_offset;
    }
}

// ---------------------------------------------------------------------------------------------

pub struct TransactionActor {
    pub ctx: Arc<BrokerContext>,
}

/// Run one check round now (tests, admin).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckNow;

impl Actor for TransactionActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        self.recover();
        let interval = self.ctx.config().transaction_check_interval.max(Duration::from_millis(100));
        ctx.run_interval(interval, |act, _| act.check_round());
    }
}

impl Handler<CheckNow> for TransactionActor {
    type Result = ();
    fn handle(&mut self, _: CheckNow, _: &mut Self::Context) {
        self.check_round();
    }
}

impl TransactionActor {
    fn cursor(&self) -> i64 {
        self.ctx.store.meta().get_kv(CURSOR_NS, "0").and_then(|v| v.try_into().ok().map(i64::from_be_bytes)).unwrap_or(0)
    }

    /// Finish commits interrupted by a crash.
    fn recover(&self) {
        for (key, v) in self.ctx.store.meta().scan_kv(OP_NS) {
            if v.first() != Some(&OP_APPLYING) {
                continue;
            }
            let Ok(clog) = key.parse::<i64>() else { continue };
            match load_half(&self.ctx, clog) {
                Ok(half) => {
                    if !committed_copy_exists(&self.ctx, &half) {
                        if let Err(e) = commit(&self.ctx, &half) {
                            tracing::error!(offset = clog, error = %e, "could not finish an interrupted commit");
                            continue;
                        }
                        tracing::info!(offset = clog, "finished a commit interrupted by a restart");
                    }
                    set_op(&self.ctx, clog, OP_COMMITTED);
                }
                Err(e) => tracing::warn!(offset = clog, error = %e, "interrupted commit cannot be recovered"),
            }
        }
    }

    fn check_round(&mut self) {
        let cfg = self.ctx.config();
        let now = super::scheduler::now_ms();
        let timeout_ms = cfg.transaction_timeout.as_millis() as i64;
        let mut offset = self.cursor();
        let mut resolved_prefix = true;
        loop {
            let res = self.ctx.store.get(TRANS_HALF_TOPIC, 0, offset, 32, 4 << 20, &|_| true);
            if res.status != GetStatus::Found {
                if resolved_prefix && res.next_begin_offset > offset && res.status != GetStatus::OffsetOverflowBadly {
                    offset = res.next_begin_offset;
                    self.save_cursor(offset);
                }
                return;
            }
            for raw in &res.messages {
                let Ok((m, _)) = decode_stored(raw) else {
                    offset += 1;
                    continue;
                };
                let pending = op_of(&self.ctx, m.commit_log_offset).is_none();
                if pending {
                    resolved_prefix = false;
                    self.maybe_check(&m, now, timeout_ms, cfg.transaction_check_max);
                }
                offset = m.queue_offset + 1;
                if resolved_prefix {
                    self.save_cursor(offset);
                }
            }
            if res.next_begin_offset > offset {
                offset = res.next_begin_offset;
            }
        }
    }

    fn save_cursor(&self, offset: i64) {
        let _ = self.ctx.store.meta().put_kv(CURSOR_NS, "0", &offset.to_be_bytes());
    }

    fn maybe_check(&self, m: &StoredMessage, now: i64, timeout_ms: i64, check_max: i32) {
        let props = parse_properties(&m.properties);
        let immunity = props
            .get(prop::CHECK_IMMUNITY_TIME_IN_SECONDS)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(|s| s * 1000)
            .unwrap_or(timeout_ms);
        if now - m.store_timestamp < immunity {
            return;
        }
        let key = op_key(m.commit_log_offset);
        let checks = self
            .ctx
            .store
            .meta()
            .get_kv(CHECKS_NS, &key)
            .and_then(|v| v.try_into().ok().map(i32::from_be_bytes))
            .unwrap_or(0);
        if checks >= check_max {
            tracing::warn!(offset = m.commit_log_offset, checks, msg_id = props.get(prop::UNIQ_KEY).unwrap_or(""), "half message discarded after transactionCheckMax check-backs");
            set_op(&self.ctx, m.commit_log_offset, OP_DISCARDED);
            return;
        }
        let Some(group) = props.get(prop::PGROUP) else { return };
        let conn = self.ctx.clients.registry.read().ok().and_then(|r| r.producer_conn(group));
        let Some(conn) = conn else {
            tracing::debug!(group, "no producer online for a pending transaction; will check later");
            return;
        };
        let _ = self.ctx.store.meta().put_kv(CHECKS_NS, &key, &(checks + 1).to_be_bytes());
        conn.send(check_request(m, checks + 1));
    }
}

/// CHECK_TRANSACTION_STATE (39) for a half message, as the Java broker sends it: oneway, with the
/// message (real topic and queue restored) as body.
pub fn check_request(m: &StoredMessage, check_times: i32) -> RemotingCommand {
    let mut props = parse_properties(&m.properties);
    props.insert(prop::TRANSACTION_CHECK_TIMES, &check_times.to_string());
    let uniq = props.get(prop::UNIQ_KEY).map(String::from);
    let mut shown = m.clone();
    if let Some(t) = props.get(prop::REAL_TOPIC) {
        shown.topic = t.to_string();
    }
    if let Some(q) = props.get(prop::REAL_QID).and_then(|q| q.parse().ok()) {
        shown.queue_id = q;
    }
    shown.properties = props.encode();
    let mut body = BytesMut::new();
    encode_stored(&shown, &mut body);
    let mut cmd = RemotingCommand::oneway(RequestCode::CheckTransactionState.as_i32(), super::topic::next_opaque());
    cmd.set_header(&CheckTransactionStateRequestHeader {
        tran_state_table_offset: m.queue_offset,
        commit_log_offset: m.commit_log_offset,
        msg_id: uniq.clone(),
        transaction_id: uniq,
        offset_msg_id: Some(offset_msg_id(m.store_host, m.commit_log_offset)),
    });
    cmd.body = body.freeze();
    cmd
}
