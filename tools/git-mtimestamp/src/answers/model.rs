//! What the answers of one commit are: every path of its tree with its entry and, where it is
//! known, its last change; and the lookups a sync makes in them.

use git2::Oid;

use crate::history::{HistoryMode, LastChange};
use crate::objects::EntryMode;

/// A tracked path of the answered commit's tree, or one of its directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnswerEntry {
    /// The blob, the submodule's commit, or for a directory ([`EntryMode::TREE`]) its tree.
    pub blob: Oid,
    pub mode: EntryMode,
    pub change: Option<(Oid, i64)>,
}

/// The answers of one commit: every path of its tree, directories included (the root as the
/// empty path), with the answers known for the walk from that commit. The directories' tree
/// ids let a later sync rebuild this commit's trees instead of reading them (see
/// [`super::AnswerTrees`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answers {
    pub commit: Oid,
    pub mode: HistoryMode,
    /// Sorted bytewise by path, each path once: the order of git's index, so that a sync
    /// matches the two in one pass instead of looking every path up, and the order the
    /// history walk numbers paths in.
    pub entries: Vec<(Vec<u8>, AnswerEntry)>,
}

impl Answers {
    /// The entry of `path`.
    pub fn get(&self, path: &[u8]) -> Option<&AnswerEntry> {
        let at = self
            .entries
            .binary_search_by(|(other, _)| other.as_slice().cmp(path))
            .ok()?;
        Some(&self.entries[at].1)
    }

    /// The stored answer for a key of the history walk: a file's path, or a directory's path
    /// followed by a slash (the root: the empty path).
    pub fn answer(&self, key: &[u8]) -> Option<LastChange> {
        let (path, directory) = match key.strip_suffix(b"/") {
            Some(path) => (path, true),
            None => (key, key.is_empty()),
        };
        let entry = self.get(path)?;
        if entry.mode.is_tree() != directory {
            return None;
        }
        let (commit, time) = entry.change?;
        Some(LastChange {
            commit,
            time,
            approximate: false,
        })
    }
}

/// Finds the entries of answers for paths that come in sorted order, as the index's do: each lookup
/// starts where the last one ended, so matching every index entry is one pass over the
/// answers. A path out of order is still found, by a search of the whole list.
pub(crate) struct SortedLookup<'a> {
    entries: &'a [(Vec<u8>, AnswerEntry)],
    next: usize,
}

impl<'a> SortedLookup<'a> {
    pub fn new(answers: &'a Answers) -> Self {
        SortedLookup {
            entries: &answers.entries,
            next: 0,
        }
    }

    /// The place of `path` among the answers' entries, and its entry.
    pub fn get(&mut self, path: &[u8]) -> Option<(usize, &'a AnswerEntry)> {
        while let Some((other, entry)) = self.entries.get(self.next) {
            match other.as_slice().cmp(path) {
                std::cmp::Ordering::Less => self.next += 1,
                std::cmp::Ordering::Equal => {
                    let at = self.next;
                    self.next += 1;
                    return Some((at, entry));
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        // Not here: a path the answers lack (a staged new file), or one out of order.
        let at = self
            .entries
            .binary_search_by(|(other, _)| other.as_slice().cmp(path))
            .ok()?;
        Some((at, &self.entries[at].1))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn id(s: &str) -> Oid {
        Oid::from_str(s).unwrap()
    }

    pub(crate) fn entry(blob: &str, change: Option<i64>) -> AnswerEntry {
        AnswerEntry {
            blob: id(blob),
            mode: EntryMode::REGULAR,
            change: change.map(|time| (id("2222222222222222222222222222222222222222"), time)),
        }
    }

    pub(crate) fn sample() -> Answers {
        let symlink = AnswerEntry {
            mode: EntryMode::SYMLINK,
            ..entry("3333333333333333333333333333333333333333", None)
        };
        Answers {
            commit: id("4444444444444444444444444444444444444444"),
            mode: HistoryMode::FirstParent,
            entries: vec![
                (
                    b"a/b.txt".to_vec(),
                    entry(
                        "1111111111111111111111111111111111111111",
                        Some(1_700_000_000),
                    ),
                ),
                (b"odd\xffname".to_vec(), symlink),
            ],
        }
    }

    #[test]
    fn sorted_lookups_find_paths_in_any_order() {
        let mut answers = sample();
        answers.entries.insert(
            1,
            (
                b"m".to_vec(),
                entry("5555555555555555555555555555555555555555", None),
            ),
        );
        let mut lookup = SortedLookup::new(&answers);
        let blob = |found: Option<&AnswerEntry>| found.map(|e| e.blob.to_string()[..1].to_owned());
        let placed =
            |found: Option<(usize, &AnswerEntry)>| found.map(|(at, e)| (at, blob(Some(e))));
        let at = |at: usize, blob: &str| Some((at, Some(blob.to_owned())));
        // In order, with a path the answers lack in between.
        assert_eq!(placed(lookup.get(b"a/b.txt")), at(0, "1"));
        assert_eq!(placed(lookup.get(b"b")), None);
        assert_eq!(placed(lookup.get(b"m")), at(1, "5"));
        // Out of order, after the cursor moved past it.
        assert_eq!(placed(lookup.get(b"a/b.txt")), at(0, "1"));
        assert_eq!(placed(lookup.get(b"odd\xffname")), at(2, "3"));
        assert_eq!(placed(lookup.get(b"zzz")), None);
        assert_eq!(placed(lookup.get(b"m")), at(1, "5"));
        assert_eq!(blob(answers.get(b"m")), Some("5".to_owned()));
        assert_eq!(blob(answers.get(b"a")), None);
    }
}
