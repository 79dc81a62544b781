//! Reading a file's stat data, setting its mtime, and checking its content against a blob.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use filetime::FileTime;
use git2::{Binding, ObjectType, Oid, Repository};

use crate::report::Timestamp;

/// The stat data git keeps in its index, plus the access time (kept as it was when the mtime
/// is set). Taken with `lstat`: symlinks are never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub atime: Timestamp,
    pub size: u64,
    pub ino: u64,
    pub dev: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl FileStat {
    pub fn of(path: &Path) -> io::Result<FileStat> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(FileStat {
            mtime: Timestamp {
                seconds: meta.mtime(),
                nanos: meta.mtime_nsec() as u32,
            },
            ctime: Timestamp {
                seconds: meta.ctime(),
                nanos: meta.ctime_nsec() as u32,
            },
            atime: Timestamp {
                seconds: meta.atime(),
                nanos: meta.atime_nsec() as u32,
            },
            size: meta.size(),
            ino: meta.ino(),
            dev: meta.dev(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    /// `lstat` of `relative` below the open directory `dir`.
    pub fn at(dir: impl rustix::fd::AsFd, relative: &[u8]) -> io::Result<FileStat> {
        let st = rustix::fs::statat(
            dir,
            std::ffi::OsStr::from_bytes(relative),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(FileStat {
            mtime: Timestamp {
                seconds: st.st_mtime as i64,
                nanos: st.st_mtime_nsec as u32,
            },
            ctime: Timestamp {
                seconds: st.st_ctime as i64,
                nanos: st.st_ctime_nsec as u32,
            },
            atime: Timestamp {
                seconds: st.st_atime as i64,
                nanos: st.st_atime_nsec as u32,
            },
            size: st.st_size as u64,
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
        })
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & 0o170000 == 0o120000
    }

    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }

    pub fn is_executable(&self) -> bool {
        self.mode & 0o100 != 0
    }

    /// True when nothing that a write, a rename or a chmod changes differs. The access time is
    /// left out: reading the file changes it.
    pub fn same_file_state(&self, other: &FileStat) -> bool {
        FileStat {
            atime: other.atime,
            ..*self
        } == *other
    }
}

/// Sets `path`'s mtime without following a symlink at `path`; the access time stays `atime`.
pub(crate) fn set_mtime(path: &Path, mtime: Timestamp, atime: Timestamp) -> io::Result<()> {
    filetime::set_symlink_file_times(
        path,
        FileTime::from_unix_time(atime.seconds, atime.nanos),
        FileTime::from_unix_time(mtime.seconds, mtime.nanos),
    )
}

/// Sets `path`'s mtime to the current time, for a file that changed under the sync.
pub(crate) fn set_mtime_now(path: &Path) -> io::Result<()> {
    let now = FileTime::now();
    filetime::set_symlink_file_times(path, now, now)
}

/// Hashes work-tree files the way `git add` would, so that the result can be compared with the
/// blob id in the index.
pub(crate) struct ContentHasher<'r> {
    /// None when no attributes file or config can make a filter apply: then the bytes on disk
    /// are the blob, and hashing needs no attribute lookups.
    filters: Option<&'r Repository>,
}

impl<'r> ContentHasher<'r> {
    pub fn with_filters(repo: &'r Repository) -> Self {
        ContentHasher {
            filters: Some(repo),
        }
    }

    pub fn without_filters() -> Self {
        ContentHasher { filters: None }
    }

    /// True when `relative` has a `filter` driver (Git LFS, git-crypt, ...). libgit2 cannot run
    /// drivers, so such a file's content cannot be compared with its blob.
    pub fn has_filter_driver(&self, relative: &[u8]) -> bool {
        let Some(repo) = self.filters else {
            return false;
        };
        let path = Path::new(std::ffi::OsStr::from_bytes(relative));
        match repo.get_attr_bytes(path, "filter", git2::AttrCheckFlags::FILE_THEN_INDEX) {
            Ok(Some(value)) => !matches!(
                git2::AttrValue::from_bytes(Some(value)),
                git2::AttrValue::False | git2::AttrValue::Unspecified
            ),
            Ok(None) => false,
            // When the attributes cannot be read, assume the worst: the file is left alone.
            Err(_) => true,
        }
    }

    /// The blob id of the work-tree file at `absolute` (tracked as `relative`), or of the
    /// symlink's target when `symlink` is true.
    pub fn hash(&self, absolute: &Path, relative: &[u8], symlink: bool) -> io::Result<Oid> {
        if symlink {
            let target = std::fs::read_link(absolute)?;
            return Oid::hash_object(ObjectType::Blob, target.as_os_str().as_bytes())
                .map_err(io::Error::other);
        }
        match self.filters {
            None => Oid::hash_file(ObjectType::Blob, absolute).map_err(io::Error::other),
            Some(repo) => hash_with_filters(repo, absolute, relative),
        }
    }
}

fn hash_with_filters(repo: &Repository, absolute: &Path, relative: &[u8]) -> io::Result<Oid> {
    {
        // git2 does not wrap git_repository_hashfile, the one libgit2 call that applies the
        // repository's filters (eol conversion, ident, working-tree-encoding) while hashing.
        unsafe extern "C" {
            fn git_repository_hashfile(
                out: *mut libgit2_sys::git_oid,
                repo: *mut libgit2_sys::git_repository,
                path: *const std::ffi::c_char,
                kind: libgit2_sys::git_object_t,
                as_path: *const std::ffi::c_char,
            ) -> std::ffi::c_int;
        }
        let path = CString::new(absolute.as_os_str().as_bytes()).map_err(io::Error::other)?;
        let as_path = CString::new(relative).map_err(io::Error::other)?;
        let mut out = libgit2_sys::git_oid {
            id: [0; libgit2_sys::GIT_OID_MAX_SIZE],
        };
        // SAFETY: all pointers are valid for the call; libgit2 is initialised because a
        // Repository exists, and the repository is only used from this thread.
        let code = unsafe {
            git_repository_hashfile(
                &mut out,
                repo.raw(),
                path.as_ptr(),
                libgit2_sys::GIT_OBJECT_BLOB,
                as_path.as_ptr(),
            )
        };
        if code < 0 {
            return Err(io::Error::other(
                git2::Error::last_error(code).message().to_owned(),
            ));
        }
        // SAFETY: `out` was filled in by libgit2 and lives for the call.
        Ok(unsafe { Oid::from_raw(&out) })
    }
}
