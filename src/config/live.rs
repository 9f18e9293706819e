//! Making runtime keys take effect: what a running broker does with a config after start-up
//! and after each UPDATE_BROKER_CONFIG. Keys read per request by the handlers (through the
//! broker's shared config) need nothing here; the store and the log filter keep their own copy
//! and are pushed the new values by [`apply_live`].

use crate::store::{MessageStore, StoreRuntime};

use super::BrokerConfig;

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
/// ([`MessageStore::apply_runtime`]) and `logLevel` ([`super::logging::set_level`]; a no-op
/// unless the process installed the reloadable filter, and when `RUST_LOG`/`FERROCKET_LOG` fix
/// it). Call on start (after the stored overrides are applied) and after every accepted update.
pub fn apply_live(cfg: &BrokerConfig, store: &MessageStore) {
    store.apply_runtime(&store_runtime(cfg));
    if let Err(e) = super::logging::set_level(&cfg.log_level) {
        tracing::warn!(log_level = %cfg.log_level, error = %e, "logLevel not applied");
    }
}
