//! Typed accessors for the broker's small persistent state in sled's `kv` tree. Every namespace
//! and key format the broker uses is named here; nothing else builds sled keys.
//!
//! | namespace | key | value |
//! |---|---|---|
//! | `tx_op` | half's commit log offset, 20-digit zero-padded decimal | one byte: the decision ([`TxDecision`]) |
//! | `tx_checks` | same | check-backs sent, i32 big-endian |
//! | `tx_cursor` | `0` | next half-queue offset to scan, i64 big-endian |
//! | `delay_offset` | delay level, decimal | next schedule-queue offset, i64 big-endian |
//! | `timer_index` | due ms (20 digits) + commit log offset (20 digits) | empty (before the timer store: read once to migrate, then cleared) |
//! | `timer_cursor` | `0` | next timer-queue offset to index, i64 big-endian (same: migrated, then cleared) |
//! | `timer_recalled` | real topic + `+` + UNIQ_KEY | due ms, i64 big-endian: recalled while waiting in a roll entry |
//! | `config_override` | config key | `key=value` line (runtime broker config updates) |
//! | `request_mode` | topic + NUL + group | `SetMessageRequestModeRequestBody` JSON (PULL/POP per group) |
//! | `store.deleted_topics` | topic | commit log position at deletion, i64 big-endian |
use super::meta::MetaStore;
use super::StoreError;

const TX_OP: &str = "tx_op";
const TX_CHECKS: &str = "tx_checks";
const TX_CURSOR: &str = "tx_cursor";
const DELAY_CURSOR: &str = "delay_offset";
const TIMER_INDEX: &str = "timer_index";
const TIMER_CURSOR: &str = "timer_cursor";
const TIMER_RECALLED: &str = "timer_recalled";
const REQUEST_MODE: &str = "request_mode";
/// Runtime config overrides (UPDATE_BROKER_CONFIG).
pub const CONFIG_OVERRIDE: &str = "config_override";

/// A transaction's recorded decision, keyed by its half message's commit log offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxDecision {
    /// A commit is being applied (the committed copy may or may not be stored yet).
    Applying,
    Committed,
    RolledBack,
    /// Dropped after too many check-backs.
    Discarded,
}

impl TxDecision {
    fn byte(self) -> u8 {
        match self {
            TxDecision::Applying => b'A',
            TxDecision::Committed => b'C',
            TxDecision::RolledBack => b'R',
            TxDecision::Discarded => b'D',
        }
    }
    fn from_byte(b: u8) -> Option<TxDecision> {
        Some(match b {
            b'A' => TxDecision::Applying,
            b'C' => TxDecision::Committed,
            b'R' => TxDecision::RolledBack,
            b'D' => TxDecision::Discarded,
            _ => return None,
        })
    }
}

fn offset_key(commit_log_offset: i64) -> String {
    format!("{commit_log_offset:020}")
}

fn get_i64(m: &MetaStore, ns: &str, key: &str) -> Option<i64> {
    m.get_kv(ns, key).and_then(|v| v.try_into().ok().map(i64::from_be_bytes))
}

impl MetaStore {
    pub fn tx_decision(&self, half_offset: i64) -> Option<TxDecision> {
        self.get_kv(TX_OP, &offset_key(half_offset)).and_then(|v| v.first().copied()).and_then(TxDecision::from_byte)
    }

    pub fn set_tx_decision(&self, half_offset: i64, d: TxDecision) -> Result<(), StoreError> {
        self.put_kv(TX_OP, &offset_key(half_offset), &[d.byte()])
    }

    /// Atomically move a half's decision from `from` to `to`; false when it was not `from`
    /// (another request decided first). Two connections racing on one half: exactly one wins.
    pub fn swap_tx_decision(&self, half_offset: i64, from: Option<TxDecision>, to: Option<TxDecision>) -> Result<bool, StoreError> {
        let v = |d: Option<TxDecision>| d.map(|d| vec![d.byte()]);
        self.cas_kv(TX_OP, &offset_key(half_offset), v(from).as_deref(), v(to).as_deref())
    }

    /// Halves whose commit was being applied (crash recovery).
    pub fn tx_applying(&self) -> Vec<i64> {
        self.scan_kv(TX_OP)
            .into_iter()
            .filter(|(_, v)| v.first().copied().and_then(TxDecision::from_byte) == Some(TxDecision::Applying))
            .filter_map(|(k, _)| k.parse().ok())
            .collect()
    }

    pub fn tx_checks(&self, half_offset: i64) -> i32 {
        self.get_kv(TX_CHECKS, &offset_key(half_offset)).and_then(|v| v.try_into().ok().map(i32::from_be_bytes)).unwrap_or(0)
    }

    pub fn set_tx_checks(&self, half_offset: i64, n: i32) -> Result<(), StoreError> {
        self.put_kv(TX_CHECKS, &offset_key(half_offset), &n.to_be_bytes())
    }

    pub fn tx_cursor(&self) -> i64 {
        get_i64(self, TX_CURSOR, "0").unwrap_or(0)
    }

    pub fn set_tx_cursor(&self, offset: i64) -> Result<(), StoreError> {
        self.put_kv(TX_CURSOR, "0", &offset.to_be_bytes())
    }

