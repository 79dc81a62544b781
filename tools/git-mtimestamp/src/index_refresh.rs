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
//! index is lost. A split index (`core.splitIndex`) is written the way git refreshes one: an
//! entry it reads from its shared index gets a replacement entry in the index file, and the
//! shared index is left alone.
//!
//! The new index file keeps the mtime of the one it replaces. git doubts every entry whose
//! mtime is not older than the index file's ("racily clean", see
//! [`crate::index_file::is_racy`]), and compares such an entry's content, since its file may
//! have changed within the tick after git recorded it. An index written at a later time would
//! end that doubt for entries nobody checked: git, when it writes an index, checks the content
//! of each such entry and zeroes the recorded size of those that differ, but a sync limited
//! to some paths has not looked at the others, and zeroing sizes it cannot vouch for makes git
//! list clean files as modified until its next write. Keeping the time keeps git's doubt
//! exactly where it was, and every entry the sync did not verify byte for byte as it was: the
//! first `git status` after the sync checks them, as it would have without the sync. The
//! entries written here need no doubt: their stat data was taken from files verified to hold
//! their blobs, after the index was read, and their new mtimes are commit times.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use git2::Oid;
use sha1::Digest;

use crate::fs::FileStat;
use crate::index_file::{
    IndexRecord, Replacement, parse_index, read_with_mtime, with_replacements,
};
use crate::path_map::PathMap;
use crate::report::{IndexUpdate, Timestamp};

/// A file whose content was verified to equal `blob`, with the stat data it had while it was
/// being verified.
pub(crate) struct VerifiedStat {
    pub path: Vec<u8>,
    /// Where its entry starts in the index the sync read.
    pub offset: usize,
    pub blob: Oid,
    pub stat: FileStat,
}

/// The index file as the sync read it (its bytes, checked against their checksum), and whether
/// every entry is held in that file: then, when the index under the lock is still these bytes,
/// the verified entries are where the sync found them and the refresh needs no second parse.
/// A split index whose entries are partly read from its shared index is always parsed again.
pub(crate) struct IndexSnapshot {
    bytes: Vec<u8>,
    entries_in_file: bool,
}

impl IndexSnapshot {
    pub fn of(bytes: Vec<u8>, entries: &[IndexRecord]) -> IndexSnapshot {
        IndexSnapshot {
            bytes,
            entries_in_file: entries.iter().all(|e| e.shared_position.is_none()),
        }
    }
}

/// Writes `verified` stat data into the index at `index_path` (of the repository whose git
/// directory is `git_dir`, where a split index's shared index is); `snapshot` is the index as
/// the sync read it, which `verified` refers to.
pub(crate) fn refresh_index(
    index_path: &Path,
    git_dir: &Path,
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
    let result = refreshed_index(index_path, git_dir, verified, snapshot).and_then(|refreshed| {
        if refreshed.changed {
            // Its blocks are allocated first: ext4 allocates the delayed blocks of a file
            // renamed over another in the rename itself, and starts their writeback
            // (`auto_da_alloc`), which for dagger/dagger's 2.4 MB index took 2 ms of a sync's
            // serial end. Where a file system cannot allocate ahead, the write allocates.
            let _ = rustix::fs::fallocate(
                &lock,
                rustix::fs::FallocateFlags::empty(),
                0,
                refreshed.data.len() as u64,
            );
            lock.write_all(&refreshed.data)?;
            lock.flush()?;
            set_mtime(&lock, refreshed.mtime).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot keep the index file's time: {e}"))
            })?;
            drop(lock);
            fs::rename(&lock_path, index_path)?;
        } else {
            // Nothing to write: the entries already hold the verified stat data.
            drop(lock);
            fs::remove_file(&lock_path)?;
        }
        Ok(refreshed.entries)
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

/// Gives the open `file` the mtime `time`, leaving its access time alone.
fn set_mtime(file: &fs::File, time: Timestamp) -> io::Result<()> {
    use rustix::fs::{Timespec, Timestamps, UTIME_OMIT, futimens};
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: time.seconds,
            tv_nsec: time.nanos.into(),
        },
    };
    futimens(file, &times).map_err(io::Error::from)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The index file to write in place of the one read under the lock.
struct Refreshed {
    data: Vec<u8>,
    /// The mtime of the index file read, which the new one keeps.
    mtime: Timestamp,
    /// How many entries hold verified stat data.
    entries: usize,
    /// Whether `data` differs from the file read.
    changed: bool,
}

