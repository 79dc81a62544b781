//! Writing the new stat data of stamped files into git's index.
//!
//! After a sync the stamped files' mtimes and ctimes no longer match the index, and the next
//! `git status` would re-hash every one of them. Writing their stat data back keeps that first
//! status as fast as any other.
//!
//! The write follows git's own protocol: create `index.lock` exclusively (if another process
//! holds it, leave the index alone), read the index as it is now, write the new version into
//! the lock file and rename it over the index. Only the stat fields of entries whose staged
//! blob is the one verified on disk are changed, in place; every other byte, extensions
//! included (cached trees, untracked cache, fsmonitor, sparse directories), stays as it was, so
//! a `git add` that slipped in before the lock can never be undone and nothing git keeps in the
//! index is lost.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use git2::Oid;
use sha1::Digest;

use crate::index_file::{IndexRecord, is_racy, parse_index, read_with_mtime};
use crate::path_map::PathMap;
use crate::report::{IndexUpdate, Timestamp};
use crate::stamp::FileStat;

/// A file whose content was verified to equal `blob`, with the stat data it had while it was
/// being verified.
pub(crate) struct VerifiedStat {
    pub path: Vec<u8>,
    /// Where its entry starts in the index the sync read.
    pub offset: usize,
    pub blob: Oid,
    pub stat: FileStat,
}

/// The index as the sync read it: its bytes (checked against their checksum), and where each
/// entry starts with the entry's mtime. When the index under the lock is still these bytes,
/// the refresh needs no second parse.
pub(crate) struct IndexSnapshot {
    bytes: Vec<u8>,
    entries: Vec<(usize, Timestamp)>,
}

impl IndexSnapshot {
    pub fn of(bytes: Vec<u8>, entries: &[IndexRecord]) -> IndexSnapshot {
        IndexSnapshot {
            bytes,
            entries: entries.iter().map(|e| (e.offset, e.mtime)).collect(),
        }
    }
}

