//! The answers kept in `<git common dir>/mtimestamp/`: one file per commit and history mode,
//! its format (a header, every entry, a checksum), and which files are kept.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;

use crate::history::{HistoryMode, LastChange, LineAnswer, LineChange, MODE_TREE, PathChange};
use crate::path_map::PathMap;

const MAGIC: &[u8] = b"git-mtimestamp answers\n";
/// Bumped whenever the layout or the meaning of an answer changes.
const FORMAT: u32 = 5;
/// How many anchors are kept: enough for switching between a few branches.
const KEEP: usize = 4;

/// A tracked path of the anchor commit's tree, or one of its directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnchorEntry {
    /// The blob, the submodule's commit, or for a directory ([`MODE_TREE`]) its tree.
    pub blob: Oid,
    pub mode: u32,
    pub change: Option<(Oid, i64)>,
    /// While a sync runs: the path's place in the sorted list of paths its history walk
    /// answers, or [`NOT_WALKED`]. Answers come back in that order and reach the entry and
    /// its file by position, with no lookups by path. Not stored.
    pub walk_slot: u32,
}

pub(crate) const NOT_WALKED: u32 = u32::MAX;

/// Every path of one commit's tree, directories included (the root as the empty path), with
/// the answers known for the walk from that commit. The directories' tree ids let a later sync rebuild this commit's
/// trees instead of reading them (see [`AnchorTrees`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub commit: Oid,
    pub mode: HistoryMode,
    /// Sorted bytewise by path, each path once: the order of git's index, so that a sync
    /// matches the two in one pass instead of looking every path up, and the order the
    /// history walk numbers paths in.
    pub entries: Vec<(Vec<u8>, AnchorEntry)>,
}

impl Anchor {
    /// An anchor for `commit` with every path of its tree and no answers yet. When `base`
    /// (an anchor of another commit, usually the HEAD of the last sync) is given, its paths
    /// are patched with the difference between the two trees instead of reading the whole
    /// tree of `commit`.
    pub fn of_tree(
        reader: &mut crate::odb::ObjectReader<'_>,
        commit: Oid,
        tree: Oid,
        mode: HistoryMode,
        base: Option<(&Anchor, Oid)>,
    ) -> Result<Anchor, crate::Error> {
        let mut delta = crate::history::tree_delta(reader, base.map(|(_, tree)| tree), tree)?;
        delta.push(PathChange {
            path: Vec::new(),
            now: Some((tree, MODE_TREE)),
            list_changed: true,
        });
        let changes = delta.into_iter().map(|change| {
            let entry = change.now.map(|(blob, mode)| AnchorEntry {
                blob,
                mode,
                change: None,
                walk_slot: NOT_WALKED,
            });
            (change.path, entry)
        });
        let unanswered = |entry: &AnchorEntry| AnchorEntry {
            change: None,
            ..*entry
        };
        let entries = match base {
            Some((base, _)) => patched(&base.entries, unanswered, changes.collect()),
            None => {
                let mut entries: Vec<(Vec<u8>, AnchorEntry)> = changes
                    .filter_map(|(path, entry)| Some((path, entry?)))
                    .collect();
                // A tree lists a directory's entries as if its name ended in '/'.
                entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                entries
            }
        };
        Ok(Anchor {
            commit,
            mode,
            entries,
        })
    }

    /// The anchor of HEAD, from the anchor `line` reached: the paths the line did not change
    /// keep their entries and answers, the others take their entries in HEAD and the answers
    /// the line decided.
    pub fn at_end_of_line(base: &Anchor, head: Oid, changed: PathMap<LineChange>) -> Anchor {
        let changes = changed
            .into_iter()
            .map(|(path, LineChange { now, answer })| {
                let entry = now.map(|(blob, mode)| AnchorEntry {
                    blob,
                    mode,
                    change: match answer {
                        LineAnswer::Decided(answer) => Some((answer.commit, answer.time)),
                        LineAnswer::Walk => None,
                        LineAnswer::Unchanged => base
                            .get(&path)
                            .filter(|old| old.mode == MODE_TREE && mode == MODE_TREE)
                            .and_then(|old| old.change),
                    },
                    walk_slot: NOT_WALKED,
                });
                (path, entry)
            })
            .collect();
        Anchor {
            commit: head,
            mode: base.mode,
            entries: patched(&base.entries, |entry| *entry, changes),
        }
    }

