//! One walk of history for many paths, in parts on several threads when there are enough
//! paths, and the caches of commits and trees that it, the first-parent line and the tree
//! diffs read through.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository};

use super::path_set::PathSet;
use super::{HistoryMode, KnownAnswers, LastChange, malformed};
use crate::error::Error;
use crate::objects::{
    CommitHeader, EntryKind, git_order, identical_entries, parse_commit, parse_entry,
};
use crate::odb::{Object, ObjectReader};
use crate::progress::Progress;
use crate::workers::worker_threads;

/// Walks history for `table`'s paths, in parts on separate threads when there are enough
/// paths. A path's answer depends only on the path (each commit decides each path on its
/// own), so the sorted table can be cut into contiguous parts walked independently. Each
/// part reads every commit and the directories above its own paths only: on two cores the
/// reads that both parts make (commits, the root tree and the directories the cut runs
/// through) cost far less than the reads split between them. Each walk gets its own
/// repository handle and an equal share of the object cache's budget.
pub(super) fn walk_in_parts(
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
pub(super) struct WalkShared<'a> {
    pub head: Oid,
    pub mode: HistoryMode,
    pub known: &'a [KnownAnswers<'a>],
    pub shallow_boundary: &'a HashSet<Oid>,
    pub progress: Option<&'a Progress>,
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
            let skipped = identical_entries(&a[i..], &b[j..]);
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

/// Commits read but not yet walked past: a commit is read once when a child compares with it,
/// and its header is dropped when its own turn comes. Commits are read as `git log` reads
/// them: a replaced commit as its replacement (by the reader), a grafted one with the graft's
/// parents, and a shallow clone's boundary commits without parents.
#[derive(Default)]
pub(super) struct CommitCache {
    commits: HashMap<Oid, CommitHeader>,
}

impl CommitCache {
    pub(super) fn get(
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

    pub(super) fn take(
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
pub(super) struct TreeCache {
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
    pub(super) fn get_or(
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

pub(super) fn read_tree(reader: &mut ObjectReader<'_>, id: Oid) -> Result<Object, Error> {
    let object = reader
        .read(id)
        .map_err(Error::corrupt(format!("tree {id}")))?;
    if object.kind != ObjectType::Tree {
        return Err(malformed("tree", id));
    }
    Ok(object)
}
