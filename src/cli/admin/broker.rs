//! clusterList, brokerStatus, getBrokerConfig, updateBrokerConfig.
use super::net::{request, Res};
use super::{out, Ctx};
use ferrocket::codec::body::KvTable;
use ferrocket::codec::codes::RequestCode;
use serde_json::json;
use std::collections::BTreeMap;

async fn runtime(ctx: &Ctx, addr: &str) -> Res<BTreeMap<String, String>> {
    let r = ctx.net.call(addr, request(RequestCode::GetBrokerRuntimeInfo)).await?;
    Ok(KvTable::from_json(&r.body)?.table)
}

fn first_f64(v: Option<&String>) -> f64 {
    v.and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap_or(0.0)
}

pub async fn cluster_list(ctx: &Ctx) -> Res<()> {
    let info = ctx.net.cluster_info().await?;
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(b) = info.broker_addr_table.get(name) else { continue };
            for (id, addr) in &b.broker_addrs {
                let rt = runtime(ctx, addr).await.unwrap_or_default();
                let version = rt.get("brokerVersionDesc").cloned().unwrap_or_default();
                let (put, get) = (first_f64(rt.get("putTps")), first_f64(rt.get("getTransferedTps")));
                let ratio: f64 = rt.get("commitLogDiskRatio").and_then(|s| s.parse().ok()).unwrap_or(0.0);
                // Replication: the role, and how far behind the slave is (on a master: its
                // furthest slave), from the runtime info (empty for brokers that do not say).
                let role = rt.get("brokerRole").cloned().unwrap_or_default();
                let behind: Option<i64> = rt.get("slaveFallBehindMuch").and_then(|s| s.parse().ok());
                rows.push(vec![
                    cluster.clone(),
                    name.clone(),
                    id.to_string(),
                    addr.clone(),
                    version.clone(),
                    format!("{put:.2}"),
                    format!("{get:.2}"),
                    format!("{:.4}", ratio),
                    role.clone(),
                    behind.map(|b| b.to_string()).unwrap_or_default(),
                ]);
                items.push(json!({"cluster": cluster, "brokerName": name, "brokerId": id, "addr": addr,
                    "version": version, "inTps": put, "outTps": get, "commitLogDiskRatio": ratio,
                    "brokerRole": role, "slaveFallBehindMuch": behind}));
            }
        }
    }
    if ctx.json {
        out::json(&json!(items));
    } else {
        out::table(&["#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS", "#OutTPS", "#SPACE", "#Role", "#Behind"], &rows);
    }
    Ok(())
}

pub async fn broker_status(ctx: &Ctx, broker: Option<&str>, cluster: Option<&str>) -> Res<()> {
    let targets = ctx.net.targets(broker, cluster).await?;
    let mut all = serde_json::Map::new();
    for addr in &targets {
        let t = runtime(ctx, addr).await?;
        if ctx.json {
            all.insert(addr.clone(), json!(t));
        } else {
            if targets.len() > 1 {
                println!("== {addr}");
            }
            out::pairs(&t.into_iter().collect::<Vec<_>>());
        }
    }
    if ctx.json {
        out::json(&if targets.len() == 1 { all.into_iter().next().map(|(_, v)| v).unwrap_or_default() } else { all.into() });
    }
    Ok(())
}

/// Properties text to ordered pairs (the broker writes plain `key=value` lines).
fn props(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect()
}

pub async fn get_config(ctx: &Ctx, broker: Option<&str>, cluster: Option<&str>) -> Res<()> {
    let targets = ctx.net.targets(broker, cluster).await?;
    let mut all = serde_json::Map::new();
    for addr in &targets {
        let r = ctx.net.call(addr, request(RequestCode::GetBrokerConfig)).await?;
        let kv = props(&String::from_utf8_lossy(&r.body));
        if ctx.json {
            let m: serde_json::Map<String, serde_json::Value> = kv.into_iter().map(|(k, v)| (k, json!(v))).collect();
            all.insert(addr.clone(), m.into());
        } else {
            println!("============{addr}============");
            for (k, v) in kv {
                println!("{k:<50}=  {v}");
            }
        }
    }
    if ctx.json {
        out::json(&if targets.len() == 1 { all.into_iter().next().map(|(_, v)| v).unwrap_or_default() } else { all.into() });
    }
    Ok(())
}

pub async fn update_config(ctx: &Ctx, broker: Option<&str>, cluster: Option<&str>, key: &str, value: &str) -> Res<()> {
    let targets = ctx.net.targets(broker, cluster).await?;
    for addr in &targets {
        let cmd = request(RequestCode::UpdateBrokerConfig).with_body(format!("{key}={value}\n"));
        ctx.net.call(addr, cmd).await?;
        if !ctx.json {
            println!("update broker config success, {addr}");
        }
    }
    if ctx.json {
        out::json(&json!({"key": key, "value": value, "brokers": targets}));
    }
    Ok(())
}
