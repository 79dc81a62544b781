//! One walk of history for many paths, in parts on several threads when there are enough
//! paths, and the caches of commits and trees that it, the first-parent line and the tree
//! diffs read through.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

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
    let parts = (table.len() / MIN_PATHS_PER_PART).clamp(1, shared.threads.min(MAX_PARTS));
    if parts == 1 {
        let Some(split) = shared.split.filter(|_| worker_threads() > 1) else {
            let start = from_head(shared.head, table.len());
            return walk_history(reader, table, 0, shared, start, None);
        };
        return walk_splitting_on_request(repo, reader, table, shared, split);
    }
    let budget = ObjectReader::CACHE_BYTES / parts;
    reader.limit_cache(budget);
    let (packs, replacements) = (reader.packs(), reader.replacements());
    let part_len = table.len().div_ceil(parts);
    let git_dir = repo.path();
    std::thread::scope(|scope| {
        let others: Vec<_> = table
            .chunks(part_len)
            .enumerate()
            .skip(1)
            .map(|(at, part)| {
                let (packs, replacements) = (Arc::clone(&packs), Arc::clone(&replacements));
                scope.spawn(move || {
                    let repo = crate::odb::reopen_despite_grafts(git_dir)
                        .map_err(Error::git("cannot open the repository again"))?;
                    let reader = ObjectReader::sharing(&repo, packs, replacements, budget)?;
                    let start = from_head(shared.head, part.len());
                    walk_history(reader, part, at * part_len, shared, start, None)
                })
            })
            .collect();
        let first = &table[..part_len];
        let start = from_head(shared.head, first.len());
        let mut answers = walk_history(reader, first, 0, shared, start, None)?;
        for other in others {
            answers.extend(other.join().expect("history walks do not panic")?);
        }
        Ok(answers)
    })
}

/// A walk in one part that, once `split` is set, hands half of the paths still travelling to
/// a second walk on a thread of its own (each with half of the cache's budget). Its caller
/// sets `split` when another core has nothing left to do: a sync stamps files on the other
/// cores while the walk answers them, and splits the walk only when the stamping has caught
/// up with it. Every part reads every commit, so two parts from the start cost a cold sync of
/// dagger/dagger (whose files are mostly answered early) a core's worth of work the stamping
/// needed; on git/git most of the walk comes after the files are stamped.
fn walk_splitting_on_request(
    repo: &Repository,
    reader: ObjectReader<'_>,
    table: &[&[u8]],
    shared: WalkShared<'_>,
    split: &AtomicBool,
) -> Result<Vec<Option<LastChange>>, Error> {
    let (packs, replacements) = (reader.packs(), reader.replacements());
    let git_dir = repo.path();
    // Stops the second walk when the first one fails.
    let failed = AtomicBool::new(false);
    // Whichever part ends first leaves its core to the stamping: the caller holds what the
    // walk answers only while the flag is up. Parts rarely end together; on rust-lang/cargo
    // one ended 40 ms before the other, with a core idle and every answer waiting. The pages
    // of the packs mapped so far are let go of then (they stay in the page cache), or the
    // stamping would add its memory to theirs: the larger synthetic repository peaked at
    // 275 MB instead of 256 MB.
    let part_ended = || {
        split.store(false, std::sync::atomic::Ordering::Relaxed);
        packs.release_pages();
    };
    std::thread::scope(|scope| {
        let second = std::cell::RefCell::new(None);
        let offload = |start: Vec<(Oid, PathSet)>| {
            let (packs, replacements) = (Arc::clone(&packs), Arc::clone(&replacements));
            let shared = WalkShared {
                abandon: Some(&failed),
                ..shared
            };
            let part_ended = &part_ended;
            *second.borrow_mut() = Some(scope.spawn(move || {
                let walked = (|| {
                    let repo = crate::odb::reopen_despite_grafts(git_dir)
                        .map_err(Error::git("cannot open the repository again"))?;
                    let budget = ObjectReader::CACHE_BYTES / 2;
                    let reader = ObjectReader::sharing(&repo, packs, replacements, budget)?;
                    walk_history(reader, table, 0, shared, start, None)
                })();
                part_ended();
                walked
            }));
        };
        let start = from_head(shared.head, table.len());
        let first = walk_history(reader, table, 0, shared, start, Some((split, &offload)));
        part_ended();
        if first.is_err() {
            failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let second = second
            .into_inner()
            .map(|second| second.join().expect("history walks do not panic"));
        let mut answers = first?;
        if let Some(second) = second {
            for (answer, other) in answers.iter_mut().zip(second?) {
                if answer.is_none() {
                    *answer = other;
                }
            }
        }
        Ok(answers)
    })
}

/// Where a walk of `paths` paths starts: all of them at `head`.
fn from_head(head: Oid, paths: usize) -> Vec<(Oid, PathSet)> {
    vec![(head, PathSet::full(paths))]
}

/// Hands the paths given to it, with the commits they wait at, to a walk of their own.
type Offload<'a> = dyn Fn(Vec<(Oid, PathSet)>) + 'a;

/// A walk of one part splits only with this many paths still travelling: each part reads
/// every commit again.
const MIN_PATHS_TO_SPLIT: usize = 256;

/// What every part of a walk shares.
#[derive(Clone, Copy)]
pub(super) struct WalkShared<'a> {
    pub head: Oid,
    pub mode: HistoryMode,
    pub known: &'a [KnownAnswers<'a>],
    pub shallow_boundary: &'a FxHashSet<Oid>,
    pub progress: Option<&'a Progress>,
    /// How many threads the walk may use.
    pub threads: usize,
    /// Told each answer as soon as it is final, by its path's number in the table.
    pub on_answers: Option<&'a AnswerSink<'a>>,
    /// Set by the caller to stop the walk, which then ends with [`Error::Interrupted`].
    pub stop: Option<&'a AtomicBool>,
    /// Set by the caller when a walk in one part should split in two (see
    /// [`walk_splitting_on_request`]).
    pub split: Option<&'a AtomicBool>,
    /// Set when another part failed: this one is of no more use.
    pub abandon: Option<&'a AtomicBool>,
}