    pub fn delay_cursor(&self, level: usize) -> i64 {
        get_i64(self, DELAY_CURSOR, &level.to_string()).unwrap_or(0)
    }

    pub fn set_delay_cursor(&self, level: usize, offset: i64) -> Result<(), StoreError> {
        self.put_kv(DELAY_CURSOR, &level.to_string(), &offset.to_be_bytes())
    }

    /// The timer-queue cursor of the sled timer index (before the timer store), if any.
    pub fn legacy_timer_cursor(&self) -> Option<i64> {
        get_i64(self, TIMER_CURSOR, "0")
    }

    /// Index a timer message the way versions before the timer store did (kept for the migration
    /// and its tests).
    pub fn legacy_add_timer(&self, due_ms: i64, commit_log_offset: i64) -> Result<(), StoreError> {
        self.put_kv(TIMER_INDEX, &timer_key(due_ms, commit_log_offset), &[])
    }

    pub fn legacy_set_timer_cursor(&self, offset: i64) -> Result<(), StoreError> {
        self.put_kv(TIMER_CURSOR, "0", &offset.to_be_bytes())
    }

    /// Every timer of the sled index, earliest first: (due, commit log offset).
    pub fn legacy_timers(&self) -> Vec<(i64, i64)> {
        self.scan_kv(TIMER_INDEX)
            .into_iter()
            .filter_map(|(k, _)| Some((k.get(..20)?.parse().ok()?, k.get(20..)?.parse().ok()?)))
            .collect()
    }

    /// Drop the sled timer index and cursor (after their migration to the timer store).
    pub fn clear_legacy_timers(&self) -> Result<(), StoreError> {
        for (k, _) in self.scan_kv(TIMER_INDEX) {
            self.delete_kv(TIMER_INDEX, &k)?;
        }
        self.delete_kv(TIMER_CURSOR, "0")
    }

    /// A timer recalled while it waited in a roll entry (`key`: real topic + `+` + UNIQ_KEY).
    pub fn timer_recalled(&self, key: &str) -> bool {
        self.get_kv(TIMER_RECALLED, key).is_some()
    }

    pub fn set_timer_recalled(&self, key: &str, due_ms: i64) -> Result<(), StoreError> {
        self.put_kv(TIMER_RECALLED, key, &due_ms.to_be_bytes())
    }

    pub fn clear_timer_recalled(&self, key: &str) -> Result<(), StoreError> {
        self.delete_kv(TIMER_RECALLED, key)
    }

    /// Runtime config overrides: (key, `key=value` line).
    pub fn config_overrides(&self) -> Vec<(String, String)> {
        self.scan_kv(CONFIG_OVERRIDE).into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect()
    }

    pub fn set_config_override(&self, key: &str, line: &str) -> Result<(), StoreError> {
        self.put_kv(CONFIG_OVERRIDE, key, line.as_bytes())
    }

    /// Message request modes set by SET_MESSAGE_REQUEST_MODE: (topic, group, JSON body).
    pub fn request_modes(&self) -> Vec<(String, String, Vec<u8>)> {
        self.scan_kv(REQUEST_MODE)
            .into_iter()
            .filter_map(|(k, v)| {
                let (t, g) = k.split_once('\0')?;
                Some((t.to_string(), g.to_string(), v))
            })
            .collect()
    }

    pub fn set_request_mode(&self, topic: &str, group: &str, json: &[u8]) -> Result<(), StoreError> {
        self.put_kv(REQUEST_MODE, &format!("{topic}\0{group}"), json)
    }
}

fn timer_key(due_ms: i64, commit_log_offset: i64) -> String {
    format!("{:020}{:020}", due_ms.max(0), commit_log_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_decision_swaps_once() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(dir.path(), 1 << 20, 0).unwrap();
        assert_eq!(m.tx_decision(7), None);
        assert!(m.swap_tx_decision(7, None, Some(TxDecision::Applying)).unwrap());
        assert!(!m.swap_tx_decision(7, None, Some(TxDecision::Applying)).unwrap(), "second claim loses");
        assert!(!m.swap_tx_decision(7, None, Some(TxDecision::RolledBack)).unwrap());
        assert_eq!(m.tx_applying(), vec![7]);
        assert!(m.swap_tx_decision(7, Some(TxDecision::Applying), Some(TxDecision::Committed)).unwrap());
        assert_eq!(m.tx_decision(7), Some(TxDecision::Committed));
        assert!(m.tx_applying().is_empty());
    }

    #[test]
    fn legacy_timers_read_in_due_order_then_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(dir.path(), 1 << 20, 0).unwrap();
        m.legacy_add_timer(300, 1).unwrap();
        m.legacy_add_timer(100, 2).unwrap();
        m.legacy_add_timer(200, 3).unwrap();
        m.legacy_set_timer_cursor(3).unwrap();
        assert_eq!(m.legacy_timers(), vec![(100, 2), (200, 3), (300, 1)]);
        assert_eq!(m.legacy_timer_cursor(), Some(3));
        m.clear_legacy_timers().unwrap();
        assert!(m.legacy_timers().is_empty());
        assert_eq!(m.legacy_timer_cursor(), None);
    }
}
