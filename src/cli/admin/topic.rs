//! topicList, topicRoute, topicStatus, updateTopic, deleteTopic.
use super::net::{request, route_masters, Failure, Res};
use super::{out, Ctx};
use ferrocket::codec::body::{TopicList, TopicStatsTable};
use ferrocket::codec::codes::RequestCode;
use serde_json::json;

pub async fn topic_list(ctx: &Ctx, cluster_model: bool) -> Res<()> {
    if !cluster_model {
        let r = ctx.net.namesrv_call(request(RequestCode::GetAllTopicListFromNameserver)).await?;
        let mut list = TopicList::from_json(&r.body)?.topic_list;
        list.sort();
        if ctx.json {
            out::json(&json!(list));
        } else {
            list.iter().for_each(|t| println!("{t}"));
        }
        return Ok(());
    }
    let info = ctx.net.cluster_info().await?;
    let mut rows = Vec::new();
    for cluster in info.cluster_addr_table.keys() {
        let cmd = request(RequestCode::GetTopicsByCluster).with_ext("cluster", cluster);
        let r = ctx.net.namesrv_call(cmd).await?;
        let mut list = TopicList::from_json(&r.body)?.topic_list;
        list.sort();
        rows.extend(list.into_iter().map(|t| vec![cluster.clone(), t]));
    }
    if ctx.json {
        out::json(&json!(rows.iter().map(|r| json!({"cluster": r[0], "topic": r[1]})).collect::<Vec<_>>()));
    } else {
        out::table(&["#Cluster Name", "#Topic"], &rows);
    }
    Ok(())
}

pub async fn topic_route(ctx: &Ctx, topic: &str) -> Res<()> {
    let route = ctx.net.route(topic).await?;
    if ctx.json {
        out::json(&serde_json::to_value(&route)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = route
        .broker_datas
        .iter()
        .flat_map(|b| {
            b.broker_addrs.iter().map(move |(id, a)| vec![b.cluster.clone(), b.broker_name.clone(), id.to_string(), a.clone()])
        })
        .collect();
    out::table(&["#Cluster Name", "#Broker Name", "#BID", "#Addr"], &rows);
    println!();
    let rows: Vec<Vec<String>> = route
        .queue_datas
        .iter()
        .map(|q| {
            vec![q.broker_name.clone(), q.read_queue_nums.to_string(), q.write_queue_nums.to_string(), q.perm.to_string()]
        })
        .collect();
    out::table(&["#Broker Name", "#Read Queue", "#Write Queue", "#Perm"], &rows);
    Ok(())
}

pub async fn topic_status(ctx: &Ctx, topic: &str) -> Res<()> {
    let route = ctx.net.route(topic).await?;
    let mut all = Vec::new();
    for (_, addr) in route_masters(&route) {
        let r = ctx.net.call(&addr, request(RequestCode::GetTopicStatsInfo).with_ext("topic", topic)).await?;
        all.extend(TopicStatsTable::from_json(&r.body)?.offset_table);
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    if ctx.json {
        let v: Vec<_> = all
            .iter()
            .map(|(mq, o)| {
                json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "minOffset": o.min_offset,
                       "maxOffset": o.max_offset, "lastUpdateTimestamp": o.last_update_timestamp})
            })
            .collect();
        out::json(&json!(v));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|(mq, o)| {
            vec![
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                o.min_offset.to_string(),
                o.max_offset.to_string(),
                out::time(o.last_update_timestamp),
            ]
        })
        .collect();
    out::table(&["#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"], &rows);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct UpdateTopic {
    #[arg(short = 't', long)]
    topic: String,
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    read: i32,
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    write: i32,
    #[arg(short = 'p', long, default_value_t = 6)]
    perm: i32,
    #[arg(short = 'o', long, default_value = "false")]
    order: String,
    #[arg(short = 'u', long)]
    unit: Option<String>,
    #[arg(short = 's', long = "hasUnitSub")]
    has_unit_sub: Option<String>,
    /// Topic attributes, e.g. `+message.type=FIFO` (NORMAL, FIFO, DELAY, TRANSACTION, MIXED).
    #[arg(short = 'a', long = "attributes", allow_hyphen_values = true)]
    attributes: Option<String>,
}

pub async fn update_topic(ctx: &Ctx, a: UpdateTopic) -> Res<()> {
    let order = super::parse_bool(&a.order)?;
    let targets = ctx.net.targets(a.broker.as_deref(), a.cluster.as_deref()).await?;
    let mut done = Vec::new();
    for addr in targets {
        let cmd = request(RequestCode::UpdateAndCreateTopic)
            .with_ext("topic", &a.topic)
            .with_ext("defaultTopic", "TBW102")
            .with_ext("readQueueNums", a.read)
            .with_ext("writeQueueNums", a.write)
            .with_ext("perm", a.perm)
            .with_ext("topicFilterType", "SINGLE_TAG")
            .with_ext("topicSysFlag", 0)
            .with_ext("order", order);
        let cmd = match &a.attributes {
            Some(attrs) => cmd.with_ext("attributes", attrs),
            None => cmd,
        };
        ctx.net.call(&addr, cmd).await?;
        if !ctx.json {
            println!("create topic to {addr} success.");
        }
        done.push(addr);
    }
    if ctx.json {
        out::json(&json!({"topic": a.topic, "brokers": done, "readQueueNums": a.read, "writeQueueNums": a.write, "perm": a.perm, "order": order}));
    }
    Ok(())
}

pub async fn delete_topic(ctx: &Ctx, topic: &str, cluster: Option<&str>) -> Res<()> {
    let masters: Vec<String> = match cluster {
        Some(c) => ctx.net.cluster_masters(c).await?.into_iter().map(|(_, a)| a).collect(),
        None => route_masters(&ctx.net.route(topic).await?).into_iter().map(|(_, a)| a).collect(),
    };
    if masters.is_empty() {
        return Err(Failure(format!("no broker found for topic {topic}")));
    }
    for addr in &masters {
        ctx.net.call(addr, request(RequestCode::DeleteTopicInBroker).with_ext("topic", topic)).await?;
    }
    for ns in ctx.net.namesrvs().to_vec() {
        let mut cmd = request(RequestCode::DeleteTopicInNamesrv).with_ext("topic", topic);
        if let Some(c) = cluster {
            cmd.set_ext("clusterName", c);
        }
        ctx.net.call(&ns, cmd).await?;
    }
    if ctx.json {
        out::json(&json!({"topic": topic, "brokers": masters}));
    } else {
        println!("delete topic [{topic}] from cluster [{}] success.", cluster.unwrap_or("*"));
        println!("delete topic [{topic}] from NameServer success.");
    }
    Ok(())
}
