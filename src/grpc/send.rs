//! SendMessage: each `pb::Message` becomes a [`NewMessage`] with the same properties a remoting
//! send stores (TAGS, KEYS, UNIQ_KEY = the SDK's message id, the broker's stamps), a delivery
//! time as `TIMER_DELIVER_MS` (the timer redirect), a FIFO message group as `__SHARDINGKEY` (and
//! the queue chosen by its hash); then one [`crate::core::Core::append`].
use super::pb::{self, Code, MessageType};
use super::route::{accepted_types, topic_of};
use super::{status, Grpc};
use crate::codec::message::{prop, Properties};
use crate::core::send::{pick_queue, stored_properties};
use crate::core::topics::perm;
use crate::core::now_ms;
use crate::store::{NewMessage, TopicConfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The property that carries a FIFO message's group (Java's `PROPERTY_SHARDING_KEY`).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";

/// A timestamp as milliseconds; SDKs that put milliseconds in `seconds` are understood too.
pub fn timestamp_ms(t: &prost_types::Timestamp) -> i64 {
    if t.seconds > 100_000_000_000 {
        t.seconds
    } else {
        t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000)
    }
}

fn fifo_queue(group: &str, write_queues: i32) -> i32 {
    // Java's String.hashCode, so a group lands where a Java selector would put it
    let h = group.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    (h.unsigned_abs() % write_queues.max(1) as u32) as i32
}

/// One message checked and built, or the status that refuses it.
fn build(g: &Grpc, peer: SocketAddr, m: pb::Message) -> Result<(NewMessage, TopicConfig), pb::Status> {
    let (res, tc) = topic_of(g, m.topic.as_ref())?;
    if tc.perm & perm::WRITE == 0 {
        return Err(status::of(Code::Forbidden, format!("the topic[{}] sending message is forbidden", res.name)));
    }
    let cfg = g.core.config();
    if m.body.is_empty() {
        return Err(status::of(Code::MessageBodyEmpty, "message body is empty"));
    }
    if m.body.len() > cfg.max_message_size {
        return Err(status::of(
            Code::MessageBodyTooLarge,
            format!("message body size {} exceeds the limit {} (maxMessageSize)", m.body.len(), cfg.max_message_size),
        ));
    }
    let sp = m.system_properties.unwrap_or_default();
    if sp.message_id.is_empty() {
        return Err(status::of(Code::IllegalMessageId, "message id is required"));
    }
    let mut props = Properties::default();
    for (k, v) in &m.user_properties {
        if k.is_empty() || k.contains(crate::codec::message::NAME_VALUE_SEPARATOR) || k.contains(crate::codec::message::PROPERTY_SEPARATOR) {
            return Err(status::of(Code::IllegalMessagePropertyKey, format!("illegal property key [{k}]")));
        }
        props.insert(k.as_str(), v.as_str());
    }
    if let Some(tag) = sp.tag.as_deref() {
        if tag.trim().is_empty() || tag.contains('|') {
            return Err(status::of(Code::IllegalMessageTag, format!("illegal tag [{tag}]")));
        }
        props.insert(prop::TAGS, tag);
    }
    if !sp.keys.is_empty() {
        props.insert(prop::KEYS, sp.keys.join(" "));
    }
    props.insert(prop::UNIQ_KEY, sp.message_id.as_str());
    let mtype = match MessageType::try_from(sp.message_type) {
        Ok(MessageType::Unspecified) | Err(_) => MessageType::Normal,
        Ok(t) => t,
    };
    if !accepted_types(&tc).contains(&(mtype as i32)) {
        return Err(status::of(
            Code::MessagePropertyConflictWithType,
            format!("topic [{}] does not accept {} messages (its message.type is {})", res.name, mtype.as_str_name(), tc.message_type.as_deref().unwrap_or("NORMAL")),
        ));
    }
    let mut sys_flag = 0;
    if mtype == MessageType::Transaction {
        // A half message: parked in the half topic until EndTransaction (the producer group is the
        // topic: EndTransaction names only the topic).
        props.insert(prop::TRAN_MSG, "true");
        props.insert(prop::PGROUP, res.name.as_str());
        sys_flag = crate::codec::message::sys_flag::TRANSACTION_PREPARED;
    }
    let mut queue_id = pick_queue(tc.write_queue_nums);
    if let Some(group) = sp.message_group.as_deref() {
        if group.is_empty() {
            return Err(status::of(Code::IllegalMessageGroup, "message group is empty"));
        }
        props.insert(SHARDING_KEY, group);
        queue_id = fifo_queue(group, tc.write_queue_nums);
    }
    if let Some(at) = sp.delivery_timestamp.as_ref() {
        props.insert(prop::TIMER_DELIVER_MS, timestamp_ms(at).to_string());
    }
    let (tags_code, keys, uniq_key) = crate::core::message::index_fields(&props);
    let cfg = g.core.config();
    let properties = stored_properties(props, &g.core.stamps(&cfg)).map_err(|e| status::of(Code::MessagePropertiesTooLarge, e))?;
    let born = sp.born_timestamp.as_ref().map(timestamp_ms).unwrap_or_else(now_ms);
    let msg = NewMessage {
        topic: res.name.into(),
        queue_id,
        flag: 0,
        sys_flag,
        born_timestamp: born,
        born_host: peer,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: m.body,
        properties,
        tags_code,
        keys,
        uniq_key,
    };
    Ok((msg, tc))
}

