//! updateAclConfig, deleteAclConfig, clusterAclConfigVersion, updateGlobalWhiteAddr: the ACL 1.0
//! admin codes 50–53 sent to one broker (-b) or every master of a cluster (-c).
use super::net::{request, Res};
use super::{out, Ctx};
use clap::Args;
use ferrocket::codec::codes::RequestCode;
use serde_json::json;

#[derive(Args, Debug)]
pub struct UpdateAcl {
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    #[arg(short = 'a', long = "accessKey")]
    access_key: String,
    #[arg(short = 's', long = "secretKey")]
    secret_key: Option<String>,
    /// Peers matching this pattern skip the signature check.
    #[arg(short = 'w', long = "whiteRemoteAddress")]
    white: Option<String>,
    /// DENY, PUB, SUB or PUB|SUB.
    #[arg(short = 'i', long = "defaultTopicPerm")]
    default_topic_perm: Option<String>,
    #[arg(short = 'u', long = "defaultGroupPerm")]
    default_group_perm: Option<String>,
    /// `topicA=PUB,topicB=SUB`.
    #[arg(short = 't', long = "topicPerms")]
    topic_perms: Option<String>,
    /// `groupA=SUB,groupB=DENY`.
    #[arg(short = 'g', long = "groupPerms")]
    group_perms: Option<String>,
    /// true or false.
    #[arg(short = 'm', long = "admin")]
    admin: Option<String>,
}

async fn each(ctx: &Ctx, broker: Option<&str>, cluster: Option<&str>, cmd: ferrocket::codec::RemotingCommand, what: &str) -> Res<()> {
    let mut done = Vec::new();
    for addr in ctx.net.targets(broker, cluster).await? {
        ctx.net.call(&addr, cmd.clone()).await?;
        done.push(addr);
    }
    if ctx.json {
        out::json(&json!({ "updated": done }));
    } else {
        for a in done {
            println!("{what} on {a}: OK");
        }
    }
    Ok(())
}

pub async fn update(ctx: &Ctx, a: UpdateAcl) -> Res<()> {
    let mut cmd = request(RequestCode::UpdateAndCreateAclConfig).with_ext("accessKey", &a.access_key);
    for (k, v) in [
        ("secretKey", &a.secret_key),
        ("whiteRemoteAddress", &a.white),
        ("defaultTopicPerm", &a.default_topic_perm),
        ("defaultGroupPerm", &a.default_group_perm),
        ("topicPerms", &a.topic_perms),
        ("groupPerms", &a.group_perms),
        ("admin", &a.admin),
    ] {
        if let Some(v) = v {
            cmd.set_ext(k, v);
        }
    }
    each(ctx, a.broker.as_deref(), a.cluster.as_deref(), cmd, &format!("update account {}", a.access_key)).await
}

pub async fn delete(ctx: &Ctx, access_key: &str, broker: Option<&str>, cluster: Option<&str>) -> Res<()> {
    let cmd = request(RequestCode::DeleteAclConfig).with_ext("accessKey", access_key);
    each(ctx, broker, cluster, cmd, &format!("delete account {access_key}")).await
}

pub async fn update_global_white(ctx: &Ctx, addrs: &str, broker: Option<&str>, cluster: Option<&str>) -> Res<()> {
    let cmd = request(RequestCode::UpdateGlobalWhiteAddrsConfig).with_ext("globalWhiteAddrs", addrs).with_ext("aclFileFullPath", "");
    each(ctx, broker, cluster, cmd, "update globalWhiteRemoteAddresses").await
}

pub async fn version(ctx: &Ctx, broker: Option<&str>, cluster: Option<&str>) -> Res<()> {
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for addr in ctx.net.targets(broker, cluster).await? {
        let r = ctx.net.call(&addr, request(RequestCode::GetBrokerClusterAclInfo)).await?;
        let field = |k: &str| r.ext(k).unwrap_or("").to_string();
        let v: serde_json::Value = serde_json::from_str(&field("version")).unwrap_or_default();
        rows.push(vec![field("clusterName"), field("brokerName"), addr.clone(), v["counter"].to_string(), v["timestamp"].to_string()]);
        items.push(json!({"cluster": field("clusterName"), "brokerName": field("brokerName"), "addr": addr, "version": v}));
    }
    if ctx.json {
        out::json(&json!(items));
    } else {
        out::table(&["#Cluster Name", "#Broker Name", "#Broker Addr", "#AclConfigVersionNum", "#AclLastUpdateTime"], &rows);
    }
    Ok(())
}
