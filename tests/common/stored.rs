//! Decoder for the stored-message layout that PULL_MESSAGE bodies carry
//! (`docs/protocol/messages.md` §4). Strict: every length and the CRC are checked.
use ferrocket::client::props;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const MAGIC_V1: u32 = 0xDAA3_20A7;
pub const MAGIC_V2: u32 = 0xDAA3_20AB;

#[derive(Debug, Clone)]
pub struct StoredMsg {
    pub total_size: i32,
    pub magic: u32,
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Vec<u8>,
    pub topic: String,
    pub properties_raw: String,
    pub properties: HashMap<String, String>,
}

impl StoredMsg {
    pub fn prop(&self, k: &str) -> Option<&str> {
        self.properties.get(k).map(|s| s.as_str())
    }
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.b.len() - self.pos < n {
            return Err(format!("{what}: need {n} bytes at {}, have {}", self.pos, self.b.len() - self.pos));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn i8(&mut self, w: &str) -> Result<i8, String> {
        Ok(self.take(1, w)?[0] as i8)
    }
    fn i16(&mut self, w: &str) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take(2, w)?.try_into().unwrap()))
    }
    fn i32(&mut self, w: &str) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4, w)?.try_into().unwrap()))
    }
    fn i64(&mut self, w: &str) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take(8, w)?.try_into().unwrap()))
    }
    fn host(&mut self, v6: bool, w: &str) -> Result<SocketAddr, String> {
        let ip = if v6 {
            let a: [u8; 16] = self.take(16, w)?.try_into().unwrap();
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            let a = self.take(4, w)?;
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        };
        let port = self.i32(w)?;
        Ok(SocketAddr::new(ip, port as u16))
    }
}

/// Decode one message starting at `b[0]`; returns it and the bytes it used.
pub fn decode_one(b: &[u8]) -> Result<(StoredMsg, usize), String> {
    let mut c = Cur { b, pos: 0 };
    let total_size = c.i32("totalSize")?;
    if total_size < 91 || total_size as usize > b.len() {
        return Err(format!("totalSize {total_size} out of range (have {} bytes)", b.len()));
    }
    let magic = c.i32("magic")? as u32;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Err(format!("bad magic {magic:#x}"));
    }
    let body_crc = c.i32("bodyCRC")?;
    let queue_id = c.i32("queueId")?;
    let flag = c.i32("flag")?;
    let queue_offset = c.i64("queueOffset")?;
    let commit_log_offset = c.i64("commitLogOffset")?;
    let sys_flag = c.i32("sysFlag")?;
    let born_timestamp = c.i64("bornTimestamp")?;
    let born_host = c.host(sys_flag & 0x10 != 0, "bornHost")?;
    let store_timestamp = c.i64("storeTimestamp")?;
    let store_host = c.host(sys_flag & 0x20 != 0, "storeHost")?;
    let reconsume_times = c.i32("reconsumeTimes")?;
    let prepared_transaction_offset = c.i64("preparedTransactionOffset")?;
    let body_len = c.i32("bodyLength")?;
    if body_len < 0 {
        return Err(format!("negative body length {body_len}"));
    }
    let body = c.take(body_len as usize, "body")?.to_vec();
    let topic_len = if magic == MAGIC_V2 { c.i16("topicLength")? as i32 } else { c.i8("topicLength")? as i32 };
    if topic_len < 0 {
        return Err(format!("negative topic length {topic_len}"));
    }
    let topic = String::from_utf8(c.take(topic_len as usize, "topic")?.to_vec()).map_err(|e| e.to_string())?;
    let props_len = c.i16("propertiesLength")?;
    if props_len < 0 {
        return Err(format!("negative properties length {props_len}"));
    }
    let properties_raw =
        String::from_utf8(c.take(props_len as usize, "properties")?.to_vec()).map_err(|e| e.to_string())?;
    if c.pos != total_size as usize {
        return Err(format!("fields end at {} but totalSize is {total_size}", c.pos));
    }
    let crc = (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32;
    if crc != body_crc {
        return Err(format!("bodyCRC {body_crc} != computed {crc}"));
    }
    let properties = props::decode(&properties_raw);
    Ok((
        StoredMsg {
            total_size,
            magic,
            body_crc,
            queue_id,
            flag,
            queue_offset,
            commit_log_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic,
            properties_raw,
            properties,
        },
        total_size as usize,
    ))
}

/// Decode a whole pull body: messages back to back, nothing before, between or after.
pub fn decode_all(mut b: &[u8]) -> Result<Vec<StoredMsg>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (m, used) = decode_one(b).map_err(|e| format!("message #{}: {e}", out.len()))?;
        out.push(m);
        b = &b[used..];
    }
    Ok(out)
}
