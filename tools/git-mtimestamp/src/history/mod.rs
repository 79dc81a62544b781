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
//! [`EntryKind`]) standing in for a file's content. In the table of paths a directory is its
//! path followed by a slash, and the root is the empty path, so that a directory's key sorts
//! right before everything below it.
//!
//! With `--first-parent`, git compares a commit only with its first parent, so a path travels
//! down the first-parent line until the commit at which its current content arrived there.
//!
//! The answer for a path depends only on the path and the commit the walk starts from, so
//! answers found earlier for some commit end a path's walk as soon as it reaches that commit.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository};

use crate::objects::{
    CommitHeader, EntryKind, common_prefix, entry_length, git_order, parse_commit, parse_entry,
};
use crate::odb::{Object, ObjectReader};

use crate::error::Error;
use crate::progress::Progress;
use crate::workers::worker_threads;

mod line;
mod path_set;
mod tree_diff;

pub(crate) use line::{LineAnswer, LineChange, first_parent_line};
use path_set::PathSet;
pub(crate) use tree_diff::{MODE_TREE, PathChange, tree_delta};

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

/// Finds the last change of each of `paths` (as tracked in `head`), in one walk of history
/// that stops once every path is resolved. The result is index-aligned with `paths`. Paths
/// must exist in `head`'s tree. A path that ends in a slash names a directory, and the empty
/// path the root: their last change is the last commit that changed their list of entries
/// (names and kinds; not the entries' content or file modes).
pub fn last_change_times(
    repo: &Repository,
    head: Oid,
    paths: &[&[u8]],
    mode: HistoryMode,
) -> Result<Vec<LastChange>, Error> {
    last_change_times_with(repo, head, paths, mode, &[], None)
}

