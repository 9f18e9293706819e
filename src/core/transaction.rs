//! The half-message lifecycle: END_TRANSACTION's decision, the committed copy, check-back rounds.
//!
//! - A half message (sysFlag PREPARED, `TRAN_MSG=true`) is stored in `RMQ_SYS_TRANS_HALF_TOPIC`
//!   queue 0 with its real topic and queue in `REAL_TOPIC`/`REAL_QID`
//!   ([`super::redirect::redirect_half`]); consumers never see it.
//! - [`end_transaction`] commits (the message is stored on its real topic with sysFlag COMMIT,
//!   `preparedTransactionOffset` = the half's commit log offset, and without `TRAN_MSG`,
//!   `REAL_TOPIC`, `REAL_QID`, as the Java broker stores it), rolls back, or leaves it for
//!   check-back. The decision is a compare-and-swap on the half's record in sled (absent ->
//!   applying/rolled back), so of two connections racing on one half exactly one acts, whatever
//!   threads they run on. A commit is "applying" before the store and "committed" after; on
//!   restart ([`recover`]) an applying commit is checked against the real queue (a message whose
//!   preparedTransactionOffset is the half's offset) and applied only if missing.
//! - [`check_round`] walks the half queue from a persisted cursor; halves older than
//!   `transactionTimeOut` (or their `CHECK_IMMUNITY_TIME_IN_SECONDS`) get CHECK_TRANSACTION_STATE
//!   on the connection of a live producer of their group; after `transactionCheckMax` checks a
//!   half is discarded and logged. With no producer online it tries again next round.
use super::topics::{next_opaque, TRANS_HALF_TOPIC};
use super::Core;
use crate::codec::codes::RequestCode;
use crate::codec::header::{CheckTransactionStateRequestHeader, EndTransactionRequestHeader};
use crate::codec::message::{offset_msg_id, parse_properties, prop, sys_flag};
use crate::codec::stored::{decode_stored, encode_stored, StoredMessage};
use crate::codec::RemotingCommand;
use crate::store::{GetStatus, StoreError, TxDecision};
use bytes::BytesMut;

/// Why an END_TRANSACTION was refused.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("no half message at offset {0}")]
    NoHalf(i64),
    #[error("undecodable half message at {0}: {1}")]
    Undecodable(i64, String),
    #[error("message at offset {0} is not a half message")]
    NotHalf(i64),
    #[error("the producer group wrong: {0} is not the group of this half message")]
    WrongGroup(String),
    #[error("half message without REAL_TOPIC")]
    NoRealTopic,
    #[error("commit failed: {0}")]
    Store(#[from] StoreError),
}

fn load_half(core: &Core, clog: i64) -> Result<StoredMessage, TxError> {
    let raw = core.store.read_message(clog).ok_or(TxError::NoHalf(clog))?;
    let (m, _) = decode_stored(&raw).map_err(|e| TxError::Undecodable(clog, e.to_string()))?;
    if m.topic != TRANS_HALF_TOPIC {
        return Err(TxError::NotHalf(clog));
    }
    Ok(m)
}

fn record(core: &Core, clog: i64, d: TxDecision) {
    if let Err(e) = core.store.meta().set_tx_decision(clog, d) {
        tracing::error!(offset = clog, error = %e, "failed to record transaction decision");
    }
}

/// END_TRANSACTION (37): apply a producer's decision on a half message, at most once.
pub fn end_transaction(core: &Core, h: &EndTransactionRequestHeader) -> Result<(), TxError> {
    let decision = h.commit_or_rollback & sys_flag::TRANSACTION_MASK;
    if decision != sys_flag::TRANSACTION_COMMIT && decision != sys_flag::TRANSACTION_ROLLBACK {
        return Ok(()); // UNKNOW: leave it for the check-back
    }
    let clog = h.commit_log_offset;
    let half = load_half(core, clog)?;
    if parse_properties(&half.properties).get(prop::PGROUP) != Some(h.producer_group.as_str()) {
        return Err(TxError::WrongGroup(h.producer_group.clone()));
    }
    let meta = core.store.meta();
    if decision == sys_flag::TRANSACTION_ROLLBACK {
        if !meta.swap_tx_decision(clog, None, Some(TxDecision::RolledBack))? {
            tracing::debug!(offset = clog, "transaction already decided; rollback ignored");
        }
        return Ok(());
    }
    if !meta.swap_tx_decision(clog, None, Some(TxDecision::Applying))? {
        tracing::debug!(offset = clog, "transaction already decided; commit ignored");
        return Ok(());
    }
    // A check-back's COMMIT for a half this broker holds no decision for, though its committed
    // copy is in the log: a promoted slave (decisions are the master's metadata, the copy was
    // replicated). Recorded, not stored twice.
    if h.from_transaction_check && committed_copy_exists(core, &half) {
        record(core, clog, TxDecision::Committed);
        return Ok(());
    }
    if let Err(e) = commit(core, &half) {
        // Give the decision back so a retried END_TRANSACTION (or a check-back) can apply it.
        let _ = meta.swap_tx_decision(clog, Some(TxDecision::Applying), None);
        return Err(e);
    }
    record(core, clog, TxDecision::Committed);
    Ok(())
}

