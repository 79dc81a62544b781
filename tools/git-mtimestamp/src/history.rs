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
//! paths travel down the graph in batches, each commit is compared with its parents only for
//! the paths that reached it, and a batch splits where paths follow different parents.
//!
//! With `--first-parent`, git compares a commit only with its first parent, so a path travels
//! down the first-parent line until the commit at which its current content arrived there.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::rc::Rc;

use git2::{ObjectType, Oid, Repository};

use crate::error::Error;

/// Which commit counts as a path's last change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// Finds the last change of each of `paths` (as tracked in `head`), in one walk of history
/// that stops once every path is resolved. The result is index-aligned with `paths`. Paths
/// must exist in `head`'s tree; a path that does not is resolved at `head`.
pub fn last_change_times(
    repo: &Repository,
    head: Oid,
    paths: &[&[u8]],
    mode: HistoryMode,
) -> Result<Vec<LastChange>, Error> {
    let shallow_boundary = shallow_commits(repo)?;
    let mut walk = Walk {
        repo,
        trees: TreeCache::default(),
        queue: BinaryHeap::new(),
        pending: HashMap::new(),
        order: 0,
    };

    // Paths are kept as indexes into a byte-wise sorted table, so that the paths below one
    // directory form a contiguous run at every commit.
    let mut sorted: Vec<u32> = (0..paths.len() as u32).collect();
    sorted.sort_unstable_by(|&a, &b| paths[a as usize].cmp(paths[b as usize]));
    sorted.dedup_by(|a, b| paths[*a as usize] == paths[*b as usize]);
    let mut answers: Vec<Option<LastChange>> = vec![None; paths.len()];

    if !sorted.is_empty() {
        walk.push(head, sorted)?;
    }
    while let Some((commit_id, pending)) = walk.pop() {
        let commit = repo
            .find_commit(commit_id)
            .map_err(Error::corrupt(format!("commit {commit_id}")))?;
        let tree = commit.tree_id();
        let parents: Vec<Oid> = match mode {
            HistoryMode::Simplified => commit.parent_ids().collect(),
            HistoryMode::FirstParent => commit.parent_ids().take(1).collect(),
        };
        let mut unresolved = pending;
        for parent_id in parents {
            if unresolved.is_empty() {
                break;
            }
            let parent = repo
                .find_commit(parent_id)
                .map_err(Error::corrupt(format!("commit {parent_id}")))?;
            let (same, changed) =
                walk.split_by_change(tree, parent.tree_id(), &unresolved, paths)?;
            if !same.is_empty() {
                walk.push(parent_id, same)?;
            }
            unresolved = changed;
        }
        // Paths that differ from every parent (or reached a root commit) changed here.
        let found = LastChange {
            commit: commit_id,
            time: commit.time().seconds(),
            approximate: shallow_boundary.contains(&commit_id),
        };
        for index in unresolved {
            answers[index as usize] = Some(found);
        }
    }

    // Duplicated paths share the answer of their first occurrence.
    let mut by_path: HashMap<&[u8], LastChange> = HashMap::new();
    for (index, answer) in answers.iter().enumerate() {
        if let Some(answer) = answer {
            by_path.insert(paths[index], *answer);
        }
    }
    Ok(paths.iter().map(|path| by_path[path]).collect())
}

/// The commits at which a shallow clone's history was cut. libgit2 already treats them as
/// root commits; the list tells which answers are only approximate.
fn shallow_commits(repo: &Repository) -> Result<HashSet<Oid>, Error> {
    if !repo.is_shallow() {
        return Ok(HashSet::new());
    }
    let file = repo.commondir().join("shallow");
    let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
        context: "cannot read the shallow clone's boundary list",
        path: file.clone(),
        source,
    })?;
    Ok(text
        .lines()
        .filter_map(|line| Oid::from_str(line.trim()).ok())
        .collect())
}

struct Walk<'r> {
    repo: &'r Repository,
    trees: TreeCache,
    /// Commits with paths waiting, newest first. Order only affects how well paths batch up,
    /// never the answers: each commit decides each path on its own.
    queue: BinaryHeap<(i64, u64, Oid)>,
    pending: HashMap<Oid, Vec<u32>>,
    order: u64,
}

