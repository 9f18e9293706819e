//! [`ExtFields`]: the custom header of a command, string to string as on the wire.
//!
//! A list, not a hash map: a header has a dozen short names (a send 13, the widest admin headers
//! about 20, at most [`MAX_EXT_FIELDS`](super::command::MAX_EXT_FIELDS) decode), so a scan beats
//! hashing, and a decoded header is one allocation (the list) whatever its size: it holds the frame
//! it came in once, and its names and values are spans of it. Names the broker writes are
//! [`Field::Static`]; values it formats are [`Field::Owned`]; a decoded field taken out of the list
//! is [`Field::Shared`] (no copy).
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

/// Where a name or value of an [`ExtFields`] is: a span of the frame the header was decoded
/// from (checked to be UTF-8 when decoded), or text of its own.
#[derive(Clone)]
enum Slot {
    Span(u32, u32),
    Text(Field),
}

/// The custom header of a command. Names are unique: [`ExtFields::insert`] replaces a value in
/// place, and a decoded header whose names repeat keeps the last value (as Java's `HashMap`).
/// Equality ignores order. A decoded header holds its frame once and its fields as spans of it.
///
/// A binary header's fields are read into the list only when first asked for: the hot requests'
/// typed headers read them in place ([`Self::wire_pairs`]), so a send builds no list at all
/// (building it was ~15 % of a send's instructions).
#[derive(Clone, Default)]
pub struct ExtFields {
    frame: bytes::Bytes,
    /// A binary header's fields area, `frame[at..at + len]`, checked by the decoder and not yet
    /// changed: None once the list is changed, or for a header not decoded from binary.
    wire: Option<(u32, u32)>,
    list: std::sync::OnceLock<List>,
}

/// The fields as a list.
#[derive(Clone, Default)]
struct List {
    entries: Vec<(Slot, Slot)>,
    /// One bit per name present ([`name_bit`]; a removed name's bit stays): a decoded name whose
    /// bit is clear is new without comparing it to the others (a header's names nearly never
    /// repeat, and that scan was ~5 % of a send's instructions).
    seen: u64,
}

/// The bit of [`List::seen`] for a name: from its length and first and last bytes (distinct
/// for the one-letter names of SEND_MESSAGE_V2).
#[inline]
fn name_bit(name: &[u8]) -> u64 {
    let (first, last) = (name.first().copied().unwrap_or(0) as u32, name.last().copied().unwrap_or(0) as u32);
    1u64 << ((first + 5 * last + 13 * name.len() as u32) & 63)
}

/// The fields of a binary header's area in wire order, those with an empty name or value left
/// out (the decoder drops them). The area was checked when its frame was decoded; a length
/// that does not fit (never) ends the walk.
pub(crate) struct WirePairs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for WirePairs<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let b = self.rest;
            let kl = usize::try_from(i16::from_be_bytes([*b.first()?, *b.get(1)?])).ok()?;
            let vl = b.get(2 + kl..6 + kl)?;
            let vl = usize::try_from(i32::from_be_bytes([vl[0], vl[1], vl[2], vl[3]])).ok()?;
            let (key, value) = (&b[2..2 + kl], b.get(6 + kl..6 + kl + vl)?);
            self.rest = &b[6 + kl + vl..];
            if !key.is_empty() && !value.is_empty() {
                return Some((key, value));
            }
        }
    }
}

/// `part` as text when it is UTF-8; ASCII (header names and values nearly always are) is
/// checked a word at a time, much faster than `str::from_utf8` on short text.
#[inline]
pub(crate) fn utf8(part: &[u8]) -> Option<&str> {
    if part.is_ascii() {
        // SAFETY: ASCII is UTF-8
        Some(unsafe { std::str::from_utf8_unchecked(part) })
    } else {
        std::str::from_utf8(part).ok()
    }
}

impl List {
    fn with_capacity(n: usize) -> Self {
        List { entries: Vec::with_capacity(n), seen: 0 }
    }