    /// The entry of `path`.
    pub fn get(&self, path: &[u8]) -> Option<&AnchorEntry> {
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
        if (entry.mode == MODE_TREE) != directory {
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

/// The trees of an anchor's commit, rebuilt from its entries: the bytes of the tree object
/// of any of its directories, by the tree's id.
pub(crate) struct AnchorTrees<'a> {
    entries: &'a [(Vec<u8>, AnchorEntry)],
    /// Each directory's tree id, with the position of its entry (None: the root).
    directories: HashMap<Oid, Option<usize>>,
}

impl<'a> AnchorTrees<'a> {
    pub fn new(anchor: &'a Anchor, root_tree: Oid) -> Self {
        let mut directories: HashMap<Oid, Option<usize>> = anchor
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (_, entry))| entry.mode == MODE_TREE)
            .map(|(at, (_, entry))| (entry.blob, Some(at)))
            .collect();
        directories.insert(root_tree, None);
        AnchorTrees {
            entries: &anchor.entries,
            directories,
        }
    }

    /// The tree object `id`, when it is one of the anchor's directories. It is rebuilt from
    /// the entries below it and hashed: bytes that do not hash to `id` are not returned, so a
    /// rebuilt tree is always the tree itself.
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
        let mut children: Vec<(&[u8], &AnchorEntry)> = Vec::new();
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
    base: &[(Vec<u8>, AnchorEntry)],
    kept: impl Fn(&AnchorEntry) -> AnchorEntry,
    mut changes: Vec<(Vec<u8>, Option<AnchorEntry>)>,
) -> Vec<(Vec<u8>, AnchorEntry)> {
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

/// Finds anchor entries for paths that come in sorted order, as the index's do: each lookup
/// starts where the last one ended, so matching every index entry is one pass over the
/// anchor. A path out of order is still found, by a search of the whole list.
pub(crate) struct SortedLookup<'a> {
    entries: &'a [(Vec<u8>, AnchorEntry)],
    next: usize,
}

impl<'a> SortedLookup<'a> {
    pub fn new(anchor: &'a Anchor) -> Self {
        SortedLookup {
            entries: &anchor.entries,
            next: 0,
        }
    }

