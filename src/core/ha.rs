//! Replication state (docs/replication.md), free of sockets and clocks.
//!
//! On a master: the connected slaves and the offset each acknowledged, and the SYNC_MASTER sends
//! waiting for an acknowledgement. On a slave: the master it follows and how far behind it is.
//! The HA connections (`net::ha`) report into it; waiting sends leave through a oneshot each; new
//! data on a master wakes the HA writers through the callback they install ([`Replication::on_written`]).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::oneshot;

use crate::config::BrokerRole;

/// How a SYNC_MASTER wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// A slave acknowledged the offset: SEND_OK.
    Replicated,
    /// No acknowledgement within `syncFlushTimeout`: FLUSH_SLAVE_TIMEOUT.
    Timeout,
}

/// What a SYNC_MASTER send should do after its append.
#[derive(Debug)]
pub enum SyncDecision {
    /// Not a SYNC_MASTER (or already acknowledged): answer now.
    Done,
    /// No slave is in sync (`haMaxGapNotInSync`): answer SLAVE_NOT_AVAILABLE now.
    NoSlave,
    /// Answer when this completes.
    Wait(oneshot::Receiver<SyncOutcome>),
}

/// One connected slave as the master sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaveInfo {
    pub addr: String,
    /// The slave's last reported commit-log end.
    pub acked: i64,
}

/// The slave's view of its master.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MasterInfo {
    /// The master's HA address in use.
    pub addr: Option<String>,
    /// The master's remoting address (metadata sync), as the name server names it.
    pub remoting: Option<String>,
    pub connected: bool,
    /// The master's commit-log end as last seen in a frame (header offset + body size).
    pub master_end: i64,
}

struct Waiter {
    target: i64,
    deadline_ms: i64,
    tx: oneshot::Sender<SyncOutcome>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    slaves: HashMap<u64, SlaveInfo>,
    waiting: Vec<Waiter>,
    master: MasterInfo,
}

type WakeFn = Arc<dyn Fn() + Send + Sync>;

/// Replication state of one broker.
pub struct Replication {
    pub role: BrokerRole,
    max_gap: i64,
    /// A consumer further behind the log's end than this reads from disk: suggest the slave.
    slow_read: std::sync::atomic::AtomicI64,
    /// Connected slaves (read on every append without taking the lock).
    connected: std::sync::atomic::AtomicUsize,
    state: Mutex<State>,
    wake: RwLock<Option<WakeFn>>,
}

impl Replication {
    pub fn new(role: BrokerRole, max_gap: u64) -> Replication {
        Replication { role, max_gap: max_gap.min(i64::MAX as u64) as i64, slow_read: std::sync::atomic::AtomicI64::new(i64::MAX), connected: Default::default(), state: Mutex::default(), wake: RwLock::new(None) }
    }