/// Writes `verified` stat data into the index at `index_path`; `snapshot` is the index as
/// the sync read it, which `verified` refers to.
pub(crate) fn refresh_index(
    index_path: &Path,
    verified: &[VerifiedStat],
    snapshot: &IndexSnapshot,
) -> IndexUpdate {
    if verified.is_empty() {
        return IndexUpdate::Unchanged;
    }
    let lock_path = with_suffix(index_path, ".lock");
    let mut lock = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock_path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return IndexUpdate::Locked,
        Err(e) => {
            return IndexUpdate::LeftAlone {
                reason: format!("cannot create {}: {e}", lock_path.display()),
            };
        }
    };
    let result = refreshed_index(index_path, verified, snapshot).and_then(|(data, entries)| {
        lock.write_all(&data)?;
        lock.flush()?;
        drop(lock);
        fs::rename(&lock_path, index_path)?;
        Ok(entries)
    });
    match result {
        Ok(entries) => IndexUpdate::Refreshed { entries },
        Err(e) => {
            let _ = fs::remove_file(&lock_path);
            IndexUpdate::LeftAlone {
                reason: e.to_string(),
            }
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The index file as it is now, with new stat data for the verified entries; and how many
/// entries got it.
fn refreshed_index(
    index_path: &Path,
    verified: &[VerifiedStat],
    snapshot: &IndexSnapshot,
) -> io::Result<(Vec<u8>, usize)> {
    let (mut data, index_mtime) = read_with_mtime(index_path)?;
    // Nothing wrote the index since the sync read it (and checked its checksum) when its
    // bytes are the same: its entries are where they were. Otherwise (a `git add` meanwhile,
    // say) it is read again.
    let refreshed = if snapshot.bytes == data {
        let wanted: HashMap<usize, &VerifiedStat> =
            verified.iter().map(|v| (v.offset, v)).collect();
        let entries = snapshot.entries.iter().map(|&(offset, mtime)| {
            let file = wanted.get(&offset).copied();
            (offset, mtime, file)
        });
        refresh_entries(&mut data, index_mtime, entries)
    } else {
        let entries = parse_index(&data).map_err(io::Error::other)?;
        let wanted: PathMap<&VerifiedStat> = verified.iter().map(|v| (v.path.clone(), v)).collect();
        let entries = entries.iter().map(|entry| {
            // The entry may have been staged anew since the file was verified.
            let file = wanted
                .get(&entry.path)
                .copied()
                .filter(|file| entry.stage() == 0 && entry.id == file.blob);
            (entry.offset, entry.mtime, file)
        });
        refresh_entries(&mut data, index_mtime, entries)
    };
    // The trailer is the SHA-1 of everything before it, or zeros under index.skipHash.
    let body = data
        .len()
        .checked_sub(20)
        .ok_or_else(|| io::Error::other("index too short"))?;
    if data[body..].iter().any(|&b| b != 0) {
        let digest = sha1::Sha1::digest(&data[..body]);
        data[body..].copy_from_slice(&digest);
    }
    Ok((data, refreshed))
}

/// Writes the stat data of each entry (where it starts, its mtime) that has a verified file,
/// and returns how many did.
fn refresh_entries<'v>(
    data: &mut [u8],
    index_mtime: Timestamp,
    entries: impl Iterator<Item = (usize, Timestamp, Option<&'v VerifiedStat>)>,
) -> usize {
    let mut refreshed = 0;
    for (offset, mtime, file) in entries {
        let stat_data = &mut data[offset..offset + 40];
        match file {
            Some(file) => {
                write_stat(stat_data, &file.stat);
                refreshed += 1;
            }
            // A racily clean entry (see `is_racy`): git cannot tell from stat data alone
            // whether the file changed within the same tick, so it compares content.
            // Rewriting the index gives it a later mtime and would hide that doubt; git
            // therefore zeroes the recorded size of such entries (whose content differs) when
            // it writes the index, and so does this, for all of them.
            None if is_racy(mtime, index_mtime) => stat_data[36..40].fill(0),
            None => {}
        }
    }
    refreshed
}

/// The 40 bytes of stat data at the start of an index entry: ctime, mtime, dev, ino, mode, uid,
/// gid, size, each 32 bits big-endian. The mode is left as it is.
fn write_stat(out: &mut [u8], stat: &FileStat) {
    let mut put = |at: usize, value: u32| out[at..at + 4].copy_from_slice(&value.to_be_bytes());
    let seconds = |time: Timestamp| time.seconds as u32;
    put(0, seconds(stat.ctime));
    put(4, stat.ctime.nanos);
    put(8, seconds(stat.mtime));
    put(12, stat.mtime.nanos);
    put(16, stat.dev as u32);
    put(20, stat.ino as u32);
    put(28, stat.uid);
    put(32, stat.gid);
    put(36, stat.size as u32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index_file::read_index;
    use crate::test_git::git;

    /// A repository whose files were all written again after the index: b.txt is then
    /// verified with its new stat data.
    fn repository() -> (tempfile::TempDir, Vec<IndexRecord>, Vec<u8>, VerifiedStat) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        for name in ["a.txt", "b.txt", "c.txt"] {
            std::fs::write(root.join(name), name).unwrap();
        }
        git(root, &["add", "."]);
        git(root, &["commit", "-qm", "files"]);
        for name in ["a.txt", "b.txt", "c.txt"] {
            let later = std::time::UNIX_EPOCH + std::time::Duration::new(2_000_000_000, 5);
            let file = std::fs::File::options().write(true).open(root.join(name));
            file.unwrap().set_modified(later).unwrap();
        }
        let (entries, _, bytes) = read_index(&root.join(".git/index")).unwrap();
        let b = &entries[1];
        let verified = VerifiedStat {
            path: b.path.clone(),
            offset: b.offset,
            blob: b.id,
            stat: FileStat::of(&root.join("b.txt")).unwrap(),
        };
        (dir, entries, bytes, verified)
    }

    #[test]
    fn an_unchanged_index_is_refreshed_as_a_parsed_one_is() {
        let (dir, entries, bytes, verified) = repository();
        let index = dir.path().join(".git/index");
        let snapshot = IndexSnapshot::of(bytes.clone(), &entries);
        // Found by where the entry is in the bytes read before...
        let by_offset = VerifiedStat {
            path: Vec::new(),
            ..verified
        };
        let (unchanged, count) = refreshed_index(&index, &[by_offset], &snapshot).unwrap();
        assert_eq!(count, 1);
        assert_ne!(unchanged, bytes);
        // ... or, when the index is not those bytes, by its path in the index read again.
        let other = IndexSnapshot::of(Vec::new(), &entries);
        let by_path = VerifiedStat {
            offset: usize::MAX,
            ..verified
        };
        let (parsed, count) = refreshed_index(&index, &[by_path], &other).unwrap();
        assert_eq!(count, 1);
        assert_eq!(unchanged, parsed);
        // What git reads back: b.txt's new mtime, the others untouched.
        std::fs::write(&index, &unchanged).unwrap();
        let (again, _, _) = read_index(&index).unwrap();
        assert_eq!(again[1].mtime.seconds, 2_000_000_000);
        assert_eq!(again[0].mtime, entries[0].mtime);
        assert_eq!(again[2].mtime, entries[2].mtime);
    }

    #[test]
    fn an_entry_staged_anew_meanwhile_keeps_its_stat_data() {
        let (dir, entries, bytes, verified) = repository();
        let root = dir.path();
        let snapshot = IndexSnapshot::of(bytes, &entries);
        std::fs::write(root.join("b.txt"), "staged since").unwrap();
        git(root, &["add", "b.txt"]);
        let index = root.join(".git/index");
        let (before, _, _) = read_index(&index).unwrap();
        let (after, count) = refreshed_index(&index, &[verified], &snapshot).unwrap();
        assert_eq!(count, 0);
        std::fs::write(&index, &after).unwrap();
        let (after, _, _) = read_index(&index).unwrap();
        assert_eq!(after[1].id, before[1].id);
        assert_eq!(after[1].mtime, before[1].mtime);
        assert_ne!(after[1].mtime.seconds, 2_000_000_000);
    }
}
