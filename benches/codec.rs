//! Codec hot paths: a SEND_MESSAGE_V2 request (vector 0009) and a 32-message pull response.
use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrocket::codec::header::{PullMessageResponseHeader, SendMessageRequestHeader};
use ferrocket::codec::message::parse_properties;
use ferrocket::codec::{RemotingCodec, RemotingCommand};
use tokio_util::codec::{Decoder, Encoder};

fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/frames/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("vector");
    let hex: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn decode(codec: &mut RemotingCodec, bytes: &[u8]) -> RemotingCommand {
    let mut buf = BytesMut::from(bytes);
    codec.decode(&mut buf).expect("valid").expect("whole")
}

fn send_v2(c: &mut Criterion) {
    let frame = vector("0009-send-v2-request.hex");
    let mut codec = RemotingCodec::default();
    let mut g = c.benchmark_group("send_v2_0009");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_frame+header+properties", |b| {
        b.iter(|| {
            let cmd = decode(&mut codec, black_box(&frame));
            let h = SendMessageRequestHeader::from_command(&cmd).expect("header");
            black_box(parse_properties(h.properties.as_deref().unwrap_or("")));
        })
    });
    let cmd = decode(&mut codec, &frame);
    g.bench_function("encode_frame", |b| {
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            codec
                .encode(black_box(cmd.clone()), &mut out)
                .expect("encode");
        })
    });
    g.finish();
}

fn pull_32(c: &mut Criterion) {
    // Vector 0028's body holds one 218-byte stored message; repeat it 32 times.
    let one = {
        let mut codec = RemotingCodec::default();
        decode(&mut codec, &vector("0028-push-pull-response.hex")).body
    };
    let body: Vec<u8> = one.iter().copied().cycle().take(one.len() * 32).collect();
    let req = RemotingCommand::request(11, 88);
    let mut resp = RemotingCommand::response_to(&req, 0, Some("FOUND".into()));
    resp.set_header(&PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: 32,
        min_offset: 0,
        max_offset: 32,
    });
    resp.body = Bytes::from(body);
    let mut codec = RemotingCodec::default();
    let mut encoded = BytesMut::new();
    codec.encode(resp.clone(), &mut encoded).expect("encode");
    let encoded = encoded.to_vec();
    let mut g = c.benchmark_group("pull_response_32msgs");
    g.throughput(Throughput::Bytes(encoded.len() as u64));
    g.bench_function("encode", |b| {
        let mut out = BytesMut::with_capacity(encoded.len());
        b.iter(|| {
            out.clear();
            codec
                .encode(black_box(resp.clone()), &mut out)
                .expect("encode");
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| black_box(decode(&mut codec, black_box(&encoded))))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = send_v2, pull_32
}
criterion_main!(benches);