impl WalkShared<'_> {
    fn stopped(&self) -> bool {
        let set = |flag: Option<&AtomicBool>| {
            flag.is_some_and(|flag| flag.load(std::sync::atomic::Ordering::Relaxed))
        };
        set(self.stop) || set(self.abandon)
    }
}

/// Where a walk's answers go as soon as they are final: each path's number in the table of
/// paths walked, with its answer. Called from the walk's threads, as it goes.
pub type AnswerSink<'a> = dyn Fn(Vec<(u32, LastChange)>) + Sync + 'a;

/// Chosen, not measured: with fewer paths per part a second walk mostly repeats the
/// first one's commit reads. Incremental syncs walk a few paths and stay on one thread.
const MIN_PATHS_PER_PART: usize = 256;
/// Every part reads all commits and the root tree again, so parts stop paying beyond a few.
/// Only two parts on two cores were measured (1.5 times faster on the bench repositories).
const MAX_PARTS: usize = 4;

/// How many commits a walk reads between looks at how many pages of files the process has
/// mapped (see [`ObjectReader::release_pack_pages_over_budget`]).
const CHECK_PAGES_EVERY: usize = 256;

/// One walk of history for the paths of `table` (sorted, distinct), index-aligned answers,
/// from the commits of `start`, each with the paths that wait there. `table` starts at number
/// `first` of the whole walk's table: the numbers its answers are told by. Once `offload`'s
/// flag is set, the walk hands half of its paths to `offload` (see
/// [`walk_splitting_on_request`]).
fn walk_history(
    reader: ObjectReader<'_>,
    table: &[&[u8]],
    first: usize,
    shared: WalkShared<'_>,
    start: Vec<(Oid, PathSet)>,
    mut offload: Option<(&AtomicBool, &Offload<'_>)>,
) -> Result<Vec<Option<LastChange>>, Error> {
    let WalkShared {
        mode,
        known,
        shallow_boundary,
        progress,
        on_answers,
        ..
    } = shared;
    // The whole table's numbers fit in a u32: an index holds fewer entries.
    let number = |rank: usize| (first + rank) as u32;
    let mut walk = Walk {
        reader,
        shallow: shallow_boundary,
        table,
        trees: TreeCache::default(),
        commits: CommitCache::default(),
        queue: BinaryHeap::new(),
        pending: FxHashMap::default(),
        order: 0,
        compared: 0,
        spans: Spans::of(table),
        key: Vec::new(),
    };
    let mut answers: Vec<Option<LastChange>> = vec![None; table.len()];

    if !table.is_empty() {
        for (commit, paths) in start {
            walk.push(commit, paths)?;
        }
    }
    let mut commits_walked = 0;
    let mut cost = SplitCost::default();
    let mut told = Teller {
        sink: on_answers,
        held: Vec::new(),
        since: 0,
    };
    loop {
        if shared.stopped() {
            return Err(Error::Interrupted);
        }
        if let Some((split, handover)) = offload
            && split.load(std::sync::atomic::Ordering::Relaxed)
            && commits_walked >= SplitCost::FIRST_DECISION
        {
            // Asked once: split now, or never if too few paths are left or its commits cost
            // too little to share out, which the asker learns from the flag, cleared.
            offload = None;
            let halves = if cost.worth_splitting(commits_walked, walk.compared) {
                walk.split_off_half()
            } else {
                None
            };
            match halves {
                Some(handed) => {
                    walk.reader.limit_cache(ObjectReader::CACHE_BYTES / 2);
                    handover(handed);
                }
                None => split.store(false, std::sync::atomic::Ordering::Relaxed),
            }
        }
        let Some((commit_id, mut unresolved)) = walk.pop() else {
            break;
        };
        // Every part walks the same commits: the count shown is the furthest part's.
        commits_walked += 1;
        cost.note(commits_walked, walk.compared);
        if commits_walked % CHECK_PAGES_EVERY == 0 {
            walk.reader.release_pack_pages_over_budget();
        }
        if let Some(progress) = progress {
            progress
                .commits_walked
                .fetch_max(commits_walked, std::sync::atomic::Ordering::Relaxed);
        }
        let commit = walk
            .commits
            .take(&mut walk.reader, walk.shallow, commit_id)?;
        if let Some(known) = known.iter().find(|k| k.commit == commit_id) {
            let mut news = Vec::new();
            for rank in unresolved.clone().iter() {
                if let Some(answer) = (known.answers)(table[rank]) {
                    answers[rank] = Some(answer);
                    unresolved.remove(rank);
                    Progress::add(progress.map(|p| &p.paths_resolved), 1);
                    news.push((number(rank), answer));
                }
            }
            told.hold(news, commits_walked);
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
        let mut news = Vec::new();
        for rank in unresolved.iter() {
            answers[rank] = Some(found);
            Progress::add(progress.map(|p| &p.paths_resolved), 1);
            if on_answers.is_some() {
                news.push((number(rank), found));
            }
        }
        told.hold(news, commits_walked);
        told.tell_if_due(commits_walked);
    }
    told.tell_rest();

    Ok(answers)
}

/// What a walk's recent commits cost, in pairs of trees compared, to tell whether splitting
/// it would pay. Each part of a split walk reads every commit and compares its root trees
/// again, about two comparisons' worth; only the rest is shared out. Over windows of 256
/// commits, git/git's walk compared 1 to 3 pairs of trees per commit, rust-lang/cargo's 3 to
/// 10, and the synthetic repositories' 12 to 16. Split in two, git/git's cold sync used
/// 1.9 s of CPU instead of 1.2 s and ended no sooner; rust-lang/cargo's ended 18 ms later,
/// the stamping having lost its core to the walk; the larger synthetic one's ended after
/// 2.1 s instead of 3.2 s.
#[derive(Default)]
struct SplitCost {
    /// Commits walked and trees compared at the start of the current window, and the rate
    /// of the last whole one.
    window_start: (usize, usize),
    last_rate: Option<f64>,
}

impl SplitCost {
    const WINDOW: usize = 256;
    /// Asked before, the walk answers once it has walked this many commits, so that it
    /// knows what a commit costs.
    const FIRST_DECISION: usize = 16;
    /// Pairs compared per commit from which a split walk ends sooner for the core it takes,
    /// between the rates measured above.
    const WORTH_SPLITTING: f64 = 11.0;

    fn note(&mut self, commits_walked: usize, compared: usize) {
        let (commits_then, compared_then) = self.window_start;
        if commits_walked - commits_then >= Self::WINDOW {
            self.last_rate =
                Some((compared - compared_then) as f64 / (commits_walked - commits_then) as f64);
            self.window_start = (commits_walked, compared);
        }
    }

    /// Over the last whole window, or since the start when there is none yet.
    fn worth_splitting(&self, commits_walked: usize, compared: usize) -> bool {
        let rate = self
            .last_rate
            .unwrap_or(compared as f64 / commits_walked.max(1) as f64);
        rate >= Self::WORTH_SPLITTING
    }
}

/// Tells a walk's answers in batches: a long walk answers a path or two every few commits,
/// and telling each one woke the sync's threads tens of thousands of times on the synthetic
/// 50,000-commit repository (a tenth of its system time went to futex calls).
struct Teller<'s> {
    sink: Option<&'s AnswerSink<'s>>,
    held: Vec<(u32, LastChange)>,
    /// The number of commits walked when the oldest answer held was found.
    since: usize,
}

impl Teller<'_> {
    /// Answers are told once this many wait, or the oldest has waited this many commits.
    const BATCH: usize = 256;
    const COMMITS: usize = 64;

    fn hold(&mut self, news: Vec<(u32, LastChange)>, commits_walked: usize) {
        if self.sink.is_none() || news.is_empty() {
            return;
        }
        if self.held.is_empty() {
            self.since = commits_walked;
        }
        self.held.extend(news);
    }

    fn tell_if_due(&mut self, commits_walked: usize) {
        if !self.held.is_empty()
            && (self.held.len() >= Self::BATCH || commits_walked - self.since >= Self::COMMITS)
        {
            self.tell_rest();
        }
    }

    fn tell_rest(&mut self) {
        if let Some(tell) = self.sink.filter(|_| !self.held.is_empty()) {
            tell(std::mem::take(&mut self.held));
        }
    }
}

