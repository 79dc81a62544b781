//! Where a sync spends its time, printed on stderr when `GIT_MTIMESTAMP_TRACE` is set.

/// Phase timings on stderr when `GIT_MTIMESTAMP_TRACE` is set, for finding where a slow
/// sync spends its time.
pub(crate) struct Trace {
    start: Option<std::time::Instant>,
}

impl Trace {
    pub fn from_env() -> Trace {
        Trace {
            start: std::env::var_os("GIT_MTIMESTAMP_TRACE").map(|_| std::time::Instant::now()),
        }
    }

    pub fn phase(&self, name: &str) {
        if let Some(start) = self.start {
            eprintln!(
                "trace: {name} done at {:.3} s, peak memory {} MB",
                start.elapsed().as_secs_f64(),
                peak_memory_kb().map_or("?".to_owned(), |kb| (kb / 1024).to_string())
            );
        }
    }
}

/// The process's peak resident memory so far (`VmHWM`), which the bench compares with git's.
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
