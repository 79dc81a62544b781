//! One sync at a time per work tree.
//!
//! Two syncs of one work tree at once (`cargo xtask` run by an editor and in a terminal)
//! race each other: each reads files the other is stamping, sees their mtimes change under
//! it, and gives clean files the current time while reporting changes nobody made. A sync
//! that writes therefore holds an exclusive `flock` on `mtimestamp.lock` in the work tree's
//! git directory for its whole run. A second sync waits for it, and then finds everything
//! already done. The kernel releases the lock when the process ends, however it ends, so a
//! crashed sync never leaves the next one waiting.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;

/// The lock, held until dropped.
pub(crate) struct SyncLock {
    file: File,
}

/// How long a sync waits quietly before it says that it is waiting.
const QUIET_WAIT: Duration = Duration::from_secs(1);

impl SyncLock {
    /// A second handle on the lock file, which is the sync's own: its times may be changed.
    pub fn file(&self) -> Option<File> {
        self.file.try_clone().ok()
    }

    /// Takes the lock of the work tree whose git directory is `git_dir`, waiting as long as
    /// another sync holds it; `waiting` is told once, after a second. None when the lock
    /// file cannot be opened (a read-only git directory): such a sync writes neither the
    /// index nor the answers, and goes on unlocked.
    pub fn acquire(git_dir: &Path, waiting: Option<fn(&Path)>) -> Option<SyncLock> {
        let path: PathBuf = git_dir.join("mtimestamp.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        let start = Instant::now();
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Some(SyncLock { file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::WOULDBLOCK) if start.elapsed() < QUIET_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => break,
                // A file system without locks: go on unlocked, as before locks existed.
                Err(_) => return None,
            }
        }
        if let Some(waiting) = waiting {
            waiting(&path);
        }
        loop {
            match rustix::fs::flock(&file, FlockOperation::LockExclusive) {
                Ok(()) => return Some(SyncLock { file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return None,
            }
        }
    }
}