/// The committed copy of a half message, as the Java broker stores it.
pub fn committed_copy(half: &StoredMessage) -> Result<crate::store::NewMessage, TxError> {
    let mut props = parse_properties(&half.properties);
    let topic = props.get(prop::REAL_TOPIC).map(String::from).ok_or(TxError::NoRealTopic)?;
    let queue_id = props.get(prop::REAL_QID).and_then(|q| q.parse::<i32>().ok()).unwrap_or(0);
    for k in [prop::REAL_TOPIC, prop::REAL_QID, prop::TRAN_MSG, prop::TRANSACTION_CHECK_TIMES] {
        props.remove(k);
    }
    props.insert(prop::TRAN_PREPARED_QUEUE_OFFSET, half.queue_offset.to_string());
    let mut msg = super::message::restore(half, topic, queue_id, &props);
    msg.sys_flag = (half.sys_flag & !sys_flag::TRANSACTION_MASK) | sys_flag::TRANSACTION_COMMIT;
    msg.prepared_transaction_offset = half.commit_log_offset;
    Ok(msg)
}

/// Store the committed copy on the real topic (waking parked pulls).
fn commit(core: &Core, half: &StoredMessage) -> Result<(), TxError> {
    core.append(vec![committed_copy(half)?])?;
    Ok(())
}

