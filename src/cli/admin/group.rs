//! updateSubGroup, deleteSubGroup, setConsumeMode, consumerProgress, consumerConnection, producerConnection,
//! resetOffsetByTime.
use super::net::{request, route_masters, Failure, Res};
use super::{out, Ctx};
use ferrocket::client::req;
use ferrocket::codec::body::{
    ConsumeStats, ConsumerConnection, MessageQueue, MessageRequestModeSerializeWrapper, OffsetWrapper, ProducerConnection,
    ResetOffsetBody, SetMessageRequestModeRequestBody, SubscriptionGroupConfigWire, TopicList,
};
use ferrocket::codec::codes::{response_code, RequestCode};
use serde_json::json;

const RETRY: &str = "%RETRY%";

#[derive(clap::Args, Debug)]
pub struct UpdateSubGroup {
    #[arg(short = 'g', long = "groupName")]
    group: String,
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    #[arg(short = 's', long = "consumeEnable")]
    consume_enable: Option<String>,
    #[arg(short = 'm', long = "consumeFromMinEnable")]
    from_min: Option<String>,
    #[arg(short = 'd', long = "consumeBroadcastEnable")]
    broadcast: Option<String>,
    #[arg(short = 'q', long = "retryQueueNums")]
    retry_queues: Option<i32>,
    #[arg(short = 'r', long = "retryMaxTimes")]
    retry_max: Option<i32>,
    #[arg(short = 'i', long = "brokerId")]
    broker_id: Option<i64>,
    #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
    slow: Option<i64>,
    #[arg(short = 'a', long = "notifyConsumerIdsChanged")]
    notify: Option<String>,
    /// 5.x: consume in order (FIFO for gRPC consumers).
    #[arg(short = 'o', long = "consumeMessageOrderly")]
    orderly: Option<String>,
}

pub async fn update_sub_group(ctx: &Ctx, a: UpdateSubGroup) -> Res<()> {
    let mut g = SubscriptionGroupConfigWire { group_name: a.group.clone(), ..Default::default() };
    let b = |s: &Option<String>, d: bool| s.as_deref().map(super::parse_bool).unwrap_or(Ok(d));
    g.consume_enable = b(&a.consume_enable, true)?;
    g.consume_from_min_enable = b(&a.from_min, true)?;
    g.consume_broadcast_enable = b(&a.broadcast, true)?;
    g.notify_consumer_ids_changed_enable = b(&a.notify, true)?;
    g.consume_message_orderly = b(&a.orderly, false)?;
    g.retry_queue_nums = a.retry_queues.unwrap_or(g.retry_queue_nums);
    g.retry_max_times = a.retry_max.unwrap_or(g.retry_max_times);
    g.broker_id = a.broker_id.unwrap_or(g.broker_id);
    g.which_broker_when_consume_slowly = a.slow.unwrap_or(g.which_broker_when_consume_slowly);
    let targets = ctx.net.targets(a.broker.as_deref(), a.cluster.as_deref()).await?;
    for addr in &targets {
        ctx.net.call(addr, request(RequestCode::UpdateAndCreateSubscriptiongroup).with_body(g.to_json())).await?;
        if !ctx.json {
            println!("create subscription group to {addr} success.");
        }
    }
    if ctx.json {
        out::json(&json!({"brokers": targets, "config": serde_json::to_value(&g)?}));
    }
    Ok(())
}

pub async fn delete_sub_group(ctx: &Ctx, group: &str, broker: Option<&str>, cluster: Option<&str>, remove_offset: bool) -> Res<()> {
    let targets = ctx.net.targets(broker, cluster).await?;
    for addr in &targets {
        let cmd = request(RequestCode::DeleteSubscriptiongroup).with_ext("groupName", group).with_ext("removeOffset", remove_offset);
        ctx.net.call(addr, cmd).await?;
        if !ctx.json {
            println!("delete subscription group [{group}] from broker [{addr}] success.");
        }
    }
    if ctx.json {
        out::json(&json!({"group": group, "brokers": targets, "removeOffset": remove_offset}));
    }
    Ok(())
}

