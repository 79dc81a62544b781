//! Counters a long sync updates, for a progress display.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Shared counters; the sync only ever increments them. A front end reads them from another
/// thread (see the CLI's progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    pub commits_walked: AtomicUsize,
    pub paths_to_resolve: AtomicUsize,
    pub paths_resolved: AtomicUsize,
    pub files_to_stamp: AtomicUsize,
    pub files_stamped: AtomicUsize,
}

impl Progress {
    pub(crate) fn add(counter: Option<&AtomicUsize>, n: usize) {
        if let Some(counter) = counter {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// A one-line description of where the sync is.
    pub fn describe(&self) -> String {
        let load = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        let mut line = format!(
            "history: {} commits, {}/{} paths",
            load(&self.commits_walked),
            load(&self.paths_resolved),
            load(&self.paths_to_resolve)
        );
        let to_stamp = load(&self.files_to_stamp);
        if to_stamp > 0 {
            line.push_str(&format!(
                "; stamping: {}/{to_stamp} files",
                load(&self.files_stamped)
            ));
        }
        line
    }
}