/// The index file as it is now, with new stat data for the verified entries.
fn refreshed_index(
    index_path: &Path,
    git_dir: &Path,
    verified: &[VerifiedStat],
    snapshot: &IndexSnapshot,
) -> io::Result<Refreshed> {
    let (mut data, mtime) = read_with_mtime(index_path)?;
    let mut changed = false;
    let mut entries = 0;
    // Nothing wrote the index since the sync read it (and checked its checksum) when its
    // bytes are the same: its entries are where they were. Otherwise (a `git add` meanwhile,
    // say) it is read again.
    if snapshot.entries_in_file && snapshot.bytes == data {
        for file in verified {
            changed |= write_stat(&mut data[file.offset..file.offset + 40], &file.stat);
            entries += 1;
        }
    } else {
        let index = parse_index(&data, index_path, git_dir).map_err(io::Error::other)?;
        let wanted: PathMap<&VerifiedStat> = verified.iter().map(|v| (v.path.clone(), v)).collect();
        let mut replacements = Vec::new();
        for entry in &index.entries {
            // The entry may have been staged anew since the file was verified.
            let Some(file) = wanted
                .get(&entry.path)
                .filter(|file| entry.stage() == 0 && entry.id == file.blob)
            else {
                continue;
            };
            entries += 1;
            match (entry.shared_position, &index.split) {
                (Some(position), Some(split)) => {
                    let mut stat_data = split.shared_stat_data(entry.offset);
                    if write_stat(&mut stat_data, &file.stat) {
                        replacements.push(Replacement {
                            position,
                            shared_offset: entry.offset,
                            stat_data,
                        });
                    }
                }
                _ => changed |= write_stat(&mut data[entry.offset..entry.offset + 40], &file.stat),
            }
        }
        if !replacements.is_empty() {
            replacements.sort_by_key(|r| r.position);
            data = with_replacements(&data, &index, &replacements);
            changed = true;
        }
    }
    // The trailer is the SHA-1 of everything before it, or zeros under index.skipHash.
    let body = data
        .len()
        .checked_sub(20)
        .ok_or_else(|| io::Error::other("index too short"))?;
    if changed && data[body..].iter().any(|&b| b != 0) {
        let digest = sha1::Sha1::digest(&data[..body]);
        data[body..].copy_from_slice(&digest);
    }
    Ok(Refreshed {
        data,
        mtime,
        entries,
        changed,
    })
}

/// Writes `stat` into the 40 bytes of stat data at the start of an index entry: ctime, mtime,
/// dev, ino, mode, uid, gid, size, each 32 bits big-endian. The mode is left as it is. Returns
/// whether any byte changed.
fn write_stat(out: &mut [u8], stat: &FileStat) -> bool {
    let before: [u8; 40] = out[..40].try_into().unwrap();
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
    out[..40] != before
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
        let git_dir = root.join(".git");
        let (entries, _, bytes) = read_index(&git_dir.join("index"), &git_dir).unwrap();
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
        let git_dir = dir.path().join(".git");
        let unchanged = refreshed_index(&index, &git_dir, &[by_offset], &snapshot).unwrap();
        assert_eq!(unchanged.entries, 1);
        assert_ne!(unchanged.data, bytes);
        // ... or, when the index is not those bytes, by its path in the index read again.
        let other = IndexSnapshot::of(Vec::new(), &entries);
        let by_path = VerifiedStat {
            offset: usize::MAX,
            ..verified
        };
        let parsed = refreshed_index(&index, &git_dir, &[by_path], &other).unwrap();
        assert_eq!(parsed.entries, 1);
        assert_eq!(unchanged.data, parsed.data);
        // What git reads back: b.txt's new mtime, the others untouched.
        std::fs::write(&index, &unchanged.data).unwrap();
        let (again, _, _) = read_index(&index, &git_dir).unwrap();
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
        let git_dir = root.join(".git");
        let index = git_dir.join("index");
        let (before, _, _) = read_index(&index, &git_dir).unwrap();
        let after = refreshed_index(&index, &git_dir, &[verified], &snapshot).unwrap();
        assert_eq!(after.entries, 0);
        assert!(!after.changed);
        std::fs::write(&index, &after.data).unwrap();
        let (after, _, _) = read_index(&index, &git_dir).unwrap();
        assert_eq!(after[1].id, before[1].id);
        assert_eq!(after[1].mtime, before[1].mtime);
        assert_ne!(after[1].mtime.seconds, 2_000_000_000);
    }

    /// In a split index, an entry read from the shared index gets a replacement in the index
    /// file; the shared index and every other entry stay as they were.
    #[test]
    fn an_entry_of_a_shared_index_gets_a_replacement() {
        let (dir, _, _, _) = repository();
        let root = dir.path();
        // Old mtimes in the index, so that git does not copy racily clean entries into the
        // index file when it splits the index.
        let set_mtime = |name: &str, seconds: u64| {
            let time = std::time::UNIX_EPOCH + std::time::Duration::new(seconds, 5);
            let file = std::fs::File::options().write(true).open(root.join(name));
            file.unwrap().set_modified(time).unwrap();
        };
        for name in ["a.txt", "b.txt", "c.txt"] {
            set_mtime(name, 1_500_000_000);
        }
        git(root, &["update-index", "-q", "--refresh"]);
        git(root, &["update-index", "--split-index"]);
        set_mtime("b.txt", 2_000_000_000);
        let git_dir = root.join(".git");
        let index = git_dir.join("index");
        let (entries, _, bytes) = read_index(&index, &git_dir).unwrap();
        assert_eq!(entries[1].shared_position, Some(1));
        let snapshot = IndexSnapshot::of(bytes, &entries);
        assert!(!snapshot.entries_in_file);
        let verified = VerifiedStat {
            path: entries[1].path.clone(),
            offset: entries[1].offset,
            blob: entries[1].id,
            stat: FileStat::of(&root.join("b.txt")).unwrap(),
        };
        let refreshed = refreshed_index(&index, &git_dir, &[verified], &snapshot).unwrap();
        assert_eq!((refreshed.entries, refreshed.changed), (1, true));
        std::fs::write(&index, &refreshed.data).unwrap();
        let (again, _, _) = read_index(&index, &git_dir).unwrap();
        assert_eq!(again[1].shared_position, None);
        assert_eq!(again[1].mtime.seconds, 2_000_000_000);
        assert_eq!((&again[0], &again[2]), (&entries[0], &entries[2]));
        let debug = String::from_utf8(git(root, &["ls-files", "--debug", "b.txt"])).unwrap();
        assert!(debug.contains("mtime: 2000000000:5"), "{debug}");
    }
}
