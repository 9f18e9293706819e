//! Name-server requests: registration, routes, cluster info, topic lists, KV config.
use super::{answer, not_supported, success, HandlerError, HandlerResult, Reply};
use crate::core::namesrv::{Applied, NamesrvContext, Registration};
use crate::codec::body::{decode_compressed, DataVersion, KvTable, RegisterBrokerBody, TopicList, MAX_INFLATED_REGISTRATION};
use crate::codec::codes::{response_code as rc, RequestCode};
use crate::codec::header::*;
use crate::codec::RemotingCommand;
use std::time::Instant;

/// Route one name-server request; `conn` is the id of the connection it arrived on (a broker
/// lives as long as the connection its registration arrived on).
pub fn handle(ctx: &NamesrvContext, conn: u64, req: &RemotingCommand) -> HandlerResult {
    use RequestCode as C;
    let resp = match RequestCode::from_i32(req.code) {
        C::RegisterBroker => register_broker(ctx, conn, req)?,
        C::UnregisterBroker => unregister_broker(ctx, req)?,
        C::QueryDataVersion => query_data_version(ctx, req)?,
        C::GetRouteinfoByTopic => route(ctx, req)?,
        C::GetBrokerClusterInfo => cluster_info(ctx, req),
        C::GetAllTopicListFromNameserver => {
            let topics = lock(ctx).topics();
            topic_list(req, topics, None)
        }
        C::GetTopicsByCluster => {
            let h = req.decode_header::<GetTopicsByClusterRequestHeader>()?;
            let topics = lock(ctx).topics_of_cluster(&h.cluster);
            topic_list(req, topics, None)
        }
        C::GetSystemTopicListFromNs => {
            let r = lock(ctx);
            let mut names: Vec<String> = r.clusters.keys().cloned().collect();
            names.extend(r.brokers.keys().cloned());
            let addr = r.brokers.values().find_map(|b| b.broker_addrs.get(&0).cloned());
            drop(r);
            topic_list(req, names, addr)
        }
        C::GetUnitTopicList | C::GetHasUnitSubTopicList | C::GetHasUnitSubUnunitTopicList => {
            topic_list(req, Vec::new(), None)
        }
        C::DeleteTopicInNamesrv => {
            let h = req.decode_header::<DeleteTopicRequestHeader>()?;
            lock(ctx).delete_topic(&h.topic);
            success(req)
        }
        C::PutKvConfig => {
            let h = req.decode_header::<PutKvConfigRequestHeader>()?;
            lock(ctx).kv.entry(h.namespace).or_default().insert(h.key, h.value);
            success(req)
        }
        C::GetKvConfig => {
            let h = req.decode_header::<GetKvConfigRequestHeader>()?;
            let v = lock(ctx).kv.get(&h.namespace).and_then(|m| m.get(&h.key)).cloned();
            match v {
                Some(value) => {
                    let mut r = success(req);
                    r.set_header(&GetKvConfigResponseHeader { value: Some(value) });
                    r
                }
                None => answer(req, rc::QUERY_NOT_FOUND, format!("No config item, Namespace: {} Key: {}", h.namespace, h.key)),
            }
        }
        C::DeleteKvConfig => {
            let h = req.decode_header::<DeleteKvConfigRequestHeader>()?;
            if let Some(m) = lock(ctx).kv.get_mut(&h.namespace) {
                m.remove(&h.key);
            }
            success(req)
        }
        C::GetKvlistByNamespace => {
            let h = req.decode_header::<GetKvListByNamespaceRequestHeader>()?;
            let table = lock(ctx).kv.get(&h.namespace).cloned();
            match table {
                Some(table) if !table.is_empty() => success(req).with_body(KvTable { table }.to_json()),
                _ => answer(req, rc::QUERY_NOT_FOUND, format!("No config item, Namespace: {}", h.namespace)),
            }
        }
        C::WipeWritePermOfBroker => {
            let h = req.decode_header::<WipeWritePermOfBrokerRequestHeader>()?;
            let n = lock(ctx).set_write_perm(&h.broker_name, false);
            tracing::warn!(broker = %h.broker_name, topics = n, "write permission wiped");
            let mut r = success(req);
            r.set_header(&WipeWritePermOfBrokerResponseHeader { wipe_topic_count: n as i32 });
            r
        }
        C::AddWritePermOfBroker => {
            let h = req.decode_header::<AddWritePermOfBrokerRequestHeader>()?;
            let n = lock(ctx).set_write_perm(&h.broker_name, true);
            tracing::warn!(broker = %h.broker_name, topics = n, "write permission added");
            let mut r = success(req);
            r.set_header(&AddWritePermOfBrokerResponseHeader { add_topic_count: n as i32 });
            r
        }
        C::GetNamesrvConfig => success(req).with_body(namesrv_config_text()),
        C::UpdateNamesrvConfig => update_namesrv_config(req),
        _ => not_supported(req),
    };
    Ok(Reply::Now(resp))
}

