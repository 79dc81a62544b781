//! HEAD's first-parent line down to a commit with stored answers, and what its commits
//! changed: a sync after new commits reads only those, not all of history.

use git2::{ObjectType, Oid, Repository};

use super::tree_diff::{PathChange, diff_subtrees};
use super::walk::{CommitCache, TreeCache, read_tree};
use super::{HistoryMode, LastChange, shallow_commits};
use crate::error::Error;
use crate::objects::{CommitHeader, EntryMode};
use crate::odb::{Object, ObjectReader};
use crate::path_map::PathMap;

/// HEAD's first-parent line down to a commit with stored answers.
///
/// A path that no commit of the line changes against its first parent is, at every commit of
/// the line, the same as in that first parent: git's simplification follows the first such
/// parent, so the path's walk runs down the line to the stored commit and takes its stored answer.
/// Only the paths the line changed need answers of their own.
pub(crate) struct FirstParentLine {
    /// The commit with stored answers the line reached, and its tree.
    pub stored_commit: Oid,
    pub stored_tree: Oid,
    /// The commits of the line, newest first.
    commits: Vec<(Oid, CommitHeader)>,
}

/// An entry changed on a first-parent line.
pub(crate) struct LineChange {
    /// Its id and mode in HEAD; None when HEAD lacks it.
    pub now: Option<(Oid, u32)>,
    pub answer: LineAnswer,
}

/// What the line says about a changed entry's last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineAnswer {
    /// The newest commit of the line that changed it decides it alone.
    Decided(LastChange),
    /// A merge changed it last: the history walk decides.
    Walk,
    /// A directory whose tree changed on the line while its list of entries did not: it
    /// keeps the answer stored for the stored commit.
    Unchanged,
}

/// Beyond this many commits the line is not followed: a new branch that reaches no commit with stored answers
/// would otherwise read its whole first-parent history for nothing.
const MAX_LINE: usize = 10_000;

/// Follows first parents from `head` until a commit of `stored`. None when no such commit is
/// reached: a root commit, a shallow boundary, or [`MAX_LINE`] commits come first.
pub(crate) fn first_parent_line(
    repo: &Repository,
    reader: &mut ObjectReader<'_>,
    head: Oid,
    stored: &[Oid],
) -> Result<Option<FirstParentLine>, Error> {
    if stored.is_empty() || stored.contains(&head) {
        return Ok(None);
    }
    let shallow = shallow_commits(repo)?;
    let mut commits = CommitCache::default();
    let mut line: Vec<(Oid, CommitHeader)> = Vec::new();
    let mut id = head;
    let stored_commit = loop {
        if line.len() == MAX_LINE {
            return Ok(None);
        }
        let commit = commits.take(reader, &shallow, id)?;
        let Some(&parent) = commit.parents.first() else {
            return Ok(None);
        };
        line.push((id, commit));
        if stored.contains(&parent) {
            break parent;
        }
        id = parent;
    };
    Ok(Some(FirstParentLine {
        stored_commit,
        stored_tree: commits.take(reader, &shallow, stored_commit)?.tree,
        commits: line,
    }))
}

impl FirstParentLine {
    /// Every entry (files, and directories with their tree ids) that a commit of the line
    /// changed, from a diff of each commit with its first parent. `stored_trees` gives the
    /// stored commit's trees when it knows them: the line's oldest diffs compare with them, and in a
    /// pack the last synced commit's trees may lie deep in delta chains, while the new
    /// commits' trees are usually loose. The cost follows the line's length and the size of
    /// its changes, not the size of the tree.
    pub fn changes(
        &self,
        reader: &mut ObjectReader<'_>,
        mode: HistoryMode,
        stored_trees: &dyn Fn(Oid) -> Option<Vec<u8>>,
    ) -> Result<PathMap<LineChange>, Error> {
        let mut changed: PathMap<LineChange> = PathMap::default();
        let mut parent_tree = self.stored_tree;
        // One tree cache for the whole line: each commit's trees are the next one's parent's.
        let mut trees = TreeCache::default();
        let mut read = |id: Oid| -> Result<Object, Error> {
            trees.get_or(id, |id| match stored_trees(id) {
                Some(data) => Ok(Object {
                    kind: ObjectType::Tree,
                    data: data.into(),
                }),
                None => read_tree(reader, id),
            })
        };
        // Oldest first, so that an entry and its answer end up those of the newest change.
        for (id, commit) in self.commits.iter().rev() {
            // Only a commit with one parent (or any commit, when only first parents count)
            // is where its changed paths were last changed; at a merge, git may follow
            // another parent, and the walk decides.
            let decides = mode == HistoryMode::FirstParent || commit.parents.len() == 1;
            let answer = if decides {
                LineAnswer::Decided(LastChange {
                    commit: *id,
                    time: commit.time,
                    approximate: false,
                })
            } else {
                LineAnswer::Walk
            };
            let mut delta = Vec::new();
            let (old, new) = (Some(parent_tree), Some(commit.tree));
            let root_list_changed =
                diff_subtrees(&mut read, old, new, &mut Vec::new(), &mut delta)?;
            if old != new {
                delta.push(PathChange {
                    path: Vec::new(),
                    now: Some((commit.tree, EntryMode::TREE.raw())),
                    list_changed: root_list_changed,
                });
            }
            for PathChange {
                path,
                now,
                list_changed,
            } in delta
            {
                // A directory whose list stayed the same is, for the walk, the same as in the
                // first parent: it keeps whatever older commits of the line (or the stored commit)
                // said.
                let answer = if list_changed {
                    answer
                } else {
                    changed
                        .get(&path)
                        .map_or(LineAnswer::Unchanged, |older| older.answer)
                };
                changed.insert(path, LineChange { now, answer });
            }
            parent_tree = commit.tree;
        }
        Ok(changed)
    }
}
