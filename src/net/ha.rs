//! The HA port of master/slave replication (docs/replication.md), RocketMQ 4.x's stream
//! (`codec::ha`): a master serves each slave the commit-log bytes it lacks; a slave follows its
//! master, appends what it gets and reports how far it is.
//!
//! Both run as tasks on the broker's System thread. The logic they report into is
//! `core::ha::Replication`; the bytes go through `Core::replicate` (slave) and
//! `MessageStore::replica_read` (master).
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::ha::{MasterCodec, MasterFrame, SlaveCodec};
use crate::core::{now_ms, Core};

/// HA timings and sizes, from the config.
#[derive(Clone, Copy, Debug)]
pub struct HaSettings {
    pub heartbeat: Duration,
    pub housekeeping: Duration,
    pub batch: usize,
}

impl HaSettings {
    pub fn of(cfg: &crate::config::BrokerConfig) -> HaSettings {
        HaSettings {
            heartbeat: cfg.ha_send_heartbeat_interval.max(Duration::from_millis(10)),
            housekeeping: cfg.ha_housekeeping_interval.max(Duration::from_millis(100)),
            batch: cfg.ha_transfer_batch_size.clamp(1, 16 << 20),
        }
    }
}

/// Serve slaves on `listener` (a master). Also ends SYNC_MASTER waits past their deadline.
pub fn spawn_master(listener: std::net::TcpListener, core: Arc<Core>, s: HaSettings) -> std::io::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let notify = Arc::new(Notify::new());
    let n = notify.clone();
    core.replication.on_written(move || n.notify_waiters());
    let ticker = core.clone();
    actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            ticker.replication.expire(now_ms());
        }
    });
    Ok(actix_rt::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    actix_rt::spawn(serve_slave(stream, peer, core.clone(), notify.clone(), s));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "HA accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

/// One slave: read its offset reports, write it the log from where it is.
async fn serve_slave(stream: TcpStream, peer: SocketAddr, core: Arc<Core>, notify: Arc<Notify>, s: HaSettings) {
    let (rd, wr) = stream.into_split();
    let id = core.replication.slave_connected(peer.to_string());
    tracing::info!(slave = %peer, "slave connected to the HA port");
    let (report_tx, report_rx) = watch::channel(-1i64);
    let reader_core = core.clone();
    let reader = async move {
        let mut frames = FramedRead::new(rd, MasterCodec);
        loop {
            match tokio::time::timeout(s.housekeeping, frames.next()).await {
                Err(_) => return format!("no report for {:?}", s.housekeeping),
                Ok(None) => return "closed by the slave".to_string(),
                Ok(Some(Err(e))) => return format!("bad report: {e}"),
                Ok(Some(Ok(offset))) => {
                    reader_core.replication.slave_acked(id, offset);
                    let _ = report_tx.send(offset);
                }
            }
        }
    };
    let writer = write_to_slave(FramedWrite::new(wr, MasterCodec), core.clone(), report_rx, notify, s);
    let why = tokio::select! {
        r = reader => r,
        r = writer => r,
    };
    core.replication.slave_closed(id);
    tracing::info!(slave = %peer, reason = %why, "HA connection closed");
}

type MasterSink = FramedWrite<tokio::net::tcp::OwnedWriteHalf, MasterCodec>;

/// Where to start: the slave's end; a fresh slave (0) gets the start of the newest segment, as
/// the Java master does. A slave ahead of this log is told where the log ends (an empty frame
/// at that offset: a ferrocket slave cuts its tail there and reports again; a Java slave closes).
async fn start_offset(out: &mut MasterSink, core: &Core, reports: &mut watch::Receiver<i64>) -> Result<i64, String> {
    loop {
        reports.changed().await.map_err(|_| "reader ended".to_string())?;
        let r = *reports.borrow_and_update();
        let end = core.store.max_commit_log_offset();
        if r == 0 {
            let seg = core.config().mapped_file_size_commit_log.max(1) as i64;
            return Ok(end - end % seg);
        }
        if r <= end {
            return Ok(r);
        }
        tracing::warn!(slave_end = r, master_end = end, "slave is ahead of this master: telling it where the log ends");
        out.send(MasterFrame { offset: end, body: Default::default() }).await.map_err(|e| e.to_string())?;
    }
}

async fn write_to_slave(mut out: MasterSink, core: Arc<Core>, mut reports: watch::Receiver<i64>, notify: Arc<Notify>, s: HaSettings) -> String {
    let mut next = match start_offset(&mut out, &core, &mut reports).await {
        Ok(n) => n,
        Err(e) => return e,
    };
    let mut last_write = Instant::now();
    loop {
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match core.store.replica_read(next, s.batch) {
            Ok(Some(body)) => {
                let len = body.len() as i64;
                tracing::debug!(offset = next, len, "HA frame to the slave");
                if let Err(e) = out.send(MasterFrame { offset: next, body }).await {
                    return format!("write failed: {e}");
                }
                next += len;
                last_write = Instant::now();
                continue;
            }
            Ok(None) => {}
            Err(e) => return format!("cannot read the commit log: {e}"),
        }
        if last_write.elapsed() >= s.heartbeat {
            if let Err(e) = out.send(MasterFrame { offset: next, body: Default::default() }).await {
                return format!("write failed: {e}");
            }
            last_write = Instant::now();
        }
        let _ = tokio::time::timeout(Duration::from_millis(100).min(s.heartbeat), woken).await;
    }
}

/// Follow the master (a slave): connect to `haMasterAddress` (or the address the name server
/// named), report the log's end, append what arrives; reconnect after any failure.
pub fn spawn_slave(core: Arc<Core>, s: HaSettings) -> tokio::task::JoinHandle<()> {
    actix_rt::spawn(async move {
        loop {
            let Some(addr) = core.replication.master().addr else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(&addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    core.replication.set_master(Some(addr.clone()), true);
                    tracing::info!(master = %addr, "connected to the master's HA port");
                    let why = follow(stream, &core, s).await;
                    tracing::warn!(master = %addr, reason = %why, "HA connection to the master closed");
                    core.replication.set_master(core.replication.master().addr, false);
                }
                Ok(Err(e)) => tracing::debug!(master = %addr, error = %e, "cannot connect to the master's HA port"),
                Err(_) => tracing::debug!(master = %addr, "connecting to the master's HA port timed out"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn follow(stream: TcpStream, core: &Core, s: HaSettings) -> String {
    let (rd, wr) = stream.into_split();
    let max_body = (core.config().mapped_file_size_commit_log as usize).clamp(1 << 20, 1 << 30);
    let codec = SlaveCodec { max_body };
    let mut frames = FramedRead::new(rd, codec.clone());
    let mut out = FramedWrite::new(wr, codec);
    let mut reported = core.store.max_commit_log_offset();
    if let Err(e) = out.send(reported).await {
        return format!("write failed: {e}");
    }
    let mut heartbeat = tokio::time::interval(s.heartbeat);
    heartbeat.tick().await;
    let mut last_frame = Instant::now();
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                if last_frame.elapsed() >= s.housekeeping {
                    return format!("nothing from the master for {:?}", s.housekeeping);
                }
                reported = core.store.max_commit_log_offset();
                if let Err(e) = out.send(reported).await {
                    return format!("write failed: {e}");
                }
            }
            f = tokio::time::timeout(s.housekeeping, frames.next()) => {
                let frame = match f {
                    Err(_) => return format!("nothing from the master for {:?}", s.housekeeping),
                    Ok(None) => return "closed by the master".to_string(),
                    Ok(Some(Err(e))) => return format!("bad frame: {e}"),
                    Ok(Some(Ok(frame))) => frame,
                };
                last_frame = Instant::now();
                if let Err(e) = apply(core, &frame) {
                    return e;
                }
                let end = core.store.max_commit_log_offset();
                if end != reported {
                    reported = end;
                    if let Err(e) = out.send(reported).await {
                        return format!("write failed: {e}");
                    }
                }
            }
        }
    }
}

/// One frame from the master: cut a tail the master lacks, append the bytes.
fn apply(core: &Core, f: &MasterFrame) -> Result<(), String> {
    let end = core.store.max_commit_log_offset();
    tracing::debug!(offset = f.offset, len = f.body.len(), end, "HA frame from the master");
    core.replication.master_progress(f.offset + f.body.len() as i64);
    if f.offset < end {
        core.store.replica_truncate(f.offset).map_err(|e| format!("cannot cut the log back to {}: {e}", f.offset))?;
    } else if f.offset > end && !(end == 0 && core.store.is_empty()) {
        return Err(format!("the master sent offset {} but this log ends at {end}", f.offset));
    }
    if f.body.is_empty() {
        return Ok(());
    }
    core.replicate(f.offset, &f.body).map_err(|e| format!("cannot append replicated bytes: {e}"))
}
