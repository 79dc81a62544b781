//! How two trees differ, at every depth: each path that is new, changed or gone, and for a
//! directory whether its list of entries (names and kinds) changed. The first-parent line
//! diffs each of its commits with its first parent this way, and a stored set of answers
//! is patched with the difference between its commit's tree and another.

use std::cmp::Ordering;

use git2::Oid;

use super::malformed;
use super::walk::{TreeCache, read_tree};
use crate::error::Error;
use crate::objects::{EntryKind, RawEntry, git_order, identical_entries, parse_entry};
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
/// with its tree's id and [`crate::objects::EntryMode::TREE`]), and each path that is gone with None. Subtrees with
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
/// the two lists of names and kinds differ. The two trees are read side by side from their
/// raw bytes: runs of identical entries are skipped unparsed, and nothing is copied but the
/// paths of what changed (git/git's `t/` holds 1,300 entries, and copying each out of both
/// versions for every new commit was most of a sync after ten commits).
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
    let a = old_tree.as_ref().map_or(&[][..], Object::data);
    let b = new_tree.as_ref().map_or(&[][..], Object::data);
    // A directory that appears or disappears changes its list by definition.
    let mut list_changed = old.is_none() || new.is_none();
    // Names of the new tree's entries met so far that the old tree lacks under their kind.
    let mut came_names: Vec<&[u8]> = Vec::new();
    let (mut i, mut j) = (0, 0);
    loop {
        if i < a.len() && j < b.len() {
            let skipped = identical_entries(&a[i..], &b[j..]);
            i += skipped;
            j += skipped;
        }
        let (old_entry, new_entry) = (entry_at(a, i, old)?, entry_at(b, j, new)?);
        let order = match (&old_entry, &new_entry) {
            (Some((x, _)), Some((y, _))) => git_order(x.name, x.is_tree(), y.name, y.is_tree()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        let (gone, came) = match (order, old_entry, new_entry) {
            (Ordering::Less, Some((x, length)), _) => {
                i += length;
                list_changed = true;
                (Some(x), None)
            }
            (Ordering::Greater, _, Some((y, length))) => {
                j += length;
                list_changed = true;
                came_names.push(y.name);
                (None, Some(y))
            }
            (Ordering::Equal, Some((x, old_length)), Some((y, new_length))) => {
                i += old_length;
                j += new_length;
                if x.id == y.id && x.mode == y.mode {
                    continue;
                }
                list_changed |= EntryKind::of_mode(x.mode) != EntryKind::of_mode(y.mode);
                (Some(x), Some(y))
            }
            _ => unreachable!("an order is found only for entries that exist"),
        };
        let name = gone.or(came).map(|e| e.name).expect("one side");
        let length = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name);
        let subtree = |e: Option<RawEntry<'_>>| e.filter(|e| e.is_tree()).map(|e| e.oid());
        let mut sub_list_changed = true;
        if subtree(gone).is_some() || subtree(came).is_some() {
            sub_list_changed = diff_subtrees(read, subtree(gone), subtree(came), prefix, delta)?;
        }
        // One entry for the name: what is there now, or that nothing is. A file and a
        // directory of the same name sort apart in a tree, so a name that changed kind is met
        // twice, once gone and once come: only the one that came counts. The one that came
        // is met first when it is the file; when it is the directory, it sorts after the file
        // that is gone, among the entries whose names start with the file's.
        match came {
            Some(now) => delta.push(PathChange {
                path: prefix.clone(),
                now: Some((now.oid(), now.mode)),
                list_changed: !now.is_tree() || sub_list_changed,
            }),
            None if came_names.contains(&name) || name_follows(&b[j..], name) => {}
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

/// The entry of tree `data` (the object `id`) at offset `at` and its length; None at the end.
fn entry_at(
    data: &[u8],
    at: usize,
    id: Option<Oid>,
) -> Result<Option<(RawEntry<'_>, usize)>, Error> {
    if at == data.len() {
        return Ok(None);
    }
    let parsed = parse_entry(&data[at..]).ok_or_else(|| malformed("tree", id.expect("read")))?;
    Ok(Some(parsed))
}

/// True when the entries of `rest` (a tree's remaining bytes, from an entry boundary) that
/// follow in git's order hold `name`: only names that start with it can sort between `name`
/// as a file and `name` as a directory.
fn name_follows(mut rest: &[u8], name: &[u8]) -> bool {
    while let Some((entry, length)) = parse_entry(rest) {
        if entry.name == name {
            return true;
        }
        if !entry.name.starts_with(name) {
            return false;
        }
        rest = &rest[length..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::EntryMode;
    use crate::test_git::git;

    /// A name that changed kind is one change, to what is there now, whichever kind comes
    /// first in git's order: `foo.c` sorts between the file `foo` and the directory `foo`.
    #[test]
    fn a_name_that_changed_kind_is_one_change_to_what_is_there_now() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        let write_tree = || {
            git(root, &["add", "-A"]);
            let id = String::from_utf8(git(root, &["write-tree"])).unwrap();
            Oid::from_str(id.trim()).unwrap()
        };
        std::fs::write(root.join("foo"), "a file").unwrap();
        std::fs::write(root.join("foo.c"), "between").unwrap();
        let with_file = write_tree();
        std::fs::remove_file(root.join("foo")).unwrap();
        std::fs::create_dir(root.join("foo")).unwrap();
        std::fs::write(root.join("foo/x"), "below").unwrap();
        let with_directory = write_tree();

        let repo = git2::Repository::open(root).unwrap();
        let mut reader = ObjectReader::new(&repo).unwrap();
        let changes = |reader: &mut ObjectReader<'_>, old, new| {
            let delta = tree_delta(reader, Some(old), new).unwrap();
            let mut listed: Vec<(String, Option<u32>)> = delta
                .iter()
                .map(|c| {
                    (
                        String::from_utf8_lossy(&c.path).into_owned(),
                        c.now.map(|n| n.1),
                    )
                })
                .collect();
            listed.sort();
            listed
        };
        let (file, tree) = (0o100644, EntryMode::TREE.raw());
        assert_eq!(
            changes(&mut reader, with_file, with_directory),
            [
                ("foo".to_owned(), Some(tree)),
                ("foo/x".to_owned(), Some(file))
            ]
        );
        assert_eq!(
            changes(&mut reader, with_directory, with_file),
            [("foo".to_owned(), Some(file)), ("foo/x".to_owned(), None)]
        );
    }
}
