//! Which commit last changed each path, for many paths in one walk of history.
//!
//! The answer for a path P is the commit that `git log -1 -- P` shows. Under git's default
//! history simplification the walk for P follows a single line: at a commit whose P equals
//! its first such parent's P ("TREESAME"), git follows only that parent and does not show the
//! commit; the first commit that differs from every parent (or a root commit holding P) is
//! shown. Every commit before the first one shown is TREESAME and so has exactly one followed
//! parent, which means git's date-ordered queue never holds more than one commit for P until
//! the answer is popped. The answer therefore does not depend on commit dates or clock skew,
//! only on the chain of TREESAME parents, and that chain can be followed for all paths at once:
//! paths travel down the graph as sets, each commit is compared with its parents only below
//! the directories that hold paths of its set, and a set splits where paths follow different
//! parents.
//!
//! A directory is walked the same way, with its list of entries (names and kinds, see
//! [`crate::objects::EntryKind`]) standing in for a file's content. In the table of paths a directory is its
//! path followed by a slash, and the root is the empty path, so that a directory's key sorts
//! right before everything below it.
//!
//! With `--first-parent`, git compares a commit only with its first parent, so a path travels
//! down the first-parent line until the commit at which its current content arrived there.
//!
//! The answer for a path depends only on the path and the commit the walk starts from, so
//! answers found earlier for some commit end a path's walk as soon as it reaches that commit.
//!
//! Where each part lives: this module has the entry point, [`last_change_times`] and its
//! [`WalkOptions`], and the types of the answers; `walk.rs` the walk itself, in parts on
//! several threads (from the start, or split in two on request), telling each answer as soon
//! as it is final, with the caches of commits and trees that all parts read through;
//! `path_set.rs` the sets of path numbers that travel down the graph; `tree_diff.rs` the full
//! diff of two trees; `line.rs` the first-parent line, which a sync after new commits reads
//! instead of walking. git's formats (commits, trees, their order) are in `objects.rs`, and
//! reading objects is in `odb/`.

use std::collections::HashMap;

use rustc_hash::FxHashSet;
use std::sync::atomic::AtomicBool;

use git2::{Oid, Repository};

use crate::error::Error;
use crate::odb::ObjectReader;
use crate::progress::Progress;
use crate::workers::worker_threads;

mod line;
mod path_set;
mod tree_diff;
mod walk;

pub(crate) use line::{LineAnswer, LineChange, first_parent_line};
pub(crate) use tree_diff::{PathChange, tree_delta};
pub use walk::AnswerSink;
pub(crate) use walk::commit_tree;
use walk::{WalkShared, walk_in_parts};

/// Which commit counts as a path's last change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HistoryMode {
    /// What `git log -1 -- PATH` shows: git's default history simplification.
    #[default]
    Simplified,
    /// What `git log --first-parent -1 -- PATH` shows.
    FirstParent,
}

/// The commit that last changed a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastChange {
    pub commit: Oid,
    /// Committer time, seconds since the Unix epoch.
    pub time: i64,
    /// The walk reached the boundary of a shallow clone before finding the real change: the
    /// time is the boundary commit's, which is later than the real one.
    pub approximate: bool,
}

/// Answers already known for the walk from some commit: a path that reaches `commit` takes
/// its answer from `answers` instead of walking on.
pub struct KnownAnswers<'a> {
    pub commit: Oid,
    pub answers: &'a (dyn Fn(&[u8]) -> Option<LastChange> + Sync),
}

/// How a walk of history runs, beyond the commit it starts from and the paths it answers
/// for: by default git's simplified history, with no answers known beforehand, no progress
/// counters, and a reader of its own.
#[derive(Default)]
pub struct WalkOptions<'a> {
    mode: HistoryMode,
    known: &'a [KnownAnswers<'a>],
    progress: Option<&'a Progress>,
    reader: Option<ObjectReader<'a>>,
    threads: Option<usize>,
    on_answers: Option<&'a AnswerSink<'a>>,
    stop: Option<&'a AtomicBool>,
    split: Option<&'a AtomicBool>,
}

impl<'a> WalkOptions<'a> {
    /// Which commit counts as a path's last change.
    pub fn mode(self, mode: HistoryMode) -> Self {
        WalkOptions { mode, ..self }
    }

