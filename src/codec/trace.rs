//! Message trace records as the clients write them to the trace topic (`RMQ_SYS_TRACE_TOPIC`):
//! records separated by `\u{2}`, fields by `\u{1}`, the first field the record type (`Pub`,
//! `SubBefore`, `SubAfter`, `EndTransaction`). Decoded into named fields for display; unknown
//! types and short records are kept with what they have.

/// One trace record: its type and its fields by name, in the clients' order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    pub kind: String,
    pub fields: Vec<(&'static str, String)>,
}

impl TraceRecord {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

const PUB: &[&str] = &[
    "timestamp", "regionId", "group", "topic", "msgId", "tags", "keys", "storeHost", "bodyLength", "costTime", "msgType", "offsetMsgId", "success", "clientHost",
];
const SUB_BEFORE: &[&str] = &["timestamp", "regionId", "group", "requestId", "msgId", "retryTimes", "keys", "clientHost"];
const SUB_AFTER: &[&str] = &["requestId", "msgId", "costTime", "success", "keys", "contextCode", "timestamp", "group"];
const END_TX: &[&str] =
    &["timestamp", "regionId", "group", "topic", "msgId", "tags", "keys", "storeHost", "msgType", "transactionId", "transactionState", "fromTransactionCheck"];

/// Field names of a record type, after the type itself.
fn names(kind: &str, n: usize) -> &'static [&'static str] {
    match kind {
        // 13 fields: no offsetMsgId before success.
        "Pub" if n == 12 => &["timestamp", "regionId", "group", "topic", "msgId", "tags", "keys", "storeHost", "bodyLength", "costTime", "msgType", "success"],
        "Pub" => PUB,
        "SubBefore" => SUB_BEFORE,
        "SubAfter" => SUB_AFTER,
        "EndTransaction" => END_TX,
        _ => &[],
    }
}

/// Every record of a trace message body.
pub fn decode_trace(body: &str) -> Vec<TraceRecord> {
    body.split('\u{2}')
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            let mut parts = r.split('\u{1}');
            let kind = parts.next().unwrap_or("").to_string();
            let values: Vec<&str> = parts.collect();
            let names = names(&kind, values.len());
            let fields = values
                .iter()
                .enumerate()
                .map(|(i, v)| (names.get(i).copied().unwrap_or("extra"), v.to_string()))
                .collect();
            TraceRecord { kind, fields }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pub_and_sub_records() {
        let body = "Pub\u{1}1700000000000\u{1}DefaultRegion\u{1}pg\u{1}T\u{1}ID1\u{1}tagA\u{1}k1\u{1}127.0.0.1:10911\u{1}5\u{1}3\u{1}0\u{1}OFF1\u{1}true\u{1}10.0.0.1\u{2}\
                    SubAfter\u{1}req\u{1}ID1\u{1}7\u{1}true\u{1}k1\u{1}0\u{1}1700000000100\u{1}cg\u{2}";
        let r = decode_trace(body);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].kind, "Pub");
        assert_eq!(r[0].get("msgId"), Some("ID1"));
        assert_eq!(r[0].get("success"), Some("true"));
        assert_eq!(r[0].get("clientHost"), Some("10.0.0.1"));
        assert_eq!(r[1].kind, "SubAfter");
        assert_eq!(r[1].get("group"), Some("cg"));
        assert_eq!(r[1].get("costTime"), Some("7"));
    }

    #[test]
    fn garbage_is_kept_not_panicked_on() {
        let r = decode_trace("Nope\u{1}a\u{2}\u{1}\u{1}\u{2}Pub");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].fields, vec![("extra", "a".to_string())]);
        assert_eq!(r[2].kind, "Pub");
        assert!(r[2].fields.is_empty());
    }
}
