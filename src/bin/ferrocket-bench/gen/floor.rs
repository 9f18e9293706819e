//! `ferrocket-bench floor`: the machine's floor for one synchronous connection. Two threads,
//! pinned to the broker's and the generator's CPUs, play a blocking TCP echo over loopback with
//! S1's sizes (a 1 KiB send request out, a ~200 byte answer back) and no broker work at all: the
//! round trips per second no broker can beat on this machine with one connection (issue 21, S1).
//! Also the echoing thread's CPU time per round trip: what waiting for each request costs a
//! thread that sleeps between them (on a virtual machine whose idle CPUs halt, the wake-up's
//! share is large), the least a broker thread pays per request without polling.
use super::{new_hist, Latency};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

/// Pin the calling thread to `cpu` (best effort: the figure says whether it held).
fn pin(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it for cpu < CPU_SETSIZE;
    // sched_setaffinity(0, ..) applies to the calling thread and reads the set we pass.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            return false;
        }
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// CPU time the calling thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// `count` round trips of `request` bytes out and `answer` bytes back.
pub fn run(server_cpu: usize, client_cpu: usize, count: usize, request: usize, answer: usize) -> Value {
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => return json!({ "error": format!("bind: {e}") }),
    };
    let addr = listener.local_addr().expect("bound address");
    // the echoing thread: whether it was pinned, and its CPU time per round trip
    let server = std::thread::spawn(move || -> std::io::Result<(bool, f64)> {
        let pinned = pin(server_cpu);
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut req = vec![0u8; request];
        let resp = vec![1u8; answer];
        let (cpu0, mut n) = (thread_cpu_ns(), 0u64);
        while s.read_exact(&mut req).is_ok() {
            s.write_all(&resp)?;
            n += 1;
        }
        Ok((pinned, (thread_cpu_ns() - cpu0) as f64 / 1000.0 / n.max(1) as f64))
    });
    let pinned = pin(client_cpu);
    let run = || -> std::io::Result<(f64, Latency)> {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let (req, mut resp) = (vec![2u8; request], vec![0u8; answer]);
        let mut hist = new_hist();
        let t0 = Instant::now();
        for _ in 0..count {
            let t = Instant::now();
            s.write_all(&req)?;
            s.read_exact(&mut resp)?;
            let _ = hist.record(t.elapsed().as_nanos() as u64);
        }
        Ok((count as f64 / t0.elapsed().as_secs_f64(), Latency::of(&hist)))
    };
    let out = run();
    if out.is_err() {
        // the echo thread may still wait in `accept`: a connection that closes at once ends it
        let _ = TcpStream::connect(addr);
    }
    let (server_pinned, echo_cpu) = server.join().ok().and_then(|r| r.ok()).unwrap_or((false, 0.0));
    match out {
        Ok((rate, latency)) => json!({
            "mode": "floor", "round_trips": count, "request_bytes": request, "answer_bytes": answer,
            "round_trips_per_s": rate.round(), "latency_us": latency,
            "echo_cpu_us_per_round_trip": (echo_cpu * 100.0).round() / 100.0,
            "server_cpu": server_cpu, "client_cpu": client_cpu, "pinned": pinned && server_pinned,
        }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}
