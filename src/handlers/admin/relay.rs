//! Who is connected, and requests relayed to one consumer: GET_CONSUMER_CONNECTION_LIST (203),
//! GET_PRODUCER_CONNECTION_LIST (204), GET_CONSUMER_RUNNING_INFO (307), CONSUME_MESSAGE_DIRECTLY
//! (309), INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223 via 221).
use super::super::{answer, success, Conn, HandlerError, HandlerResult, Reply};
use crate::core::clients::ClientChannel;
use crate::core::Core;
use crate::core::ConnHandle;
use crate::codec::body::{Connection, ConsumerConnection, MessageQueue, ProducerConnection};
use crate::codec::codes::{response_code as rc, RequestCode};
use crate::codec::header::*;
use crate::codec::json::{parse_lenient, read_object_keyed_map, write_object_keyed_map};
use crate::codec::message::decode_offset_msg_id;
use crate::codec::RemotingCommand;
use std::time::Duration;

/// How long the broker waits for a client it relays to (Java: 10 s for 307/309, 5 s for 221).
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

fn connection(ch: &ClientChannel) -> Connection {
    Connection {
        client_addr: ch.conn.peer.to_string(),
        client_id: ch.client_id.clone(),
        language: ch.language.clone(),
        version: ch.version,
    }
}

/// GET_CONSUMER_CONNECTION_LIST (203).
pub fn consumer_connections(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetConsumerConnectionListRequestHeader>()?;
    let reg = core.clients.registry.read().unwrap_or_else(|e| e.into_inner());
    let Some(g) = reg.consumers.get(&h.consumer_group).filter(|g| !g.channels.is_empty()) else {
        return Err(HandlerError::new(rc::CONSUMER_NOT_ONLINE, format!("the consumer group[{}] not online", h.consumer_group)));
    };
    let mut set: Vec<Connection> = g.channels.values().map(connection).collect();
    set.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let body = ConsumerConnection {
        connection_set: set,
        consume_from_where: g.consume_from_where.clone(),
        consume_type: g.consume_type.clone(),
        message_model: g.message_model.clone(),
        subscription_table: g.subscriptions.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    Ok(success(req).with_body(body.to_json()).into())
}

/// GET_PRODUCER_CONNECTION_LIST (204).
pub fn producer_connections(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetProducerConnectionListRequestHeader>()?;
    let reg = core.clients.registry.read().unwrap_or_else(|e| e.into_inner());
    let Some(g) = reg.producers.get(&h.producer_group).filter(|g| !g.channels.is_empty()) else {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("the producer group[{}] not exist", h.producer_group)));
    };
    let mut set: Vec<Connection> = g.channels.values().map(connection).collect();
    set.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(success(req).with_body(ProducerConnection { connection_set: set }.to_json()).into())
}

/// The client's answer to a relayed request, re-addressed to the admin's request.
fn readdress(req: &RemotingCommand, mut resp: RemotingCommand) -> RemotingCommand {
    let template = RemotingCommand::response_to(req, resp.code, None);
    resp.opaque = template.opaque;
    resp.flag = template.flag;
    resp
}

/// Send `cmd` to one client and answer the admin with the client's response unchanged.
fn relay(req: &RemotingCommand, conn: ConnHandle, cmd: RemotingCommand, what: String) -> Reply {
    let req = req.clone();
    Reply::Later(Box::pin(async move {
        Some(match conn.request(cmd, RELAY_TIMEOUT).await {
            Some(resp) => readdress(&req, resp),
            None => answer(&req, rc::CONSUME_MSG_TIMEOUT, format!("consumer {what} Timeout: {}", RELAY_TIMEOUT.as_millis())),
        })
    }))
}

fn find_consumer(core: &Core, group: &str, client_id: &str) -> Option<ConnHandle> {
    core.clients.registry.read().ok()?.consumer_conn(group, client_id)
}

/// A broker-to-client request carrying the admin's header fields.
fn forward(req: &RemotingCommand, code: RequestCode) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code.as_i32(), 0);
    cmd.ext_fields = req.ext_fields.clone();
    cmd
}

/// GET_CONSUMER_RUNNING_INFO (307): relayed to the client named by `clientId`.
pub fn consumer_running_info(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetConsumerRunningInfoRequestHeader>()?;
    let Some(conn) = find_consumer(core, &h.consumer_group, &h.client_id) else {
        let remark = format!("The Consumer <{}> <{}> not online", h.consumer_group, h.client_id);
        return Err(HandlerError::new(rc::SYSTEM_ERROR, remark));
    };
    let cmd = forward(req, RequestCode::GetConsumerRunningInfo);
    Ok(relay(req, conn, cmd, format!("<{}> <{}>", h.consumer_group, h.client_id)))
}