impl Walk<'_> {
    fn push(&mut self, commit: Oid, paths: Vec<u32>) -> Result<(), Error> {
        if let Some(waiting) = self.pending.get_mut(&commit) {
            waiting.extend(paths);
            return Ok(());
        }
        let time = self
            .repo
            .find_commit(commit)
            .map_err(Error::corrupt(format!("commit {commit}")))?
            .time()
            .seconds();
        self.order += 1;
        // Earlier pushes win ties, like git's queue; u64::MAX - order makes them larger.
        self.queue.push((time, u64::MAX - self.order, commit));
        self.pending.insert(commit, paths);
        Ok(())
    }

    fn pop(&mut self) -> Option<(Oid, Vec<u32>)> {
        let (_, _, commit) = self.queue.pop()?;
        let mut paths = self.pending.remove(&commit)?;
        // Batches from different children arrive unsorted; the tree comparison needs order.
        paths.sort_unstable();
        paths.dedup();
        Some((commit, paths))
    }

    /// Splits `paths` (sorted table indexes) into those whose entry is the same in `ours` and
    /// `theirs` and those whose entry differs or is missing from `theirs`.
    fn split_by_change(
        &mut self,
        ours: Oid,
        theirs: Oid,
        paths: &[u32],
        table: &[&[u8]],
    ) -> Result<(Vec<u32>, Vec<u32>), Error> {
        let mut same = Vec::new();
        let mut changed = Vec::new();
        if ours == theirs {
            same.extend_from_slice(paths);
        } else {
            let mut sorted: Vec<u32> = paths.to_vec();
            sorted.sort_unstable_by(|&a, &b| table[a as usize].cmp(table[b as usize]));
            self.compare_trees(
                Some(ours),
                Some(theirs),
                0,
                &sorted,
                table,
                &mut same,
                &mut changed,
            )?;
        }
        Ok((same, changed))
    }

    /// Compares the entries of `paths` (sorted by path, all sharing the first `depth` bytes as
    /// a directory prefix) in two trees, descending only into subtrees whose ids differ.
    #[allow(clippy::too_many_arguments)]
    fn compare_trees(
        &mut self,
        ours: Option<Oid>,
        theirs: Option<Oid>,
        depth: usize,
        paths: &[u32],
        table: &[&[u8]],
        same: &mut Vec<u32>,
        changed: &mut Vec<u32>,
    ) -> Result<(), Error> {
        let (Some(ours), Some(theirs)) = (ours, theirs) else {
            // A directory missing on one side: every path below it differs.
            changed.extend_from_slice(paths);
            return Ok(());
        };
        if ours == theirs {
            same.extend_from_slice(paths);
            return Ok(());
        }
        let our_tree = self.trees.get(self.repo, ours)?;
        let their_tree = self.trees.get(self.repo, theirs)?;
        let mut rest = paths;
        while let Some(&first) = rest.first() {
            let path = &table[first as usize][depth..];
            let (name, is_leaf) = match path.iter().position(|&b| b == b'/') {
                Some(slash) => (&path[..slash], false),
                None => (path, true),
            };
            // Paths below `name/` are contiguous in sorted order; a leaf is alone.
            let run = if is_leaf {
                1
            } else {
                let prefix_len = depth + name.len() + 1;
                rest.iter()
                    .take_while(|&&p| {
                        let other = table[p as usize];
                        other.len() > prefix_len
                            && other[..prefix_len] == table[first as usize][..prefix_len]
                    })
                    .count()
            };
            let (group, tail) = rest.split_at(run);
            rest = tail;
            let our_entry = our_tree.entry(name);
            let their_entry = their_tree.entry(name);
            if is_leaf {
                if our_entry.is_some() && our_entry == their_entry {
                    same.push(first);
                } else {
                    changed.push(first);
                }
            } else {
                let subtree =
                    |entry: Option<&TreeEntry>| entry.filter(|e| e.is_tree()).map(|e| e.id);
                self.compare_trees(
                    subtree(our_entry),
                    subtree(their_entry),
                    depth + name.len() + 1,
                    group,
                    table,
                    same,
                    changed,
                )?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TreeEntry {
    name: Box<[u8]>,
    mode: i32,
    id: Oid,
}

impl TreeEntry {
    fn is_tree(&self) -> bool {
        self.mode == 0o040000
    }
}

/// A tree's entries sorted by plain byte order of their names, for binary search by name.
struct ParsedTree {
    entries: Vec<TreeEntry>,
}

impl ParsedTree {
    fn entry(&self, name: &[u8]) -> Option<&TreeEntry> {
        self.entries
            .binary_search_by(|e| (*e.name).cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// Parsed trees of the last few commits visited. Consecutive commits share most subtrees, so
/// a parent's trees are usually parsed once and reused when the parent's own turn comes. Two
/// generations bound the memory: when the young one is full, the old one is dropped.
#[derive(Default)]
struct TreeCache {
    young: HashMap<Oid, Rc<ParsedTree>>,
    old: HashMap<Oid, Rc<ParsedTree>>,
    young_entries: usize,
}

impl TreeCache {
    const GENERATION_ENTRIES: usize = 200_000;

    fn get(&mut self, repo: &Repository, id: Oid) -> Result<Rc<ParsedTree>, Error> {
        if let Some(tree) = self.young.get(&id) {
            return Ok(Rc::clone(tree));
        }
        let tree = match self.old.remove(&id) {
            Some(tree) => tree,
            None => Rc::new(parse_tree(repo, id)?),
        };
        self.young_entries += tree.entries.len();
        self.young.insert(id, Rc::clone(&tree));
        if self.young_entries > Self::GENERATION_ENTRIES {
            self.old = std::mem::take(&mut self.young);
            self.young_entries = 0;
        }
        Ok(tree)
    }
}

fn parse_tree(repo: &Repository, id: Oid) -> Result<ParsedTree, Error> {
    let tree = repo
        .find_tree(id)
        .map_err(Error::corrupt(format!("tree {id}")))?;
    let mut entries: Vec<TreeEntry> = tree
        .iter()
        .map(|entry| TreeEntry {
            name: entry.name_bytes().into(),
            mode: entry.filemode(),
            id: entry.id(),
        })
        .collect();
    // Git orders a tree named `a` as if it were `a/`; plain byte order is what lookups use.
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(ParsedTree { entries })
}

/// Every blob and symlink path in a tree, with its entry's id and mode. Submodules
/// (gitlinks) are listed too; trees are descended into.
pub(crate) fn flatten_tree(
    repo: &Repository,
    tree: Oid,
) -> Result<HashMap<Vec<u8>, (Oid, i32)>, Error> {
    let mut out = HashMap::new();
    let mut stack = vec![(Vec::new(), tree)];
    while let Some((prefix, id)) = stack.pop() {
        let tree = repo
            .find_tree(id)
            .map_err(Error::corrupt(format!("tree {id}")))?;
        for entry in tree.iter() {
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(entry.name_bytes());
            if entry.kind() == Some(ObjectType::Tree) {
                stack.push((path, entry.id()));
            } else {
                out.insert(path, (entry.id(), entry.filemode()));
            }
        }
    }
    Ok(out)
}
