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
                "trace: {name} done at {:.3} s",
                start.elapsed().as_secs_f64()
            );
        }
    }
}
