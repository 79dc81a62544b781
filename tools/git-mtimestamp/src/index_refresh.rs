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

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use git2::Oid;
use sha1::Digest;

use crate::index_file::{is_racy, parse_index, read_with_mtime};
use crate::path_map::PathMap;
use crate::report::{IndexUpdate, Timestamp};
use crate::stamp::FileStat;

/// A file whose content was verified to equal `blob`, with the stat data it had while it was
/// being verified.
pub(crate) struct VerifiedStat {
    pub path: Vec<u8>,
    pub blob: Oid,
    pub stat: FileStat,
}

/// Writes `verified` stat data into the index at `index_path`.
pub(crate) fn refresh_index(index_path: &Path, verified: &[VerifiedStat]) -> IndexUpdate {
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
    let result = refreshed_index(index_path, verified).and_then(|(data, entries)| {
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
fn refreshed_index(index_path: &Path, verified: &[VerifiedStat]) -> io::Result<(Vec<u8>, usize)> {
    let (mut data, index_mtime) = read_with_mtime(index_path)?;
    let entries = parse_index(&data).map_err(io::Error::other)?;
    let wanted: PathMap<&VerifiedStat> = verified.iter().map(|v| (v.path.clone(), v)).collect();
    let mut refreshed = 0;
    for entry in &entries {
        let stat_data = &mut data[entry.offset..entry.offset + 40];
        match wanted.get(&entry.path) {
            Some(file) if entry.stage() == 0 && entry.id == file.blob => {
                write_stat(stat_data, &file.stat);
                refreshed += 1;
            }
            // A racily clean entry (see `is_racy`): git cannot tell from stat data alone
            // whether the file changed within the same tick, so it compares content.
            // Rewriting the index gives it a later mtime and would hide that doubt; git
            // therefore zeroes the recorded size of such entries (whose content differs) when
            // it writes the index, and so does this, for all of them.
            _ if is_racy(entry.mtime, index_mtime) => stat_data[36..40].fill(0),
            _ => {}
        }
    }
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