/// CONSUME_MESSAGE_DIRECTLY (309): the message named by the offset `msgId`, relayed to a client.
pub fn consume_directly(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<ConsumeMessageDirectlyResultRequestHeader>()?;
    let client_id = h.client_id.clone().unwrap_or_default();
    let Some(conn) = find_consumer(core, &h.consumer_group, &client_id) else {
        let remark = format!("The Consumer <{}> <{}> not online", h.consumer_group, client_id);
        return Err(HandlerError::new(rc::SYSTEM_ERROR, remark));
    };
    let msg = h.msg_id.as_deref().and_then(|id| decode_offset_msg_id(id).ok()).and_then(|(_, off)| core.store.read_message(off));
    let Some(msg) = msg else {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("can not find message by msgId {:?}", h.msg_id)));
    };
    let mut cmd = forward(req, RequestCode::ConsumeMessageDirectly);
    cmd.set_header(&ConsumeMessageDirectlyResultRequestHeader { broker_name: Some(core.identity.broker_name.clone()), ..h.clone() });
    cmd.body = msg;
    Ok(relay(req, conn, cmd, format!("<{}> <{}>", h.consumer_group, client_id)))
}

/// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223): ask each member (or the one named by
/// `clientAddr`) for its offsets with GET_CONSUMER_STATUS_FROM_CLIENT (221) and answer
/// `{"consumerTable":{"clientId":{MQ:offset}}}`.
pub fn consumer_status(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h = req.decode_header::<GetConsumerStatusRequestHeader>()?;
    let members: Vec<(String, ConnHandle)> = {
        let reg = core.clients.registry.read().unwrap_or_else(|e| e.into_inner());
        reg.consumers
            .get(&h.group)
            .map(|g| g.channels.values().map(|c| (c.client_id.clone(), c.conn.clone())).collect())
            .unwrap_or_default()
    };
    let only = h.client_addr.clone().filter(|a| !a.is_empty());
    let members: Vec<_> = members.into_iter().filter(|(id, _)| only.as_ref().is_none_or(|a| a == id)).collect();
    if members.is_empty() {
        let remark = format!("No Any Consumer online in the consumer group: [{}]", h.group);
        return Err(HandlerError::system(remark));
    }
    let req = req.clone();
    Ok(Reply::Later(Box::pin(async move {
        let mut out = b"{\"consumerTable\":{".to_vec();
        let mut first = true;
        for (client_id, conn) in members {
            let mut cmd = RemotingCommand::request(RequestCode::GetConsumerStatusFromClient.as_i32(), 0);
            cmd.set_header(&GetConsumerStatusRequestHeader { topic: h.topic.clone(), group: h.group.clone(), client_addr: None });
            let Some(resp) = conn.request(cmd, Duration::from_secs(5)).await else { continue };
            let Some(table) = status_table(&resp) else { continue };
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut out, &client_id);
            out.push(b':');
            write_object_keyed_map(&mut out, &table);
        }
        out.extend_from_slice(b"}}");
        Some(success(&req).with_body(out))
    })))
}

/// `messageQueueTable` of a client's GetConsumerStatusBody.
fn status_table(resp: &RemotingCommand) -> Option<Vec<(MessageQueue, i64)>> {
    if resp.code != rc::SUCCESS {
        return None;
    }
    let v = parse_lenient(&resp.body).ok()?;
    read_object_keyed_map(v.get("messageQueueTable")?).ok()
}

/// GET_ALL_PRODUCER_INFO (328, 5.x): `{"data":{"group":[ProducerInfo,...]}}`.
pub fn all_producer_info(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let now = crate::core::now_ms();
    let reg = core.clients.registry.read().unwrap_or_else(|e| e.into_inner());
    let data: serde_json::Map<String, serde_json::Value> = reg
        .producers
        .iter()
        .map(|(group, g)| {
            let list: Vec<serde_json::Value> = g
                .channels
                .values()
                .map(|c| {
                    serde_json::json!({
                        "clientId": c.client_id,
                        "language": c.language,
                        "lastUpdateTimestamp": now - c.last_update.elapsed().as_millis() as i64,
                        "remoteIP": c.conn.peer.to_string(),
                        "version": c.version,
                    })
                })
                .collect();
            (group.clone(), serde_json::Value::Array(list))
        })
        .collect();
    Ok(success(req).with_body(serde_json::json!({ "data": data }).to_string()).into())
}