    /// Answers already known for the walk from some commits: a path's walk ends at any
    /// commit of `known`, with the answer found there.
    pub fn known(self, known: &'a [KnownAnswers<'a>]) -> Self {
        WalkOptions { known, ..self }
    }

    /// Counters the walk updates as it goes, for a progress display.
    pub fn progress(self, progress: Option<&'a Progress>) -> Self {
        WalkOptions { progress, ..self }
    }

    /// Reads objects through `reader` (of the walk's repository), which keeps the objects it
    /// has already resolved: HEAD's trees, when the caller just read them.
    pub(crate) fn reader(self, reader: ObjectReader<'a>) -> Self {
        WalkOptions {
            reader: Some(reader),
            ..self
        }
    }

    /// At most this many threads (by default, as many as there are cores, up to four). A
    /// walk on more than one thread is cut into parts by path, and each part reads every
    /// commit: faster, but not cheaper.
    pub fn threads(self, threads: usize) -> Self {
        WalkOptions {
            threads: Some(threads.max(1)),
            ..self
        }
    }

    /// Tells `on_answers` each answer as soon as it is final, with the path's place in the
    /// paths asked about (every place, for a path asked about more than once), from the
    /// walk's threads: most paths are answered long before the walk ends.
    pub fn on_answers(self, on_answers: &'a AnswerSink<'a>) -> Self {
        WalkOptions {
            on_answers: Some(on_answers),
            ..self
        }
    }

    /// A walk on one thread splits in two, soon after `split` is set, when enough paths are
    /// left and its commits cost enough to be worth sharing out: for a caller that had work
    /// for the other cores, and has no more. A walk that declines clears `split`; a walk split
    /// in two clears it once either part is done, and a core is free again.
    pub fn split_when(self, split: &'a AtomicBool) -> Self {
        WalkOptions {
            split: Some(split),
            ..self
        }
    }

    /// Stops the walk, with [`Error::Interrupted`], soon after `stop` is set.
    pub fn stop(self, stop: &'a AtomicBool) -> Self {
        WalkOptions {
            stop: Some(stop),
            ..self
        }
    }
}

/// Finds the last change of each of `paths` (as tracked in `head`), in one walk of history
/// that stops once every path is resolved. The result is index-aligned with `paths`. Paths
/// must exist in `head`'s tree. A path that ends in a slash names a directory, and the empty
/// path the root: their last change is the last commit that changed their list of entries
/// (names and kinds; not the entries' content or file modes).
pub fn last_change_times(
    repo: &Repository,
    head: Oid,
    paths: &[&[u8]],
    options: WalkOptions<'_>,
) -> Result<Vec<LastChange>, Error> {
    let WalkOptions {
        mode,
        known,
        progress,
        reader,
        threads,
        on_answers,
        stop,
        split,
    } = options;
    let reader = match reader {
        Some(reader) => reader,
        None => ObjectReader::new(repo)?,
    };
    let shallow_boundary = shallow_commits(repo)?;
    // Paths are numbered in byte order, so that the paths below any directory form one
    // contiguous range of numbers and sets of paths can be bit sets.
    let paths_sorted = paths.is_sorted();
    let mut table: Vec<&[u8]> = paths.to_vec();
    if !paths_sorted {
        table.sort_unstable();
    }
    table.dedup();
    Progress::add(progress.map(|p| &p.paths_to_resolve), table.len());
    // The walk numbers paths in the table; the caller knows them by their places in `paths`.
    let places: Option<Vec<Vec<u32>>> = match on_answers {
        Some(_) if !paths_sorted || table.len() != paths.len() => {
            let mut places = vec![Vec::new(); table.len()];
            for (place, path) in paths.iter().enumerate() {
                let rank = table
                    .binary_search(path)
                    .expect("every path is in the table");
                places[rank].push(place as u32);
            }
            Some(places)
        }
        _ => None,
    };
    let renumbered = |news: Vec<(u32, LastChange)>| {
        if let (Some(places), Some(tell)) = (&places, on_answers) {
            let news = news
                .into_iter()
                .flat_map(|(rank, answer)| {
                    places[rank as usize]
                        .iter()
                        .map(move |&place| (place, answer))
                })
                .collect();
            tell(news);
        }
    };
    let shared = WalkShared {
        head,
        mode,
        known,
        shallow_boundary: &shallow_boundary,
        progress,
        threads: threads.unwrap_or_else(worker_threads),
        on_answers: match &places {
            Some(_) => Some(&renumbered),
            None => on_answers,
        },
        stop,
        split,
        abandon: None,
    };
    let answers = walk_in_parts(repo, reader, &table, shared)?;

    let answers: Vec<LastChange> = answers
        .into_iter()
        .zip(&table)
        .map(|(answer, path)| {
            answer.ok_or_else(|| Error::Corrupt {
                what: format!(
                    "the history of {} (not found in HEAD)",
                    String::from_utf8_lossy(path)
                ),
                cause: git2::Error::from_str("path not tracked in HEAD"),
            })
        })
        .collect::<Result<_, _>>()?;
    // Callers usually pass sorted, distinct paths: then the table is their order.
    if paths_sorted && table.len() == paths.len() {
        return Ok(answers);
    }
    let by_path: HashMap<&[u8], LastChange> = table.iter().copied().zip(answers).collect();
    Ok(paths.iter().map(|path| by_path[path]).collect())
}