    /// Set the bytes behind the log's end past which a consumer is "consuming slowly" (40 % of
    /// the machine's memory, as Java's accessMessageInMemoryMaxRatio; set while wiring).
    pub fn set_slow_read_bytes(&self, bytes: i64) {
        self.slow_read.store(bytes.max(0), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn slow_read_bytes(&self) -> i64 {
        self.slow_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_slave(&self) -> bool {
        self.role == BrokerRole::Slave
    }

    /// Install the callback that wakes the HA writers when the log grows (once, while wiring).
    pub fn on_written(&self, f: impl Fn() + Send + Sync + 'static) {
        *self.wake.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(f));
    }

    /// The log grew: wake the HA writers (nothing when no slave is connected).
    pub fn written(&self) {
        if self.connected.load(std::sync::atomic::Ordering::Acquire) == 0 {
            return;
        }
        if let Some(f) = self.wake.read().unwrap_or_else(|e| e.into_inner()).clone() {
            f();
        }
    }

    /// A slave connected; its id for the calls below.
    pub fn slave_connected(&self, addr: String) -> u64 {
        let mut s = self.lock();
        s.next_id += 1;
        let id = s.next_id;
        s.slaves.insert(id, SlaveInfo { addr, acked: -1 });
        self.connected.store(s.slaves.len(), std::sync::atomic::Ordering::Release);
        id
    }

    pub fn slave_closed(&self, id: u64) {
        let mut s = self.lock();
        s.slaves.remove(&id);
        self.connected.store(s.slaves.len(), std::sync::atomic::Ordering::Release);
    }

    /// A slave reported its commit-log end: complete the sends it covers.
    pub fn slave_acked(&self, id: u64, offset: i64) {
        let mut s = self.lock();
        if let Some(sl) = s.slaves.get_mut(&id) {
            sl.acked = sl.acked.max(offset);
        }
        let best = s.slaves.values().map(|sl| sl.acked).max().unwrap_or(-1);
        let (done, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut s.waiting).into_iter().partition(|w| w.target <= best);
        s.waiting = keep;
        drop(s);
        for w in done {
            let _ = w.tx.send(SyncOutcome::Replicated);
        }
    }

    /// The furthest any slave acknowledged (-1 when none is connected).
    pub fn push_max(&self) -> i64 {
        self.lock().slaves.values().map(|sl| sl.acked).max().unwrap_or(-1)
    }

    pub fn slaves(&self) -> Vec<SlaveInfo> {
        let mut v: Vec<SlaveInfo> = self.lock().slaves.values().cloned().collect();
        v.sort_by(|a, b| a.addr.cmp(&b.addr));
        v
    }

    /// After a SYNC_MASTER append that ends at `end` (at `now_ms`, waiting at most `timeout_ms`):
    /// as the Java broker, wait only when some slave is connected and less than
    /// `haMaxGapNotInSync` behind.
    pub fn sync_wait(&self, end: i64, now_ms: i64, timeout_ms: i64) -> SyncDecision {
        if self.role != BrokerRole::SyncMaster {
            return SyncDecision::Done;
        }
        let mut s = self.lock();
        let best = s.slaves.values().map(|sl| sl.acked).max();
        match best {
            None => SyncDecision::NoSlave,
            Some(b) if b >= end => SyncDecision::Done,
            Some(b) if end - b.max(0) >= self.max_gap => SyncDecision::NoSlave,
            Some(_) => {
                let (tx, rx) = oneshot::channel();
                s.waiting.push(Waiter { target: end, deadline_ms: now_ms + timeout_ms, tx });
                SyncDecision::Wait(rx)
            }
        }
    }

    /// End the waits whose deadline passed (called by the HA housekeeping tick).
    pub fn expire(&self, now_ms: i64) {
        let mut s = self.lock();
        if s.waiting.is_empty() {
            return;
        }
        let (late, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut s.waiting).into_iter().partition(|w| w.deadline_ms <= now_ms);
        s.waiting = keep;
        drop(s);
        for w in late {
            let _ = w.tx.send(SyncOutcome::Timeout);
        }
    }

    /// Slave side: the master in use, and whether the HA connection is up.
    pub fn set_master(&self, addr: Option<String>, connected: bool) {
        let mut s = self.lock();
        s.master.addr = addr;
        s.master.connected = connected;
    }

    /// Slave side: a registration answer named the master (`ha`, `remoting`). The HA address
    /// is taken only when `haMasterAddress` is not configured (`learn_ha`).
    pub fn learned(&self, ha: Option<String>, remoting: Option<String>, learn_ha: bool) {
        let mut s = self.lock();
        if learn_ha && ha.is_some() && s.master.addr != ha {
            tracing::info!(master_ha = ?ha, "master's HA address learned from the name server");
            s.master.addr = ha;
            s.master.connected = false;
        }
        if remoting.is_some() {
            s.master.remoting = remoting;
        }
    }

    /// Slave side: a frame showed the master's log reaching `end`.
    pub fn master_progress(&self, end: i64) {
        self.lock().master.master_end = end;
    }

    pub fn master(&self) -> MasterInfo {
        self.lock().master.clone()
    }

    /// Bytes of replication lag, as `slaveFallBehindMuch`: on a master its log end minus the
    /// furthest slave report (the whole log when no slave is connected), on a slave how far the
    /// master was last seen ahead of it. `end` is this broker's own log end.
    pub fn behind(&self, end: i64) -> i64 {
        if self.is_slave() {
            self.fall_behind(end)
        } else {
            (end - self.push_max().max(0)).max(0)
        }
    }

    /// Slave side: bytes the slave is behind its master (`local_end` = its own log end).
    pub fn fall_behind(&self, local_end: i64) -> i64 {
        (self.lock().master.master_end - local_end).max(0)
    }
}

impl super::Core {
    /// SYNC_MASTER: whether (and how) the answer to an append waits for a slave to have it.
    /// Both front ends call this after `Core::append`.
    pub fn sync_master_wait(&self, outcome: &crate::store::PutOutcome, now_ms: &dyn Fn() -> i64) -> SyncDecision {
        if self.replication.role != BrokerRole::SyncMaster {
            return SyncDecision::Done;
        }
        let end = outcome.results.iter().map(|r| r.commit_log_offset + r.size as i64).max().unwrap_or(0);
        let timeout = self.config().sync_flush_timeout.as_millis() as i64;
        self.replication.sync_wait(end, now_ms(), timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_master_waits_for_an_ack_and_times_out() {
        let r = Replication::new(BrokerRole::SyncMaster, 1000);
        assert!(matches!(r.sync_wait(10, 0, 100), SyncDecision::NoSlave), "no slave connected");
        let id = r.slave_connected("s".into());
        r.slave_acked(id, 0);
        let SyncDecision::Wait(mut rx) = r.sync_wait(10, 0, 100) else { panic!("waits") };
        let SyncDecision::Wait(mut late) = r.sync_wait(20, 0, 100) else { panic!("waits") };
        r.slave_acked(id, 15);
        assert_eq!(rx.try_recv().unwrap(), SyncOutcome::Replicated);
        assert!(late.try_recv().is_err());
        r.expire(99);
        assert!(late.try_recv().is_err());
        r.expire(100);
        assert_eq!(late.try_recv().unwrap(), SyncOutcome::Timeout);
        assert!(matches!(r.sync_wait(15, 0, 100), SyncDecision::Done));
        assert!(matches!(r.sync_wait(5000, 0, 100), SyncDecision::NoSlave), "too far behind");
        r.slave_closed(id);
        assert!(matches!(r.sync_wait(16, 0, 100), SyncDecision::NoSlave));
        assert!(matches!(Replication::new(BrokerRole::AsyncMaster, 1).sync_wait(1, 0, 1), SyncDecision::Done));
    }
}
