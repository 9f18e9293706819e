//! `ferrocket admin <command>`: mqadmin's everyday commands, with its command names and flag
//! letters, against any RocketMQ-compatible name server (`-n host:port`).
//!
//! Readable tables by default, `--json` for programs. Any failure exits non-zero with the
//! server's remark on stderr. See `docs/admin.md`.
mod acl;
mod broker;
mod group;
mod msg;
mod net;
mod out;
mod topic;

use clap::{Parser, Subcommand};
use net::{Failure, Net, Res};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "ferrocket admin", about = "Administer RocketMQ-compatible brokers (mqadmin's commands)")]
pub struct AdminCli {
    /// Name server address(es), `host:port;host:port` (default: $NAMESRV_ADDR or 127.0.0.1:9876).
    #[arg(short = 'n', long = "namesrvAddr", global = true)]
    namesrv: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// Timeout of each request in milliseconds.
    #[arg(long = "timeout-ms", global = true, default_value_t = 5000)]
    timeout_ms: u64,
    /// ACL access key: sign every request (with --secret-key) for brokers with aclEnable=true.
    #[arg(id = "sign_access_key", long = "access-key", global = true, requires = "sign_secret_key")]
    sign_access_key: Option<String>,
    /// ACL secret key of --access-key.
    #[arg(id = "sign_secret_key", long = "secret-key", global = true, requires = "sign_access_key")]
    sign_secret_key: Option<String>,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
#[command(rename_all = "camelCase")]
pub enum Command {
    /// List clusters, brokers and their load.
    ClusterList,
    /// List topics (-c: with their cluster).
    TopicList {
        #[arg(short = 'c', long = "clusterModel")]
        cluster_model: bool,
    },
    /// Show a topic's route.
    TopicRoute {
        #[arg(short = 't', long)]
        topic: String,
    },
    /// Min/max offsets and last update time of every queue of a topic.
    TopicStatus {
        #[arg(short = 't', long)]
        topic: String,
    },
    /// Create or update a topic on one broker (-b) or every master of a cluster (-c).
    UpdateTopic(topic::UpdateTopic),
    /// Delete a topic from a cluster's masters and the name servers.
    DeleteTopic {
        #[arg(short = 't', long)]
        topic: String,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Create or update a subscription group.
    UpdateSubGroup(group::UpdateSubGroup),
    /// Set a group's request mode for a topic: PULL (default) or POP (5.x).
    SetConsumeMode(group::SetConsumeMode),
    /// Delete a subscription group.
    DeleteSubGroup {
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// Also remove the group's consumer offsets.
        #[arg(short = 'r', long = "removeOffset", default_value = "false")]
        remove_offset: String,
    },
    /// A group's per-queue progress and lag (all groups when -g is omitted).
    ConsumerProgress {
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        /// Only this topic.
        #[arg(short = 't', long)]
        topic: Option<String>,
    },
    /// Live connections of a consumer group.
    ConsumerConnection {
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
    },
    /// Live connections of a producer group.
    ProducerConnection {
        #[arg(short = 'g', long = "producerGroup")]
        group: String,
        #[arg(short = 't', long)]
        topic: String,
    },
    /// A broker's runtime statistics.
    BrokerStatus {
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// A broker's configuration.
    GetBrokerConfig {
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Change one runtime-changeable config key.
    UpdateBrokerConfig {
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        #[arg(short = 'k', long)]
        key: String,
        #[arg(short = 'v', long)]
        value: String,
    },
    /// A message by offset msgId (or by unique key with -t).
    QueryMsgById {
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        /// Topic, for looking the id up as a unique key (UNIQ_KEY) when it is not an offset msgId.
        #[arg(short = 't', long)]
        topic: Option<String>,
    },
    /// Messages of a topic by key.
    QueryMsgByKey {
        #[arg(short = 't', long)]
        topic: String,
        #[arg(short = 'k', long = "msgKey")]
        key: String,
    },
    /// The message at a queue offset.
    QueryMsgByOffset {
        #[arg(short = 't', long)]
        topic: String,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
        #[arg(short = 'i', long = "queueId")]
        queue_id: i32,
        #[arg(short = 'o', long)]
        offset: i64,
    },
    /// Move a group's offsets to a point in time (message backtracking).
    ResetOffsetByTime {
        #[arg(short = 'g', long)]
        group: String,
        #[arg(short = 't', long)]
        topic: String,
        /// `now`, milliseconds since the epoch, or `yyyy-MM-dd#HH:mm:ss:SSS` (UTC).
        #[arg(short = 's', long)]
        timestamp: String,
        /// Also move forward (true, the default) or only back (false).
        #[arg(short = 'f', long, default_value = "true")]
        force: String,
        /// Reset C++ clients (list-form body).
        #[arg(short = 'c', long)]
        cplus: bool,
    },
    /// Create or update an ACL account (brokers with aclEnable=true).
    UpdateAclConfig(acl::UpdateAcl),
    /// Delete an ACL account.
    DeleteAclConfig {
        #[arg(short = 'a', long = "accessKey")]
        access_key: String,
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// The ACL accounts' version on each broker.
    ClusterAclConfigVersion {
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Replace the global address allowlist (`10.10.*.*,192.168.0.1`).
    UpdateGlobalWhiteAddr {
        #[arg(short = 'g', long = "globalWhiteRemoteAddresses")]
        addrs: String,
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Send one message.
    SendMessage {
        #[arg(short = 't', long)]
        topic: String,
        #[arg(short = 'p', long)]
        body: String,
        #[arg(short = 'k', long)]
        key: Option<String>,
        #[arg(short = 'c', long)]
        tags: Option<String>,
        #[arg(short = 'b', long)]
        broker: Option<String>,
        #[arg(short = 'i', long)]
        qid: Option<i32>,
    },
    /// Read messages from queues (does not commit offsets).
    ConsumeMessage {
        #[arg(short = 't', long)]
        topic: String,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: Option<String>,
        #[arg(short = 'i', long = "queueId")]
        queue_id: Option<i32>,
        #[arg(short = 'o', long)]
        offset: Option<i64>,
        #[arg(short = 'g', long = "consumerGroup")]
        group: Option<String>,
        #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
        count: usize,
    },
}

/// What every command gets.
pub struct Ctx {
    pub net: Net,
    pub json: bool,
}

/// Entry point: `args` are everything after `admin`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match AdminCli::try_parse_from(std::iter::once(OsString::from("ferrocket admin")).chain(args)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrocket admin: {e}");
            return ExitCode::from(1);
        }
    };
    let namesrv = cli
        .namesrv
        .clone()
        .or_else(|| std::env::var("NAMESRV_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:9876".into());
    let mut net = Net::new(&namesrv, Duration::from_millis(cli.timeout_ms));
    if let (Some(ak), Some(sk)) = (&cli.sign_access_key, &cli.sign_secret_key) {
        net.credentials = Some((ak.clone(), sk.clone()));
    }
    let ctx = Ctx { net, json: cli.json };
    match rt.block_on(run(&ctx, cli.cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("ferrocket admin: {msg}");
            ExitCode::from(1)
        }
    }
}

async fn run(ctx: &Ctx, cmd: Command) -> Res<()> {
    use Command as C;
    match cmd {
        C::ClusterList => broker::cluster_list(ctx).await,
        C::UpdateAclConfig(a) => acl::update(ctx, a).await,
        C::DeleteAclConfig { access_key, broker, cluster } => acl::delete(ctx, &access_key, broker.as_deref(), cluster.as_deref()).await,
        C::ClusterAclConfigVersion { broker, cluster } => acl::version(ctx, broker.as_deref(), cluster.as_deref()).await,
        C::UpdateGlobalWhiteAddr { addrs, broker, cluster } => acl::update_global_white(ctx, &addrs, broker.as_deref(), cluster.as_deref()).await,
        C::TopicList { cluster_model } => topic::topic_list(ctx, cluster_model).await,
        C::TopicRoute { topic } => topic::topic_route(ctx, &topic).await,
        C::TopicStatus { topic } => topic::topic_status(ctx, &topic).await,
        C::UpdateTopic(a) => topic::update_topic(ctx, a).await,
        C::DeleteTopic { topic, cluster } => topic::delete_topic(ctx, &topic, cluster.as_deref()).await,
        C::UpdateSubGroup(a) => group::update_sub_group(ctx, a).await,
        C::SetConsumeMode(a) => group::set_consume_mode(ctx, a).await,
        C::DeleteSubGroup { group, broker, cluster, remove_offset } => {
            group::delete_sub_group(ctx, &group, broker.as_deref(), cluster.as_deref(), parse_bool(&remove_offset)?).await
        }
        C::ConsumerProgress { group, topic } => group::consumer_progress(ctx, group.as_deref(), topic.as_deref()).await,
        C::ConsumerConnection { group, broker } => group::consumer_connection(ctx, &group, broker.as_deref()).await,
        C::ProducerConnection { group, topic } => group::producer_connection(ctx, &group, &topic).await,
        C::BrokerStatus { broker, cluster } => broker::broker_status(ctx, broker.as_deref(), cluster.as_deref()).await,
        C::GetBrokerConfig { broker, cluster } => broker::get_config(ctx, broker.as_deref(), cluster.as_deref()).await,
        C::UpdateBrokerConfig { broker, cluster, key, value } => {
            broker::update_config(ctx, broker.as_deref(), cluster.as_deref(), &key, &value).await
        }
        C::QueryMsgById { msg_id, topic } => msg::query_by_id(ctx, &msg_id, topic.as_deref()).await,
        C::QueryMsgByKey { topic, key } => msg::query_by_key(ctx, &topic, &key).await,
        C::QueryMsgByOffset { topic, broker_name, queue_id, offset } => {
            msg::query_by_offset(ctx, &topic, &broker_name, queue_id, offset).await
        }
        C::ResetOffsetByTime { group, topic, timestamp, force, cplus } => {
            let ts = parse_time(&timestamp)?;
            group::reset_offset_by_time(ctx, &group, &topic, ts, parse_bool(&force)?, cplus).await
        }
        C::SendMessage { topic, body, key, tags, broker, qid } => {
            msg::send_message(ctx, &topic, &body, key.as_deref(), tags.as_deref(), broker.as_deref(), qid).await
        }
        C::ConsumeMessage { topic, broker_name, queue_id, offset, group, count } => {
            let sel = msg::Selection { broker_name, queue_id, offset, group, count };
            msg::consume_message(ctx, &topic, sel).await
        }
    }
}

fn parse_bool(s: &str) -> Res<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Failure(format!("expected true or false, got {s:?}"))),
    }
}

/// `now` = -1 (the max offset), a number of milliseconds, or `yyyy-MM-dd#HH:mm:ss:SSS` in UTC.
pub fn parse_time(s: &str) -> Res<i64> {
    let s = s.trim();
    if s == "now" {
        return Ok(-1);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || Failure(format!("bad timestamp {s:?}: use now, milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS"));
    let (date, time) = s.split_once('#').ok_or_else(bad)?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().map_err(|_| bad())).collect::<Res<_>>()?;
    let t: Vec<i64> = time.split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Res<_>>()?;
    if d.len() != 3 || t.len() != 4 {
        return Err(bad());
    }
    let days = out::days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + t[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_mqadmin_forms() {
        assert_eq!(parse_time("now").unwrap(), -1);
        assert_eq!(parse_time("1700000000123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("2023-11-14#22:13:20:123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("1970-01-01#00:00:00:000").unwrap(), 0);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2023-11-14#22:13").is_err());
        assert_eq!(out::time(1_700_000_000_123), "2023-11-14 22:13:20.123");
        assert_eq!(out::time(0), "-");
    }

    #[test]
    fn every_mqadmin_command_name_parses() {
        for args in [
            vec!["clusterList"],
            vec!["topicList", "-c"],
            vec!["topicRoute", "-t", "T"],
            vec!["topicStatus", "-t", "T"],
            vec!["updateTopic", "-c", "C", "-t", "T", "-r", "4", "-w", "4", "-p", "6", "-o", "false"],
            vec!["deleteTopic", "-t", "T", "-c", "C"],
            vec!["updateSubGroup", "-b", "a:1", "-g", "G", "-s", "true", "-m", "true", "-d", "true", "-q", "1", "-r", "16", "-i", "0", "-w", "1", "-a", "true"],
            vec!["deleteSubGroup", "-g", "G", "-c", "C", "-r", "true"],
            vec!["consumerProgress", "-g", "G"],
            vec!["consumerConnection", "-g", "G"],
            vec!["producerConnection", "-g", "G", "-t", "T"],
            vec!["brokerStatus", "-b", "a:1"],
            vec!["getBrokerConfig", "-c", "C"],
            vec!["updateBrokerConfig", "-b", "a:1", "-k", "k", "-v", "v"],
            vec!["queryMsgById", "-i", "ID"],
            vec!["queryMsgByKey", "-t", "T", "-k", "K"],
            vec!["queryMsgByOffset", "-t", "T", "-b", "B", "-i", "0", "-o", "1"],
            vec!["resetOffsetByTime", "-g", "G", "-t", "T", "-s", "now", "-f", "true", "-c"],
            vec!["sendMessage", "-t", "T", "-p", "body", "-k", "K", "-c", "tag", "-b", "B", "-i", "0"],
            vec!["consumeMessage", "-t", "T", "-b", "B", "-i", "0", "-o", "0", "-g", "G", "-c", "10"],
        ] {
            let argv = std::iter::once("ferrocket admin").chain(["-n", "h:9876"]).chain(args.iter().copied());
            if let Err(e) = AdminCli::try_parse_from(argv) {
                panic!("{args:?}: {e}");
            }
        }
    }
}
