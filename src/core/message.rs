//! Building stored messages: what the store indexes of a message, and a stored message put again
//! elsewhere (retry, delayed delivery, transaction commit).
use crate::codec::message::{prop, tag_hash_code, Properties};
use crate::codec::stored::StoredMessage;
use crate::store::NewMessage;

/// What the store indexes of a message, from its properties: the tags code (Java hash of `TAGS`,
/// 0 without), the `KEYS` (space separated) and the unique id (`UNIQ_KEY`).
pub fn index_fields(props: &Properties) -> (i64, Vec<String>, Option<String>) {
    let tags_code = props.get(prop::TAGS).map(tag_hash_code).unwrap_or(0);
    let keys = props
        .get(prop::KEYS)
        .map(|k| k.split(' ').filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    (tags_code, keys, props.get(prop::UNIQ_KEY).map(String::from))
}

/// A stored message written again to `topic`/`queue_id` with new properties: body, flags, born
/// time and host, reconsume count and prepared offset are kept; index fields are recomputed.
pub fn restore(m: &StoredMessage, topic: String, queue_id: i32, props: &Properties) -> NewMessage {
    let (tags_code, keys, uniq_key) = index_fields(props);
    NewMessage {
        topic,
        queue_id,
        flag: m.flag,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        body: m.body.clone(),
        properties: props.encode(),
        tags_code,
        keys,
        uniq_key,
    }
}
