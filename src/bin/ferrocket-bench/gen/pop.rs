//! POP consumers: each connection pops up to `max_msgs` from any queue of the topic and acks the
//! batch with one BATCH_ACK_MESSAGE (or holds it, to measure memory per in-flight message),
//! until `total` messages were popped or the deadline passes.
use ferrocket::client::pop::{batch_ack, read_pop, Pop};
use ferrocket::client::RawClient;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct PopCfg {
    pub addr: SocketAddr,
    pub topic: String,
    pub group: String,
    pub conns: usize,
    pub max_msgs: i32,
    pub total: u64,
    pub ack: bool,
    pub deadline: Instant,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PopReport {
    pub msgs: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub pops: u64,
    pub empty_pops: u64,
    pub errors: Vec<String>,
}

pub async fn run(c: PopCfg) -> PopReport {
    let popped = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c.conns {
        let (c, popped) = (c.clone(), popped.clone());
        tasks.push(tokio::spawn(async move {
            let mut rep = PopReport::default();
            let client = match RawClient::connect(c.addr).await {
                Ok(x) => x,
                Err(e) => {
                    rep.errors.push(format!("connect: {e}"));
                    return rep;
                }
            };
            let p = Pop::new(&c.group, &c.topic).max(c.max_msgs).invisible(300_000);
            let t = Duration::from_secs(30);
            while popped.load(Ordering::Relaxed) < c.total && Instant::now() < c.deadline {
                let r = match client.request(p.build(), t).await {
                    Ok(r) => r,
                    Err(e) => {
                        rep.errors.push(e.to_string());
                        break;
                    }
                };
                rep.pops += 1;
                let got = match read_pop(&r, &c.group, &c.topic, "") {
                    Ok(g) => g,
                    Err(e) => {
                        rep.errors.push(e);
                        break;
                    }
                };
                if got.is_empty() {
                    rep.empty_pops += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                if c.ack {
                    let refs: Vec<_> = got.iter().collect();
                    match client.request(batch_ack(&c.group, &c.topic, &refs), t).await {
                        Ok(r) if r.code == 0 => {}
                        Ok(r) => rep.errors.push(format!("batch ack answered {}", r.code)),
                        Err(e) => rep.errors.push(e.to_string()),
                    }
                }
                rep.msgs += got.len() as u64;
                popped.fetch_add(got.len() as u64, Ordering::Relaxed);
            }
            rep
        }));
    }
    let mut total = PopReport::default();
    for t in tasks {
        if let Ok(r) = t.await {
            total.msgs += r.msgs;
            total.pops += r.pops;
            total.empty_pops += r.empty_pops;
            total.errors.extend(r.errors.into_iter().take(5));
        }
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.msgs_per_s = (total.msgs as f64 / total.seconds.max(1e-9)).round();
    total
}