    pub fn get(&mut self, path: &[u8]) -> Option<&'a AnchorEntry> {
        while let Some((other, entry)) = self.entries.get(self.next) {
            match other.as_slice().cmp(path) {
                std::cmp::Ordering::Less => self.next += 1,
                std::cmp::Ordering::Equal => {
                    self.next += 1;
                    return Some(entry);
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        // Not here: a path the anchor lacks (a staged new file), or one out of order.
        let at = self
            .entries
            .binary_search_by(|(other, _)| other.as_slice().cmp(path))
            .ok()?;
        Some(&self.entries[at].1)
    }
}

/// The folder of anchor files.
pub(crate) struct AnswerCache {
    dir: PathBuf,
    /// The replacements history is read through (replace refs, grafts), when there are any:
    /// see [`AnswerCache::replaced`].
    replacements_key: Option<String>,
}

impl AnswerCache {
    pub fn new(common_dir: &Path) -> AnswerCache {
        AnswerCache {
            dir: common_dir.join("mtimestamp"),
            replacements_key: None,
        }
    }

    /// The answers found while history is read through the replacements named `key` (see
    /// [`crate::odb::Replacements::cache_key`]), or through none. A commit's
    /// answers depend on them, so each set has files of its own, `<mode>-replaced-<key>-
    /// <commit>`, which the plain `<mode>-<commit>` of a history without replacements never
    /// match: a sync with replacements, then one without, gives each its own answers.
    pub fn replaced(self, key: Option<String>) -> AnswerCache {
        AnswerCache {
            replacements_key: key,
            ..self
        }
    }

    /// How the names of this cache's files for `mode` start, before the commit's id.
    fn prefix(&self, mode: HistoryMode) -> String {
        match &self.replacements_key {
            None => format!("{}-", mode_name(mode)),
            Some(key) => format!("{}-replaced-{key}-", mode_name(mode)),
        }
    }

    fn file(&self, commit: Oid, mode: HistoryMode) -> PathBuf {
        self.dir.join(format!("{}{commit}", self.prefix(mode)))
    }

    /// The anchor for `commit`, if a sound one is stored.
    pub fn load(&self, commit: Oid, mode: HistoryMode) -> Option<Anchor> {
        let bytes = fs::read(self.file(commit, mode)).ok()?;
        let anchor = decode(&bytes)?;
        (anchor.commit == commit && anchor.mode == mode).then_some(anchor)
    }

    /// The commits with a stored anchor for `mode`, newest first.
    pub fn commits(&self, mode: HistoryMode) -> Vec<Oid> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let prefix = self.prefix(mode);
        let mut found: Vec<(std::time::SystemTime, Oid)> = dir
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name();
                let commit = Oid::from_str(name.to_str()?.strip_prefix(&prefix)?).ok()?;
                Some((entry.metadata().ok()?.modified().ok()?, commit))
            })
            .collect();
        found.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        found.into_iter().map(|(_, commit)| commit).collect()
    }

    /// Stores `anchor` atomically (replacing any file of the same commit and mode) and drops
    /// the least recently written anchors beyond a few. A failure (a read-only git directory,
    /// a full disk) costs only the next sync's time, so the caller reports it and goes on; no
    /// partial file is left behind.
    pub fn store(&self, anchor: &Anchor) -> std::io::Result<()> {
        let in_dir = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{}: {e}", self.dir.display()))
        };
        fs::create_dir_all(&self.dir).map_err(in_dir)?;
        let path = self.file(anchor.commit, anchor.mode);
        // A name of its own in the same directory, so that the rename is atomic and no other
        // sync writing the same answers at the same time can meet it; it is removed if
        // anything fails before the rename.
        let mut temporary = tempfile::Builder::new()
            .prefix(TEMPORARY_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(in_dir)?;
        temporary.write_all(&encode(anchor)).map_err(in_dir)?;
        temporary.persist(&path).map_err(|e| in_dir(e.error))?;
        // Old anchors are only a matter of space.
        let _ = self.evict();
        Ok(())
    }

    /// Removes the least recently written answer files beyond [`KEEP`], and temporary files
    /// left by syncs that were killed while writing. A temporary file younger than
    /// [`STALE_TEMPORARY`] may be another sync's, still being written, and is left alone.
    fn evict(&self) -> std::io::Result<()> {
        let now = std::time::SystemTime::now();
        let mut answers: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let Ok(entry) = entry else { continue };
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMPORARY_PREFIX) {
                let age = now.duration_since(modified).unwrap_or_default();
                if age > STALE_TEMPORARY {
                    let _ = fs::remove_file(entry.path());
                }
            } else if is_answer_file(&name) {
                answers.push((modified, entry.path()));
            }
        }
        answers.sort_by_key(|file| std::cmp::Reverse(file.0));
        for (_, path) in answers.into_iter().skip(KEEP) {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }
}

/// How the temporary files that answers are written to begin.
const TEMPORARY_PREFIX: &str = ".tmp-";

/// No sync takes this long to write one answer file: an older temporary file belongs to a
/// sync that was killed.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(3600);

/// A name that [`AnswerCache::file`] makes: a history mode, a dash, and a commit id; or,
/// for a history read through replacements, a history mode, `-replaced-`, their key, a dash
/// and a commit id.
fn is_answer_file(name: &str) -> bool {
    [HistoryMode::Simplified, HistoryMode::FirstParent]
        .iter()
        .any(|mode| {
            name.strip_prefix(mode_name(*mode))
                .and_then(|rest| rest.strip_prefix('-'))
                .map(|rest| match rest.strip_prefix("replaced-") {
                    Some(keyed) => keyed.split_once('-').map_or(rest, |(_, id)| id),
                    None => rest,
                })
                .is_some_and(|id| Oid::from_str(id).is_ok() && id.len() == 40)
        })
}

fn mode_name(mode: HistoryMode) -> &'static str {
    match mode {
        HistoryMode::Simplified => "simplified",
        HistoryMode::FirstParent => "first-parent",
    }
}

