//! Set each clean tracked file's mtime to the time of its last commit.
//!
//! Caches keyed by a file's size and mtime (Go's test cache, make, Dagger's and BuildKit's
//! upload of host directories) lose everything on a fresh clone or a branch switch, because
//! git writes files with the current time. Giving every *clean* file the committer time of
//! the commit that last changed it makes those mtimes a function of history, so the caches
//! survive.
//!
//! The danger is the opposite mistake: a file whose content differs from HEAD but that is
//! given an old mtime (and keeps its size) looks unchanged to such a cache, which then builds
//! from stale bytes. This crate therefore
//!
//! - touches only files whose work-tree content equals both the index and HEAD, by git's own
//!   rules, and re-reads each file after stamping it to catch concurrent edits;
//! - puts a fingerprint of the blob id in the sub-second part of the mtime, so two different
//!   contents of one path never share a (size, mtime) pair even when their commits fall in
//!   the same second;
//! - refreshes git's index afterwards, so `git status` does not re-hash every file.
//!
//! ```no_run
//! let work_tree = git_mtimestamp::WorkTree::open(std::path::Path::new("."))?;
//! let report = work_tree.sync(&git_mtimestamp::Options::default())?;
//! println!("{}", report.summary_line());
//! # Ok::<(), git_mtimestamp::Error>(())
//! ```

mod answers;
mod attributes;
mod classify;
pub mod cli;
mod convert;
mod directories;
mod error;
mod fingerprint;
mod fs;
mod git_cli;
mod history;
mod index_file;
mod index_refresh;
mod objects;
mod odb;
mod open;
mod path_map;
mod progress;
mod report;
mod scope;
mod signals;
mod stamp;
mod sync;
mod sync_lock;
#[cfg(test)]
mod test_git;
mod time_limits;
mod trace;
mod workers;

pub use crate::error::Error;
pub use crate::fingerprint::blob_fingerprint_nanos;
pub use crate::history::{
    AnswerSink, HistoryMode, KnownAnswers, LastChange, WalkOptions, last_change_times,
};
pub use crate::index_file::IndexFileError;
pub use crate::open::WorkTree;
pub use crate::progress::Progress;
pub use crate::report::{
    Counts, Failure, FileReport, IndexUpdate, OsError, Outcome, Report, SkipReason, Timestamp,
    quote_directory, quote_path,
};
pub use crate::signals::DeferSignals;

/// How a sync is run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Git pathspecs relative to the work-tree root that limit which files are synced, magic
    /// included (`:(exclude)`, `:(glob)`, `:(icase)`, `:(literal)`, `:(top)`, and
    /// `:(prefix:N)` for the part that names a directory they were given in). Empty means
    /// every tracked file.
    pub pathspecs: Vec<std::ffi::OsString>,
    /// Let a pathspec that matches no tracked file select nothing. By default it is an error
    /// ([`Error::PathspecUnmatched`]), as in `git add`; a fixed list of paths that a
    /// repository may lack (`cargo xtask`'s `.dagger`) allows it.
    pub allow_unmatched_pathspecs: bool,
    /// Which commit counts as a path's last change.
    pub history: HistoryMode,
    /// Leave the sub-second part of every mtime zero instead of a fingerprint of the blob.
    pub whole_seconds: bool,
    /// Leave directories alone. By default every clean tracked directory in scope gets the
    /// time of the last commit that changed its list of entries.
    pub no_directories: bool,
    /// Decide everything, change nothing.
    pub dry_run: bool,
    /// Counters the sync updates as it goes, for a progress display.
    pub progress: Option<std::sync::Arc<Progress>>,
    /// Called once when the sync has waited a second for another sync of the same work tree
    /// to finish, with the path of the lock file; see [`cli::say_waiting`].
    pub on_wait: Option<fn(&std::path::Path)>,
}