struct Walk<'r, 't> {
    reader: ObjectReader<'r>,
    shallow: &'t FxHashSet<Oid>,
    table: &'t [&'t [u8]],
    trees: TreeCache,
    commits: CommitCache,
    /// Commits with paths waiting, newest first. The order only affects how well paths travel
    /// together, never the answers: each commit decides each path on its own.
    queue: BinaryHeap<(i64, u64, Oid)>,
    pending: FxHashMap<Oid, PathSet>,
    order: u64,
    /// Pairs of trees compared so far (see [`SplitCost`]).
    compared: usize,
    spans: Spans<'t>,
    /// Where [`Walk::range_below`] puts together the path it looks up.
    key: Vec<u8>,
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

    /// Takes the upper half of the paths still travelling (by number) out of every commit
    /// they wait at, with those commits; None with fewer than [`MIN_PATHS_TO_SPLIT`] paths.
    /// Commits left with no path stay queued: a commit in the queue always has a set.
    fn split_off_half(&mut self) -> Option<Vec<(Oid, PathSet)>> {
        let mut travelling = PathSet::empty(self.table.len());
        for paths in self.pending.values() {
            travelling.union_with(paths);
        }
        let count = travelling.len();
        if count < MIN_PATHS_TO_SPLIT {
            return None;
        }
        let cut = travelling.iter().nth(count / 2)?;
        let mut handed = Vec::new();
        for (commit, paths) in &mut self.pending {
            let upper = paths.split_off(cut);
            if !upper.is_empty() {
                handed.push((*commit, upper));
            }
        }
        Some(handed)
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
        self.compared += 1;
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
        &mut self,
        start: usize,
        end: usize,
        depth: usize,
        name: &[u8],
        is_tree: bool,
    ) -> (usize, usize) {
        if start >= end {
            return (start, start);
        }
        self.key.clear();
        self.key.extend_from_slice(&self.table[start][..depth]);
        self.key.extend_from_slice(name);
        if is_tree {
            self.key.push(b'/');
        }
        // A span lies within its parent's; kept within `start..end` all the same.
        match self.spans.get(&self.key) {
            Some((low, high)) => {
                let low = low.clamp(start, end);
                (low, high.clamp(low, end))
            }
            None => (start, start),
        }
    }
}

