//! What a sync did, file by file, and how to summarise it for people and programs.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

/// Why a tracked file was left alone. Every variant is a state in which giving the file its
/// commit time could hide a change from an mtime-keyed cache, or in which the tool cannot know
/// the right answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// The work-tree content differs from the index.
    Modified,
    /// The index holds content (or a mode) that differs from HEAD, or a path HEAD lacks.
    Staged,
    /// Tracked, but missing from the work tree.
    Deleted,
    /// The index holds an unresolved conflict for the path.
    Conflicted,
    /// A file became a symlink or the other way round, or a directory stands where a file was.
    TypeChanged,
    /// The executable bit differs from the index (only when `core.filemode` is on).
    ModeChanged,
    /// A sparse-checkout (skip-worktree) entry: the work tree is not git's to compare.
    SkipWorktree,
    /// Added with `git add -N`: nothing is staged yet.
    IntentToAdd,
    /// A submodule (gitlink): its files belong to another repository.
    Submodule,
    /// A leading directory of the path is a symlink, so the path leads outside git's view.
    BeyondSymlink,
    /// The path has a `filter` driver (such as Git LFS) and its content could not be checked.
    FilterDriver,
    /// A directory holds an entry HEAD's tree lacks, which git does not ignore.
    Untracked,
    /// A directory holds entries HEAD's tree lacks, all of them ignored by git.
    Ignored,
    /// A directory lacks an entry of HEAD's tree.
    Missing,
}

impl SkipReason {
    pub const ALL: [SkipReason; 14] = [
        SkipReason::Modified,
        SkipReason::Staged,
        SkipReason::Deleted,
        SkipReason::Conflicted,
        SkipReason::TypeChanged,
        SkipReason::ModeChanged,
        SkipReason::SkipWorktree,
        SkipReason::IntentToAdd,
        SkipReason::Submodule,
        SkipReason::BeyondSymlink,
        SkipReason::FilterDriver,
        SkipReason::Untracked,
        SkipReason::Ignored,
        SkipReason::Missing,
    ];

    /// The word used in summaries, verbose lines and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Modified => "modified",
            SkipReason::Staged => "staged",
            SkipReason::Deleted => "deleted",
            SkipReason::Conflicted => "conflicted",
            SkipReason::TypeChanged => "type-changed",
            SkipReason::ModeChanged => "mode-changed",
            SkipReason::SkipWorktree => "skip-worktree",
            SkipReason::IntentToAdd => "intent-to-add",
            SkipReason::Submodule => "submodule",
            SkipReason::BeyondSymlink => "beyond-symlink",
            SkipReason::FilterDriver => "filter-driver",
            SkipReason::Untracked => "untracked",
            SkipReason::Ignored => "ignored",
            SkipReason::Missing => "missing",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file time as seconds since the Unix epoch plus nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanos: u32,
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.seconds, self.nanos)
    }
}

/// What happened to one tracked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The mtime was set (or, in a dry run, would be set) to `time`.
    Updated { time: Timestamp },
    /// The mtime already was `time`.
    AlreadyCorrect { time: Timestamp },
    /// Left alone, for the reason given.
    Skipped(SkipReason),
    /// The file changed while it was being stamped: its mtime was set to the current time so
    /// that no cache mistakes the new content for the committed one.
    ChangedDuringSync,
    /// The time could not be set, for the reason given. The run went on.
    Failed(Failure),
}

/// Why a path's time could not be set. Paths that failed for equal reasons are reported
/// together ([`Report::problems`]); the usual causes have variants of their own, whose
/// messages say what the user can do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The top of the work tree could not be opened, so no path in it could be reached.
    WorkTree { root: PathBuf, error: OsError },
    /// The directory's entries could not be listed, to compare them with its tree.
    ListDirectory(OsError),
    /// The file belongs to user `owner`, not this one, and only its owner or root may set its
    /// time (EPERM).
    NotOwner { owner: u32 },
    /// The file system is mounted read-only (EROFS).
    ReadOnly,
    /// The file could not be opened to compare it with its blob before its stamp (or to read
    /// it back after), so it was not stamped.
    Unreadable(OsError),
    /// Opening, examining or stamping the path failed.
    Os(OsError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::WorkTree { root, error } => {
                write!(f, "cannot open the work tree {}: {error}", root.display())
            }
            Failure::ListDirectory(error) => write!(f, "cannot list the directory: {error}"),
            Failure::NotOwner { owner } => write!(
                f,
                "{}: the file belongs to user {owner}, and only its owner or root may set its time",
                OsError(libc::EPERM)
            ),
            Failure::ReadOnly => write!(
                f,
                "{}: the file system is mounted read-only",
                OsError(libc::EROFS)
            ),
            Failure::Unreadable(error) => {
                write!(
                    f,
                    "{error}: the file cannot be read, to compare it with its commit"
                )
            }
            Failure::Os(error) => error.fmt(f),
        }
    }
}

