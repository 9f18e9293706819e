//! Broker config and runtime info: GET_BROKER_RUNTIME_INFO (28), GET_BROKER_CONFIG (26),
//! UPDATE_BROKER_CONFIG (25), and the persisted runtime overrides.
//!
//! Overrides live in sled (`config_override`, see `store/state.rs`) inside the data directory, one
//! entry per canonical key holding its `key=value` properties line. They are separate from the
//! operator's file, fixed at startup (never a path taken from config), and re-applied by
//! [`crate::core::with_overrides`] when the broker starts. Only allowlisted keys ever get there.
use super::super::{success, Conn, HandlerError, HandlerResult};
use crate::core::Core;
use crate::codec::body::KvTable;
use crate::codec::codes::response_code as rc;
use crate::codec::header::GetBrokerConfigResponseHeader;
use crate::codec::RemotingCommand;
use crate::config::{BrokerConfig, ConfigError};
use std::collections::BTreeMap;
use std::path::Path;

/// UPDATE_BROKER_CONFIG (25): body = properties text; allowlisted keys only, all or nothing.
pub fn update_config(core: &Core, conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let caller = conn.handle.peer;
    let Ok(text) = std::str::from_utf8(&req.body) else {
        return Err(HandlerError::new(rc::SYSTEM_ERROR, "string2Properties error"));
    };
    let mut guard = match core.cfg.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let mut next = BrokerConfig::clone(&guard);
    let changed = match next.apply_runtime_update(text) {
        Ok(changed) => changed,
        Err(ConfigError::NotUpdatable { key }) => {
            tracing::warn!(%caller, key = %key, "UPDATE_BROKER_CONFIG refused: key not changeable at runtime");
            return Err(HandlerError::new(rc::NO_PERMISSION, format!("Can not update config in runtime: key \"{key}\" is not changeable remotely")));
        }
        Err(e) => {
            tracing::warn!(%caller, error = %e, "UPDATE_BROKER_CONFIG refused");
            return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("update broker config failed: {e}")));
        }
    };
    let lines = properties_lines(&next);
    for key in &changed {
        let line = lines.get(*key).cloned().unwrap_or_default();
        if let Err(e) = core.store.meta().set_config_override(key, &line) {
            tracing::error!(%caller, key, error = %e, "failed to persist config override");
            return Err(HandlerError::new(rc::SYSTEM_ERROR, format!("failed to persist the update: {e}")));
        }
        tracing::info!(%caller, update = %line, "broker config updated at runtime");
    }
    if changed.is_empty() {
        tracing::info!(%caller, body = %text.trim(), "UPDATE_BROKER_CONFIG: nothing changed");
    }
    crate::core::apply_live(&next, &core.store); // the store's settings and the log filter
    *guard = std::sync::Arc::new(next);
    Ok(success(req).into())
}

/// `key=value` lines of the config by canonical key.
fn properties_lines(cfg: &BrokerConfig) -> BTreeMap<String, String> {
    cfg.to_properties()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| (k.to_string(), l.to_string())))
        .collect()
}

/// GET_BROKER_CONFIG (26): every key as properties text, header `version` = DataVersion JSON.
pub fn get_config(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let cfg = core.config();
    let mut r = success(req);
    let version = serde_json::to_string(&core.topics.data_version()).unwrap_or_default();
    r.set_header(&GetBrokerConfigResponseHeader { version });
    Ok(r.with_body(cfg.to_properties()).into())
}

/// GET_BROKER_RUNTIME_INFO (28): KVTable with every key mqadmin and exporters parse.
pub fn runtime_info(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let table = runtime_table(core, crate::core::now_ms());
    Ok(success(req).with_body(KvTable { table }.to_json()).into())
}

