//! gRPC producers (the 5.x SDKs' protocol): `conns` HTTP/2 connections, `inflight` SendMessage
//! calls outstanding on each (closed loop), one 5.x-style message per call; throughput and latency
//! over the measured window, beside the remoting `produce` figures.
use super::{new_hist, Latency};
use ferrocket::grpc::coalesce::Coalesce;
use ferrocket::grpc::pb::{self, messaging_service_client::MessagingServiceClient};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct GrpcSendCfg {
    pub addr: SocketAddr,
    pub topic: String,
    pub conns: usize,
    pub inflight: usize,
    pub body: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

#[derive(Debug, Default, Serialize)]
pub struct GrpcSendReport {
    pub msgs_per_s: f64,
    pub measured_s: f64,
    pub acked_msgs: u64,
    pub errors: u64,
    pub latency_us: Latency,
}

fn message(topic: &str, body: &bytes::Bytes, n: u64) -> pb::Message {
    pb::Message {
        topic: Some(pb::Resource { resource_namespace: String::new(), name: topic.into() }),
        user_properties: Default::default(),
        system_properties: Some(pb::SystemProperties {
            message_id: format!("01{n:032X}"),
            message_type: pb::MessageType::Normal as i32,
            ..Default::default()
        }),
        body: body.clone(),
    }
}

pub async fn run(cfg: GrpcSendCfg) -> Result<GrpcSendReport, String> {
    let body = bytes::Bytes::from(vec![b'x'; cfg.body]);
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (from, until) = (start + cfg.warmup, start + cfg.warmup + cfg.duration);
    let mut tasks = Vec::new();
    for _ in 0..cfg.conns {
        // Requests leave coalesced, as the server's responses do (and as grpc-java's flush
        // consolidation sends them): the generator's own sendto per call was what bound the
        // figures once the broker's were coalesced.
        let addr = cfg.addr;
        let connector = tower::service_fn(move |_: tonic::transport::Uri| async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(Coalesce::new(s)))
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", cfg.addr))
            .map_err(|e| e.to_string())?
            .connect_with_connector(connector)
            .await
            .map_err(|e| format!("connect {}: {e}", cfg.addr))?;
        for _ in 0..cfg.inflight {
            let mut c = MessagingServiceClient::new(channel.clone());
            let (topic, body, seq) = (cfg.topic.clone(), body.clone(), seq.clone());
            tasks.push(tokio::spawn(async move {
                let (mut hist, mut ok, mut errors) = (new_hist(), 0u64, 0u64);
                loop {
                    let t0 = Instant::now();
                    if t0 >= until {
                        break;
                    }
                    let m = message(&topic, &body, seq.fetch_add(1, Ordering::Relaxed));
                    let r = c.send_message(pb::SendMessageRequest { messages: vec![m] }).await;
                    let good = r.is_ok_and(|r| r.into_inner().status.is_some_and(|s| s.code == pb::Code::Ok as i32));
                    if t0 >= from {
                        if good {
                            ok += 1;
                            let _ = hist.record(t0.elapsed().as_nanos() as u64);
                        } else {
                            errors += 1;
                        }
                    }
                }
                (hist, ok, errors)
            }));
        }
    }
    let mut report = GrpcSendReport::default();
    let mut hist = new_hist();
    for t in tasks {
        let (h, ok, errors) = t.await.map_err(|e| e.to_string())?;
        let _ = hist.add(&h);
        report.acked_msgs += ok;
        report.errors += errors;
    }
    report.measured_s = cfg.duration.as_secs_f64();
    report.msgs_per_s = report.acked_msgs as f64 / report.measured_s;
    report.latency_us = Latency::of(&hist);
    Ok(report)
}
