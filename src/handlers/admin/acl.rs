//! The ACL 1.0 admin codes (50–54) that `mqadmin` and `ferrocket admin` send: create or update an
//! account, delete one, the accounts' version, the global address allowlist, and the whole
//! configuration. Each change is written to the accounts file and put in force at once. When ACL
//! is off they answer SYSTEM_ERROR saying so.
use super::super::{success, Conn, HandlerError, HandlerResult};
use crate::codec::body::DataVersion;
use crate::codec::codes::response_code as rc;
use crate::codec::RemotingCommand;
use crate::core::acl::{upsert_account, AccountUpdate};
use crate::core::{now_ms, AclSetup, Core};
use serde_json::json;

fn setup(core: &Core) -> Result<&AclSetup, HandlerError> {
    core.acl().ok_or_else(|| HandlerError::system("ACL is not enabled on this broker (aclEnable=false)"))
}

/// A comma-separated list (`UtilAll.split`): empty items dropped.
fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn opt(req: &RemotingCommand, key: &str) -> Option<String> {
    req.ext(key).map(str::to_string)
}

/// UPDATE_AND_CREATE_ACL_CONFIG (50).
pub fn update_account(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let setup = setup(core)?;
    let access_key = req.ext("accessKey").unwrap_or("").trim().to_string();
    if access_key.is_empty() {
        return Err(HandlerError::new(rc::UPDATE_AND_CREATE_ACL_CONFIG_FAILED, "accessKey is required"));
    }
    let update = AccountUpdate {
        access_key: access_key.clone(),
        secret_key: opt(req, "secretKey"),
        white_remote_address: opt(req, "whiteRemoteAddress"),
        admin: req.ext("admin").map(crate::codec::header::parse_bool),
        default_topic_perm: opt(req, "defaultTopicPerm").filter(|s| !s.is_empty()),
        default_group_perm: opt(req, "defaultGroupPerm").filter(|s| !s.is_empty()),
        topic_perms: req.ext("topicPerms").map(list),
        group_perms: req.ext("groupPerms").map(list),
    };
    setup.change(now_ms(), |file| upsert_account(file, update)).map_err(|e| {
        HandlerError::new(rc::UPDATE_AND_CREATE_ACL_CONFIG_FAILED, format!("The accesskey[{access_key}] was not updated: {e}"))
    })?;
    Ok(success(req).into())
}

/// DELETE_ACL_CONFIG (51).
pub fn delete_account(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let setup = setup(core)?;
    let access_key = req.ext("accessKey").unwrap_or("").trim().to_string();
    setup
        .change(now_ms(), |file| {
            let mut next = file.clone();
            let before = next.accounts.len();
            next.accounts.retain(|a| a.access_key != access_key);
            if next.accounts.len() == before {
                return Err("no such account".into());
            }
            Ok(next)
        })
        .map_err(|e| HandlerError::new(rc::DELETE_ACL_CONFIG_FAILED, format!("The accesskey[{access_key}] was not deleted: {e}")))?;
    Ok(success(req).into())
}

/// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53): replaces the list (`aclFileFullPath` is accepted and
/// ignored: there is one file).
pub fn update_global_white(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let setup = setup(core)?;
    let addrs = list(req.ext("globalWhiteAddrs").unwrap_or(""));
    setup
        .change(now_ms(), |file| {
            for a in &addrs {
                crate::config::acl::AddrPattern::parse(a)?;
            }
            Ok(crate::config::acl::AclFile { global_white_remote_addresses: addrs.clone(), ..file.clone() })
        })
        .map_err(|e| HandlerError::new(rc::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED, format!("The globalWhiteAddresses were not updated: {e}")))?;
    Ok(success(req).into())
}

/// GET_BROKER_CLUSTER_ACL_INFO (52): the accounts' data version, in the response header.
pub fn version(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let setup = setup(core)?;
    let (timestamp, counter) = setup.acl.version();
    let v = DataVersion { counter, timestamp }.to_json();
    let v = String::from_utf8_lossy(&v).into_owned();
    let all = json!({ setup.path.display().to_string(): serde_json::from_str::<serde_json::Value>(&v).unwrap_or_default() });
    let mut resp = success(req);
    resp.set_ext("version", &v)
        .set_ext("allAclFileVersion", all.to_string())
        .set_ext("brokerName", &core.identity.broker_name)
        .set_ext("brokerAddr", &core.identity.broker_addr)
        .set_ext("clusterName", &core.identity.cluster);
    Ok(resp.into())
}

/// GET_BROKER_CLUSTER_ACL_CONFIG (54): the allowlist and every account (secrets included, as the
/// Java broker answers; admin accounts only).
pub fn config(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let file = setup(core)?.acl.file();
    let accounts: Vec<_> = file
        .accounts
        .iter()
        .map(|a| {
            json!({
                "accessKey": a.access_key, "secretKey": a.secret_key, "whiteRemoteAddress": a.white_remote_address,
                "admin": a.admin, "defaultTopicPerm": a.default_topic_perm, "defaultGroupPerm": a.default_group_perm,
                "topicPerms": a.topic_perms, "groupPerms": a.group_perms,
            })
        })
        .collect();
    let body = json!({ "globalWhiteAddrs": file.global_white_remote_addresses, "plainAccessConfigs": accounts });
    Ok(success(req).with_body(body.to_string().into_bytes()).into())
}
