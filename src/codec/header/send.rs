//! Send headers: SEND_MESSAGE (10, long names), SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE /
//! SEND_REPLY_MESSAGE_V2 (310/320/325, one-letter names) and the send response.
use super::{field_from, field_from_or, header, put_field, CommandHeader, HeaderValue};
use crate::codec::command::{ExtFields, RemotingCommand, SerializeType};
use crate::codec::ext::Field;
use crate::codec::error::CodecError;
use bytestring::ByteString;

/// `SendMessageRequestHeader` (V1 names; V2 is the same data with keys `a`..`n`). Its text
/// shares the request's frame when decoded from one (no copies on the send path); the send
/// handler reads it borrowed from the request ([`Self::borrowed`]: `S` = `&str`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendMessageRequestHeader<S = ByteString> {
    pub producer_group: S,
    pub topic: S,
    pub default_topic: S,
    pub default_topic_queue_nums: i32,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: Option<S>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: bool,
    pub batch: bool,
    pub max_reconsume_times: Option<i32>,
    /// Target broker name: `bname` in V1, `n` in V2.
    pub bname: Option<S>,
}

impl<S> SendMessageRequestHeader<S> {
    /// The same header with its text turned into another form.
    fn map_text<T>(self, f: impl Fn(S) -> T) -> SendMessageRequestHeader<T> {
        SendMessageRequestHeader {
            producer_group: f(self.producer_group),
            topic: f(self.topic),
            default_topic: f(self.default_topic),
            default_topic_queue_nums: self.default_topic_queue_nums,
            queue_id: self.queue_id,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            flag: self.flag,
            properties: self.properties.map(&f),
            reconsume_times: self.reconsume_times,
            unit_mode: self.unit_mode,
            batch: self.batch,
            max_reconsume_times: self.max_reconsume_times,
            bname: self.bname.map(&f),
        }
    }
}

impl<'a> SendMessageRequestHeader<&'a str> {
    /// A send request's header read in place: its text borrowed from the request (no reference
    /// counts taken: four shared texts a send cost ~8 locked instructions).
    pub fn borrowed(cmd: &'a RemotingCommand) -> Result<Self, CodecError> {
        let v2 = SendMessageRequestHeader::is_v2_code(cmd.code);
        match cmd.ext_fields.as_ref() {
            Some(ext) => Self::decode_in(ext, v2),
            None => Err(CodecError::MissingField(NAMES[0].0)),
        }
    }
}

/// Long and one-letter names, in field order.
const NAMES: [(&str, &str); 14] = [
    ("producerGroup", "a"),
    ("topic", "b"),
    ("defaultTopic", "c"),
    ("defaultTopicQueueNums", "d"),
    ("queueId", "e"),
    ("sysFlag", "f"),
    ("bornTimestamp", "g"),
    ("flag", "h"),
    ("properties", "i"),
    ("reconsumeTimes", "j"),
    ("unitMode", "k"),
    ("maxReconsumeTimes", "l"),
    ("batch", "m"),
    ("bname", "n"),
];

/// Report errors under the Java (long) name whichever form was used on the wire.
fn named<T>(r: Result<T, CodecError>, i: usize) -> Result<T, CodecError> {
    r.map_err(|e| match e {
        CodecError::MissingField(_) => CodecError::MissingField(NAMES[i].0),
        CodecError::InvalidField { value, .. } => CodecError::InvalidField {
            field: NAMES[i].0,
            value,
        },
        other => other,
    })
}

impl<'a> SendMessageRequestHeader<&'a str> {
    /// One pass over the fields (the hot path of every send): each name is matched once
    /// against the 14 known ones, unknown names are ignored. A binary header is read in place,
    /// without the header's list.
    fn decode_in(ext: &'a ExtFields, v2: bool) -> Result<Self, CodecError> {
        if v2 {
            if let Some(h) = ext.wire_pairs().and_then(Self::plain_v2) {
                return Ok(h);
            }
        }
        Self::decode_general(ext, v2)
    }