fn encode(anchor: &Anchor) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + anchor.entries.len() * 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    out.extend_from_slice(&(version.len() as u32).to_le_bytes());
    out.extend_from_slice(version);
    out.push(match anchor.mode {
        HistoryMode::Simplified => 0,
        HistoryMode::FirstParent => 1,
    });
    out.extend_from_slice(anchor.commit.as_bytes());
    out.extend_from_slice(&(anchor.entries.len() as u32).to_le_bytes());
    for (path, entry) in &anchor.entries {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(entry.blob.as_bytes());
        out.extend_from_slice(&entry.mode.to_le_bytes());
        match entry.change {
            Some((commit, time)) => {
                out.push(1);
                out.extend_from_slice(commit.as_bytes());
                out.extend_from_slice(&time.to_le_bytes());
            }
            None => out.push(0),
        }
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Anchor> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if checksum(body) != u32::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut reader = Reader { bytes: body };
    if reader.take(MAGIC.len())? != MAGIC || reader.u32()? != FORMAT {
        return None;
    }
    let version_len = reader.u32()? as usize;
    if reader.take(version_len)? != env!("CARGO_PKG_VERSION").as_bytes() {
        return None;
    }
    let mode = match reader.take(1)?[0] {
        0 => HistoryMode::Simplified,
        1 => HistoryMode::FirstParent,
        _ => return None,
    };
    let commit = reader.oid()?;
    let count = reader.u32()? as usize;
    let mut entries: Vec<(Vec<u8>, AnchorEntry)> = Vec::with_capacity(count.min(body.len() / 29));
    for _ in 0..count {
        let path_len = reader.u32()? as usize;
        let path = reader.take(path_len)?.to_vec();
        let blob = reader.oid()?;
        let mode = reader.u32()?;
        let change = match reader.take(1)?[0] {
            0 => None,
            1 => Some((
                reader.oid()?,
                i64::from_le_bytes(reader.take(8)?.try_into().ok()?),
            )),
            _ => return None,
        };
        // Written sorted and each path once; anything else is damage.
        if entries.last().is_some_and(|(last, _)| *last >= path) {
            return None;
        }
        let walk_slot = NOT_WALKED;
        entries.push((
            path,
            AnchorEntry {
                blob,
                mode,
                change,
                walk_slot,
            },
        ));
    }
    if !reader.bytes.is_empty() {
        return None;
    }
    Some(Anchor {
        commit,
        mode,
        entries,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.bytes.split_at_checked(n)?;
        self.bytes = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn oid(&mut self) -> Option<Oid> {
        Oid::from_bytes(self.take(20)?).ok()
    }
}

/// CRC-32 against truncation and bit rot (not against tampering: anyone who can write the git
/// directory can rewrite history itself).
fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Oid {
        Oid::from_str(s).unwrap()
    }

    fn entry(blob: &str, change: Option<i64>) -> AnchorEntry {
        AnchorEntry {
            blob: id(blob),
            mode: 0o100644,
            change: change.map(|time| (id("2222222222222222222222222222222222222222"), time)),
            walk_slot: NOT_WALKED,
        }
    }

    fn sample() -> Anchor {
        let symlink = AnchorEntry {
            mode: 0o120000,
            ..entry("3333333333333333333333333333333333333333", None)
        };
        Anchor {
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
    fn anchors_round_trip() {
        let anchor = sample();
        assert_eq!(decode(&encode(&anchor)), Some(anchor));
    }

    #[test]
    fn anchors_out_of_order_are_rejected() {
        let mut anchor = sample();
        anchor.entries.reverse();
        assert_eq!(decode(&encode(&anchor)), None);
        let mut anchor = sample();
        anchor.entries[1].0 = anchor.entries[0].0.clone();
        assert_eq!(decode(&encode(&anchor)), None, "a path twice");
    }

    #[test]
    fn patching_merges_changes_in_order() {
        let paths = |entries: &[(Vec<u8>, AnchorEntry)]| -> Vec<String> {
            entries
                .iter()
                .map(|(path, entry)| {
                    let path = String::from_utf8_lossy(path);
                    let time = entry.change.map(|(_, time)| time);
                    format!("{path}:{}:{time:?}", &entry.blob.to_string()[..1])
                })
                .collect()
        };
        let base: Vec<(Vec<u8>, AnchorEntry)> = ["a", "b/c", "b/d", "e"]
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
        let kept = |entry: &AnchorEntry| AnchorEntry {
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

    #[test]
    fn sorted_lookups_find_paths_in_any_order() {
        let mut anchor = sample();
        anchor.entries.insert(
            1,
            (
                b"m".to_vec(),
                entry("5555555555555555555555555555555555555555", None),
            ),
        );
        let mut lookup = SortedLookup::new(&anchor);
        let blob = |found: Option<&AnchorEntry>| found.map(|e| e.blob.to_string()[..1].to_owned());
        // In order, with a path the anchor lacks in between.
        assert_eq!(blob(lookup.get(b"a/b.txt")), Some("1".to_owned()));
        assert_eq!(blob(lookup.get(b"b")), None);
        assert_eq!(blob(lookup.get(b"m")), Some("5".to_owned()));
        // Out of order, after the cursor moved past it.
        assert_eq!(blob(lookup.get(b"a/b.txt")), Some("1".to_owned()));
        assert_eq!(blob(lookup.get(b"odd\xffname")), Some("3".to_owned()));
        assert_eq!(blob(lookup.get(b"zzz")), None);
        assert_eq!(blob(lookup.get(b"m")), Some("5".to_owned()));
        assert_eq!(blob(anchor.get(b"m")), Some("5".to_owned()));
        assert_eq!(blob(anchor.get(b"a")), None);
    }

    /// Every tree of a repository with nested directories, a name that is a file in one
    /// directory and a directory in another, an executable, a symlink and a submodule, is
    /// rebuilt from an anchor byte for byte as git stores it.
    #[test]
    fn anchor_trees_are_rebuilt_as_git_stores_them() {
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
        let anchor = Anchor::of_tree(
            &mut reader,
            head.id(),
            head.tree_id(),
            HistoryMode::Simplified,
            None,
        )
        .unwrap();
        let trees = AnchorTrees::new(&anchor, head.tree_id());
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
        let mut changed = anchor.clone();
        let at = changed
            .entries
            .iter()
            .position(|(path, _)| path == b"b/a-c")
            .unwrap();
        changed.entries[at].1.mode = 0o100755;
        let trees = AnchorTrees::new(&changed, head.tree_id());
        let b = ids
            .iter()
            .find(|id| trees.tree(id.parse().unwrap()).is_none());
        assert!(b.is_some(), "a wrong entry still gave a tree");
        assert!(trees.tree(Oid::ZERO_SHA1).is_none());
    }

    /// An anchor carried along a first-parent line (files and directories changed, removed,
    /// added, a directory turned into a file and back, a merge) holds what an anchor made
    /// from the end's whole tree holds, and rebuilds every tree of it.
    #[test]
    fn an_anchor_carried_along_a_line_equals_one_read_whole() {
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
            Anchor::of_tree(reader, commit.id(), commit.tree_id(), mode, None).unwrap()
        };
        let base = of(&mut reader, start.trim());
        let whole = of(&mut reader, "HEAD");
        let line =
            crate::history::first_parent_line(&repo, &mut reader, whole.commit, &[base.commit])
                .unwrap()
                .expect("the line reaches the start");
        let base_trees = AnchorTrees::new(&base, line.anchor_tree);
        let changed = line
            .changes(&mut reader, HistoryMode::Simplified, &|id| {
                base_trees.tree(id)
            })
            .unwrap();
        let carried = Anchor::at_end_of_line(&base, whole.commit, changed);
        let unanswered = |anchor: &Anchor| -> Vec<(Vec<u8>, Oid, u32)> {
            let entries = anchor.entries.iter();
            entries
                .map(|(path, e)| (path.clone(), e.blob, e.mode))
                .collect()
        };
        assert_eq!(unanswered(&carried), unanswered(&whole));
        let head_tree = repo.head().unwrap().peel_to_tree().unwrap().id();
        let trees = AnchorTrees::new(&carried, head_tree);
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

    /// Eviction keeps the newest answer files, removes temporary files only once they are
    /// clearly abandoned, and never touches a file it did not make.
    #[test]
    fn eviction_leaves_other_syncs_temporary_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = AnswerCache::new(dir.path());
        fs::create_dir_all(&cache.dir).unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        let set_modified = |path: &Path, time: std::time::SystemTime| {
            let file = fs::File::options().write(true).open(path).unwrap();
            file.set_modified(time).unwrap();
        };
        let write = |name: &str, modified: Option<std::time::SystemTime>| {
            let path = cache.dir.join(name);
            fs::write(&path, "x").unwrap();
            if let Some(time) = modified {
                set_modified(&path, time);
            }
        };
        write(".tmp-being-written", None);
        write(".tmp-abandoned", Some(old));
        write("notes.txt", Some(old));
        let mut anchor = sample();
        for n in 0..KEEP + 2 {
            anchor.commit = Oid::from_str(&format!("{n:040}")).unwrap();
            cache.store(&anchor).unwrap();
            // Distinct times, oldest first.
            let path = cache.file(anchor.commit, anchor.mode);
            set_modified(&path, old + std::time::Duration::from_secs(60 * n as u64));
        }
        cache.evict().unwrap();
        let mut names: Vec<String> = fs::read_dir(&cache.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mode = mode_name(anchor.mode);
        let mut expected: Vec<String> = (2..KEEP + 2)
            .map(|n| format!("{mode}-{n:040}"))
            .chain([".tmp-being-written".to_owned(), "notes.txt".to_owned()])
            .collect();
        expected.sort();
        assert_eq!(names, expected);
        // What store wrote was whole, and no temporary file of its own is left.
        assert_eq!(cache.load(anchor.commit, anchor.mode), Some(anchor));
    }

    #[test]
    fn damaged_anchors_are_rejected() {
        let bytes = encode(&sample());
        for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), None, "truncated at {cut}");
        }
        for position in [0, MAGIC.len(), bytes.len() / 2, bytes.len() - 5] {
            let mut flipped = bytes.clone();
            flipped[position] ^= 0x40;
            assert_eq!(decode(&flipped), None, "bit flipped at {position}");
        }
    }

    /// A sound file of the format before (whose checksum was not CRC-32) is not trusted, and
    /// the next store replaces it.
    #[test]
    fn files_of_another_format_are_ignored_and_replaced() {
        let anchor = sample();
        let mut bytes = encode(&anchor);
        let at = MAGIC.len();
        bytes[at..at + 4].copy_from_slice(&(FORMAT - 1).to_le_bytes());
        let body = bytes.len() - 4;
        let sum = checksum(&bytes[..body]);
        bytes[body..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(decode(&bytes), None);
        let dir = tempfile::tempdir().unwrap();
        let cache = AnswerCache::new(dir.path());
        let file = cache.file(anchor.commit, anchor.mode);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, &bytes).unwrap();
        assert_eq!(cache.load(anchor.commit, anchor.mode), None);
        cache.store(&anchor).unwrap();
        assert_eq!(cache.load(anchor.commit, anchor.mode), Some(anchor));
    }

    /// Answers found through one set of replacements (replace refs, grafts) are stored apart
    /// from those found through another or through none, and evicted with them.
    #[test]
    fn answers_through_replacements_have_files_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = sample();
        let (commit, mode) = (anchor.commit, anchor.mode);
        let plain = AnswerCache::new(dir.path());
        let replaced = AnswerCache::new(dir.path()).replaced(Some("0123456789abcdef".into()));
        let other = AnswerCache::new(dir.path()).replaced(Some("fedcba9876543210".into()));
        replaced.store(&anchor).unwrap();
        assert_eq!(replaced.load(commit, mode), Some(anchor.clone()));
        assert_eq!(replaced.commits(mode), vec![commit]);
        for cache in [&plain, &other] {
            assert_eq!(cache.load(commit, mode), None);
            assert!(cache.commits(mode).is_empty());
        }
        plain.store(&anchor).unwrap();
        assert_eq!(plain.commits(mode), vec![commit]);
        let mut names: Vec<String> = fs::read_dir(dir.path().join("mtimestamp"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let expected = [
            format!("first-parent-{commit}"),
            format!("first-parent-replaced-0123456789abcdef-{commit}"),
        ];
        assert_eq!(names, expected);
        assert!(names.iter().all(|name| is_answer_file(name)));
        assert!(!is_answer_file("first-parent-replaced-0123456789abcdef"));
    }
}