fn lock(ctx: &NamesrvContext) -> std::sync::MutexGuard<'_, crate::core::namesrv::RouteInfo> {
    ctx.routes.lock().unwrap_or_else(|e| e.into_inner())
}

fn topic_list(req: &RemotingCommand, topics: Vec<String>, broker_addr: Option<String>) -> RemotingCommand {
    success(req).with_body(TopicList { topic_list: topics, broker_addr }.to_json())
}

fn register_broker(ctx: &NamesrvContext, conn: u64, req: &RemotingCommand) -> Result<RemotingCommand, HandlerError> {
    let h = req.decode_header::<RegisterBrokerRequestHeader>()?;
    if h.body_crc32 != 0 {
        let crc = (crc32fast::hash(&req.body) & 0x7FFF_FFFF) as i32;
        if crc != h.body_crc32 {
            return Err(HandlerError::system("crc32 not match"));
        }
    }
    let body = if req.body.is_empty() {
        RegisterBrokerBody::default()
    } else if h.compressed {
        // a Java broker's `compressedRegister=true`; inflated size bounded
        match decode_compressed(&req.body, MAX_INFLATED_REGISTRATION) {
            Ok(b) => b,
            Err(e) => return Err(HandlerError::system(format!("bad registration body: {e}"))),
        }
    } else {
        match RegisterBrokerBody::from_json(&req.body) {
            Ok(b) => b,
            Err(e) => return Err(HandlerError::system(format!("bad registration body: {e}"))),
        }
    };
    let w = body.topic_config_serialize_wrapper;
    let reg = Registration {
        cluster: h.cluster_name,
        broker_name: h.broker_name.clone(),
        broker_addr: h.broker_addr.clone(),
        broker_id: h.broker_id,
        ha_addr: h.ha_server_addr,
        data_version: (w.data_version.timestamp, w.data_version.counter),
        topics: w.topic_config_table.into_values().collect(),
        conn: Some(conn),
    };
    let mut routes = lock(ctx);
    let applied = routes.register(reg, Instant::now());
    let (master_addr, master_ha) = if h.broker_id != 0 {
        let m = routes.brokers.get(&h.broker_name).and_then(|b| b.broker_addrs.get(&0).cloned());
        let ha = m.as_ref().and_then(|a| routes.live.get(a)).map(|l| l.ha_addr.clone());
        (m, ha)
    } else {
        (None, None)
    };
    let order = routes.kv.get("ORDER_TOPIC_CONFIG").cloned().filter(|t| !t.is_empty());
    drop(routes);
    match applied {
        Applied::First => tracing::info!(broker = %h.broker_addr, name = %h.broker_name, id = h.broker_id, conn, "broker registered"),
        Applied::Older => tracing::debug!(broker = %h.broker_addr, "registration older than one already applied: topic data ignored"),
        Applied::Newer | Applied::Same => {}
    }
    let mut r = success(req);
    r.set_header(&RegisterBrokerResponseHeader { ha_server_addr: master_ha, master_addr });
    if let Some(table) = order {
        r.body = KvTable { table }.to_json().into();
    }
    Ok(r)
}