    /// [`Self::decode_in`] of any header: long or one-letter names, lenient values, errors.
    pub(super) fn decode_general(ext: &'a ExtFields, v2: bool) -> Result<Self, CodecError> {
        let index = |k: &[u8]| {
            if v2 {
                match k {
                    [c @ b'a'..=b'n'] => Some((c - b'a') as usize),
                    _ => None,
                }
            } else {
                NAMES.iter().position(|(long, _)| long.as_bytes() == k)
            }
        };
        let mut raw: [Option<&'a str>; 14] = [None; 14];
        let mut in_place = false;
        if let Some(pairs) = ext.wire_pairs() {
            in_place = true;
            for (k, v) in pairs {
                if let Some(i) = index(k) {
                    // text that is not UTF-8 is read through the list (which replaces bad bytes)
                    match crate::codec::ext::utf8(v) {
                        Some(v) => raw[i] = Some(v),
                        None => {
                            in_place = false;
                            break;
                        }
                    }
                }
            }
        }
        if !in_place {
            raw = [None; 14];
            for (k, v) in ext.iter() {
                if let Some(i) = index(k.as_bytes()) {
                    raw[i] = Some(v);
                }
            }
        }
        let key = |i: usize| if v2 { NAMES[i].1 } else { NAMES[i].0 };
        fn get<T: HeaderValue>(raw: &[Option<&str>; 14], i: usize, key: &'static str) -> Result<T, CodecError> {
            named(field_from(raw[i], key), i)
        }
        fn get_or<T: HeaderValue>(raw: &[Option<&str>; 14], i: usize, key: &'static str, default: T) -> Result<T, CodecError> {
            named(field_from_or(raw[i], key, default), i)
        }
        let required = |i: usize| raw[i].ok_or_else(|| CodecError::MissingField(NAMES[i].0));
        Ok(SendMessageRequestHeader {
            producer_group: required(0)?,
            topic: required(1)?,
            default_topic: required(2)?,
            default_topic_queue_nums: get(&raw, 3, key(3))?,
            queue_id: get(&raw, 4, key(4))?,
            sys_flag: get(&raw, 5, key(5))?,
            born_timestamp: get(&raw, 6, key(6))?,
            flag: get(&raw, 7, key(7))?,
            properties: raw[8],
            reconsume_times: get(&raw, 9, key(9))?,
            unit_mode: get_or(&raw, 10, key(10), false)?,
            max_reconsume_times: get(&raw, 11, key(11))?,
            batch: get_or(&raw, 12, key(12), false)?,
            bname: raw[13],
        })
    }
}

impl<'a> SendMessageRequestHeader<&'a str> {
    /// A binary one-letter header as Java clients send it, read in one pass: every required field
    /// present, numbers as plain digits, booleans `true` / `false`, text UTF-8. `None` for
    /// anything else (a sign, spaces, a missing field, text that is not UTF-8), which the general
    /// path then reads or refuses with its errors: both give the same header for what this takes.
    pub(super) fn plain_v2(pairs: crate::codec::ext::WirePairs<'a>) -> Option<Self> {
        let digits = super::plain_digits;
        let int = |v: &[u8]| digits(v, 9).map(|n| n as i32);
        let boolean = |v: &[u8]| match v {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        };
        let text = crate::codec::ext::utf8;
        let (mut group, mut topic, mut default_topic) = (None, None, None);
        let (mut queue_nums, mut queue_id, mut sys_flag, mut born, mut flag) = (None, None, None, None, None);
        let mut h = SendMessageRequestHeader::<&str>::default();
        for (k, v) in pairs {
            let [k] = k else { continue };
            match k {
                b'a' => group = Some(text(v)?),
                b'b' => topic = Some(text(v)?),
                b'c' => default_topic = Some(text(v)?),
                b'd' => queue_nums = Some(int(v)?),
                b'e' => queue_id = Some(int(v)?),
                b'f' => sys_flag = Some(int(v)?),
                b'g' => born = Some(digits(v, 18)?),
                b'h' => flag = Some(int(v)?),
                b'i' => h.properties = Some(text(v)?),
                b'j' => h.reconsume_times = Some(int(v)?),
                b'k' => h.unit_mode = boolean(v)?,
                b'l' => h.max_reconsume_times = Some(int(v)?),
                b'm' => h.batch = boolean(v)?,
                b'n' => h.bname = Some(text(v)?),
                _ => {}
            }
        }
        h.producer_group = group?;
        h.topic = topic?;
        h.default_topic = default_topic?;
        h.default_topic_queue_nums = queue_nums?;
        h.queue_id = queue_id?;
        h.sys_flag = sys_flag?;
        h.born_timestamp = born?;
        h.flag = flag?;
        Some(h)
    }
}

impl SendMessageRequestHeader {
    /// Decode, the text shared with the header's frame (a copy for a JSON header's).
    fn decode_with(ext: &ExtFields, v2: bool) -> Result<Self, CodecError> {
        Ok(SendMessageRequestHeader::decode_in(ext, v2)?.map_text(|v| ext.shared_text(v)))
    }

    fn encode_with(&self, ext: &mut ExtFields, v2: bool) {
        let k = |i: usize| if v2 { NAMES[i].1 } else { NAMES[i].0 };
        put_field(ext, k(0), &self.producer_group);
        put_field(ext, k(1), &self.topic);
        put_field(ext, k(2), &self.default_topic);
        put_field(ext, k(3), &self.default_topic_queue_nums);
        put_field(ext, k(4), &self.queue_id);
        put_field(ext, k(5), &self.sys_flag);
        put_field(ext, k(6), &self.born_timestamp);
        put_field(ext, k(7), &self.flag);
        put_field(ext, k(8), &self.properties);
        put_field(ext, k(9), &self.reconsume_times);
        put_field(ext, k(10), &self.unit_mode);
        put_field(ext, k(11), &self.max_reconsume_times);
        put_field(ext, k(12), &self.batch);
        put_field(ext, k(13), &self.bname);
    }