/// An error number (errno) a system call returned, shown as the standard library shows it:
/// `Permission denied (os error 13)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OsError(i32);

impl OsError {
    /// The errno of `error`. Every error a path's stamp meets comes from a system call; one
    /// that did not (none does) would count as EIO.
    pub(crate) fn of(error: &io::Error) -> OsError {
        OsError(error.raw_os_error().unwrap_or(libc::EIO))
    }

    pub fn raw_os_error(self) -> i32 {
        self.0
    }

    pub fn kind(self) -> io::ErrorKind {
        io::Error::from_raw_os_error(self.0).kind()
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        io::Error::from_raw_os_error(self.0).fmt(f)
    }
}

/// One tracked path and what happened to it. Paths are bytes relative to the work-tree root,
/// exactly as git stores them: they need not be UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub path: Vec<u8>,
    pub outcome: Outcome,
}

/// What became of git's index after the files were stamped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum IndexUpdate {
    /// No file was touched, so the index needed no new stat data.
    Unchanged,
    /// The stat data of `entries` entries was written under git's `index.lock`.
    Refreshed { entries: usize },
    /// Dry run: nothing was written.
    DryRun,
    /// Another process holds `index.lock`; the index was left alone.
    Locked,
    /// The index was left alone for the reason given; `git update-index --refresh` brings it
    /// up to date.
    LeftAlone { reason: String },
}

/// Counts of outcomes, for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub updated: usize,
    pub already_correct: usize,
    pub skipped: BTreeMap<SkipReason, usize>,
    pub changed_during_sync: usize,
    pub failed: usize,
}

impl Counts {
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// The result of one sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every tracked path in scope, in index order.
    pub files: Vec<FileReport>,
    /// Every tracked directory in scope (the root as the empty path), sorted by path; None
    /// when directories were not synced.
    pub directories: Option<Vec<FileReport>>,
    /// The index file, when there is none: git then sees no tracked file, and nothing was
    /// synced.
    pub no_index: Option<std::path::PathBuf>,
    /// Paths stamped with the nearest time the file system holds, because it cannot hold
    /// their commit time; later syncs count them as correct.
    pub clamped: usize,
    /// The `required` filter drivers (`filter.<name>.required`) of files left alone for
    /// having a filter driver.
    pub required_filter_drivers: Vec<String>,
    pub index: IndexUpdate,
    /// Paths whose last change lies beyond a shallow clone's boundary: they were given the
    /// boundary commit's time, which is later than the real one.
    pub approximate: usize,
    pub dry_run: bool,
    /// HEAD has no commit yet, so no file has a commit time and none was touched.
    pub no_commit_yet: bool,
    /// Why the answers of this sync's history walk could not be stored for the next one.
    pub answers_not_saved: Option<String>,
}

impl Report {
    /// The files' outcomes, counted.
    pub fn counts(&self) -> Counts {
        count(&self.files)
    }

    /// The directories' outcomes, counted, when directories were synced.
    pub fn directory_counts(&self) -> Option<Counts> {
        self.directories.as_deref().map(count)
    }

    /// Files and directories.
    fn all_paths(&self) -> impl Iterator<Item = (&FileReport, bool)> {
        let files = self.files.iter().map(|file| (file, false));
        let directories = self.directories.iter().flatten();
        files.chain(directories.map(|directory| (directory, true)))
    }

    /// True when a file or directory could not be stamped or changed under the sync.
    pub fn has_problems(&self) -> bool {
        self.all_paths()
            .any(|(f, _)| matches!(f.outcome, Outcome::Failed(_) | Outcome::ChangedDuringSync))
    }

    /// True when some file's or directory's time could not be set.
    pub fn has_failures(&self) -> bool {
        self.all_paths()
            .any(|(f, _)| matches!(f.outcome, Outcome::Failed(_)))
    }

