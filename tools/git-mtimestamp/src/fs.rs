//! File-system primitives: a file's stat data, reaching tracked files without following a
//! symlink at any level, and setting times. Comparing a file's content with a blob is in
//! [`content`].

pub(crate) mod content;

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

use crate::report::{SkipReason, Timestamp};

/// The stat data git keeps in its index, plus the access time (kept as it was when the mtime
/// is set). Taken with `lstat` or from an open file: symlinks are never followed.
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
    #[cfg(test)]
    pub fn of(path: &Path) -> io::Result<FileStat> {
        Ok(FileStat::from_metadata(&std::fs::symlink_metadata(path)?))
    }

    pub fn from_metadata(meta: &std::fs::Metadata) -> FileStat {
        FileStat {
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
        }
    }

    /// `fstat` of an open file or directory.
    pub fn of_fd(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
        let st = rustix::fs::fstat(fd)?;
        Ok(FileStat::from_raw(&st))
    }

    /// `lstat` of `relative` below the open directory `dir`.
    pub fn at(dir: impl rustix::fd::AsFd, relative: &[u8]) -> io::Result<FileStat> {
        let st = rustix::fs::statat(
            dir,
            std::ffi::OsStr::from_bytes(relative),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(FileStat::from_raw(&st))
    }

    // The fields' types differ between platforms' `stat`, so the casts stay.
    #[allow(clippy::unnecessary_cast)]
    fn from_raw(st: &rustix::fs::Stat) -> FileStat {
        FileStat {
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
        }
    }

    // The mode is the file system's (`st_mode`), not git's: its kind and permissions are
    // read with the file system's types.
    pub fn is_symlink(&self) -> bool {
        FileType::from_raw_mode(self.mode).is_symlink()
    }

    pub fn is_file(&self) -> bool {
        FileType::from_raw_mode(self.mode).is_file()
    }

    /// Executable for its owner: what git's `core.filemode` compares.
    pub fn is_executable(&self) -> bool {
        Mode::from_raw_mode(self.mode).contains(Mode::XUSR)
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

/// Open directories below the work-tree root, each opened by name in its open parent without
/// following a symlink, with its handle or the reason the paths below it are left alone; the
/// ones used last are kept open, up to [`KEEP_OPEN`]. Paths mostly come in the index's order,
/// so the next path's parent is mostly open already: the kernel then resolves one path
/// component per file and per directory. The stamping reaches the files it touches this way
/// (the stat calls before it only look, by path from the top: see [`TreeStats`]); reopening
/// a file's whole chain whenever its directory changed cost a cold sync of dagger/dagger (a
/// deep tree with few files per directory) three directory opens per file. Files stamped as a history walk
/// answers them come in batches of paths from all over the tree: keeping only the last
/// file's chain open cost the synthetic 50,000-commit repository (ten directories deep)
/// three times as many opens as files.
#[derive(Default)]
struct DirectoryChain {
    open: rustc_hash::FxHashMap<Vec<u8>, OpenDirectory>,
    /// Counts lookups, to tell which directories were used last.
    clock: u64,
}

struct OpenDirectory {
    fd: Result<std::rc::Rc<OwnedFd>, SkipReason>,
    used: u64,
}

/// How many directories each [`DirectoryChain`] keeps open: four threads' worth stays well
/// under the usual limit of 1,024 open files.
const KEEP_OPEN: usize = 128;

impl DirectoryChain {
    /// The open parent of `relative` (`root` itself for a file at the top) and the name in
    /// it, or why the path is left alone: a leading directory that is a symlink
    /// ([`SkipReason::BeyondSymlink`]), not a directory ([`SkipReason::TypeChanged`]) or gone
    /// ([`SkipReason::Deleted`]).
    fn parent_of<'a, 'p>(
        &'a mut self,
        root: BorrowedFd<'a>,
        relative: &'p [u8],
    ) -> Result<(BorrowedFd<'a>, &'p [u8]), SkipReason> {
        let (parent, name) = match relative.iter().rposition(|&b| b == b'/') {
            Some(slash) => (&relative[..slash], &relative[slash + 1..]),
            None => return Ok((root, relative)),
        };
        self.clock += 1;
        if self.open.len() > KEEP_OPEN {
            // Closes the half used longest ago; nothing of this call is open yet.
            let mut uses: Vec<u64> = self.open.values().map(|open| open.used).collect();
            let (_, &mut oldest_kept, _) = uses.select_nth_unstable(self.open.len() / 2);
            self.open.retain(|_, open| open.used >= oldest_kept);
        }
        // The deepest directory on the way that is open already, then the rest opened one
        // component at a time below it.
        let mut start = parent.len();
        let mut below: Option<Result<std::rc::Rc<OwnedFd>, SkipReason>> = None;
        loop {
            if let Some(open) = self.open.get_mut(&parent[..start]) {
                open.used = self.clock;
                below = Some(open.fd.clone());
                break;
            }
            match parent[..start].iter().rposition(|&b| b == b'/') {
                Some(slash) => start = slash,
                None => {
                    start = 0;
                    break;
                }
            }
        }
        while start < parent.len() {
            let from = if below.is_some() { start + 1 } else { start };
            let end = parent[from..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(parent.len(), |at| from + at);
            let fd = match &below {
                None => open_directory(root, &parent[from..end]).map(std::rc::Rc::new),
                Some(Ok(fd)) => {
                    open_directory(fd.as_fd(), &parent[from..end]).map(std::rc::Rc::new)
                }
                Some(Err(reason)) => Err(*reason),
            };
            let open = OpenDirectory {
                fd: fd.clone(),
                used: self.clock,
            };
            self.open.insert(parent[..end].to_vec(), open);
            below = Some(fd);
            start = end;
        }
        match &self.open[parent].fd {
            Ok(fd) => Ok((fd.as_fd(), name)),
            Err(reason) => Err(*reason),
        }
    }
}

/// `lstat` of tracked files in the index's order, with the check that every leading
/// directory of each is a real directory: a symlinked directory leads outside what git
/// tracks, and nothing below it may be touched. As in git (`has_symlink_leading_path`), each
/// leading directory is checked once, by `lstat` from the top, and each file is `lstat`ed by
/// its whole path from the top. Opening each directory to name its files in it cost three
/// system calls per directory, which in rust-lang/cargo's 1,637 directories for 3,072 files
/// was a fifth of a warm sync. This is only a look: nothing is touched on what these calls
/// find, and the stamping reaches every file it touches through [`SafePaths`].
pub(crate) struct TreeStats<'r> {
    root: BorrowedFd<'r>,
    /// Every leading directory checked so far, and why what is below it is left alone.
    checked: crate::path_map::PathMap<Result<(), SkipReason>>,
    /// The mtime of every directory checked: a directory whose mtime is already right needs
    /// no second look (see `directories.rs`).
    pub directory_mtimes: Vec<(Vec<u8>, Timestamp)>,
}

impl<'r> TreeStats<'r> {
    pub fn new(root: BorrowedFd<'r>) -> Self {
        TreeStats {
            root,
            checked: Default::default(),
            directory_mtimes: Vec::new(),
        }
    }

    /// The stat data of `relative`, or why the file is left alone: a leading directory that
    /// is a symlink ([`SkipReason::BeyondSymlink`]), not a directory
    /// ([`SkipReason::TypeChanged`]) or gone ([`SkipReason::Deleted`]), or the file gone.
    pub fn stat(&mut self, relative: &[u8]) -> Result<FileStat, SkipReason> {
        if let Some(slash) = relative.iter().rposition(|&b| b == b'/') {
            self.check_directory(&relative[..slash])?;
        }
        FileStat::at(self.root, relative).map_err(|_| SkipReason::Deleted)
    }

    /// Whether `dir` and every directory above it are real directories (see [`Self::stat`]).
    fn check_directory(&mut self, dir: &[u8]) -> Result<(), SkipReason> {
        if let Some(known) = self.checked.get(dir) {
            return *known;
        }
        let above = match dir.iter().rposition(|&b| b == b'/') {
            Some(slash) => self.check_directory(&dir[..slash]),
            None => Ok(()),
        };
        let checked = above.and_then(|()| match FileStat::at(self.root, dir) {
            Ok(stat) if stat.mode & 0o170000 == 0o040000 => {
                self.directory_mtimes.push((dir.to_vec(), stat.mtime));
                Ok(())
            }
            Ok(stat) if stat.is_symlink() => Err(SkipReason::BeyondSymlink),
            Ok(_) => Err(SkipReason::TypeChanged),
            Err(_) => Err(SkipReason::Deleted),
        });
        self.checked.insert(dir.to_vec(), checked);
        checked
    }
}

/// A handle on directory `name` in `parent`, only for naming what is inside (`O_PATH`: no
/// read permission needed); a symlink is not followed.
fn open_directory(parent: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, SkipReason> {
    let name = OsStr::from_bytes(name);
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(parent, name, flags, Mode::empty()).map_err(|_| {
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_symlink() => {
                SkipReason::BeyondSymlink
            }
            Ok(_) => SkipReason::TypeChanged,
            Err(_) => SkipReason::Deleted,
        }
    })
}

/// Tracked files reached without following symlinks: each leading directory is opened from
/// the work-tree root one component at a time with `O_NOFOLLOW` (see [`DirectoryChain`]), and
/// the file itself is named relative to its directory and never followed either. A directory
/// that turns into a symlink between the checks and the stamp therefore makes the stamp fail
/// instead of reaching a file outside the work tree.
pub(crate) struct SafePaths {
    root: OwnedFd,
    chain: DirectoryChain,
}

impl SafePaths {
    pub fn open(root: &Path) -> io::Result<SafePaths> {
        let root = rustix::fs::open(root, directory_flags(), Mode::empty())?;
        Ok(SafePaths {
            root,
            chain: DirectoryChain::default(),
        })
    }

    /// The open directory holding `relative`, and the file's name in it; or why the file is
    /// left alone (see [`DirectoryChain::parent_of`]).
    pub fn locate<'p>(
        &mut self,
        relative: &'p [u8],
    ) -> Result<(BorrowedFd<'_>, &'p [u8]), SkipReason> {
        self.chain.parent_of(self.root.as_fd(), relative)
    }
}

fn directory_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens `name` in `dir` to read it with `flags` and, where allowed, `O_NOATIME`. Reading a
/// file or listing a directory to check it is no use of it, and on a fresh checkout (access
/// time equal to modification time) each first read would write the inode back for its new
/// access time: 3% of a cold sync's CPU time on dagger/dagger. Only the owner (or root) may
/// ask for that; for anyone else the file is opened without it.
pub(crate) fn open_to_read(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    flags: OFlags,
) -> io::Result<OwnedFd> {
    match rustix::fs::openat(dir, name, flags | OFlags::NOATIME, Mode::empty()) {
        Err(rustix::io::Errno::PERM) => Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?),
        opened => Ok(opened?),
    }
}

