//! Generates the gRPC types of `apache.rocketmq.v2` (the 5.x SDKs' protocol) from `proto/`.
//! The .proto files are parsed by `protox` (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // `bytes` fields as `bytes::Bytes`: a message body is sliced out of the decode buffer and
    // handed to the store (and back out of a stored record) without a copy.
    let fds = protox::compile(["apache/rocketmq/v2/service.proto"], ["proto"])?;
    tonic_prost_build::configure().bytes(".").build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
