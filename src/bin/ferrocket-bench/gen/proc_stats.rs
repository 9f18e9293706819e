//! CPU time and memory of another process, from `/proc` (Linux only; zeros elsewhere).
use serde::Serialize;

/// User + system CPU time of `pid` in microseconds.
pub fn cpu_us(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name (which may contain spaces) start after the last ')'
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some((utime + stime) * 1_000_000 / hz)
}

/// Bytes `pid` caused to be written to storage (`write_bytes` of `/proc/PID/io`).
pub fn write_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// Resident memory of `pid`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rss {
    /// VmRSS, KiB.
    pub rss_kb: u64,
    /// RssAnon (heap, stacks; not the page cache of mapped files), KiB.
    pub anon_kb: u64,
}

pub fn rss(pid: u32) -> Option<Rss> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(Rss {
        rss_kb: field("VmRSS:"),
        anon_kb: field("RssAnon:"),
    })
}

impl Rss {
    pub fn max(self, o: Rss) -> Rss {
        Rss {
            rss_kb: self.rss_kb.max(o.rss_kb),
            anon_kb: self.anon_kb.max(o.anon_kb),
        }
    }
}
