//! The answers of HEAD made from a commit's tree, or carried from stored answers along a
//! first-parent line; and the trees of a commit rebuilt from its answers.

use std::collections::HashMap;

use git2::Oid;

use super::model::{AnswerEntry, Answers};
use crate::history::{HistoryMode, LineAnswer, LineChange, PathChange};
use crate::objects::EntryMode;
use crate::path_map::PathMap;

impl Answers {
    /// Answers for `commit` with every path of its tree and no answers yet. When `base` (the
    /// answers of another commit, usually the HEAD of the last sync) is given, its paths
    /// are patched with the difference between the two trees instead of reading the whole
    /// tree of `commit`.
    pub fn of_tree(
        reader: &mut crate::odb::ObjectReader<'_>,
        commit: Oid,
        tree: Oid,
        mode: HistoryMode,
        base: Option<(&Answers, Oid)>,
    ) -> Result<Answers, crate::Error> {
        let mut delta = crate::history::tree_delta(reader, base.map(|(_, tree)| tree), tree)?;
        delta.push(PathChange {
            path: Vec::new(),
            now: Some((tree, EntryMode::TREE.raw())),
            list_changed: true,
        });
        let changes = delta.into_iter().map(|change| {
            let entry = change.now.map(|(blob, mode)| AnswerEntry {
                blob,
                mode: EntryMode::from_raw(mode),
                change: None,
            });
            (change.path, entry)
        });
        let unanswered = |entry: &AnswerEntry| AnswerEntry {
            change: None,
            ..*entry
        };
        let entries = match base {
            Some((base, _)) => patched(&base.entries, unanswered, changes.collect()),
            None => {
                let mut entries: Vec<(Vec<u8>, AnswerEntry)> = changes
                    .filter_map(|(path, entry)| Some((path, entry?)))
                    .collect();
                // A tree lists a directory's entries as if its name ended in '/'.
                entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                entries
            }
        };
        Ok(Answers {
            commit,
            mode,
            entries,
        })
    }

    /// The answers of HEAD, from the answers of the commit `line` reached: the paths the line
    /// did not change keep their entries and answers, the others take their entries in HEAD
    /// and the answers the line decided.
    pub fn at_end_of_line(base: &Answers, head: Oid, changed: PathMap<LineChange>) -> Answers {
        let changes = changed
            .into_iter()
            .map(|(path, LineChange { now, answer })| {
                let entry = now.map(|(blob, mode)| {
                    let mode = EntryMode::from_raw(mode);
                    AnswerEntry {
                        blob,
                        mode,
                        change: match answer {
                            LineAnswer::Decided(answer) => Some((answer.commit, answer.time)),
                            LineAnswer::Walk => None,
                            LineAnswer::Unchanged => base
                                .get(&path)
                                .filter(|old| old.mode.is_tree() && mode.is_tree())
                                .and_then(|old| old.change),
                        },
                    }
                });
                (path, entry)
            })
            .collect();
        Answers {
            commit: head,
            mode: base.mode,
            entries: patched(&base.entries, |entry| *entry, changes),
        }
    }
}

/// The trees of an answered commit, rebuilt from its answers' entries: the bytes of the tree
/// object of any of its directories, by the tree's id.
pub(crate) struct AnswerTrees<'a> {
    entries: &'a [(Vec<u8>, AnswerEntry)],
    /// Each directory's tree id, with the position of its entry (None: the root).
    directories: HashMap<Oid, Option<usize>>,
}

impl<'a> AnswerTrees<'a> {
    pub fn new(answers: &'a Answers, root_tree: Oid) -> Self {
        let mut directories: HashMap<Oid, Option<usize>> = answers
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (_, entry))| entry.mode.is_tree())
            .map(|(at, (_, entry))| (entry.blob, Some(at)))
            .collect();
        directories.insert(root_tree, None);
        AnswerTrees {
            entries: &answers.entries,
            directories,
        }
    }

    /// The tree object `id`, when it is one of the answered commit's directories. It is
    /// rebuilt from the entries below it and hashed: bytes that do not hash to `id` are not
    /// returned, so a rebuilt tree is always the tree itself.
    pub fn tree(&self, id: Oid) -> Option<Vec<u8>> {
        let directory = match *self.directories.get(&id)? {
            Some(at) => {
                let mut prefix = self.entries[at].0.clone();
                prefix.push(b'/');
                prefix
            }
            None => Vec::new(),
        };
        let below = |path: &Vec<u8>| path.starts_with(&directory);
        let start = self
            .entries
            .partition_point(|(path, _)| path.as_slice() < directory.as_slice());
        let mut children: Vec<(&[u8], &AnswerEntry)> = Vec::new();
        let mut at = start;
        while let Some((path, entry)) = self.entries.get(at).filter(|(path, _)| below(path)) {
            if path.is_empty() {
                // The root's own entry.
                at += 1;
                continue;
            }
            let name = &path[directory.len()..];
            if name.contains(&b'/') {
                // Below a subdirectory (whose own entry came first): skip all of it.
                let slash = name.iter().position(|&b| b == b'/').expect("a slash");
                let sub = &path[..directory.len() + slash + 1];
                at += self.entries[at..].partition_point(|(path, _)| path.starts_with(sub));
                continue;
            }
            children.push((name, entry));
            at += 1;
        }
        let entries = children
            .into_iter()
            .map(|(name, entry)| (name, entry.mode, entry.blob));
        let data = crate::objects::tree_object(entries);
        (crate::objects::tree_id(&data) == id).then_some(data)
    }
}