fn refused(n: usize, ids: Vec<String>, st: pb::Status) -> pb::SendMessageResponse {
    let entries = (0..n)
        .map(|i| pb::SendResultEntry { status: Some(st.clone()), message_id: ids.get(i).cloned().unwrap_or_default(), ..Default::default() })
        .collect();
    pb::SendMessageResponse { status: Some(st), entries }
}

pub async fn send_message(g: &Grpc, peer: Option<SocketAddr>, req: pb::SendMessageRequest) -> pb::SendMessageResponse {
    let peer = peer.unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    let ids: Vec<String> =
        req.messages.iter().map(|m| m.system_properties.as_ref().map(|s| s.message_id.clone()).unwrap_or_default()).collect();
    if req.messages.is_empty() {
        return refused(0, ids, status::of(Code::BadRequest, "no message to send"));
    }
    let n = req.messages.len();
    let mut msgs = Vec::with_capacity(n);
    for m in req.messages {
        match build(g, peer, m) {
            Ok((nm, _)) => msgs.push(nm),
            Err(st) => return refused(n, ids, st),
        }
    }
    if msgs.iter().any(|m| m.topic != msgs[0].topic) {
        return refused(msgs.len(), ids, status::of(Code::BadRequest, "the messages of one request must share a topic"));
    }
    let half = msgs[0].sys_flag != 0;
    if half && msgs.len() > 1 {
        return refused(msgs.len(), ids, status::of(Code::BadRequest, "transactional messages are sent one by one"));
    }
    let recall_handles = if msgs.len() == 1 {
        if let Err(e) = g.core.redirect_single(&g.core.config(), &mut msgs[0], &now_ms) {
            return refused(1, ids, status::of(Code::IllegalDeliveryTime, e.to_string()));
        }
        g.core.recall_handles(&msgs)
    } else {
        // each message of a batch with its own delivery time, as a single one
        match g.core.redirect_batch(&mut msgs, &now_ms) {
            Ok(0) => Vec::new(),
            Ok(_) => g.core.recall_handles(&msgs),
            Err(e) => return refused(msgs.len(), ids, status::of(Code::IllegalDeliveryTime, e.to_string())),
        }
    };
    // a batch's messages each got a queue (round robin, or their group's), and timers the timer topic
    let outcome = match g.core.append(msgs) {
        Ok(o) => o,
        Err(e) => return refused(ids.len(), ids, status::of(Code::InternalServerError, e.to_string())),
    };
    let ha = g.core.sync_master_wait(&outcome, &now_ms);
    if let Some(waiter) = outcome.flush {
        if let Err(e) = waiter.wait().await {
            return refused(ids.len(), ids, status::of(Code::MasterPersistenceTimeout, e.to_string()));
        }
    }
    // SYNC_MASTER: as the remoting answer (docs/replication.md), with RocketMQ 5's codes.
    match ha {
        crate::core::ha::SyncDecision::Done => {}
        crate::core::ha::SyncDecision::NoSlave => {
            return refused(ids.len(), ids, status::of(Code::HaNotAvailable, "no slave in sync (the message is stored on the master)"));
        }
        crate::core::ha::SyncDecision::Wait(rx) => {
            if rx.await != Ok(crate::core::ha::SyncOutcome::Replicated) {
                return refused(ids.len(), ids, status::of(Code::SlavePersistenceTimeout, "no slave acknowledged within syncFlushTimeout (the message is stored on the master)"));
            }
        }
    }
    let entries = outcome
        .results
        .iter()
        .zip(ids)
        .enumerate()
        .map(|(i, (r, id))| pb::SendResultEntry {
            status: Some(status::ok()),
            message_id: id,
            // the half's offset id: EndTransaction finds the half by it
            transaction_id: if half { r.msg_id() } else { String::new() },
            offset: r.queue_offset,
            recall_handle: recall_handles.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    pb::SendMessageResponse { status: Some(status::ok()), entries }
}

/// RecallMessage: cancel a waiting timer message by its recall handle (the send result's
/// `recall_handle`). A malformed handle or a time out of range: `BAD_REQUEST`; a message that is
/// not waiting (unknown, delivered, recalled): `MESSAGE_NOT_FOUND`.
pub fn recall_message(g: &Grpc, req: pb::RecallMessageRequest) -> pb::RecallMessageResponse {
    use crate::core::timer::RecallError;
    let answer = |st, message_id| pb::RecallMessageResponse { status: Some(st), message_id };
    let (res, _) = match topic_of(g, req.topic.as_ref()) {
        Ok(t) => t,
        Err(st) => return answer(st, String::new()),
    };
    match g.core.timers.recall(&g.core, &res.name, &req.recall_handle, now_ms()) {
        Ok(id) => answer(status::ok(), id),
        Err(e) => {
            let code = match &e {
                RecallError::Invalid(_) => Code::BadRequest,
                RecallError::NotPending(_) => Code::MessageNotFound,
                RecallError::Unavailable(_) | RecallError::Store(_) => Code::InternalServerError,
            };
            answer(status::of(code, e.to_string()), String::new())
        }
    }
}

/// EndTransaction: the producer's decision on a half message named by its transaction id (the
/// half's offset message id), applied once by [`crate::core::transaction::end_transaction`].
pub fn end_transaction(g: &Grpc, req: pb::EndTransactionRequest) -> pb::EndTransactionResponse {
    let answer = |st| pb::EndTransactionResponse { status: Some(st) };
    let (res, _) = match topic_of(g, req.topic.as_ref()) {
        Ok(t) => t,
        Err(st) => return answer(st),
    };
    // upper-case hex: store ip (4 or 16 bytes) + port (4) + commit log offset (8)
    let id = req.transaction_id.as_str();
    let clog = (id.len() >= 32 && id.is_ascii())
        .then(|| i64::from_str_radix(&id[id.len() - 16..], 16).ok())
        .flatten()
        .filter(|o| *o >= 0);
    let Some(clog) = clog else {
        return answer(status::of(Code::InvalidTransactionId, format!("illegal transaction id [{}]", id.chars().take(80).collect::<String>())));
    };
    let decision = match pb::TransactionResolution::try_from(req.resolution) {
        Ok(pb::TransactionResolution::Commit) => crate::codec::message::sys_flag::TRANSACTION_COMMIT,
        Ok(pb::TransactionResolution::Rollback) => crate::codec::message::sys_flag::TRANSACTION_ROLLBACK,
        _ => return answer(status::ok()), // unknown: left to the check
    };
    let h = crate::codec::header::EndTransactionRequestHeader {
        producer_group: res.name.clone(),
        tran_state_table_offset: 0,
        commit_log_offset: clog,
        commit_or_rollback: decision,
        from_transaction_check: req.source == pb::TransactionSource::SourceServerCheck as i32,
        msg_id: req.message_id.clone(),
        transaction_id: Some(req.transaction_id.clone()),
    };
    match crate::core::transaction::end_transaction(&g.core, &h) {
        Ok(()) => answer(status::ok()),
        Err(e) => {
            use crate::core::transaction::TxError;
            let code = match e {
                TxError::NoHalf(_) | TxError::NotHalf(_) | TxError::Undecodable(..) | TxError::WrongGroup(_) => Code::InvalidTransactionId,
                _ => Code::InternalServerError,
            };
            answer(status::of(code, e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fifo_queue, timestamp_ms};

    #[test]
    fn delivery_timestamps_in_seconds_or_milliseconds() {
        let secs = prost_types::Timestamp { seconds: 1_700_000_000, nanos: 250_000_000 };
        assert_eq!(timestamp_ms(&secs), 1_700_000_000_250);
        let ms_in_seconds = prost_types::Timestamp { seconds: 1_700_000_000_250, nanos: 0 };
        assert_eq!(timestamp_ms(&ms_in_seconds), 1_700_000_000_250);
    }

    #[test]
    fn a_message_group_always_lands_on_one_queue() {
        assert_eq!(fifo_queue("order-42", 4), fifo_queue("order-42", 4));
        assert!((0..4).contains(&fifo_queue("x", 4)));
        assert_eq!(fifo_queue("anything", 0), 0);
    }
}