/// QUERY_DATA_VERSION (322): sent by Java brokers with `forceRegister=false` before registering.
fn query_data_version(ctx: &NamesrvContext, req: &RemotingCommand) -> Result<RemotingCommand, HandlerError> {
    let h = req.decode_header::<QueryDataVersionRequestHeader>()?;
    let v = DataVersion::from_json(&req.body).map_err(|e| HandlerError::system(format!("bad data version body: {e}")))?;
    let (changed, known) = lock(ctx).query_data_version(&h.broker_addr, (v.timestamp, v.counter), Instant::now());
    let mut r = success(req);
    r.set_header(&QueryDataVersionResponseHeader { changed });
    if let Some((timestamp, counter)) = known {
        r.body = DataVersion { timestamp, counter }.to_json().into();
    }
    Ok(r)
}

fn unregister_broker(ctx: &NamesrvContext, req: &RemotingCommand) -> Result<RemotingCommand, HandlerError> {
    let h = req.decode_header::<UnregisterBrokerRequestHeader>()?;
    lock(ctx).unregister(&h.broker_addr);
    Ok(success(req))
}

fn route(ctx: &NamesrvContext, req: &RemotingCommand) -> Result<RemotingCommand, HandlerError> {
    let h = req.decode_header::<GetRouteInfoRequestHeader>()?;
    match lock(ctx).route(&h.topic) {
        Some(route) => Ok(success(req).with_body(route_body(&route, req))),
        None => Err(HandlerError::new(
            rc::TOPIC_NOT_EXIST,
            format!(
                "No topic route info in name server for the topic: {}\nSee http://rocketmq.apache.org/docs/faq/ for further details.",
                h.topic
            ),
        )),
    }
}

fn cluster_info(ctx: &NamesrvContext, req: &RemotingCommand) -> RemotingCommand {
    let info = lock(ctx).cluster_info();
    success(req).with_body(info.to_json())
}

/// GET_NAMESRV_CONFIG (319): the name-server keys tools display (nothing here is changeable).
fn namesrv_config_text() -> String {
    "orderMessageEnable=false\nclusterTest=false\nproductEnvName=center\nserverChannelMaxIdleTimeSeconds=120\n".to_string()
}

/// UPDATE_NAMESRV_CONFIG (318): no name-server key is changeable remotely (paths above all, see
/// CVE-2023-37582), so every key is refused with NO_PERMISSION naming it.
fn update_namesrv_config(req: &RemotingCommand) -> RemotingCommand {
    let text = String::from_utf8_lossy(&req.body);
    let key = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| l.split(['=', ':']).next().unwrap_or(l).trim().to_string());
    match key {
        None => success(req),
        Some(k) => {
            tracing::warn!(key = %k, "UPDATE_NAMESRV_CONFIG refused");
            answer(req, rc::NO_PERMISSION, format!("Can not update config in runtime: key \"{k}\" is not changeable remotely"))
        }
    }
}

/// The route JSON for this client: exactly the 4.9.7 name server's form for Java 4.x clients, and
/// with the 5.x broker-data member `enableActingMaster` for everyone else (5.x-shaped clients such
/// as rocketmq-client-rust refuse route data without it; 4.x Java clients ignore it anyway).
fn route_body(route: &crate::codec::body::TopicRouteData, req: &RemotingCommand) -> Vec<u8> {
    let body = route.to_json();
    let java_4x = req.language == "JAVA" && req.version < 413;
    if java_4x {
        return body;
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(mut v) => {
            if let Some(list) = v.get_mut("brokerDatas").and_then(|b| b.as_array_mut()) {
                for bd in list {
                    if let Some(o) = bd.as_object_mut() {
                        o.entry("enableActingMaster").or_insert(serde_json::Value::Bool(false));
                    }
                }
            }
            serde_json::to_vec(&v).unwrap_or(body)
        }
        Err(_) => body,
    }
}