/// Where the paths of a walk's table lie, by path: a file's number, and for a directory (its
/// path with the slash) the numbers of everything below it, its own entry included. A tree
/// entry's paths are one hash look-up away; the bisection of the table this replaced chased a
/// path's pointer at every step, 8% of dagger/dagger's walk.
struct Spans<'t> {
    of: FxHashMap<&'t [u8], (u32, u32)>,
}

impl<'t> Spans<'t> {
    /// The spans of `table`'s paths (sorted, distinct), in one pass: the paths below a
    /// directory are consecutive.
    fn of(table: &[&'t [u8]]) -> Spans<'t> {
        let mut of: FxHashMap<&'t [u8], (u32, u32)> = FxHashMap::default();
        of.reserve(table.len() * 3 / 2);
        // The directories leading to the path in hand, outermost first, from where they start.
        let mut open: Vec<(&'t [u8], u32)> = Vec::new();
        for (number, path) in table.iter().enumerate() {
            let number = number as u32;
            while let Some(&(directory, from)) = open.last() {
                if path.starts_with(directory) {
                    break;
                }
                of.insert(directory, (from, number));
                open.pop();
            }
            let known = open.last().map_or(0, |(directory, _)| directory.len());
            for (at, _) in path[known..]
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'/')
            {
                open.push((&path[..known + at + 1], number));
            }
            if !path.ends_with(b"/") {
                of.insert(path, (number, number + 1));
            }
        }
        for (directory, from) in open {
            of.insert(directory, (from, table.len() as u32));
        }
        Spans { of }
    }

    fn get(&self, path: &[u8]) -> Option<(usize, usize)> {
        self.of
            .get(path)
            .map(|&(low, high)| (low as usize, high as usize))
    }
}

/// Commits read but not yet walked past: a commit is read once when a child compares with it,
/// and its header is dropped when its own turn comes. Commits are read as `git log` reads
/// them: a replaced commit as its replacement (by the reader), a grafted one with the graft's
/// parents, and a shallow clone's boundary commits without parents.
#[derive(Default)]
pub(super) struct CommitCache {
    commits: FxHashMap<Oid, CommitHeader>,
}

impl CommitCache {
    pub(super) fn get(
        &mut self,
        reader: &mut ObjectReader<'_>,
        shallow: &FxHashSet<Oid>,
        id: Oid,
    ) -> Result<&CommitHeader, Error> {
        match self.commits.entry(id) {
            std::collections::hash_map::Entry::Occupied(entry) => Ok(entry.into_mut()),
            std::collections::hash_map::Entry::Vacant(entry) => {
                // The message is formatted only on failure: formatting it for every read was
                // 4% of dagger/dagger's walk.
                let object = reader
                    .read(id)
                    .map_err(|e| Error::corrupt(format!("commit {id}"))(e))?;
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
        shallow: &FxHashSet<Oid>,
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
    young: FxHashMap<Oid, Object>,
    old: FxHashMap<Oid, Object>,
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
        .take(reader, &FxHashSet::default(), id)
        .map(|commit| commit.tree)
}

pub(super) fn read_tree(reader: &mut ObjectReader<'_>, id: Oid) -> Result<Object, Error> {
    let object = reader
        .read(id)
        .map_err(|e| Error::corrupt(format!("tree {id}"))(e))?;
    if object.kind != ObjectType::Tree {
        return Err(malformed("tree", id));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each file is its own number; each directory spans its own entry (when the table has
    /// it) and everything below it, however its neighbours sort around it.
    #[test]
    fn spans_cover_each_directory_and_nothing_else() {
        let table: Vec<&[u8]> = vec![
            b"a", b"b.x", b"b/", b"b/c", b"b/d/", b"b/d/e", b"b0", b"c/f/g", b"c/h",
        ];
        let spans = Spans::of(&table);
        type Span = Option<(usize, usize)>;
        let expected: &[(&[u8], Span)] = &[
            (b"a", Some((0, 1))),
            (b"b.x", Some((1, 2))),
            (b"b/", Some((2, 6))),
            (b"b/c", Some((3, 4))),
            (b"b/d/", Some((4, 6))),
            (b"b/d/e", Some((5, 6))),
            (b"b0", Some((6, 7))),
            // Directories the table lists no entry of.
            (b"c/", Some((7, 9))),
            (b"c/f/", Some((7, 8))),
            (b"c/f/g", Some((7, 8))),
            (b"c/h", Some((8, 9))),
            (b"b", None),
            (b"c", None),
            (b"c/f", None),
            (b"d/", None),
        ];
        for (path, span) in expected {
            assert_eq!(spans.get(path), *span, "{}", String::from_utf8_lossy(path));
        }
        assert_eq!(spans.of.len(), 11);
    }

    /// A walk splits only where most of what a commit costs would be shared out: judged over
    /// the last whole window once there is one, over the commits so far before that.
    #[test]
    fn a_split_pays_only_for_walks_that_compare_many_trees_per_commit() {
        let mut cost = SplitCost::default();
        let mut compared = 0;
        for commit in 1..=SplitCost::WINDOW {
            compared += 20;
            cost.note(commit, compared);
        }
        assert!(cost.worth_splitting(SplitCost::WINDOW, compared));
        // git/git's kind of walk: a root comparison and a little more per commit.
        for commit in SplitCost::WINDOW + 1..=2 * SplitCost::WINDOW {
            compared += 2;
            cost.note(commit, compared);
        }
        assert!(!cost.worth_splitting(2 * SplitCost::WINDOW, compared));

        let early = SplitCost::default();
        assert!(early.worth_splitting(16, 16 * 12));
        assert!(!early.worth_splitting(16, 16 * 10));
    }
}
