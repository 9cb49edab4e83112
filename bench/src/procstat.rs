//! Server-side resource accounting from /proc: CPU time and memory of a process tree.
//!
//! Servers fork (nsd runs a main process, server children and an xfrd child), so the process
//! given by `--server-pid` is measured together with all its descendants. CPU is the delta of
//! each process's CPU-time clock (nanoseconds, all its threads, exited ones too) between the
//! start of the run and its last sample, or of utime+stime from /proc/PID/stat (10 ms ticks)
//! where that clock cannot be read; processes born during the run count from zero. Peak RSS
//! is the larger of the root's VmHWM and the largest sampled sum of VmRSS over the tree.

use std::collections::HashMap;
use std::fs;

/// utime+stime in clock ticks, and the parent pid, from /proc/PID/stat.
fn stat(pid: u32) -> Option<(u64, u32)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Fields after the name, 0-based: 0 state, 1 ppid, ..., 11 utime, 12 stime.
    let ppid = f.get(1)?.parse().ok()?;
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    Some((ut + st, ppid))
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Pids of `root` and all its descendants (one scan of /proc).
pub fn tree(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if let Some((_, ppid)) = stat(pid) {
                    parent.insert(pid, ppid);
                }
            }
        }
    }
    let mut out = vec![root];
    // Bounded: each pass adds only pids not yet in `out`; at most |parent| passes.
    for _ in 0..parent.len() {
        let before = out.len();
        for (&pid, &pp) in &parent {
            if out.contains(&pp) && !out.contains(&pid) {
                out.push(pid);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

pub struct Sampler {
    root: u32,
    /// Whether the root's CPU-time clock could be read at the start: if so, every process is
    /// read from its clock, else every one from /proc/PID/stat, so no delta mixes the two.
    use_clock: bool,
    ticks_per_s: u64,
    /// CPU nanoseconds per pid at the start, and at the last sample.
    base: HashMap<u32, u64>,
    last: HashMap<u32, u64>,
    peak_rss_kib: u64,
}

impl Sampler {
    /// Take the baseline. Fails if the process does not exist.
    pub fn start(root: u32) -> Result<Sampler, String> {
        if stat(root).is_none() {
            return Err(format!("--server-pid {root}: no such process"));
        }
        let mut s = Sampler {
            root,
            use_clock: crate::sys::process_cpu_ns(root).is_some(),
            ticks_per_s: crate::sys::clock_ticks_per_s(),
            base: HashMap::new(),
            last: HashMap::new(),
            peak_rss_kib: 0,
        };
        for pid in tree(root) {
            if let Some(t) = s.cpu_ns(pid) {
                s.base.insert(pid, t);
            }
        }
        s.sample();
        Ok(s)
    }

    /// CPU nanoseconds used so far by process `pid`, from the source chosen at the start.
    fn cpu_ns(&self, pid: u32) -> Option<u64> {
        if self.use_clock {
            crate::sys::process_cpu_ns(pid)
        } else {
            stat(pid).map(|(ticks, _)| ticks * (1_000_000_000 / self.ticks_per_s.max(1)))
        }
    }

    pub fn sample(&mut self) {
        let mut rss = 0;
        for pid in tree(self.root) {
            if let Some(t) = self.cpu_ns(pid) {
                self.last.insert(pid, t);
            }
            rss += status_kib(pid, "VmRSS:").unwrap_or(0);
        }
        self.peak_rss_kib = self.peak_rss_kib.max(rss);
    }

    /// CPU seconds used by the tree since `start`, as of the last sample.
    pub fn cpu_s(&self) -> f64 {
        let ns: u64 = self
            .last
            .iter()
            .map(|(pid, &t)| t.saturating_sub(self.base.get(pid).copied().unwrap_or(0)))
            .sum();
        ns as f64 / 1e9
    }

    pub fn peak_rss_mib(&self) -> f64 {
        let hwm = status_kib(self.root, "VmHWM:").unwrap_or(0);
        hwm.max(self.peak_rss_kib) as f64 / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measurable() {
        let me = std::process::id();
        let mut s = Sampler::start(me).unwrap();
        // Burn a little CPU, bounded.
        let t = std::time::Instant::now();
        let cpu0 = crate::sys::thread_cpu_s();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_secs(5)
            && crate::sys::thread_cpu_s().0 - cpu0.0 < 0.05
        {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        s.sample();
        assert!(s.cpu_s() > 0.0);
        assert!(s.peak_rss_mib() > 0.0);
        assert!(Sampler::start(u32::MAX - 1).is_err());
    }

    /// A few milliseconds of CPU are measured as such, not rounded to 10 ms ticks (the
    /// tick-based count of the same burn is 0 or 10 ms).
    #[test]
    fn cpu_is_measured_finer_than_a_tick() {
        let me = std::process::id();
        let mut s = Sampler::start(me).unwrap();
        assert!(s.use_clock, "this process's CPU clock must be readable");
        let t = std::time::Instant::now();
        let (u0, s0) = crate::sys::thread_cpu_s();
        let mut x = 0u64;
        let burned = loop {
            let (u, st) = crate::sys::thread_cpu_s();
            let burned = (u - u0) + (st - s0);
            if burned >= 0.003 || t.elapsed() > std::time::Duration::from_secs(5) {
                break burned;
            }
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        };
        std::hint::black_box(x);
        s.sample();
        let measured = s.cpu_s();
        assert!(
            burned >= 0.003,
            "the burn did not reach 3 ms of CPU within 5 s"
        );
        // The process clock counts this thread's burn and whatever the other test threads
        // did meanwhile, never less than the burn (getrusage rounds to microseconds).
        assert!(
            measured + 1e-4 >= burned,
            "measured {measured} s, burned {burned} s"
        );
        assert_ne!(
            (measured * 1e9).round() as u64 % 10_000_000,
            0,
            "{measured} s is whole 10 ms ticks"
        );
    }
}