/// The commits at which a shallow clone's history was cut. libgit2 already treats them as
/// root commits; the list tells which answers are only approximate.
fn shallow_commits(repo: &Repository) -> Result<FxHashSet<Oid>, Error> {
    if !repo.is_shallow() {
        return Ok(FxHashSet::default());
    }
    let file = repo.commondir().join("shallow");
    let text = std::fs::read_to_string(&file).map_err(|cause| Error::Io {
        context: "cannot read the shallow clone's boundary list",
        path: file.clone(),
        cause,
    })?;
    Ok(text
        .lines()
        .filter_map(|line| Oid::from_str(line.trim()).ok())
        .collect())
}

fn malformed(kind: &str, id: Oid) -> Error {
    Error::Corrupt {
        what: format!("{kind} {id}"),
        cause: git2::Error::from_str("the object is malformed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_git::{command, commit_files_at, git};

    /// Every answer is told once, as soon as it is final, by the places of its path among
    /// the paths asked about (unsorted, one of them twice), and equals the one returned.
    #[test]
    fn answers_are_told_by_the_places_asked_about() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        commit_files_at(root, 100, &[("a", "1"), ("b", "1"), ("d/x", "1")]);
        commit_files_at(root, 200, &[("b", "2")]);
        commit_files_at(root, 300, &[("a", "3")]);
        let repo = Repository::open(root).unwrap();
        let head = repo.head().unwrap().target().unwrap();

        let told = std::sync::Mutex::new(Vec::new());
        let tell = |news: Vec<(u32, LastChange)>| told.lock().unwrap().extend(news);
        for paths in [
            vec![&b"b"[..], b"a", b"d/x", b"a"],
            vec![&b"a"[..], b"b", b"d/x"],
        ] {
            told.lock().unwrap().clear();
            let options = WalkOptions::default().on_answers(&tell);
            let answers = last_change_times(&repo, head, &paths, options).unwrap();
            let times: Vec<i64> = answers.iter().map(|answer| answer.time).collect();
            let expected: Vec<i64> = paths
                .iter()
                .map(|path| match *path {
                    b"a" => 300,
                    b"b" => 200,
                    _ => 100,
                })
                .collect();
            assert_eq!(times, expected);
            let mut told = std::mem::take(&mut *told.lock().unwrap());
            told.sort_by_key(|(place, _)| *place);
            let told: Vec<(u32, LastChange)> = told;
            let returned: Vec<(u32, LastChange)> = (0..paths.len() as u32).zip(answers).collect();
            assert_eq!(told, returned, "{paths:?}");
        }

        let stop = AtomicBool::new(true);
        let options = WalkOptions::default().stop(&stop);
        let stopped = last_change_times(&repo, head, &[b"a"], options);
        assert!(matches!(stopped, Err(Error::Interrupted)));
    }

    /// A walk asked to split answers as git does, and lowers the flag once a part is done, so
    /// that its caller stops holding the answers back for the core that part leaves free.
    #[test]
    fn a_walk_split_on_request_answers_as_git_and_lowers_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        // 800 files in 40 directories; after the first commit, each commit changes a file in
        // half of the directories: a walk costly enough to split, with paths enough left.
        let path = |directory: usize, file: usize| format!("d{directory}/f{file}");
        let paths: Vec<String> = (0..40)
            .flat_map(|directory| (0..20).map(move |file| path(directory, file)))
            .collect();
        for round in 0..31 {
            let changed: Vec<String> = match round {
                0 => paths.clone(),
                _ => (0..40)
                    .filter(|directory| directory % 2 == round % 2)
                    .map(|directory| path(directory, round / 2))
                    .collect(),
            };
            let files: Vec<(String, String)> = changed
                .into_iter()
                .map(|path| (path, format!("{round}")))
                .collect();
            commit_files_at(root, 100 + round as i64, &files);
        }
        let repo = Repository::open(root).unwrap();
        let head = repo.head().unwrap().target().unwrap();
        let keys: Vec<&[u8]> = paths.iter().map(|path| path.as_bytes()).collect();

        let split = AtomicBool::new(true);
        let options = WalkOptions::default().threads(1).split_when(&split);
        let answers = last_change_times(&repo, head, &keys, options).unwrap();
        for (path, answer) in paths.iter().zip(&answers).step_by(13) {
            let output = command(root)
                .args(["log", "-1", "--format=%ct", "--", path])
                .output()
                .unwrap();
            let time: i64 = String::from_utf8(output.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(answer.time, time, "{path}");
        }
        if crate::workers::worker_threads() > 1 {
            assert!(!split.load(std::sync::atomic::Ordering::Relaxed));
        }
    }
}