/// [`last_change_times`], ending a path's walk at any commit of `known`.
pub fn last_change_times_with(
    repo: &Repository,
    head: Oid,
    paths: &[&[u8]],
    mode: HistoryMode,
    known: &[KnownAnswers<'_>],
    progress: Option<&Progress>,
) -> Result<Vec<LastChange>, Error> {
    let reader = ObjectReader::new(repo)?;
    last_change_times_reading(repo, reader, head, paths, mode, known, progress)
}

/// [`last_change_times_with`] reading objects through `reader` (of `repo`), which keeps
/// the objects it has already resolved: HEAD's trees, when the caller just read them.
pub(crate) fn last_change_times_reading(
    repo: &Repository,
    reader: ObjectReader<'_>,
    head: Oid,
    paths: &[&[u8]],
    mode: HistoryMode,
    known: &[KnownAnswers<'_>],
    progress: Option<&Progress>,
) -> Result<Vec<LastChange>, Error> {
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
    let shared = WalkShared {
        head,
        mode,
        known,
        shallow_boundary: &shallow_boundary,
        progress,
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

/// Walks history for `table`'s paths, in parts on separate threads when there are enough
/// paths. A path's answer depends only on the path (each commit decides each path on its
/// own), so the sorted table can be cut into contiguous parts walked independently. Each
/// part reads every commit and the directories above its own paths only: on two cores the
/// reads that both parts make (commits, the root tree and the directories the cut runs
/// through) cost far less than the reads split between them. Each walk gets its own
/// repository handle and an equal share of the object cache's budget.
fn walk_in_parts(
    repo: &Repository,
    mut reader: ObjectReader<'_>,
    table: &[&[u8]],
    shared: WalkShared<'_>,
) -> Result<Vec<Option<LastChange>>, Error> {
    let parts = (table.len() / MIN_PATHS_PER_PART).clamp(1, worker_threads().min(MAX_PARTS));
    if parts == 1 {
        return walk_history(reader, table, shared);
    }
    let budget = ObjectReader::CACHE_BYTES / parts;
    reader.limit_cache(budget);
    let (packs, replacements) = (reader.packs(), reader.replacements());
    let part_len = table.len().div_ceil(parts);
    let git_dir = repo.path();
    std::thread::scope(|scope| {
        let others: Vec<_> = table
            .chunks(part_len)
            .skip(1)
            .map(|part| {
                let (packs, replacements) = (Arc::clone(&packs), Arc::clone(&replacements));
                scope.spawn(move || {
                    let repo = crate::odb::reopen_despite_grafts(git_dir)
                        .map_err(Error::git("cannot open the repository again"))?;
                    let reader = ObjectReader::sharing(&repo, packs, replacements, budget)?;
                    walk_history(reader, part, shared)
                })
            })
            .collect();
        let mut answers = walk_history(reader, &table[..part_len], shared)?;
        for other in others {
            answers.extend(other.join().expect("history walks do not panic")?);
        }
        Ok(answers)
    })
}

/// What every part of a walk shares.
#[derive(Clone, Copy)]
struct WalkShared<'a> {
    head: Oid,
    mode: HistoryMode,
    known: &'a [KnownAnswers<'a>],
    shallow_boundary: &'a HashSet<Oid>,
    progress: Option<&'a Progress>,
}

/// Chosen, not measured: with fewer paths per part a second walk mostly repeats the
/// first one's commit reads. Incremental syncs walk a few paths and stay on one thread.
const MIN_PATHS_PER_PART: usize = 256;
/// Every part reads all commits and the root tree again, so parts stop paying beyond a few.
/// Only two parts on two cores were measured (1.5 times faster on the bench repositories).
const MAX_PARTS: usize = 4;

/// One walk of history for the paths of `table` (sorted, distinct), index-aligned answers.
fn walk_history(
    reader: ObjectReader<'_>,
    table: &[&[u8]],
    shared: WalkShared<'_>,
) -> Result<Vec<Option<LastChange>>, Error> {
    let WalkShared {
        head,
        mode,
        known,
        shallow_boundary,
        progress,
    } = shared;
    let mut walk = Walk {
        reader,
        shallow: shallow_boundary,
        table,
        trees: TreeCache::default(),
        commits: CommitCache::default(),
        queue: BinaryHeap::new(),
        pending: HashMap::new(),
        order: 0,
    };
    let mut answers: Vec<Option<LastChange>> = vec![None; table.len()];

    if !table.is_empty() {
        walk.push(head, PathSet::full(table.len()))?;
    }
    let mut commits_walked = 0;
    while let Some((commit_id, mut unresolved)) = walk.pop() {
        // Every part walks the same commits: the count shown is the furthest part's.
        commits_walked += 1;
        if let Some(progress) = progress {
            progress
                .commits_walked
                .fetch_max(commits_walked, std::sync::atomic::Ordering::Relaxed);
        }
        let commit = walk
            .commits
            .take(&mut walk.reader, walk.shallow, commit_id)?;
        if let Some(known) = known.iter().find(|k| k.commit == commit_id) {
            for rank in unresolved.clone().iter() {
                if let Some(answer) = (known.answers)(table[rank]) {
                    answers[rank] = Some(answer);
                    unresolved.remove(rank);
                    Progress::add(progress.map(|p| &p.paths_resolved), 1);
                }
            }
        }
        let parent_count = match mode {
            HistoryMode::Simplified => commit.parents.len(),
            HistoryMode::FirstParent => commit.parents.len().min(1),
        };
        for &parent_id in &commit.parents[..parent_count] {
            if unresolved.is_empty() {
                break;
            }
            let parent_tree = walk
                .commits
                .get(&mut walk.reader, walk.shallow, parent_id)?
                .tree;
            let mut changed = PathSet::empty(table.len());
            walk.find_changes(commit.tree, parent_tree, &unresolved, &mut changed)?;
            let same = unresolved.minus(&changed);
            if !same.is_empty() {
                walk.push(parent_id, same)?;
            }
            unresolved = changed;
        }
        // Paths that differ from every parent (or reached a root commit) changed here.
        let found = LastChange {
            commit: commit_id,
            time: commit.time,
            approximate: shallow_boundary.contains(&commit_id),
        };
        for rank in unresolved.iter() {
            answers[rank] = Some(found);
            Progress::add(progress.map(|p| &p.paths_resolved), 1);
        }
    }

    Ok(answers)
}

/// The commits at which a shallow clone's history was cut. libgit2 already treats them as
/// root commits; the list tells which answers are only approximate.
fn shallow_commits(repo: &Repository) -> Result<HashSet<Oid>, Error> {
    if !repo.is_shallow() {
        return Ok(HashSet::new());
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

struct Walk<'r, 't> {
    reader: ObjectReader<'r>,
    shallow: &'t HashSet<Oid>,
    table: &'t [&'t [u8]],
    trees: TreeCache,
    commits: CommitCache,
    /// Commits with paths waiting, newest first. The order only affects how well paths travel
    /// together, never the answers: each commit decides each path on its own.
    queue: BinaryHeap<(i64, u64, Oid)>,
    pending: HashMap<Oid, PathSet>,
    order: u64,
}

impl Walk<'_, '_> {
    fn push(&mut self, commit: Oid, paths: PathSet) -> Result<(), Error> {
        if let Some(waiting) = self.pending.get_mut(&commit) {
            waiting.union_with(&paths);
            return Ok(());
        }
        let time = self
            .commits
            .get(&mut self.reader, self.shallow, commit)?
            .time;
        self.order += 1;
        // Among equal times the commit queued first comes first, as in git's queue.
        self.queue.push((time, u64::MAX - self.order, commit));
        self.pending.insert(commit, paths);
        Ok(())
    }

    fn pop(&mut self) -> Option<(Oid, PathSet)> {
        let (_, _, commit) = self.queue.pop()?;
        let paths = self.pending.remove(&commit)?;
        Some((commit, paths))
    }

    /// Adds to `changed` every path of `paths` whose entry in tree `ours` differs from its
    /// entry in tree `theirs` (or is missing there).
    fn find_changes(
        &mut self,
        ours: Oid,
        theirs: Oid,
        paths: &PathSet,
        changed: &mut PathSet,
    ) -> Result<(), Error> {
        self.compare_trees(ours, theirs, 0, 0, self.table.len(), paths, changed)
    }

    /// Compares two trees at directory depth `depth` (bytes of path prefix), for the paths
    /// numbered `start..end`, which are exactly the table's paths below that directory.
    /// Subtrees with equal ids, and subtrees holding none of `paths`, are not read.
    ///
    /// The directory's own key (its path and a slash, or the empty path for the root) sorts
    /// before everything below it, so it is the first of the range when it is tracked. It
    /// changed when the two trees' lists of names and kinds differ: a changed file or a chmod
    /// changes the tree's id but not the list.
    #[allow(clippy::too_many_arguments)]
    fn compare_trees(
        &mut self,
        ours: Oid,
        theirs: Oid,
        depth: usize,
        start: usize,
        end: usize,
        paths: &PathSet,
        changed: &mut PathSet,
    ) -> Result<(), Error> {
        if ours == theirs || !paths.any_in(start, end) {
            return Ok(());
        }
        let own_key = (start < end && self.table[start].len() == depth && paths.contains(start))
            .then_some(start);
        let mut list_changed = false;
        let our_tree = self.trees.get(&mut self.reader, ours)?;
        let their_tree = self.trees.get(&mut self.reader, theirs)?;
        let (a, b) = (our_tree.data(), their_tree.data());
        let (mut i, mut j) = (0, 0);
        while i < a.len() {
            // Consecutive versions of a tree mostly share their entries byte for byte, at the
            // same offsets: skip whole entries that lie inside an identical run.
            let same = common_prefix(&a[i..], &b[j..]);
            let mut skipped = 0;
            while let Some(length) = entry_length(&a[i + skipped..]) {
                if skipped + length > same {
                    break;
                }
                skipped += length;
            }
            i += skipped;
            j += skipped;
            if i >= a.len() {
                break;
            }
            let (entry, length) = parse_entry(&a[i..]).ok_or_else(|| malformed("tree", ours))?;
            i += length;
            // Both trees are in git's order, so their entries can be matched in one pass.
            let mut matched = None;
            while j < b.len() {
                let (other, other_length) =
                    parse_entry(&b[j..]).ok_or_else(|| malformed("tree", theirs))?;
                match git_order(other.name, other.is_tree(), entry.name, entry.is_tree()) {
                    Ordering::Less => {
                        // A name only the other tree has.
                        list_changed = true;
                        j += other_length;
                    }
                    Ordering::Equal => {
                        matched = Some(other);
                        j += other_length;
                        break;
                    }
                    Ordering::Greater => break,
                }
            }
            match &matched {
                Some(other) if other.id == entry.id && other.mode == entry.mode => continue,
                Some(other) => {
                    list_changed |= EntryKind::of_mode(other.mode) != EntryKind::of_mode(entry.mode)
                }
                None => list_changed = true,
            }
            let sub_start = own_key.map_or(start, |key| key + 1);
            let (sub_start, sub_end) =
                self.range_below(sub_start, end, depth, entry.name, entry.is_tree());
            if sub_start == sub_end {
                continue;
            }
            match matched {
                Some(other) if entry.is_tree() && other.is_tree() => {
                    let sub_depth = depth + entry.name.len() + 1;
                    self.compare_trees(
                        entry.oid(),
                        other.oid(),
                        sub_depth,
                        sub_start,
                        sub_end,
                        paths,
                        changed,
                    )?;
                }
                // A changed file, or a directory the other side lacks: all of it changed.
                _ => changed.copy_range_from(paths, sub_start, sub_end),
            }
        }
        if let Some(key) = own_key
            && (list_changed || j < b.len())
        {
            changed.insert(key);
        }
        Ok(())
    }

    /// The numbers of the table's paths that are `name` (a file) or lie below `name/` (a
    /// directory), among `start..end`, whose paths share the first `depth` bytes.
    fn range_below(
        &self,
        start: usize,
        end: usize,
        depth: usize,
        name: &[u8],
        is_tree: bool,
    ) -> (usize, usize) {
        let slice = &self.table[start..end];
        let below = |path: &&[u8]| -> Ordering {
            let tail = &path[depth..];
            let key_len = name.len() + usize::from(is_tree);
            let common = tail.len().min(name.len());
            match tail[..common].cmp(&name[..common]) {
                Ordering::Equal => {}
                other => return other,
            }
            if tail.len() < name.len() {
                return Ordering::Less;
            }
            if !is_tree {
                return tail.len().cmp(&key_len);
            }
            // A directory: everything that continues with '/' is inside.
            match tail.get(name.len()) {
                None => Ordering::Less,
                Some(&b'/') => Ordering::Equal,
                Some(&b) => b.cmp(&b'/'),
            }
        };
        let low = slice.partition_point(|p| below(p) == Ordering::Less);
        let high = slice.partition_point(|p| below(p) != Ordering::Greater);
        (start + low, start + high)
    }
}

fn malformed(kind: &str, id: Oid) -> Error {
    Error::Corrupt {
        what: format!("{kind} {id}"),
        cause: git2::Error::from_str("the object is malformed"),
    }
}

/// Commits read but not yet walked past: a commit is read once when a child compares with it,
/// and its header is dropped when its own turn comes. Commits are read as `git log` reads
/// them: a replaced commit as its replacement (by the reader), a grafted one with the graft's
/// parents, and a shallow clone's boundary commits without parents.
#[derive(Default)]
struct CommitCache {
    commits: HashMap<Oid, CommitHeader>,
}

impl CommitCache {
    fn get(
        &mut self,
        reader: &mut ObjectReader<'_>,
        shallow: &HashSet<Oid>,
        id: Oid,
    ) -> Result<&CommitHeader, Error> {
        match self.commits.entry(id) {
            std::collections::hash_map::Entry::Occupied(entry) => Ok(entry.into_mut()),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let object = reader
                    .read(id)
                    .map_err(Error::corrupt(format!("commit {id}")))?;
                if object.kind != ObjectType::Commit {
                    return Err(malformed("commit", id));
                }
                let mut header =
                    parse_commit(object.data()).ok_or_else(|| malformed("commit", id))?;
                // As in git, a graft is found by the id asked for, also when a replace ref
                // replaces that commit.
                if let Some(parents) = reader.grafted_parents(id) {
                    header.parents = parents.to_vec();
                }
                // A shallow clone's boundary commits have parents the clone does not hold
                // (git's shallow list overrides a graft of the same commit).
                if shallow.contains(&id) {
                    header.parents.clear();
                }
                Ok(entry.insert(header))
            }
        }
    }

    fn take(
        &mut self,
        reader: &mut ObjectReader<'_>,
        shallow: &HashSet<Oid>,
        id: Oid,
    ) -> Result<CommitHeader, Error> {
        self.get(reader, shallow, id)?;
        Ok(self.commits.remove(&id).expect("just read"))
    }
}

/// Trees of the last commits visited. Consecutive commits share most subtrees, so a parent's
/// trees are usually read once and reused when the parent's own turn comes. Two generations
/// bound the memory: when the young one is full, the old one is dropped. The reader's own
/// cache, keyed by place in a pack, would also answer; this one spares the index lookup.
#[derive(Default)]
struct TreeCache {
    young: HashMap<Oid, Object>,
    old: HashMap<Oid, Object>,
}

impl TreeCache {
    /// Small on purpose: a parent's trees are reused within a few commits or not at all.
    const GENERATION: usize = 512;

    fn get(&mut self, reader: &mut ObjectReader<'_>, id: Oid) -> Result<Object, Error> {
        self.get_or(id, |id| read_tree(reader, id))
    }

    /// The tree `id`, from this cache or else from `read`.
    fn get_or(
        &mut self,
        id: Oid,
        read: impl FnOnce(Oid) -> Result<Object, Error>,
    ) -> Result<Object, Error> {
        if let Some(tree) = self.young.get(&id) {
            return Ok(tree.clone());
        }
        let tree = match self.old.remove(&id) {
            Some(tree) => tree,
            None => read(id)?,
        };
        if self.young.len() >= Self::GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(id, tree.clone());
        Ok(tree)
    }
}

/// The tree of commit `id`, as `git log` reads the commit (see [`CommitCache`]).
pub(crate) fn commit_tree(reader: &mut ObjectReader<'_>, id: Oid) -> Result<Oid, Error> {
    CommitCache::default()
        .take(reader, &HashSet::new(), id)
        .map(|commit| commit.tree)
}

fn read_tree(reader: &mut ObjectReader<'_>, id: Oid) -> Result<Object, Error> {
    let object = reader
        .read(id)
        .map_err(Error::corrupt(format!("tree {id}")))?;
    if object.kind != ObjectType::Tree {
        return Err(malformed("tree", id));
    }
    Ok(object)
}
