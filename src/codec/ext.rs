//! [`ExtFields`]: the custom header of a command, string to string as on the wire.
//!
//! A list, not a hash map: a header has a dozen short names (a send 13, the widest admin headers
//! about 20, at most [`MAX_EXT_FIELDS`](super::command::MAX_EXT_FIELDS) decode), so a scan beats
//! hashing, and a decoded header is one allocation (the list) whatever its size: its names and
//! values are [`Field::Shared`] slices of the frame they came in. Names the broker writes are
//! [`Field::Static`]; values it formats are [`Field::Owned`].
use bytestring::ByteString;
use std::fmt;

/// One header name or value.
#[derive(Clone)]
pub enum Field {
    /// A name (or fixed value) in the program text.
    Static(&'static str),
    /// Part of a received frame: no copy was made.
    Shared(ByteString),
    /// Text built here.
    Owned(String),
}

impl Field {
    pub fn as_str(&self) -> &str {
        match self {
            Field::Static(s) => s,
            Field::Shared(s) => s,
            Field::Owned(s) => s,
        }
    }

    /// The text of a received header field, sharing `frame`'s bytes (`part` must lie inside
    /// `frame`); text that is not UTF-8 is copied with U+FFFD for the bad bytes, as Java's decoder
    /// does.
    pub fn shared(frame: &bytes::Bytes, part: &[u8]) -> Field {
        if part.is_empty() {
            return Field::Static("");
        }
        match ByteString::try_from(frame.slice_ref(part)) {
            Ok(s) => Field::Shared(s),
            Err(_) => Field::Owned(String::from_utf8_lossy(part).into_owned()),
        }
    }
}

impl std::ops::Deref for Field {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Field {
    fn from(s: &'static str) -> Self {
        Field::Static(s)
    }
}

impl From<String> for Field {
    fn from(s: String) -> Self {
        Field::Owned(s)
    }
}

impl From<&String> for Field {
    fn from(s: &String) -> Self {
        Field::Owned(s.clone())
    }
}

impl From<ByteString> for Field {
    fn from(s: ByteString) -> Self {
        Field::Shared(s)
    }
}

impl From<Field> for String {
    fn from(f: Field) -> String {
        match f {
            Field::Owned(s) => s,
            other => other.as_str().to_string(),
        }
    }
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Field {}

impl PartialEq<str> for Field {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Field {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The custom header of a command. Names are unique: [`ExtFields::insert`] replaces a value in
/// place, and a decoded header whose names repeat keeps the last value (as Java's `HashMap`).
/// Equality ignores order.
#[derive(Clone, Default)]
pub struct ExtFields {
    entries: Vec<(Field, Field)>,
}

impl ExtFields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        ExtFields { entries: Vec::with_capacity(n) }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| same(k, key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| same(k, key)).map(|(_, v)| v.as_str())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Set `key` (in place when present); the old value is returned.
    pub fn insert(&mut self, key: impl Into<Field>, value: impl Into<Field>) -> Option<Field> {
        let key = key.into();
        let value = value.into();
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Field> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// (name, value) pairs in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, v)| v.as_str())
    }
}

/// Name equality that settles most mismatches of short names (one-letter V2 names among them)
/// on the length and first byte, before comparing the rest.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a == b
}

impl std::ops::Index<&str> for ExtFields {
    type Output = str;
    /// The value of a present `key` (panics when absent, as a map's index does).
    fn index(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| panic!("no extField {key:?}"))
    }
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<Field>, V: Into<Field>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut ext = ExtFields::new();
        for (k, v) in iter {
            ext.insert(k, v);
        }
        ext
    }
}

impl IntoIterator for ExtFields {
    type Item = (Field, Field);
    type IntoIter = std::vec::IntoIter<(Field, Field)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_in_place_and_equality_ignores_order() {
        let mut a = ExtFields::new();
        a.insert("topic", "t1");
        a.insert("queueId", String::from("3"));
        assert_eq!(a.insert("topic", "t2").as_deref(), Some("t1"));
        assert_eq!(a.keys().collect::<Vec<_>>(), ["topic", "queueId"]);
        assert_eq!(a.get("topic"), Some("t2"));
        assert_eq!(&a["queueId"], "3");
        let b: ExtFields = [("queueId", "3"), ("topic", "t2")].into_iter().collect();
        assert_eq!(a, b);
        assert_ne!(a, [("queueId", "3")].into_iter().collect::<ExtFields>());
        assert_eq!(a.remove("queueId").as_deref(), Some("3"));
        assert_eq!((a.len(), a.get("queueId")), (1, None));
    }

    #[test]
    fn shared_fields_point_into_the_frame_and_bad_utf8_is_replaced() {
        let frame = bytes::Bytes::from_static(b"topicT\xffx");
        let f = Field::shared(&frame, &frame[..5]);
        assert!(matches!(f, Field::Shared(_)));
        assert_eq!(f.as_str().as_ptr(), frame.as_ptr());
        let bad = Field::shared(&frame, &frame[5..]);
        assert_eq!(bad.as_str(), "T\u{fffd}x");
    }
}