    /// What the user should know and may want to act on, one message each: files that could
    /// not be stamped or changed meanwhile, approximate times, an index left alone.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // Failures with the same cause (a read-only file system, another owner) are one
        // message, not one per file.
        // Paths that failed for one cause: how many files and directories, and the first
        // few names.
        let mut failures: Vec<(&Failure, [usize; 2], Vec<String>)> = Vec::new();
        for (file, directory) in self.all_paths() {
            let shown = || {
                if directory {
                    quote_directory(&file.path)
                } else {
                    quote_path(&file.path)
                }
            };
            match &file.outcome {
                Outcome::Failed(failure) => {
                    let at = match failures.iter().position(|(known, _, _)| *known == failure) {
                        Some(at) => at,
                        None => {
                            failures.push((failure, [0, 0], Vec::new()));
                            failures.len() - 1
                        }
                    };
                    let (_, counts, named) = &mut failures[at];
                    counts[usize::from(directory)] += 1;
                    const NAMED: usize = 3;
                    if named.len() < NAMED {
                        named.push(shown());
                    }
                }
                Outcome::ChangedDuringSync => problems.push(format!(
                    "{} changed while it was being stamped; its mtime is now the current time",
                    shown()
                )),
                _ => {}
            }
        }
        for (failure, [files, directories], named) in failures {
            let named = named.join(", ");
            let count = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            let what = match (files, directories) {
                (_, 0) => count(files, "file", "files"),
                (0, _) => count(directories, "directory", "directories"),
                _ => format!(
                    "{} and {}",
                    count(files, "file", "files"),
                    count(directories, "directory", "directories")
                ),
            };
            problems.push(if files + directories <= 3 {
                format!("cannot set the time of {named}: {failure}")
            } else {
                format!("cannot set the time of {what} ({named}, ...): {failure}")
            });
        }
        if let Some(index) = &self.no_index {
            problems.push(format!(
                "there is no index ({}), so git sees no tracked file and none was synced\n  `git reset` writes the index from HEAD (after `git clone --no-checkout`, `git checkout` does)",
                index.display()
            ));
        }
        if self.clamped > 0 {
            problems.push(format!(
                "the file system cannot hold the commit times of {} paths (outside the years it can store), so they got the nearest time it holds\n  later syncs count them as correct",
                self.clamped
            ));
        }
        for driver in &self.required_filter_drivers {
            problems.push(format!(
                "files with the required filter driver `{driver}` were left alone: this tool cannot run filter drivers, so it cannot compare their content with HEAD\n  their times stay as the checkout wrote them"
            ));
        }
        if let Some(reason) = &self.answers_not_saved {
            problems.push(format!(
                "the answers of this sync could not be saved for the next one, which will walk history again: {reason}"
            ));
        }
        if self.no_commit_yet {
            problems.push(
                "HEAD has no commit yet, so no file has a commit time and none was changed\n  commit, then sync again".to_owned(),
            );
        }
        if self.approximate > 0 {
            problems.push(format!(
                "this is a shallow clone: {} files changed last beyond its history and got the time of a commit at its boundary instead\n  for exact times run `git fetch --unshallow` (in CI: actions/checkout with fetch-depth: 0)",
                self.approximate
            ));
        }
        match &self.index {
            IndexUpdate::Locked => problems.push(
                "index.lock is held by another git process, so the index was left alone\n  the next `git status` re-reads the stamped files; run `git update-index --refresh` once the lock is gone".to_owned(),
            ),
            IndexUpdate::LeftAlone { reason } => problems.push(format!(
                "the index was left alone: {reason}\n  run `git update-index --refresh` to bring its stat data up to date"
            )),
            _ => {}
        }
        problems
    }

    /// One line for people, e.g.
    /// `updated 12, already correct 340, skipped 2 (modified 1, staged 1)`, followed by
    /// `; directories: updated 3, ...` when directories were synced.
    pub fn summary_line(&self) -> String {
        let verb = if self.dry_run {
            "would update"
        } else {
            "updated"
        };
        let mut line = counts_text(verb, &self.counts());
        if let Some(directories) = self.directory_counts() {
            line.push_str("; directories: ");
            line.push_str(&counts_text(verb, &directories));
        }
        line
    }
}

fn count(reports: &[FileReport]) -> Counts {
    let mut counts = Counts::default();
    for file in reports {
        match &file.outcome {
            Outcome::Updated { .. } => counts.updated += 1,
            Outcome::AlreadyCorrect { .. } => counts.already_correct += 1,
            Outcome::Skipped(reason) => *counts.skipped.entry(*reason).or_default() += 1,
            Outcome::ChangedDuringSync => counts.changed_during_sync += 1,
            Outcome::Failed(_) => counts.failed += 1,
        }
    }
    counts
}