    /// See [`ExtFields::push_span`].
    fn push_span(&mut self, frame: &bytes::Bytes, key: &[u8], value: &[u8]) {
        // inlined: as a call it was a third of this function's cost
        #[inline(always)]
        fn slot(frame: &bytes::Bytes, part: &[u8]) -> Slot {
            // a part outside the frame (never, from the decoder) is copied
            let at = (part.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
            let inside = at <= frame.len() && part.len() <= frame.len() - at;
            // ASCII (header names and values nearly always are) is checked a word at a time
            if inside && utf8(part).is_some() {
                Slot::Span(at as u32, part.len() as u32)
            } else {
                Slot::Text(Field::Owned(String::from_utf8_lossy(part).into_owned()))
            }
        }
        let (k, v) = (slot(frame, key), slot(frame, value));
        let bit = name_bit(key);
        let known = self.seen & bit != 0;
        self.seen |= bit;
        match known.then(|| self.entries.iter().position(|(n, _)| same(slot_bytes(frame, n), key))).flatten() {
            Some(i) => self.entries[i].1 = v,
            None => self.entries.push((k, v)),
        }
    }
}

fn slot_bytes<'a>(frame: &'a bytes::Bytes, s: &'a Slot) -> &'a [u8] {
    match s {
        Slot::Span(at, len) => &frame[*at as usize..(*at + *len) as usize],
        Slot::Text(f) => f.as_bytes(),
    }
}

impl ExtFields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        ExtFields { list: List::with_capacity(n).into(), ..Self::default() }
    }

    /// An empty header whose fields will be spans of `frame` ([`Self::push_span`]).
    #[cfg(test)]
    pub(crate) fn of_frame(frame: &bytes::Bytes, n: usize) -> Self {
        ExtFields { frame: frame.clone(), wire: None, list: List::with_capacity(n).into() }
    }

    /// The header whose fields are the binary fields area `frame[at..at + len]`, already checked
    /// by the decoder (every length fits, at most `MAX_EXT_FIELDS` fields).
    pub(crate) fn of_wire(frame: bytes::Bytes, at: usize, len: usize) -> Self {
        debug_assert!(at + len <= frame.len());
        ExtFields { frame, wire: Some((at as u32, len as u32)), list: Default::default() }
    }

    /// The fields in wire order as spans of the frame, when this header was decoded from binary
    /// and not changed since: a typed header reads them without the list. Repeats are all there
    /// (the last one is the value, as in the list).
    pub(crate) fn wire_pairs(&self) -> Option<WirePairs<'_>> {
        self.wire.map(|(at, len)| WirePairs { rest: &self.frame[at as usize..(at + len) as usize] })
    }

    /// `text` as a field of its own: shared with this header's frame when it is part of it (a
    /// value [`Self::wire_pairs`] or [`Self::get`] gave), else a copy.
    pub(crate) fn shared_text(&self, text: &str) -> ByteString {
        let at = (text.as_ptr() as usize).wrapping_sub(self.frame.as_ptr() as usize);
        if at <= self.frame.len() && text.len() <= self.frame.len() - at {
            // SAFETY: the bytes are `text`'s, which is UTF-8
            unsafe { ByteString::from_bytes_unchecked(self.frame.slice(at..at + text.len())) }
        } else {
            ByteString::from(text)
        }
    }

    fn list(&self) -> &List {
        self.list.get_or_init(|| {
            // sized for a send's header; an empty header allocates nothing
            let mut list = List::with_capacity(if self.wire.is_some() { 16 } else { 0 });
            for (k, v) in self.wire_pairs().into_iter().flatten() {
                list.push_span(&self.frame, k, v);
            }
            list
        })
    }

    fn list_mut(&mut self) -> &mut List {
        self.list();
        self.wire = None;
        self.list.get_mut().expect("the list was just made")
    }

    /// Add a decoded field, `key` and `value` being parts of the frame given to
    /// [`Self::of_frame`]; a name already present takes the new value in place. Text that is not
    /// UTF-8 is copied with U+FFFD for the bad bytes, as Java's decoder does.
    #[cfg(test)]
    pub(crate) fn push_span(&mut self, key: &[u8], value: &[u8]) {
        self.list();
        self.wire = None;
        let ExtFields { frame, list, .. } = self;
        list.get_mut().expect("the list was just made").push_span(frame, key, value);
    }

    fn bytes<'a>(&'a self, s: &'a Slot) -> &'a [u8] {
        slot_bytes(&self.frame, s)
    }

    fn text<'a>(&'a self, s: &'a Slot) -> &'a str {
        match s {
            // SAFETY: a span is made only by `push_span`, after that exact range of `frame`
            // (immutable, owned here) was checked to be UTF-8. Checking it again on every read
            // was ~10 % of a send's instructions.
            Slot::Span(..) => unsafe { std::str::from_utf8_unchecked(self.bytes(s)) },
            Slot::Text(f) => f.as_str(),
        }
    }

    fn field(&self, s: Slot) -> Field {
        to_field(&self.frame, s)
    }

    pub fn len(&self) -> usize {
        self.list().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list().entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        let list = self.list();
        if list.seen & name_bit(key.as_bytes()) == 0 {
            return None;
        }
        list.entries.iter().position(|(k, _)| same(self.bytes(k), key.as_bytes()))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.text(&self.list().entries[i].1))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Set `key` (in place when present); the old value is returned.
    pub fn insert(&mut self, key: impl Into<Field>, value: impl Into<Field>) -> Option<Field> {
        let key = key.into();
        let value = Slot::Text(value.into());
        match self.position(&key) {
            Some(i) => {
                let old = std::mem::replace(&mut self.list_mut().entries[i].1, value);
                Some(self.field(old))
            }
            None => {
                let list = self.list_mut();
                list.seen |= name_bit(key.as_bytes());
                list.entries.push((Slot::Text(key), value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Field> {
        let i = self.position(key)?;
        let (_, v) = self.list_mut().entries.remove(i);
        Some(self.field(v))
    }

    /// (name, value) pairs in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.list().entries.iter().map(|(k, v)| (self.text(k), self.text(v)))
    }

    /// Fill `out` with each name's address and length and return true when every name is the
    /// program's own text ([`Field::Static`]; `out` as long as the header): equal lists then mean
    /// the same names in the same order (an answer's header, made by the same code every time).
    pub(crate) fn static_names(&self, out: &mut [(usize, usize)]) -> bool {
        let entries = &self.list().entries;
        out.len() == entries.len()
            && entries.iter().zip(out.iter_mut()).all(|((k, _), o)| match k {
                Slot::Text(Field::Static(s)) => {
                    *o = (s.as_ptr() as usize, s.len());
                    true
                }
                _ => false,
            })
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.list().entries.iter().map(|(k, _)| self.text(k))
    }

    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.list().entries.iter().map(|(_, v)| self.text(v))
    }
}

/// A slot as a field of its own: a span shares `frame`'s bytes.
fn to_field(frame: &bytes::Bytes, s: Slot) -> Field {
    match s {
        Slot::Span(at, len) => ByteString::try_from(frame.slice(at as usize..(at + len) as usize)).map(Field::Shared).unwrap_or(Field::Static("")),
        Slot::Text(f) => f,
    }
}

/// Name equality that settles most mismatches of short names (one-letter V2 names among them)
/// on the length and first byte, before comparing the rest.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
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
        self.list();
        let ExtFields { frame, list, .. } = self;
        let entries = list.into_inner().map(|l| l.entries).unwrap_or_default();
        let fields: Vec<(Field, Field)> = entries.into_iter().map(|(k, v)| (to_field(&frame, k), to_field(&frame, v))).collect();
        fields.into_iter()
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
    fn decoded_fields_are_spans_of_the_frame_and_the_last_repeat_wins() {
        let frame = bytes::Bytes::from_static(b"a1b22a3bad\xff");
        let mut ext = ExtFields::of_frame(&frame, 4);
        ext.push_span(&frame[0..1], &frame[1..2]);
        ext.push_span(&frame[2..3], &frame[3..5]);
        ext.push_span(&frame[5..6], &frame[6..7]);
        ext.push_span(&frame[7..8], &frame[8..11]);
        assert_eq!(ext.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "ad\u{fffd}")]);
        assert_eq!(ext.get("a").map(|v| v.as_ptr()), Some(frame[6..].as_ptr()));
        let fields: Vec<(Field, Field)> = ext.clone().into_iter().collect();
        assert!(matches!(fields[0].1, Field::Shared(_)));
        assert_eq!(ext.insert("b", "x").as_deref(), Some("ad\u{fffd}"));
        assert_eq!(ext, [("a", "3"), ("b", "x")].into_iter().collect::<ExtFields>());
    }

    #[test]
    fn repeats_are_found_whatever_names_share_a_bit() {
        // 300 names (many share a bit of the `seen` set), each decoded twice: the second value wins
        let mut text = String::new();
        for round in 0..2 {
            for i in 0..300 {
                text.push_str(&format!("n{i}={round}{i};"));
            }
        }
        let frame = bytes::Bytes::from(text);
        let mut ext = ExtFields::of_frame(&frame, 8);
        let mut at = 0;
        for part in frame.split(|b| *b == b';').filter(|p| !p.is_empty()) {
            let eq = part.iter().position(|b| *b == b'=').unwrap();
            let start = at;
            ext.push_span(&frame[start..start + eq], &frame[start + eq + 1..start + part.len()]);
            at += part.len() + 1;
        }
        assert_eq!(ext.len(), 300);
        for i in 0..300 {
            assert_eq!(ext.get(&format!("n{i}")), Some(format!("1{i}").as_str()));
        }
        assert_eq!(ext.get("n300"), None);
        ext.insert("n7", "x");
        assert_eq!((ext.len(), ext.get("n7")), (300, Some("x")));
        assert!(ext.remove("n7").is_some());
        assert_eq!((ext.len(), ext.get("n7")), (299, None));
    }

}
