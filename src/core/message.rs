//! Building stored messages: what the store indexes of a message, and a stored message put again
//! elsewhere (retry, delayed delivery, transaction commit).
use crate::codec::message::{prop, tag_hash_code, Properties};
use crate::codec::stored::StoredMessage;
use crate::store::NewMessage;

/// What the store indexes of a message, from its properties: the tags code (Java hash of `TAGS`,
/// 0 without), the `KEYS` (space separated) and the unique id (`UNIQ_KEY`).
pub fn index_fields(props: &Properties) -> (i64, Vec<String>, Option<String>) {
    index_fields_by(|k| props.get(k))
}

/// [`index_fields`] from any property lookup (e.g. borrowed pairs).
pub fn index_fields_by<'a>(get: impl Fn(&str) -> Option<&'a str>) -> (i64, Vec<String>, Option<String>) {
    let tags_code = get(prop::TAGS).map(tag_hash_code).unwrap_or(0);
    let keys = get(prop::KEYS)
        .map(|k| k.split(' ').filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    (tags_code, keys, get(prop::UNIQ_KEY).map(String::from))
}

/// A stored message written again to `topic`/`queue_id` with new properties: body, flags, born
/// time and host, reconsume count and prepared offset are kept; index fields are recomputed.
pub fn restore(m: &StoredMessage, topic: String, queue_id: i32, props: &Properties) -> NewMessage {
    restore_encoded(m, topic, queue_id, props.encode(), index_fields(props))
}

/// [`restore`] with the properties already encoded and their [`index_fields`].
pub fn restore_encoded(m: &StoredMessage, topic: String, queue_id: i32, properties: String, index: (i64, Vec<String>, Option<String>)) -> NewMessage {
    let (tags_code, keys, uniq_key) = index;
    NewMessage {
        topic: topic.into(),
        queue_id,
        flag: m.flag,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        body: m.body.clone(),
        properties,
        tags_code,
        keys,
        uniq_key,
    }
}
