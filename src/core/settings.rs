//! The config in force: the stored runtime overrides applied on start ([`with_overrides`]), and
//! runtime keys made to take effect after start-up and after each UPDATE_BROKER_CONFIG. Keys read per request by the handlers (through the
//! broker's shared config) need nothing here; the store and the log filter keep their own copy
//! and are pushed the new values by [`apply_live`].

use crate::config::{logging, BrokerConfig};
use crate::store::{MessageStore, StoreRuntime};

/// What a stored record may add to a `maxMessageSize` body: the record header, the topic and up
/// to 32 KiB of properties.
pub const RECORD_OVERHEAD: usize = 64 * 1024;

/// The store's runtime settings (`flushIntervalCommitLog`, `fileReservedTime`, `deleteWhen`,
/// `diskMaxUsedSpaceRatio`, `maxMessageSize`) from `cfg`.
pub fn store_runtime(cfg: &BrokerConfig) -> StoreRuntime {
    StoreRuntime {
        flush_interval: cfg.flush_interval_commit_log,
        file_reserved_time: cfg.file_reserved_time,
        delete_when: cfg.delete_when.clone(),
        disk_max_used_ratio: cfg.disk_max_used_space_ratio,
        // maxMessageSize bounds the body (checked by the send path); the record adds the rest.
        max_message_size: cfg.max_message_size + RECORD_OVERHEAD,
    }
}

/// Push the runtime keys that live outside the shared config: the store's settings
/// ([`MessageStore::apply_runtime`]) and `logLevel` ([`logging::set_level`]; a no-op
/// unless the process installed the reloadable filter, and when `RUST_LOG`/`FERROCKET_LOG` fix
/// it). Call on start (after the stored overrides are applied) and after every accepted update.
pub fn apply_live(cfg: &BrokerConfig, store: &MessageStore) {
    store.apply_runtime(&store_runtime(cfg));
    if let Err(e) = logging::set_level(&cfg.log_level) {
        tracing::warn!(log_level = %cfg.log_level, error = %e, "logLevel not applied");
    }
}

/// The config the broker runs with: `cfg` plus the runtime overrides stored by
/// UPDATE_BROKER_CONFIG. An override that no longer applies (key no longer runtime-changeable,
/// value invalid) is skipped with a warning.
pub fn with_overrides(cfg: &BrokerConfig, store: &MessageStore) -> BrokerConfig {
    let mut live = cfg.clone();
    for (key, line) in store.meta().config_overrides() {
        match live.apply_runtime_update(&line) {
            Ok(_) => tracing::info!(key = %key, "runtime config override re-applied"),
            Err(e) => tracing::warn!(key = %key, error = %e, "stored config override skipped"),
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's copy of its runtime keys is built from the whole config: every `deleteWhen` hour,
    /// and `maxMessageSize` plus the record overhead.
    #[test]
    fn store_runtime_carries_every_store_key() {
        let mut c = BrokerConfig::default();
        c.apply_runtime_update("deleteWhen=01;04;23\nfileReservedTime=2\nflushIntervalCommitLog=250\ndiskMaxUsedSpaceRatio=60\nmaxMessageSize=1000\n")
            .unwrap();
        let rt = store_runtime(&c);
        assert_eq!(rt.delete_when, vec![1, 4, 23]);
        assert_eq!(rt.file_reserved_time, std::time::Duration::from_secs(2 * 3600));
        assert_eq!(rt.flush_interval, std::time::Duration::from_millis(250));
        assert_eq!(rt.disk_max_used_ratio, 60);
        assert_eq!(rt.max_message_size, 1000 + RECORD_OVERHEAD);
    }
}