fn counts_text(verb: &str, counts: &Counts) -> String {
    let mut line = format!(
        "{verb} {}, already correct {}, skipped {}",
        counts.updated,
        counts.already_correct,
        counts.skipped_total()
    );
    if !counts.skipped.is_empty() {
        let reasons: Vec<String> = counts
            .skipped
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        line.push_str(&format!(" ({})", reasons.join(", ")));
    }
    if counts.changed_during_sync > 0 {
        line.push_str(&format!(
            ", changed during sync {}",
            counts.changed_during_sync
        ));
    }
    if counts.failed > 0 {
        line.push_str(&format!(", failed {}", counts.failed));
    }
    line
}

/// A directory as the verbose output shows it: quoted as git quotes paths, with a slash at
/// the end; the root is `./`.
pub fn quote_directory(path: &[u8]) -> String {
    if path.is_empty() {
        return "./".to_owned();
    }
    let mut with_slash = path.to_vec();
    with_slash.push(b'/');
    quote_path(&with_slash)
}

/// Quotes a path the way git does in its output: as is when it is printable UTF-8 without
/// quotes, backslashes or control characters, otherwise in double quotes with C escapes.
pub fn quote_path(path: &[u8]) -> String {
    let plain = std::str::from_utf8(path)
        .ok()
        .filter(|s| !s.chars().any(|c| c.is_control() || c == '"' || c == '\\'));
    if let Some(s) = plain {
        return s.to_owned();
    }
    let mut out = String::from("\"");
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\{b:03o}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_path_matches_git_style() {
        assert_eq!(quote_path(b"a/b c.txt"), "a/b c.txt");
        assert_eq!(quote_path(b"new\nline"), "\"new\\nline\"");
        assert_eq!(quote_path(b"bad\xffname"), "\"bad\\377name\"");
        assert_eq!(quote_path(b"q\"uote"), "\"q\\\"uote\"");
    }

    /// Paths that failed for equal causes make one warning, whatever their order; those of
    /// another cause, or of another owner, another.
    #[test]
    fn failures_are_grouped_by_cause() {
        let failed = |path: &str, failure: Failure| FileReport {
            path: path.as_bytes().to_vec(),
            outcome: Outcome::Failed(failure),
        };
        let denied = || Failure::Os(OsError(libc::EACCES));
        let report = Report {
            files: vec![
                failed("a", Failure::NotOwner { owner: 0 }),
                failed("b", denied()),
                failed("c", Failure::NotOwner { owner: 1 }),
                failed("d", Failure::NotOwner { owner: 0 }),
            ],
            directories: Some(vec![
                failed("", denied()),
                failed("e", Failure::ListDirectory(OsError(libc::EACCES))),
            ]),
            no_index: None,
            clamped: 0,
            required_filter_drivers: Vec::new(),
            index: IndexUpdate::Unchanged,
            approximate: 0,
            dry_run: false,
            no_commit_yet: false,
            answers_not_saved: None,
        };
        let owned = "Operation not permitted (os error 1): the file belongs to user";
        assert_eq!(
            report.problems(),
            [
                format!(
                    "cannot set the time of a, d: {owned} 0, and only its owner or root may set its time"
                ),
                "cannot set the time of b, ./: Permission denied (os error 13)".to_owned(),
                format!(
                    "cannot set the time of c: {owned} 1, and only its owner or root may set its time"
                ),
                "cannot set the time of e/: cannot list the directory: Permission denied (os error 13)"
                    .to_owned(),
            ]
        );
        assert_eq!(
            Failure::ReadOnly.to_string(),
            "Read-only file system (os error 30): the file system is mounted read-only"
        );
        assert_eq!(
            denied(),
            Failure::Os(OsError::of(&io::Error::from_raw_os_error(13)))
        );
        assert_eq!(
            OsError(libc::EACCES).kind(),
            io::ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn summary_counts_each_reason() {
        let report = Report {
            files: vec![
                FileReport {
                    path: b"a".to_vec(),
                    outcome: Outcome::Updated {
                        time: Timestamp {
                            seconds: 1,
                            nanos: 2,
                        },
                    },
                },
                FileReport {
                    path: b"b".to_vec(),
                    outcome: Outcome::Skipped(SkipReason::Modified),
                },
                FileReport {
                    path: b"c".to_vec(),
                    outcome: Outcome::Skipped(SkipReason::Staged),
                },
            ],
            directories: None,
            no_index: None,
            clamped: 0,
            required_filter_drivers: Vec::new(),
            index: IndexUpdate::Refreshed { entries: 1 },
            approximate: 0,
            dry_run: false,
            no_commit_yet: false,
            answers_not_saved: None,
        };
        assert_eq!(
            report.summary_line(),
            "updated 1, already correct 0, skipped 2 (modified 1, staged 1)"
        );
    }
}
