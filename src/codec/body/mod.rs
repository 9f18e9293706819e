//! JSON bodies, as serde structs named after their Java classes.
//!
//! Reading goes through [`parse_lenient`](super::json::parse_lenient) and lenient field
//! deserializers (numbers as strings, booleans as `"1"`, enums as names or ordinals, nulls as
//! defaults). Writing follows fastjson: members in alphabetical order (fields are declared in that
//! order), `None` omitted, empty collections written, integer map keys quoted, maps keyed by
//! [`MessageQueue`] in fastjson's object-key form.
use super::error::CodecError;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

mod admin;
mod client;
pub mod de;
mod pop;
mod register;
mod route;

pub use admin::*;
pub use client::*;
pub use pop::*;
pub use register::*;
pub use route::*;

/// Deserialize a parsed value into a body type.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> Result<T, CodecError> {
    serde_json::from_value(v).map_err(|e| CodecError::BadBody(e.to_string()))
}

/// Give serde body types `from_json` / `to_json`.
macro_rules! json_body {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// Parse a body leniently (fastjson and C++ client forms accepted).
            pub fn from_json(b: &[u8]) -> Result<Self, $crate::codec::error::CodecError> {
                $crate::codec::body::from_value($crate::codec::json::parse_lenient(b)?)
            }
            /// Write the body as the Java side does (alphabetical members).
            pub fn to_json(&self) -> Vec<u8> {
                // Plain structs with string or integer keys always serialize.
                serde_json::to_vec(self).unwrap_or_default()
            }
        }
    )*};
}
pub(crate) use json_body;

/// `MessageQueue`: members in alphabetical order as fastjson writes them. Ordered like Java's
/// `compareTo`: topic, then broker name, then queue id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    #[serde(deserialize_with = "de::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "de::i32")]
    pub queue_id: i32,
    #[serde(deserialize_with = "de::string")]
    pub topic: String,
}

impl MessageQueue {
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, o: &Self) -> Ordering {
        (&self.topic, &self.broker_name, self.queue_id).cmp(&(&o.topic, &o.broker_name, o.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// `DataVersion`: `counter` is a Java `AtomicLong`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    #[serde(deserialize_with = "de::i64")]
    pub counter: i64,
    #[serde(deserialize_with = "de::i64")]
    pub timestamp: i64,
}

json_body!(MessageQueue, DataVersion);

#[cfg(test)]
mod tests;
