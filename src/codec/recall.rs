//! The recall handle of a 5.x timer message (RocketMQ 5.3's `RecallMessageHandle`, version 1):
//! base64url (with padding) of `v1 <topic> <brokerName> <timestamp> <messageId>`, space-separated.
//! The broker returns it in the send result of a timer message (`recallHandle`) with the due time
//! plus one millisecond as `timestamp` and the UNIQ_KEY as `messageId`; clients route a recall by
//! `brokerName`, so the format is part of the contract.
use base64::Engine;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecallHandle {
    pub topic: String,
    pub broker_name: String,
    /// Kept as sent: a handle whose timestamp is not a number is refused when it is used.
    pub timestamp: String,
    pub message_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("recall handle is invalid")]
pub struct BadHandle;

impl RecallHandle {
    pub fn encode(&self) -> String {
        let raw = format!("v1 {} {} {} {}", self.topic, self.broker_name, self.timestamp, self.message_id);
        base64::engine::general_purpose::URL_SAFE.encode(raw.as_bytes())
    }

    pub fn decode(handle: &str) -> Result<RecallHandle, BadHandle> {
        if handle.is_empty() || handle.len() > 4096 {
            return Err(BadHandle);
        }
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(handle.as_bytes())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(handle.as_bytes()))
            .map_err(|_| BadHandle)?;
        let raw = String::from_utf8(raw).map_err(|_| BadHandle)?;
        let items: Vec<&str> = raw.split(' ').collect();
        if items.len() < 5 || items[0] != "v1" {
            return Err(BadHandle);
        }
        Ok(RecallHandle {
            topic: items[1].to_string(),
            broker_name: items[2].to_string(),
            timestamp: items[3].to_string(),
            message_id: items[4].to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_text() {
        let h = RecallHandle { topic: "t".into(), broker_name: "b".into(), timestamp: "1700000000001".into(), message_id: "ID".into() };
        let s = h.encode();
        assert_eq!(String::from_utf8(base64::engine::general_purpose::URL_SAFE.decode(&s).unwrap()).unwrap(), "v1 t b 1700000000001 ID");
        assert_eq!(RecallHandle::decode(&s).unwrap(), h);
    }

    #[test]
    fn bad_handles_are_refused() {
        for bad in ["", "not base64!!", "djIgdCBiIDEgSUQ=", "djEgdCBi"] {
            assert_eq!(RecallHandle::decode(bad), Err(BadHandle), "{bad}");
        }
    }
}