/// ConsumeStats of `group` from every master of `%RETRY%<group>`'s route (what mqadmin does).
async fn consume_stats(ctx: &Ctx, group: &str, topic: Option<&str>) -> Res<(Vec<(MessageQueue, OffsetWrapper)>, f64)> {
    let route = ctx.net.route(&format!("{RETRY}{group}")).await?;
    let mut rows = Vec::new();
    let mut tps = 0.0;
    for (_, addr) in route_masters(&route) {
        let mut cmd = request(RequestCode::GetConsumeStats).with_ext("consumerGroup", group);
        if let Some(t) = topic {
            cmd.set_ext("topic", t);
        }
        let r = ctx.net.call(&addr, cmd).await?;
        let s = ConsumeStats::from_json(&r.body)?;
        tps += s.consume_tps;
        rows.extend(s.offset_table);
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((rows, tps))
}

/// Messages handed out and not yet acked (POP), as mqadmin 5.x computes it.
fn inflight(o: &OffsetWrapper) -> i64 {
    (o.pull_offset - o.consumer_offset).max(0)
}

/// The group's request modes (topic -> PULL/POP) on the brokers of its %RETRY% route.
async fn request_modes(ctx: &Ctx, group: &str) -> Res<Vec<(String, String)>> {
    let route = ctx.net.route(&format!("{RETRY}{group}")).await?;
    let mut modes = Vec::new();
    for (_, addr) in route_masters(&route) {
        let r = ctx.net.call(&addr, request(RequestCode::GetAllMessageRequestMode)).await?;
        let w = MessageRequestModeSerializeWrapper::from_json(&r.body)?;
        for (topic, groups) in w.message_request_mode_map {
            if let Some(b) = groups.get(group) {
                modes.push((topic, b.mode.clone()));
            }
        }
    }
    modes.sort();
    modes.dedup();
    Ok(modes)
}

pub async fn consumer_progress(ctx: &Ctx, group: Option<&str>, topic: Option<&str>) -> Res<()> {
    let Some(group) = group else { return all_groups_progress(ctx).await };
    let (rows, tps) = consume_stats(ctx, group, topic).await?;
    let diff: i64 = rows.iter().map(|(_, o)| o.broker_offset - o.consumer_offset).sum();
    let inflight_total: i64 = rows.iter().map(|(_, o)| inflight(o)).sum();
    let modes = request_modes(ctx, group).await.unwrap_or_default();
    if ctx.json {
        let q: Vec<_> = rows
            .iter()
            .map(|(mq, o)| {
                json!({"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id,
                    "brokerOffset": o.broker_offset, "consumerOffset": o.consumer_offset, "pullOffset": o.pull_offset,
                    "diff": o.broker_offset - o.consumer_offset, "inflight": inflight(o), "lastTimestamp": o.last_timestamp})
            })
            .collect();
        let m: serde_json::Map<String, serde_json::Value> = modes.iter().map(|(t, m)| (t.clone(), json!(m))).collect();
        out::json(&json!({"group": group, "consumeTps": tps, "diffTotal": diff, "inflightTotal": inflight_total,
            "requestModes": m, "queues": q}));
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(mq, o)| {
            vec![
                mq.topic.clone(),
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                o.broker_offset.to_string(),
                o.consumer_offset.to_string(),
                (o.broker_offset - o.consumer_offset).to_string(),
                inflight(o).to_string(),
                out::time(o.last_timestamp),
            ]
        })
        .collect();
    out::table(&["#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#Inflight", "#LastTime"], &table);
    println!();
    for (t, m) in &modes {
        println!("Request Mode: {t} {m}");
    }
    println!("Consume TPS: {tps:.2}");
    println!("Consume Inflight Total: {inflight_total}");
    println!("Diff Total: {diff}");
    Ok(())
}

/// setConsumeMode: a group's request mode for a topic (PULL or POP), on a broker or every master
/// of a cluster.
pub async fn set_consume_mode(ctx: &Ctx, a: SetConsumeMode) -> Res<()> {
    let mode = a.mode.to_ascii_uppercase();
    if mode != "PULL" && mode != "POP" {
        return Err(Failure(format!("-m must be PULL or POP, not {}", a.mode)));
    }
    let body = SetMessageRequestModeRequestBody {
        topic: a.topic.clone(),
        consumer_group: a.group.clone(),
        mode: mode.clone(),
        pop_share_queue_num: a.pop_share_queue_num.unwrap_or(0),
    };
    let targets = ctx.net.targets(a.broker.as_deref(), a.cluster.as_deref()).await?;
    for addr in &targets {
        ctx.net.call(addr, request(RequestCode::SetMessageRequestMode).with_body(body.to_json())).await?;
        if !ctx.json {
            println!("set consume mode to {addr} success.");
        }
    }
    if ctx.json {
        out::json(&json!({"brokers": targets, "topic": a.topic, "group": a.group, "mode": mode}));
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SetConsumeMode {
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    #[arg(short = 't', long = "topicName")]
    topic: String,
    #[arg(short = 'g', long = "groupName")]
    group: String,
    /// PULL or POP.
    #[arg(short = 'm', long = "mode")]
    mode: String,
    /// Consumers that may pop one queue at once (stored; ferrocket hands POP clients queue -1).
    #[arg(short = 'q', long = "popShareQueueNum")]
    pop_share_queue_num: Option<i32>,
}

async fn all_groups_progress(ctx: &Ctx) -> Res<()> {
    let r = ctx.net.namesrv_call(request(RequestCode::GetAllTopicListFromNameserver)).await?;
    let mut groups: Vec<String> =
        TopicList::from_json(&r.body)?.topic_list.into_iter().filter_map(|t| t.strip_prefix(RETRY).map(str::to_string)).collect();
    groups.sort();
    let mut rows = Vec::new();
    for g in groups {
        let Ok((stats, tps)) = consume_stats(ctx, &g, None).await else { continue };
        let diff: i64 = stats.iter().map(|(_, o)| o.broker_offset - o.consumer_offset).sum();
        rows.push((g, tps, diff));
    }
    if ctx.json {
        out::json(&json!(rows.iter().map(|(g, t, d)| json!({"group": g, "consumeTps": t, "diffTotal": d})).collect::<Vec<_>>()));
    } else {
        let t: Vec<Vec<String>> = rows.iter().map(|(g, t, d)| vec![g.clone(), format!("{t:.2}"), d.to_string()]).collect();
        out::table(&["#Group", "#TPS", "#Diff Total"], &t);
    }
    Ok(())
}

pub async fn consumer_connection(ctx: &Ctx, group: &str, broker: Option<&str>) -> Res<()> {
    let addrs: Vec<String> = match broker {
        Some(b) => vec![b.to_string()],
        None => route_masters(&ctx.net.route(&format!("{RETRY}{group}")).await?).into_iter().map(|(_, a)| a).collect(),
    };
    let mut last = Failure(format!("the consumer group [{group}] is not online"));
    for addr in addrs {
        match ctx.net.call(&addr, request(RequestCode::GetConsumerConnectionList).with_ext("consumerGroup", group)).await {
            Ok(r) => return print_consumer_connection(ctx, &ConsumerConnection::from_json(&r.body)?),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn print_consumer_connection(ctx: &Ctx, c: &ConsumerConnection) -> Res<()> {
    if ctx.json {
        out::json(&serde_json::to_value(c)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = c
        .connection_set
        .iter()
        .enumerate()
        .map(|(i, x)| vec![format!("{:03}", i + 1), x.client_id.clone(), x.client_addr.clone(), x.language.clone(), x.version.to_string()])
        .collect();
    out::table(&["#", "#ClientId", "#ClientAddr", "#Language", "#Version"], &rows);
    println!("\nBelow is subscription:");
    let subs: Vec<Vec<String>> =
        c.subscription_table.values().map(|s| vec![s.topic.clone(), s.sub_string.clone()]).collect();
    out::table(&["#Topic", "#SubExpression"], &subs);
    println!();
    println!("ConsumeType: {}", c.consume_type);
    println!("MessageModel: {}", c.message_model);
    println!("ConsumeFromWhere: {}", c.consume_from_where);
    Ok(())
}

pub async fn producer_connection(ctx: &Ctx, group: &str, topic: &str) -> Res<()> {
    let mut last = Failure(format!("the producer group [{group}] is not online"));
    for (_, addr) in route_masters(&ctx.net.route(topic).await?) {
        match ctx.net.call(&addr, request(RequestCode::GetProducerConnectionList).with_ext("producerGroup", group)).await {
            Ok(r) => {
                let p = ProducerConnection::from_json(&r.body)?;
                if ctx.json {
                    out::json(&serde_json::to_value(&p)?);
                } else {
                    let rows: Vec<Vec<String>> = p
                        .connection_set
                        .iter()
                        .enumerate()
                        .map(|(i, x)| vec![format!("{:04}", i + 1), x.client_id.clone(), x.client_addr.clone(), x.language.clone(), x.version.to_string()])
                        .collect();
                    out::table(&["#", "#ClientId", "#ClientAddr", "#Language", "#Version"], &rows);
                }
                return Ok(());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One queue of an old-style (offline) reset.
struct Rollback {
    mq: MessageQueue,
    broker_offset: i64,
    consumer_offset: i64,
    timestamp_offset: i64,
    rollback_offset: i64,
}

pub async fn reset_offset_by_time(ctx: &Ctx, group: &str, topic: &str, ts: i64, force: bool, cpp: bool) -> Res<()> {
    let route = ctx.net.route(topic).await?;
    let mut table: Vec<(MessageQueue, i64)> = Vec::new();
    let mut old = Vec::new();
    for (_, addr) in route_masters(&route) {
        let mut cmd = request(RequestCode::InvokeBrokerToResetOffset)
            .with_ext("topic", topic)
            .with_ext("group", group)
            .with_ext("timestamp", ts)
            .with_ext("isForce", force);
        if cpp {
            cmd.language = "CPP".into();
        }
        let r = ctx.net.raw(&addr, cmd).await?;
        if r.code == response_code::CONSUMER_NOT_ONLINE {
            old.extend(reset_old(ctx, &addr, group, topic, ts, force).await?);
            continue;
        }
        let r = super::net::ok(&addr, r)?;
        table.extend(ResetOffsetBody::from_json(&r.body)?.offset_table);
    }
    table.sort_by(|a, b| a.0.cmp(&b.0));
    if ctx.json {
        let mut q: Vec<_> =
            table.iter().map(|(mq, o)| json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o})).collect();
        q.extend(old.iter().map(|r| {
            json!({"brokerName": r.mq.broker_name, "queueId": r.mq.queue_id, "offset": r.rollback_offset,
                "brokerOffset": r.broker_offset, "consumerOffset": r.consumer_offset, "timestampOffset": r.timestamp_offset})
        }));
        out::json(&json!({"group": group, "topic": topic, "timestamp": ts, "force": force, "queues": q}));
        return Ok(());
    }
    println!("rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], timestamp(long)[{ts}]");
    let mut rows: Vec<Vec<String>> =
        table.iter().map(|(mq, o)| vec![mq.broker_name.clone(), mq.queue_id.to_string(), o.to_string()]).collect();
    rows.extend(old.iter().map(|r| vec![r.mq.broker_name.clone(), r.mq.queue_id.to_string(), r.rollback_offset.to_string()]));
    out::table(&["#brokerName", "#queueId", "#offset"], &rows);
    Ok(())
}

/// mqadmin's fallback for brokers that answer CONSUMER_NOT_ONLINE: read the group's offsets
/// (208), look the target up per queue (29, or 30 for `now`), and store it (15).
async fn reset_old(ctx: &Ctx, addr: &str, group: &str, topic: &str, ts: i64, force: bool) -> Res<Vec<Rollback>> {
    let cmd = request(RequestCode::GetConsumeStats).with_ext("consumerGroup", group).with_ext("topic", topic);
    let stats = ConsumeStats::from_json(&ctx.net.call(addr, cmd).await?.body)?;
    let mut out = Vec::new();
    for (mq, o) in stats.offset_table.into_iter().filter(|(mq, _)| mq.topic == topic) {
        let cmd = if ts == -1 { req::max_offset(topic, mq.queue_id) } else { req::search_offset(topic, mq.queue_id, ts) };
        let r = ctx.net.call(addr, cmd).await?;
        let target = req::ext_i64(&r, "offset").unwrap_or(0);
        let mut rb = Rollback {
            mq: mq.clone(),
            broker_offset: o.broker_offset,
            consumer_offset: o.consumer_offset,
            timestamp_offset: target,
            rollback_offset: o.consumer_offset,
        };
        if force || target <= o.consumer_offset {
            rb.rollback_offset = target;
            ctx.net.call(addr, req::update_offset(group, topic, mq.queue_id, target)).await?;
        }
        out.push(rb);
    }
    Ok(out)
}