    /// Decode the one-letter form (`a`..`n`; `n` = bname).
    pub fn decode_v2(ext: &ExtFields) -> Result<Self, CodecError> {
        Self::decode_with(ext, true)
    }

    /// Encode the one-letter form.
    pub fn encode_v2(&self, ext: &mut ExtFields) {
        self.encode_with(ext, true)
    }

    /// Whether a request code uses the one-letter form (310, 320, 325).
    pub fn is_v2_code(code: i32) -> bool {
        matches!(code, 310 | 320 | 325)
    }

    /// Decode a send request's header in the form its code implies.
    pub fn from_command(cmd: &RemotingCommand) -> Result<Self, CodecError> {
        Ok(SendMessageRequestHeader::borrowed(cmd)?.map_text(|v| cmd.header_text(v)))
    }
}

impl CommandHeader for SendMessageRequestHeader {
    fn decode(ext: &ExtFields) -> Result<Self, CodecError> {
        Self::decode_with(ext, false)
    }
    fn encode(&self, ext: &mut ExtFields) {
        self.encode_with(ext, false)
    }
}

header! {
    /// `SendMessageResponseHeader`: every field but `transactionId` is read without null checks.
    SendMessageResponseHeader {
        /// Offset msgId; comma-separated list for a batch.
        msg_id: String = "msgId",
        queue_id: i32 = "queueId",
        queue_offset: i64 = "queueOffset",
        transaction_id: Option<String> = "transactionId",
        /// 5.3: the recall handle of a timer message (see [`crate::codec::recall`]).
        recall_handle: Option<String> = "recallHandle",
    }
}

/// A send's answer: its code and response header with the broker's region and trace switch,
/// which every answer of the Java broker's send path carries. Written straight into a frame by
/// [`crate::codec::frame::encode_send_answer`] (no header list is built: that was ~15 % of a
/// send's instructions), byte for byte what [`Self::into_command`] encodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAnswer {
    /// The request's.
    pub opaque: i32,
    /// The request's.
    pub serialize_type: SerializeType,
    pub code: i32,
    /// `MSG_REGION`.
    pub region: ByteString,
    /// `TRACE_ON`.
    pub trace_on: bool,
    pub header: SendMessageResponseHeader,
}

impl SendAnswer {
    /// The names of the answer's header in the order [`Self::fields`] gives them.
    pub const NAMES: [&'static str; 7] = ["MSG_REGION", "TRACE_ON", "msgId", "queueId", "queueOffset", "transactionId", "recallHandle"];

    /// The answer as a command (a JSON answer, a SYNC_FLUSH answer that waits, tests).
    pub fn into_command(self) -> RemotingCommand {
        let mut ext = ExtFields::with_capacity(6);
        ext.insert("MSG_REGION", Field::Shared(self.region));
        ext.insert("TRACE_ON", Field::Static(trace_text(self.trace_on)));
        self.header.into_ext(&mut ext);
        let mut cmd = RemotingCommand::response(self.opaque, self.serialize_type, self.code, None);
        cmd.ext_fields = Some(ext);
        cmd
    }

    /// Call `f` with the value of each of [`Self::NAMES`] (empty when absent; an empty value is
    /// not written, as for every header), numbers formatted on the stack.
    pub fn fields<R>(&self, f: impl FnOnce(&[&str; 7]) -> R) -> R {
        let (mut q, mut o) = (itoa::Buffer::new(), itoa::Buffer::new());
        let h = &self.header;
        f(&[
            &self.region,
            trace_text(self.trace_on),
            &h.msg_id,
            q.format(h.queue_id),
            o.format(h.queue_offset),
            h.transaction_id.as_deref().unwrap_or(""),
            h.recall_handle.as_deref().unwrap_or(""),
        ])
    }
}

fn trace_text(on: bool) -> &'static str {
    if on {
        "true"
    } else {
        "false"
    }
}

header! {
    /// `RecallMessageRequestHeader` (RECALL_MESSAGE, 370, 5.3).
    RecallMessageRequestHeader {
        producer_group: Option<String> = "producerGroup",
        topic: String = "topic",
        recall_handle: String = "recallHandle",
    }
}

header! {
    /// `RecallMessageResponseHeader`: the recalled message's id (its UNIQ_KEY).
    RecallMessageResponseHeader {
        msg_id: String = "msgId",
    }
}