fn runtime_table(core: &Core, now: i64) -> BTreeMap<String, String> {
    let cfg = core.config();
    let store = &core.store;
    let mut put_total = 0i64;
    let mut earliest = 0i64;
    for (topic, q) in store.queues() {
        put_total += store.max_offset(&topic, q);
        if let Some(t) = store.earliest_store_time(&topic, q) {
            if earliest == 0 || t < earliest {
                earliest = t;
            }
        }
    }
    let up = core.started_at.elapsed();
    let (min_off, max_off) = (store.min_commit_log_offset(), store.max_commit_log_offset());
    let (total, free) = disk_space(&cfg.store_path_root_dir);
    let ratio = if total > 0 { (total - free) as f64 / total as f64 } else { 0.0 };
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let mut t = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        t.insert(k.to_string(), v);
    };
    put("brokerVersionDesc", "V4_9_7".into());
    put("brokerVersion", "407".into());
    put("brokerName", cfg.broker_name.clone());
    for k in ["msgPutTotalYesterdayMorning", "msgPutTotalTodayMorning"] {
        put(k, "0".into());
    }
    put("msgPutTotalTodayNow", put_total.to_string());
    for k in ["msgGetTotalYesterdayMorning", "msgGetTotalTodayMorning", "msgGetTotalTodayNow"] {
        put(k, "0".into());
    }
    for k in ["putTps", "getTransferedTps", "getFoundTps", "getMissTps", "getTotalTps", "getTransferredTps"] {
        put(k, "0.0 0.0 0.0".into());
    }
    for k in [
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "queryThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "queryThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
        "dispatchBehindBytes",
        "remainTransientStoreBufferNumbs",
        "remainHowManyDataToCommit",
        "remainHowManyDataToFlush",
        "putMessageEntireTimeMax",
        "startAcceptSendRequestTimeStamp",
    ] {
        put(k, "0".into());
    }
    put("sendThreadPoolQueueCapacity", "10000".into());
    put("pullThreadPoolQueueCapacity", "100000".into());
    put("queryThreadPoolQueueCapacity", "20000".into());
    put("putMessageDistributeTime", "[<=0ms]:0 [0~10ms]:0 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 ".into());
    put("putMessageTimesTotal", put_total.to_string());
    put("putMessageSizeTotal", (max_off - min_off).max(0).to_string());
    put("putMessageAverageSize", if put_total > 0 { ((max_off - min_off) as f64 / put_total as f64).to_string() } else { "0.0".into() });
    put("putMessageFailedTimes", "0".into());
    put("earliestMessageTimeStamp", earliest.to_string());
    put("bootTimestamp", (now - up.as_millis() as i64).to_string());
    put("runtime", runtime_desc(up.as_secs()));
    put("commitLogMinOffset", min_off.to_string());
    put("commitLogMaxOffset", max_off.to_string());
    put("commitLogDiskRatio", ratio.to_string());
    put("consumeQueueDiskRatio", ratio.to_string());
    put("commitLogDirCapacity", format!("Total : {:.2} GiB, Free : {:.2} GiB.", gib(total), gib(free)));
    put("brokerActive", "true".into());
    put("msgPutTotal", put_total.to_string());
    replication(core, max_off, &mut put);
    backlogs(core, now, &mut put);
    t
}

/// Replication (docs/replication.md): `brokerRole`; `slaveFallBehindMuch` as Java's
/// `slaveFallBehindMuch()` on a master (its end minus the furthest slave report, the whole log
/// when no slave is connected), on a slave the bytes its master was last seen ahead; the slaves
/// a master serves, the master a slave follows.
fn replication(core: &Core, end: i64, put: &mut impl FnMut(&str, String)) {
    let r = &core.replication;
    put("brokerRole", r.role.as_str().into());
    if r.is_slave() {
        let m = r.master();
        put("slaveFallBehindMuch", r.behind(end).to_string());
        put("haMasterAddress", m.addr.unwrap_or_default());
        put("haMasterConnected", m.connected.to_string());
    } else {
        let slaves = r.slaves();
        put("slaveFallBehindMuch", r.behind(end).to_string());
        put("haConnectionCount", slaves.len().to_string());
        let list: Vec<String> = slaves.iter().map(|s| format!("{}={}", s.addr, s.acked)).collect();
        put("haSlaves", list.join(";"));
    }
}

/// Delay-level and timer backlogs under RocketMQ 5's names: `scheduleMessageOffset_<level>` is
/// "delivered offset,max offset"; `timerReadBehind` is seconds of delivery lag, `timerOffsetBehind`
/// timer-topic messages not yet indexed, `timerCongestNum` timers waiting in the wheel.
fn backlogs(core: &Core, now: i64, put: &mut impl FnMut(&str, String)) {
    let levels = core.config().message_delay_level.len();
    for (level, delivered, max) in crate::core::schedule::Scheduler::level_backlog(core, levels) {
        put(&format!("scheduleMessageOffset_{level}"), format!("{delivered},{max}"));
    }
    let t = core.timers.status(&core.store, now);
    put("timerReadBehind", (t.read_behind_ms / 1000).to_string());
    put("timerOffsetBehind", t.offset_behind.to_string());
    put("timerCongestNum", t.pending.to_string());
    put("timerEnqueueTps", format!("{:.1}", t.enqueue_tps));
    put("timerDequeueTps", format!("{:.1}", t.dequeue_tps));
}

/// Java's `[ 0 days, 1 hours, 2 minutes, 3 seconds ]`.
fn runtime_desc(secs: u64) -> String {
    format!("[ {} days, {} hours, {} minutes, {} seconds ]", secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

/// Total and free bytes of the file system holding `dir` (0, 0 when unknown).
fn disk_space(dir: &Path) -> (u64, u64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return (0, 0) };
    // SAFETY: statvfs(3) writes into a zeroed struct we own; the path is NUL-terminated.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut s) != 0 {
            return (0, 0);
        }
        let frsize = s.f_frsize as u64;
        (s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize)
    }
}