/// Whether the real queue already holds the committed copy of `half` (crash recovery).
fn committed_copy_exists(core: &Core, half: &StoredMessage) -> bool {
    let props = parse_properties(&half.properties);
    let (Some(topic), Some(qid)) =
        (props.get(prop::REAL_TOPIC), props.get(prop::REAL_QID).and_then(|q| q.parse::<i32>().ok()))
    else {
        return false;
    };
    let mut offset = core.store.offset_by_time(topic, qid, half.store_timestamp).saturating_sub(1).max(0);
    loop {
        let res = core.store.get(topic, qid, offset, 32, 4 << 20, &|_| true);
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

/// Finish commits interrupted by a crash (run once at start, before requests are served).
pub fn recover(core: &Core) {
    for clog in core.store.meta().tx_applying() {
        match load_half(core, clog) {
            Ok(half) => {
                if !committed_copy_exists(core, &half) {
                    if let Err(e) = commit(core, &half) {
                        tracing::error!(offset = clog, error = %e, "could not finish an interrupted commit");
                        continue;
                    }
                    tracing::info!(offset = clog, "finished a commit interrupted by a restart");
                }
                record(core, clog, TxDecision::Committed);
            }
            Err(e) => tracing::warn!(offset = clog, error = %e, "interrupted commit cannot be recovered"),
        }
    }
}

/// One check-back round over the half queue at time `now_ms`.
pub fn check_round(core: &Core, now_ms: i64) {
    let cfg = core.config();
    let timeout_ms = cfg.transaction_timeout.as_millis() as i64;
    let meta = core.store.meta();
    let mut offset = meta.tx_cursor();
    let mut resolved_prefix = true;
    loop {
        let res = core.store.get(TRANS_HALF_TOPIC, 0, offset, 32, 4 << 20, &|_| true);
        if res.status != GetStatus::Found {
            if resolved_prefix && res.next_begin_offset > offset && res.status != GetStatus::OffsetOverflowBadly {
                let _ = meta.set_tx_cursor(res.next_begin_offset);
            }
            return;
        }
        for raw in &res.messages {
            let Ok((m, _)) = decode_stored(raw) else {
                offset += 1;
                continue;
            };
            if meta.tx_decision(m.commit_log_offset).is_none() {
                resolved_prefix = false;
                maybe_check(core, &m, now_ms, timeout_ms, cfg.transaction_check_max);
            }
            offset = m.queue_offset + 1;
            if resolved_prefix {
                let _ = meta.set_tx_cursor(offset);
            }
        }
        if res.next_begin_offset > offset {
            offset = res.next_begin_offset;
        }
    }
}

fn maybe_check(core: &Core, m: &StoredMessage, now: i64, timeout_ms: i64, check_max: i32) {
    let props = parse_properties(&m.properties);
    let immunity = props
        .get(prop::CHECK_IMMUNITY_TIME_IN_SECONDS)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map(|s| s * 1000)
        .unwrap_or(timeout_ms);
    if now - m.store_timestamp < immunity {
        return;
    }
    let meta = core.store.meta();
    let checks = meta.tx_checks(m.commit_log_offset);
    if checks >= check_max {
        tracing::warn!(offset = m.commit_log_offset, checks, msg_id = props.get(prop::UNIQ_KEY).unwrap_or(""), "half message discarded after transactionCheckMax check-backs");
        // Only if still undecided: a decision that raced in wins.
        let _ = meta.swap_tx_decision(m.commit_log_offset, None, Some(TxDecision::Discarded));
        return;
    }
    let Some(group) = props.get(prop::PGROUP) else { return };
    let conn = core.clients.registry.read().ok().and_then(|r| r.producer_conn(group));
    let Some(conn) = conn else {
        tracing::debug!(group, "no producer online for a pending transaction; will check later");
        return;
    };
    let _ = meta.set_tx_checks(m.commit_log_offset, checks + 1);
    conn.send(check_request(m, checks + 1));
}

/// CHECK_TRANSACTION_STATE (39) for a half message, as the Java broker sends it: oneway, with the
/// message (real topic and queue restored) as body.
pub fn check_request(m: &StoredMessage, check_times: i32) -> RemotingCommand {
    let mut props = parse_properties(&m.properties);
    props.insert(prop::TRANSACTION_CHECK_TIMES, check_times.to_string());
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
    let mut cmd = RemotingCommand::oneway(RequestCode::CheckTransactionState.as_i32(), next_opaque());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::message::Properties;
    use crate::codec::message::prop;
    use proptest::prelude::{prop_assert_eq, proptest};

    fn half_with(user: &[(String, String)], real_topic: &str, real_qid: i32) -> StoredMessage {
        let mut p = Properties::new();
        for (k, v) in user {
            p.insert(k.clone(), v.clone());
        }
        p.insert(prop::TRAN_MSG, "true");
        p.insert(prop::PGROUP, "pg");
        p.insert(prop::REAL_TOPIC, real_topic);
        p.insert(prop::REAL_QID, real_qid.to_string());
        let host: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
        StoredMessage {
            queue_id: 0,
            flag: 0,
            queue_offset: 7,
            commit_log_offset: 4096,
            sys_flag: sys_flag::TRANSACTION_PREPARED,
            born_timestamp: 1,
            born_host: host,
            store_timestamp: 2,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: bytes::Bytes::from_static(b"b"),
            topic: TRANS_HALF_TOPIC.into(),
            properties: p.encode(),
            body_crc: 0,
        }
    }

    proptest! {
        /// The committed copy is the user's message on its real queue: every user property kept,
        /// none of the transaction's bookkeeping (TRAN_MSG, REAL_TOPIC, REAL_QID) left.
        #[test]
        fn committed_copy_is_an_ordinary_message(
            user in proptest::collection::vec(("[A-Za-z][A-Za-z0-9_]{0,8}", "[a-z0-9 ]{0,12}"), 0..8),
            topic in "[A-Za-z][A-Za-z0-9_]{0,10}",
            qid in 0..16i32,
        ) {
            let reserved = [prop::TRAN_MSG, prop::PGROUP, prop::REAL_TOPIC, prop::REAL_QID, prop::TRANSACTION_CHECK_TIMES, prop::TRAN_PREPARED_QUEUE_OFFSET];
            let user: Vec<(String, String)> = user.into_iter().filter(|(k, _)| !reserved.contains(&k.as_str())).collect();
            let half = half_with(&user, &topic, qid);
            let m = committed_copy(&half).unwrap();
            let p = parse_properties(&m.properties);
            prop_assert_eq!(&m.topic, &topic);
            prop_assert_eq!(m.queue_id, qid);
            prop_assert_eq!(p.get(prop::TRAN_MSG), None);
            prop_assert_eq!(p.get(prop::REAL_TOPIC), None);
            prop_assert_eq!(p.get(prop::REAL_QID), None);
            prop_assert_eq!(p.get(prop::TRAN_PREPARED_QUEUE_OFFSET), Some("7"));
            prop_assert_eq!(m.sys_flag & sys_flag::TRANSACTION_MASK, sys_flag::TRANSACTION_COMMIT);
            prop_assert_eq!(m.prepared_transaction_offset, 4096);
            let orig = parse_properties(&half.properties);
            for (k, _) in &user {
                prop_assert_eq!(p.get(k), orig.get(k));
            }
        }
    }
}
