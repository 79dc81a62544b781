//! Writing the new stat data of stamped files into git's index.
//!
//! After a sync the stamped files' mtimes and ctimes no longer match the index, and the next
//! `git status` would re-hash every one of them. Writing their stat data back keeps that first
//! status as fast as any other. The write follows git's locking protocol and only ever
//! changes stat data of entries whose staged blob is the one that was verified on disk, so a
//! `git add` that slips in between can never be undone.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use git2::{Binding, Index, Oid};

use crate::report::IndexUpdate;
use crate::stamp::FileStat;

/// A file whose content was verified to equal `blob`, with the stat data it had while it was
/// being verified.
pub(crate) struct VerifiedStat {
    pub path: Vec<u8>,
    pub blob: Oid,
    pub stat: FileStat,
}

/// Writes `verified` stat data into the index at `index_path`.
///
/// Protocol: create `index.lock` exclusively (another git holds it: leave the index alone);
/// read the index as it is now, under the lock; update the entries; have libgit2 write a copy
/// beside it; move the copy over `index.lock` and then over the index. `index.lock` exists
/// from the first step to the last, so no other git process writes the index in between.
pub(crate) fn refresh_index(index_path: &Path, verified: &[VerifiedStat]) -> IndexUpdate {
    if verified.is_empty() {
        return IndexUpdate::Unchanged;
    }
    let lock_path = with_suffix(index_path, ".lock");
    let lock = match OpenOptions::new()
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
    drop(lock);
    let copy_path = with_suffix(index_path, ".mtimestamp");
    let result = write_refreshed_copy(index_path, &copy_path, verified).and_then(|entries| {
        fs::rename(&copy_path, &lock_path)?;
        fs::rename(&lock_path, index_path)?;
        Ok(entries)
    });
    match result {
        Ok(entries) => IndexUpdate::Refreshed { entries },
        Err(e) => {
            let _ = fs::remove_file(&copy_path);
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

/// Copies the index to `copy_path`, updates the copy's entries and writes it. Returns how many
/// entries got new stat data.
fn write_refreshed_copy(
    index_path: &Path,
    copy_path: &Path,
    verified: &[VerifiedStat],
) -> io::Result<usize> {
    fs::copy(index_path, copy_path)?;
    let index_mtime = FileStat::of(index_path)?.mtime;
    let mut index = Index::open(copy_path).map_err(io::Error::other)?;
    let mut refreshed = 0;
    for file in verified {
        if set_entry_stat(&mut index, file)? {
            refreshed += 1;
        }
    }
    smudge_racily_clean(&mut index, index_mtime, verified);
    index.write().map_err(io::Error::other)?;
    Ok(refreshed)
}

/// Overwrites the stat fields of `file`'s stage-0 entry in place, when the entry still holds
/// the verified blob. git2 only offers `Index::add` for changes, which also invalidates the
/// cached tree of every directory above the path and would slow the next `git status`; the
/// stat fields are not part of any key, so changing them in place is safe.
fn set_entry_stat(index: &mut Index, file: &VerifiedStat) -> io::Result<bool> {
    let path = CString::new(file.path.as_slice()).map_err(io::Error::other)?;
    // SAFETY: the index is open and owned by this thread; the entry pointer is valid until the
    // index changes, and only plain fields of it are written here.
    unsafe {
        let entry = libgit2_sys::git_index_get_bypath(index.raw(), path.as_ptr(), 0);
        if entry.is_null() {
            return Ok(false);
        }
        let entry = entry as *mut libgit2_sys::git_index_entry;
        if Oid::from_raw(&(*entry).id) != file.blob {
            return Ok(false);
        }
        let stat = &file.stat;
        (*entry).ctime = index_time(stat.ctime);
        (*entry).mtime = index_time(stat.mtime);
        (*entry).dev = stat.dev as u32;
        (*entry).ino = stat.ino as u32;
        (*entry).uid = stat.uid;
        (*entry).gid = stat.gid;
        (*entry).file_size = stat.size as u32;
    }
    Ok(true)
}

/// An entry whose mtime is not older than the index file it was read from is "racily clean":
/// git cannot tell from stat data alone whether the file changed within the same tick, so it
/// compares content. Rewriting the index gives it a new, later mtime and would hide that
/// doubt; git therefore zeroes the size of such entries when it writes, and so does this.
fn smudge_racily_clean(
    index: &mut Index,
    index_mtime: crate::Timestamp,
    verified: &[VerifiedStat],
) {
    let refreshed: std::collections::HashSet<&[u8]> =
        verified.iter().map(|v| v.path.as_slice()).collect();
    let count = index.len();
    for position in 0..count {
        // SAFETY: as in set_entry_stat; `position` is within bounds.
        unsafe {
            let entry = libgit2_sys::git_index_get_byindex(index.raw(), position);
            if entry.is_null() {
                continue;
            }
            let entry = entry as *mut libgit2_sys::git_index_entry;
            let mtime = crate::Timestamp {
                seconds: (*entry).mtime.seconds as i64,
                nanos: (*entry).mtime.nanoseconds,
            };
            let path = std::ffi::CStr::from_ptr((*entry).path).to_bytes();
            if mtime >= index_mtime && !refreshed.contains(path) {
                (*entry).file_size = 0;
            }
        }
    }
}

fn index_time(time: crate::Timestamp) -> libgit2_sys::git_index_time {
    libgit2_sys::git_index_time {
        seconds: time.seconds as i32,
        nanoseconds: time.nanos,
    }
}
