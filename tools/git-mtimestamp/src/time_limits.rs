//! Times a file system cannot hold.
//!
//! Commit times are whatever the committer's clock said, and git accepts years far beyond
//! what file systems store: ext4 clamps any time after 2446-05-10 (after 2038 with small
//! inodes) to its latest, and drops the nanoseconds. A file stamped with such a time holds
//! another one afterwards; compared with the commit time it would look wrong on every later
//! sync, and be stamped, read back and written to the index again each time.
//!
//! So the sync asks the file system, once per time, what it stores for a time outside the
//! range every file system holds (1970 to 2038), by setting it on a file of its own on the
//! same file system (the lock file it holds), and from then on compares mtimes with what can
//! be stored.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{Timespec, Timestamps};

use crate::fs::FileStat;
use crate::report::Timestamp;

pub(crate) struct TimeLimits {
    /// A file of the sync's own on the work tree's file system, whose times may be changed;
    /// None when there is none (a dry run, a read-only or separate git directory).
    probe: Option<File>,
    stored: Mutex<HashMap<Timestamp, Timestamp>>,
    /// Paths stamped this run with a time the file system could not hold.
    clamped: AtomicUsize,
}

impl TimeLimits {
    /// Limits found with `probe`, which is used only when it lies on the file system of the
    /// work tree whose top is `root_dev`'s device.
    pub fn probing(probe: Option<File>, root_dev: Option<u64>) -> TimeLimits {
        let same_file_system = |file: &File| {
            let dev = FileStat::of_fd(file.as_fd()).ok().map(|stat| stat.dev);
            dev.is_some() && dev == root_dev
        };
        TimeLimits {
            probe: probe.filter(same_file_system),
            stored: Mutex::new(HashMap::new()),
            clamped: AtomicUsize::new(0),
        }
    }

    /// The time the file system stores when a file is given `requested`.
    pub fn storable(&self, requested: Timestamp) -> Timestamp {
        if (0..=i64::from(i32::MAX)).contains(&requested.seconds) {
            return requested;
        }
        let Some(probe) = &self.probe else {
            return requested;
        };
        let mut stored = self.stored.lock().expect("no panic holds this lock");
        *stored.entry(requested).or_insert_with(|| {
            let spec = |t: Timestamp| Timespec {
                tv_sec: t.seconds,
                tv_nsec: t.nanos.into(),
            };
            let times = Timestamps {
                last_access: spec(requested),
                last_modification: spec(requested),
            };
            rustix::fs::futimens(probe, &times)
                .ok()
                .and_then(|()| FileStat::of_fd(probe.as_fd()).ok())
                .map_or(requested, |stat| stat.mtime)
        })
    }

    /// Counts a path stamped with `requested`, when the file system could not hold it.
    pub fn note_stamped(&self, requested: Timestamp) {
        if self.storable(requested) != requested {
            self.clamped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn clamped(&self) -> usize {
        self.clamped.load(Ordering::Relaxed)
    }
}