/// What a time is set on: a name in an open directory, not followed if it is a symlink, or an
/// open file or directory. Stamping through the handle that was read reaches the very file
/// that was checked.
#[derive(Clone, Copy)]
pub(crate) enum TimesOf<'a> {
    Name(BorrowedFd<'a>, &'a [u8]),
    Open(BorrowedFd<'a>),
}

/// Sets the mtime of `target`; the access time stays `atime`.
pub(crate) fn set_mtime(target: TimesOf<'_>, mtime: Timestamp, atime: Timestamp) -> io::Result<()> {
    let spec = |t: Timestamp| Timespec {
        tv_sec: t.seconds,
        tv_nsec: t.nanos.into(),
    };
    set_times(target, spec(atime), spec(mtime))
}

/// Sets the times of `target` to the current time, for a file that changed under the sync.
pub(crate) fn set_mtime_now(target: TimesOf<'_>) -> io::Result<()> {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    set_times(target, now, now)
}

/// `utimensat` on a name (not following a symlink there), `futimens` on an open file.
fn set_times(
    target: TimesOf<'_>,
    last_access: Timespec,
    last_modification: Timespec,
) -> io::Result<()> {
    let times = Timestamps {
        last_access,
        last_modification,
    };
    match target {
        TimesOf::Name(dir, name) => rustix::fs::utimensat(
            dir,
            OsStr::from_bytes(name),
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )?,
        TimesOf::Open(fd) => rustix::fs::futimens(fd, &times)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory swapped for a symlink after the checks is not followed: the file outside
    /// the work tree cannot be reached, let alone stamped.
    #[test]
    fn safe_paths_refuse_a_directory_that_became_a_symlink() {
        let sandbox = tempfile::tempdir().unwrap();
        let (root, outside) = (sandbox.path().join("root"), sandbox.path().join("outside"));
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("d/f"), "inside").unwrap();
        std::fs::write(outside.join("f"), "outside").unwrap();
        let before = FileStat::of(&outside.join("f")).unwrap();

        let mut paths = SafePaths::open(&root).unwrap();
        assert!(paths.locate(b"d/f").is_ok());
        std::fs::remove_dir_all(root.join("d")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("d")).unwrap();
        // A fresh lookup of the directory must not follow the symlink.
        paths.chain = DirectoryChain::default();
        let refused = paths.locate(b"d/f").map(|_| ()).unwrap_err();
        assert_eq!(refused, SkipReason::BeyondSymlink);
        // The symlink itself, named in the root, is stamped as a symlink, not followed.
        let (dir, name) = paths.locate(b"d").unwrap();
        let old = Timestamp {
            seconds: 1_000_000_000,
            nanos: 5,
        };
        set_mtime(TimesOf::Name(dir, name), old, old).unwrap();
        assert_eq!(FileStat::of(&root.join("d")).unwrap().mtime, old);
        assert_eq!(FileStat::of(&outside.join("f")).unwrap(), before);
    }
}
