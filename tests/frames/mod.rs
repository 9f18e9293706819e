//! Shared helpers: load the captured frames and their decoded headers.
#![allow(dead_code)]
use bytes::BytesMut;
use ferrocket::codec::{RemotingCodec, RemotingCommand};
use serde_json::Value;
use std::path::PathBuf;
use tokio_util::codec::Decoder;

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frames")
}

/// Every vector file name, sorted.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".hex"))
        .collect();
    v.sort();
    v
}

/// The bytes of a vector, by number (`9` → `0009-*.hex`).
pub fn frame(n: u32) -> Vec<u8> {
    let prefix = format!("{n:04}-");
    let name = names()
        .into_iter()
        .find(|f| f.starts_with(&prefix))
        .expect("vector exists");
    frame_by_name(&name)
}

pub fn frame_by_name(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let hex: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Decode one whole frame, asserting it is consumed completely.
pub fn decode(bytes: &[u8]) -> RemotingCommand {
    let mut buf = BytesMut::from(bytes);
    let cmd = RemotingCodec::default()
        .decode(&mut buf)
        .unwrap()
        .expect("whole frame");
    assert!(buf.is_empty());
    cmd
}

pub fn cmd(n: u32) -> RemotingCommand {
    decode(&frame(n))
}

/// The header JSON of a vector as written in DECODED.md.
pub fn decoded_header(n: u32) -> Value {
    let md = std::fs::read_to_string(dir().join("DECODED.md")).unwrap();
    let marker = format!("## {n:04}-");
    let start = md.find(&marker).expect("section");
    let rest = &md[start..];
    let j = rest.find("```json\n").expect("json block") + 8;
    let end = rest[j..].find("\n```").unwrap();
    serde_json::from_str(&rest[j..j + end]).unwrap()
}

/// The header JSON of an encoded frame.
pub fn header_json(frame: &[u8]) -> Value {
    let hl = u32::from_be_bytes([0, frame[5], frame[6], frame[7]]) as usize;
    serde_json::from_slice(&frame[8..8 + hl]).unwrap()
}

pub fn encode(cmd: &RemotingCommand) -> Vec<u8> {
    let mut out = BytesMut::new();
    ferrocket::codec::frame::encode_command(cmd, &mut out);
    out.to_vec()
}

/// Call `$m!(T1, T2, ...)` with every typed header of the codec.
#[allow(unused_macros)]
macro_rules! with_all_headers {
    ($m:ident) => {
        $m!(
            SendMessageRequestHeader,
            SendMessageResponseHeader,
            PullMessageRequestHeader,
            PullMessageResponseHeader,
            QueryConsumerOffsetRequestHeader,
            QueryConsumerOffsetResponseHeader,
            UpdateConsumerOffsetRequestHeader,
            GetConsumerListByGroupRequestHeader,
            UnregisterClientRequestHeader,
            GetMaxOffsetRequestHeader,
            GetMaxOffsetResponseHeader,
            GetMinOffsetRequestHeader,
            GetMinOffsetResponseHeader,
            GetEarliestMsgStoretimeRequestHeader,
            GetEarliestMsgStoretimeResponseHeader,
            SearchOffsetRequestHeader,
            SearchOffsetResponseHeader,
            ConsumerSendMsgBackRequestHeader,
            EndTransactionRequestHeader,
            CheckTransactionStateRequestHeader,
            NotifyConsumerIdsChangedRequestHeader,
            GetRouteInfoRequestHeader,
            RegisterBrokerRequestHeader,
            RegisterBrokerResponseHeader,
            UnregisterBrokerRequestHeader,
            GetKvConfigRequestHeader,
            GetKvConfigResponseHeader,
            PutKvConfigRequestHeader,
            DeleteKvConfigRequestHeader,
            GetKvListByNamespaceRequestHeader,
            CreateTopicRequestHeader,
            DeleteTopicRequestHeader,
            ViewMessageRequestHeader,
            QueryMessageRequestHeader,
            QueryMessageResponseHeader,
            GetConsumeStatsRequestHeader,
            GetTopicStatsInfoRequestHeader,
            ResetOffsetRequestHeader,
            GetConsumerConnectionListRequestHeader,
            GetProducerConnectionListRequestHeader,
            DeleteSubscriptionGroupRequestHeader,
            GetConsumerRunningInfoRequestHeader,
            QueryTopicConsumeByWhoRequestHeader,
            GetTopicsByClusterRequestHeader,
            ResetConsumerClientOffsetRequestHeader,
            GetTopicConfigRequestHeader,
            QueryDataVersionRequestHeader,
            QueryDataVersionResponseHeader,
            WipeWritePermOfBrokerRequestHeader,
            WipeWritePermOfBrokerResponseHeader,
            AddWritePermOfBrokerRequestHeader,
            AddWritePermOfBrokerResponseHeader,
            DeleteTopicFromNamesrvRequestHeader,
            ConsumeMessageDirectlyResultRequestHeader,
            GetConsumerStatusRequestHeader,
            CloneGroupOffsetRequestHeader,
            QueryConsumeTimeSpanRequestHeader,
            GetBrokerConfigResponseHeader
        )
    };
}
#[allow(unused_imports)]
pub(crate) use with_all_headers;
