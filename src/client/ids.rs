//! Message ids: the client-made unique id (UNIQ_KEY) and the broker-made offset msgId.
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A UNIQ_KEY-shaped id (see [`crate::codec::message::unique_id`]).
pub fn unique_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    crate::codec::message::unique_id(std::process::id(), now, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Offset msgIds (store address, port, commit-log offset) as the codec makes and reads them.
pub use crate::codec::message::{decode_offset_msg_id, offset_msg_id};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_0010_offset_id() {
        let (addr, off) = decode_offset_msg_id("7F00000100002A9F0000000000031F8C").unwrap();
        assert_eq!(addr, "127.0.0.1:10911".parse().unwrap());
        assert_eq!(off, 204684);
        assert_eq!(offset_msg_id(addr, off), "7F00000100002A9F0000000000031F8C");
    }

    #[test]
    fn unique_ids_differ() {
        let a = unique_id();
        let b = unique_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