/// `base` (sorted) with `changes` applied: each path of `changes` gets its entry, or is
/// removed when it has none; every other path keeps `kept(entry)`. One merge of two sorted
/// lists.
fn patched(
    base: &[(Vec<u8>, AnswerEntry)],
    kept: impl Fn(&AnswerEntry) -> AnswerEntry,
    mut changes: Vec<(Vec<u8>, Option<AnswerEntry>)>,
) -> Vec<(Vec<u8>, AnswerEntry)> {
    changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut entries = Vec::with_capacity(base.len() + changes.len());
    let mut base = base.iter().peekable();
    for (path, change) in changes {
        while let Some((old_path, old)) = base.next_if(|(old_path, _)| *old_path < path) {
            entries.push((old_path.clone(), kept(old)));
        }
        base.next_if(|(old_path, _)| *old_path == path);
        if let Some(entry) = change {
            entries.push((path, entry));
        }
    }
    entries.extend(base.map(|(path, entry)| (path.clone(), kept(entry))));
    entries
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::entry;
    use super::*;

    #[test]
    fn patching_merges_changes_in_order() {
        let paths = |entries: &[(Vec<u8>, AnswerEntry)]| -> Vec<String> {
            entries
                .iter()
                .map(|(path, entry)| {
                    let path = String::from_utf8_lossy(path);
                    let time = entry.change.map(|(_, time)| time);
                    format!("{path}:{}:{time:?}", &entry.blob.to_string()[..1])
                })
                .collect()
        };
        let base: Vec<(Vec<u8>, AnswerEntry)> = ["a", "b/c", "b/d", "e"]
            .iter()
            .map(|p| {
                let blob = "1111111111111111111111111111111111111111";
                (p.as_bytes().to_vec(), entry(blob, Some(5)))
            })
            .collect();
        let new = |blob: &str| Some(entry(blob, None));
        let changes = vec![
            (
                b"f".to_vec(),
                new("5555555555555555555555555555555555555555"),
            ),
            (b"b/d".to_vec(), None),
            (
                b"0".to_vec(),
                new("6666666666666666666666666666666666666666"),
            ),
            (
                b"b/c".to_vec(),
                new("7777777777777777777777777777777777777777"),
            ),
            (
                b"b.x".to_vec(),
                new("8888888888888888888888888888888888888888"),
            ),
        ];
        let kept = |entry: &AnswerEntry| AnswerEntry {
            change: None,
            ..*entry
        };
        assert_eq!(
            paths(&patched(&base, kept, changes)),
            [
                "0:6:None",
                "a:1:None",
                "b.x:8:None",
                "b/c:7:None",
                "e:1:None",
                "f:5:None"
            ]
        );
        let one = vec![(b"e".to_vec(), None)];
        assert_eq!(
            paths(&patched(&base, |entry| *entry, one)),
            ["a:1:Some(5)", "b/c:1:Some(5)", "b/d:1:Some(5)"]
        );
    }

    /// Every tree of a repository with nested directories, a name that is a file in one
    /// directory and a directory in another, an executable, a symlink and a submodule, is
    /// rebuilt from its answers byte for byte as git stores it.
    #[test]
    fn trees_are_rebuilt_from_answers_as_git_stores_them() {
        use crate::test_git::git;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        for path in [
            "a", "a.b", "b/a", "b/a.b/c", "b/a-c", "b/c/d/e", "c d/é", "z",
        ] {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, path).unwrap();
        }
        std::os::unix::fs::symlink("a", root.join("b/link")).unwrap();
        let script = root.join("b/run");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        git(root, &["add", "."]);
        let submodule = "160000,1111111111111111111111111111111111111111,b/sub";
        git(root, &["update-index", "--add", "--cacheinfo", submodule]);
        git(root, &["commit", "-qm", "tree"]);

        let repo = git2::Repository::open(root).unwrap();
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        let mut reader = crate::odb::ObjectReader::new(&repo).unwrap();
        let answers = Answers::of_tree(
            &mut reader,
            head.id(),
            head.tree_id(),
            HistoryMode::Simplified,
            None,
        )
        .unwrap();
        let trees = AnswerTrees::new(&answers, head.tree_id());
        let listing = git(root, &["ls-tree", "-r", "-t", "HEAD"]);
        let mut ids: Vec<String> = String::from_utf8(listing)
            .unwrap()
            .lines()
            .filter(|line| line.contains(" tree "))
            .map(|line| line.split([' ', '\t']).nth(2).unwrap().to_owned())
            .collect();
        ids.push(head.tree_id().to_string());
        assert_eq!(ids.len(), 6, "{ids:?}");
        for id in &ids {
            let stored = git(root, &["cat-file", "tree", id]);
            assert_eq!(trees.tree(id.parse().unwrap()), Some(stored), "tree {id}");
        }
        // An entry that disagrees with its tree: the tree is not rebuilt.
        let mut changed = answers.clone();
        let at = changed
            .entries
            .iter()
            .position(|(path, _)| path == b"b/a-c")
            .unwrap();
        changed.entries[at].1.mode = EntryMode::EXECUTABLE;
        let trees = AnswerTrees::new(&changed, head.tree_id());
        let b = ids
            .iter()
            .find(|id| trees.tree(id.parse().unwrap()).is_none());
        assert!(b.is_some(), "a wrong entry still gave a tree");
        assert!(trees.tree(Oid::ZERO_SHA1).is_none());
    }

    /// Answers carried along a first-parent line (files and directories changed, removed,
    /// added, a directory turned into a file and back, a merge) hold what answers made from
    /// the end's whole tree hold, and rebuild every tree of it.
    #[test]
    fn answers_carried_along_a_line_equal_those_read_whole() {
        use crate::test_git::git;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |path: &str, content: &str| {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        };
        let commit = |message: &str| {
            git(root, &["add", "-A"]);
            git(root, &["commit", "-qm", message]);
        };
        git(root, &["init", "-q", "-b", "main"]);
        for path in ["a/b/c", "a/b/d", "a/e", "f", "g/h"] {
            write(path, path);
        }
        commit("start");
        let start = String::from_utf8(git(root, &["rev-parse", "HEAD"])).unwrap();
        write("a/b/c", "changed");
        commit("change");
        std::fs::remove_dir_all(root.join("g")).unwrap();
        write("g", "a file now");
        commit("directory to file");
        git(root, &["checkout", "-qb", "topic"]);
        write("topic/new", "new");
        write("a/e", "on topic");
        commit("topic");
        git(root, &["checkout", "-q", "main"]);
        std::fs::remove_file(root.join("g")).unwrap();
        write("g/h", "a directory again");
        commit("file to directory");
        git(root, &["merge", "-q", "--no-edit", "topic"]);
        std::fs::remove_dir_all(root.join("a/b")).unwrap();
        commit("remove a directory");

        let repo = git2::Repository::open(root).unwrap();
        let mut reader = crate::odb::ObjectReader::new(&repo).unwrap();
        let of = |reader: &mut _, spec: &str| {
            let commit = repo
                .revparse_single(spec)
                .unwrap()
                .peel_to_commit()
                .unwrap();
            let mode = HistoryMode::Simplified;
            Answers::of_tree(reader, commit.id(), commit.tree_id(), mode, None).unwrap()
        };
        let base = of(&mut reader, start.trim());
        let whole = of(&mut reader, "HEAD");
        let line =
            crate::history::first_parent_line(&repo, &mut reader, whole.commit, &[base.commit])
                .unwrap()
                .expect("the line reaches the start");
        let base_trees = AnswerTrees::new(&base, line.stored_tree);
        let changed = line
            .changes(&mut reader, HistoryMode::Simplified, &|id| {
                base_trees.tree(id)
            })
            .unwrap();
        let carried = Answers::at_end_of_line(&base, whole.commit, changed);
        let unanswered = |answers: &Answers| -> Vec<(Vec<u8>, Oid, EntryMode)> {
            let entries = answers.entries.iter();
            entries
                .map(|(path, e)| (path.clone(), e.blob, e.mode))
                .collect()
        };
        assert_eq!(unanswered(&carried), unanswered(&whole));
        let head_tree = repo.head().unwrap().peel_to_tree().unwrap().id();
        let trees = AnswerTrees::new(&carried, head_tree);
        let listing = String::from_utf8(git(root, &["ls-tree", "-r", "-t", "HEAD"])).unwrap();
        let directories = listing.lines().filter(|line| line.contains(" tree "));
        for id in directories
            .map(|line| line.split([' ', '\t']).nth(2).unwrap().to_owned())
            .chain([head_tree.to_string()])
        {
            let stored = git(root, &["cat-file", "tree", &id]);
            assert_eq!(trees.tree(id.parse().unwrap()), Some(stored), "tree {id}");
        }
    }
}
