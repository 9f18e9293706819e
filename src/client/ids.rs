//! Message ids: the client-made unique id (UNIQ_KEY) and the broker-made offset msgId.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A UNIQ_KEY-shaped id (see [`crate::codec::message::unique_id`]).
pub fn unique_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    crate::codec::message::unique_id(std::process::id(), now, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Decode an offset msgId (32 hex digits for IPv4, 56 for IPv6) into store address and
/// commit-log offset.
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let bytes = hex_decode(id)?;
    match bytes.len() {
        16 => {
            let ip = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
            let port = i32::from_be_bytes(bytes[4..8].try_into().ok()?);
            let off = i64::from_be_bytes(bytes[8..16].try_into().ok()?);
            Some((SocketAddr::new(IpAddr::V4(ip), port as u16), off))
        }
        28 => {
            let a: [u8; 16] = bytes[0..16].try_into().ok()?;
            let port = i32::from_be_bytes(bytes[16..20].try_into().ok()?);
            let off = i64::from_be_bytes(bytes[20..28].try_into().ok()?);
            Some((SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port as u16), off))
        }
        _ => None,
    }
}

/// Make an offset msgId from an IPv4 store address and commit-log offset.
pub fn offset_msg_id(addr: SocketAddr, commit_log_offset: i64) -> String {
    let mut out = String::new();
    match addr.ip() {
        IpAddr::V4(v4) => v4.octets().iter().for_each(|b| out.push_str(&format!("{:02X}", b))),
        IpAddr::V6(v6) => v6.octets().iter().for_each(|b| out.push_str(&format!("{:02X}", b))),
    }
    out.push_str(&format!("{:08X}{:016X}", addr.port() as i32, commit_log_offset));
    out
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

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
