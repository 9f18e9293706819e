//! The HA stream of RocketMQ 4.x master/slave replication (the `haListenPort` connection),
//! as the 4.9.7 broker speaks it (docs/replication.md):
//!
//! ```text
//! slave -> master: | max physical offset of the slave: i64 BE |            (8 bytes, repeated)
//! master -> slave: | master phy offset: i64 BE | body size: i32 BE | body | (12-byte header)
//! ```
//!
//! The slave reports its commit log's end when it connects, after each piece it appended and at
//! least every `haSendHeartbeatInterval`. The master answers with commit-log bytes starting at
//! the header's offset (the body), or with an empty frame (size 0) as a heartbeat. There is no
//! magic, version or checksum: a frame is recognised by its position in the stream only.
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::error::CodecError;

/// Bytes of a slave's offset report.
pub const REPORT_LEN: usize = 8;
/// Bytes of a master frame header.
pub const HEADER_LEN: usize = 12;

/// One frame from the master: commit-log bytes starting at `offset` (empty = heartbeat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterFrame {
    pub offset: i64,
    pub body: Bytes,
}

/// The slave side: decodes [`MasterFrame`]s, encodes offset reports.
#[derive(Clone, Debug)]
pub struct SlaveCodec {
    /// Largest body accepted (larger is an error, before anything is allocated).
    pub max_body: usize,
}

impl Decoder for SlaveCodec {
    type Item = MasterFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<MasterFrame>, CodecError> {
        if src.len() < HEADER_LEN {
            return Ok(None);
        }
        let offset = i64::from_be_bytes(src[..8].try_into().unwrap_or_default());
        let size = i32::from_be_bytes(src[8..12].try_into().unwrap_or_default());
        if offset < 0 {
            return Err(CodecError::InvalidField { field: "masterPhyOffset", value: offset.to_string() });
        }
        if size < 0 {
            return Err(CodecError::BadFrameLength(size as i64));
        }
        if size as usize > self.max_body {
            return Err(CodecError::FrameTooLarge { len: size as usize, max: self.max_body });
        }
        let total = HEADER_LEN + size as usize;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        let body = src.split_to(size as usize).freeze();
        Ok(Some(MasterFrame { offset, body }))
    }
}

impl Encoder<i64> for SlaveCodec {
    type Error = CodecError;

    fn encode(&mut self, offset: i64, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.put_i64(offset);
        Ok(())
    }
}

/// The master side: decodes a slave's offset reports, encodes [`MasterFrame`]s.
#[derive(Clone, Debug, Default)]
pub struct MasterCodec;

impl Decoder for MasterCodec {
    type Item = i64;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<i64>, CodecError> {
        if src.len() < REPORT_LEN {
            return Ok(None);
        }
        let offset = src.get_i64();
        if offset < 0 {
            return Err(CodecError::InvalidField { field: "slaveMaxOffset", value: offset.to_string() });
        }
        Ok(Some(offset))
    }
}

impl Encoder<MasterFrame> for MasterCodec {
    type Error = CodecError;

    fn encode(&mut self, f: MasterFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        let size = i32::try_from(f.body.len()).map_err(|_| CodecError::FrameTooLarge { len: f.body.len(), max: i32::MAX as usize })?;
        dst.reserve(HEADER_LEN + f.body.len());
        dst.put_i64(f.offset);
        dst.put_i32(size);
        dst.put_slice(&f.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(offset: i64, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        MasterCodec.encode(MasterFrame { offset, body: Bytes::copy_from_slice(body) }, &mut b).unwrap();
        b
    }

    #[test]
    fn master_frame_exact_bytes() {
        // offset 0x0102030405060708, size 3, body "abc": the 4.9.7 header layout.
        let b = frame_bytes(0x0102_0304_0506_0708, b"abc");
        assert_eq!(&b[..], &[1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 3, b'a', b'b', b'c']);
        let hb = frame_bytes(1 << 30, b"");
        assert_eq!(&hb[..], &[0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn report_exact_bytes_and_round_trip() {
        let mut b = BytesMut::new();
        SlaveCodec { max_body: 16 }.encode(0x1122_3344_5566_7788, &mut b).unwrap();
        assert_eq!(&b[..], &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        assert_eq!(MasterCodec.decode(&mut b).unwrap(), Some(0x1122_3344_5566_7788));
        assert!(b.is_empty());
    }

    #[test]
    fn every_prefix_is_incomplete_and_consumes_nothing() {
        let full = frame_bytes(77, b"hello");
        for n in 0..full.len() {
            let mut p = BytesMut::from(&full[..n]);
            assert_eq!(SlaveCodec { max_body: 64 }.decode(&mut p).unwrap(), None, "prefix {n}");
            assert_eq!(p.len(), n);
        }
        let mut all = full.clone();
        let f = SlaveCodec { max_body: 64 }.decode(&mut all).unwrap().unwrap();
        assert_eq!((f.offset, &f.body[..]), (77, &b"hello"[..]));
        for n in 0..REPORT_LEN {
            let mut p = BytesMut::from(&[0u8; 8][..n]);
            assert_eq!(MasterCodec.decode(&mut p).unwrap(), None);
        }
    }

    #[test]
    fn hostile_sizes_and_offsets_are_errors() {
        let mut big = BytesMut::new();
        big.put_i64(0);
        big.put_i32(65);
        assert!(SlaveCodec { max_body: 64 }.decode(&mut big).is_err());
        let mut neg = BytesMut::new();
        neg.put_i64(0);
        neg.put_i32(-1);
        assert!(SlaveCodec { max_body: 64 }.decode(&mut neg).is_err());
        let mut neg_off = BytesMut::new();
        neg_off.put_i64(-5);
        neg_off.put_i32(0);
        assert!(SlaveCodec { max_body: 64 }.decode(&mut neg_off).is_err());
        let mut bad = BytesMut::from(&[0xff; 8][..]);
        assert!(MasterCodec.decode(&mut bad).is_err());
    }
}
