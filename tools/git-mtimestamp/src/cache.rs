//! Answers of earlier syncs, kept in the git directory so that the next sync need not walk
//! history again.
//!
//! The last change of a path as seen from a commit is a function of that commit's history
//! alone, and history is immutable, so an answer once found stays true. Each file under
//! `<git common dir>/mtimestamp/` holds, for one commit that was HEAD at a sync (an "anchor")
//! and one history mode, every path of that commit's tree with its entry and, where it was
//! computed, its last change. A sync whose HEAD is an anchor needs no history at all; a sync
//! after new commits walks only until its paths reach an anchor.
//!
//! A file that is truncated, corrupt, or written by another version of this tool fails its
//! header or checksum and is ignored (and later replaced): it is never trusted. Answers from a
//! shallow clone's boundary are approximate and are not stored.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;

use crate::history::{HistoryMode, LastChange};
use crate::path_map::PathMap;

const MAGIC: &[u8] = b"git-mtimestamp answers\n";
/// Bumped whenever the layout or the meaning of an answer changes.
const FORMAT: u32 = 1;
/// How many anchors are kept: enough for switching between a few branches.
const KEEP: usize = 4;

/// A tracked path of the anchor commit's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnchorEntry {
    pub blob: Oid,
    pub mode: u32,
    pub change: Option<(Oid, i64)>,
    /// While a sync runs: the path's place in the sorted list of paths its history walk
    /// answers, or [`NOT_WALKED`]. Answers come back in that order and reach the entry and
    /// its file by position, with no lookups by path. Not stored.
    pub walk_slot: u32,
}

pub(crate) const NOT_WALKED: u32 = u32::MAX;

/// Every path of one commit's tree, with the answers known for the walk from that commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub commit: Oid,
    pub mode: HistoryMode,
    pub entries: PathMap<AnchorEntry>,
}

impl Anchor {
    /// An anchor for `commit` with every path of its tree and no answers yet. When `base`
    /// (an anchor of another commit, usually the HEAD of the last sync) is given, its paths
    /// are patched with the difference between the two trees instead of reading the whole
    /// tree of `commit`.
    pub fn of_tree(
        reader: &mut crate::object_reader::ObjectReader<'_>,
        commit: Oid,
        tree: Oid,
        mode: HistoryMode,
        base: Option<(&Anchor, Oid)>,
    ) -> Result<Anchor, crate::Error> {
        let (mut entries, base_tree) = match base {
            Some((base, base_tree)) => {
                let entries: PathMap<AnchorEntry> = base
                    .entries
                    .iter()
                    .map(|(path, entry)| {
                        let entry = AnchorEntry {
                            change: None,
                            walk_slot: NOT_WALKED,
                            ..*entry
                        };
                        (path.clone(), entry)
                    })
                    .collect();
                (entries, Some(base_tree))
            }
            None => (PathMap::default(), None),
        };
        for (path, now) in crate::history::tree_delta(reader, base_tree, tree)? {
            match now {
                Some((blob, mode)) => {
                    let entry = AnchorEntry {
                        blob,
                        mode,
                        change: None,
                        walk_slot: NOT_WALKED,
                    };
                    entries.insert(path, entry);
                }
                None => {
                    entries.remove(&path);
                }
            }
        }
        Ok(Anchor {
            commit,
            mode,
            entries,
        })
    }

    /// The anchor of HEAD, from the anchor `line` reached: the paths the line did not change
    /// keep their entries and answers, the others take their entries in HEAD and the answers
    /// the line decided.
    pub fn at_end_of_line(
        base: &Anchor,
        head: Oid,
        line: crate::history::FirstParentLine,
    ) -> Anchor {
        let mut entries = base.entries.clone();
        for (path, crate::history::LineChange { now, answer }) in line.changed {
            match now {
                Some((blob, mode)) => {
                    let entry = AnchorEntry {
                        blob,
                        mode,
                        change: answer.map(|answer| (answer.commit, answer.time)),
                        walk_slot: NOT_WALKED,
                    };
                    entries.insert(path, entry);
                }
                None => {
                    entries.remove(&path);
                }
            }
        }
        Anchor {
            commit: head,
            mode: base.mode,
            entries,
        }
    }

    pub fn answer(&self, path: &[u8]) -> Option<LastChange> {
        let (commit, time) = self.entries.get(path)?.change?;
        Some(LastChange {
            commit,
            time,
            approximate: false,
        })
    }
}

/// The folder of anchor files.
pub(crate) struct AnswerCache {
    dir: PathBuf,
}

impl AnswerCache {
    pub fn new(common_dir: &Path) -> AnswerCache {
        AnswerCache {
            dir: common_dir.join("mtimestamp"),
        }
    }

    fn file(&self, commit: Oid, mode: HistoryMode) -> PathBuf {
        self.dir.join(format!("{}-{commit}", mode_name(mode)))
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
        let prefix = format!("{}-", mode_name(mode));
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
        let temporary = self
            .dir
            .join(format!(".tmp-{}-{}", std::process::id(), anchor.commit));
        let written = fs::File::create(&temporary)
            .and_then(|mut file| file.write_all(&encode(anchor)))
            .and_then(|()| fs::rename(&temporary, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(in_dir(e));
        }
        // Old anchors are only a matter of space.
        let _ = self.evict();
        Ok(())
    }

    fn evict(&self) -> std::io::Result<()> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(&self.dir)?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        files.sort_by_key(|file| std::cmp::Reverse(file.0));
        for (_, path) in files.into_iter().skip(KEEP) {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }
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
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
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
    let mut entries =
        PathMap::with_capacity_and_hasher(count.min(body.len() / 29), Default::default());
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
        let walk_slot = NOT_WALKED;
        entries.insert(
            path,
            AnchorEntry {
                blob,
                mode,
                change,
                walk_slot,
            },
        );
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

/// A fast 64-bit checksum against truncation and bit rot (not against tampering: anyone who
/// can write the git directory can rewrite history itself).
fn checksum(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        hash = (hash ^ word).wrapping_mul(PRIME).rotate_left(29);
    }
    for &byte in chunks.remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME).rotate_left(29);
    }
    hash ^ (hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Anchor {
        let id = |s: &str| Oid::from_str(s).unwrap();
        let mut entries = PathMap::default();
        entries.insert(
            b"a/b.txt".to_vec(),
            AnchorEntry {
                blob: id("1111111111111111111111111111111111111111"),
                mode: 0o100644,
                change: Some((
                    id("2222222222222222222222222222222222222222"),
                    1_700_000_000,
                )),
                walk_slot: NOT_WALKED,
            },
        );
        entries.insert(
            b"odd\xffname".to_vec(),
            AnchorEntry {
                blob: id("3333333333333333333333333333333333333333"),
                mode: 0o120000,
                change: None,
                walk_slot: NOT_WALKED,
            },
        );
        Anchor {
            commit: id("4444444444444444444444444444444444444444"),
            mode: HistoryMode::FirstParent,
            entries,
        }
    }

    #[test]
    fn anchors_round_trip() {
        let anchor = sample();
        assert_eq!(decode(&encode(&anchor)), Some(anchor));
    }

    #[test]
    fn damaged_anchors_are_rejected() {
        let bytes = encode(&sample());
        for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), None, "truncated at {cut}");
        }
        for position in [0, MAGIC.len(), bytes.len() / 2, bytes.len() - 9] {
            let mut flipped = bytes.clone();
            flipped[position] ^= 0x40;
            assert_eq!(decode(&flipped), None, "bit flipped at {position}");
        }
    }
}
