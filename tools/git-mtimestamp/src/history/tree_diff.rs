//! How two trees differ, at every depth: each path that is new, changed or gone, and for a
//! directory whether its list of entries (names and kinds) changed. The first-parent line
//! diffs each of its commits with its first parent this way, and a stored set of answers
//! is patched with the difference between its commit's tree and another.

use std::cmp::Ordering;

use git2::Oid;

use super::malformed;
use super::walk::{TreeCache, read_tree};
use crate::error::Error;
use crate::objects::{EntryKind, EntryMode, git_order, parse_entry};
use crate::odb::{Object, ObjectReader};

/// A path and its new id and mode, or None when the path is gone.
pub(crate) struct PathChange {
    pub path: Vec<u8>,
    pub now: Option<(Oid, u32)>,
    /// For a directory: its list of entries (names and kinds) changed too, or it is new.
    /// Always true for files and for paths that are gone.
    pub list_changed: bool,
}

/// How the entries of tree `new` differ from those of tree `old` (None: the empty tree), at
/// every depth: each path whose entry is new or changed with its new id and mode (a directory
/// with its tree's id and [`EntryMode::TREE`]), and each path that is gone with None. Subtrees with
/// equal ids are not read, so the cost follows the size of the difference.
pub(crate) fn tree_delta(
    reader: &mut ObjectReader<'_>,
    old: Option<Oid>,
    new: Oid,
) -> Result<Vec<PathChange>, Error> {
    let mut delta = Vec::new();
    let mut trees = TreeCache::default();
    let mut read = |id: Oid| trees.get_or(id, |id| read_tree(reader, id));
    diff_subtrees(&mut read, old, Some(new), &mut Vec::new(), &mut delta)?;
    Ok(delta)
}

/// Adds to `delta` how tree `new` differs from tree `old` below `prefix`, and returns whether
/// the two lists of names and kinds differ.
pub(super) fn diff_subtrees(
    read: &mut dyn FnMut(Oid) -> Result<Object, Error>,
    old: Option<Oid>,
    new: Option<Oid>,
    prefix: &mut Vec<u8>,
    delta: &mut Vec<PathChange>,
) -> Result<bool, Error> {
    if old == new {
        return Ok(false);
    }
    let old_tree = old.map(&mut *read).transpose()?;
    let new_tree = new.map(&mut *read).transpose()?;
    let entries =
        |tree: &Option<Object>, id: Option<Oid>| -> Result<Vec<(RawEntryOwned, usize)>, Error> {
            let mut out = Vec::new();
            let Some(tree) = tree else { return Ok(out) };
            let mut rest = tree.data();
            while !rest.is_empty() {
                let (entry, length) =
                    parse_entry(rest).ok_or_else(|| malformed("tree", id.expect("read")))?;
                out.push((RawEntryOwned::from(entry), length));
                rest = &rest[length..];
            }
            Ok(out)
        };
    let (old_entries, new_entries) = (entries(&old_tree, old)?, entries(&new_tree, new)?);
    // A directory that appears or disappears changes its list by definition.
    let mut list_changed = old.is_none() || new.is_none();
    let (mut i, mut j) = (0, 0);
    while i < old_entries.len() || j < new_entries.len() {
        let order = match (old_entries.get(i), new_entries.get(j)) {
            (Some((a, _)), Some((b, _))) => git_order(&a.name, a.is_tree(), &b.name, b.is_tree()),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (gone, came) = match order {
            Ordering::Less => {
                i += 1;
                list_changed = true;
                (Some(&old_entries[i - 1].0), None)
            }
            Ordering::Greater => {
                j += 1;
                list_changed = true;
                (None, Some(&new_entries[j - 1].0))
            }
            Ordering::Equal => {
                i += 1;
                j += 1;
                let (a, b) = (&old_entries[i - 1].0, &new_entries[j - 1].0);
                if a.id == b.id && a.mode == b.mode {
                    continue;
                }
                list_changed |= EntryKind::of_mode(a.mode) != EntryKind::of_mode(b.mode);
                (Some(a), Some(b))
            }
        };
        let name = gone.or(came).map(|e| e.name.clone()).expect("one side");
        let length = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(&name);
        let subtree = |e: Option<&RawEntryOwned>| e.filter(|e| e.is_tree()).map(|e| e.id);
        let mut sub_list_changed = true;
        if subtree(gone).is_some() || subtree(came).is_some() {
            sub_list_changed = diff_subtrees(read, subtree(gone), subtree(came), prefix, delta)?;
        }
        // One entry for the name: what is there now, or that nothing is. A file and a
        // directory of the same name sort apart in a tree, so a name that changed kind is met
        // twice, once gone and once come: only the one that came counts.
        match came {
            Some(now) => delta.push(PathChange {
                path: prefix.clone(),
                now: Some((now.id, now.mode)),
                list_changed: !now.is_tree() || sub_list_changed,
            }),
            None if new_entries.iter().any(|(e, _)| e.name == name) => {}
            None => delta.push(PathChange {
                path: prefix.clone(),
                now: None,
                list_changed: true,
            }),
        }
        prefix.truncate(length);
    }
    Ok(list_changed)
}

/// A tree entry copied out of its object.
struct RawEntryOwned {
    mode: u32,
    name: Vec<u8>,
    id: Oid,
}

impl RawEntryOwned {
    fn is_tree(&self) -> bool {
        self.mode == EntryMode::TREE.raw()
    }
}

impl From<crate::objects::RawEntry<'_>> for RawEntryOwned {
    fn from(entry: crate::objects::RawEntry<'_>) -> Self {
        RawEntryOwned {
            mode: entry.mode,
            name: entry.name.to_vec(),
            id: entry.oid(),
        }
    }
}
