//! Reading a work-tree file and comparing it with a blob, as `git status` does: through the
//! conversions git applies on the way into the repository. The file is reached as every file
//! is (see [`crate::fs`]): by name in its open directory, never through a symlink.

use std::ffi::OsStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use git2::{Oid, Repository};
use rustix::fs::{Mode, OFlags};
use sha1::Digest;

use crate::attributes::{AttrState, ConversionAttributes, GitAttributes};
use crate::convert::{ConvertConfig, FilterDriver, ToGit};

/// Reads work-tree files and compares them with blobs the way `git status` does: through the
/// conversions git applies on the way into the repository (see [`crate::convert`]).
pub(crate) struct ContentHasher<'r> {
    /// None when no attributes file or config can make a conversion apply: then the bytes on
    /// disk are the blob, and hashing needs no attribute lookups.
    filters: Option<Filters<'r>>,
}

struct Filters<'r> {
    repo: &'r Repository,
    config: ConvertConfig,
    /// git's own attributes for the files about to be read, when git could be asked; libgit2
    /// answers for the others.
    asked: Option<&'r GitAttributes>,
}

impl<'r> ContentHasher<'r> {
    pub fn with_filters(repo: &'r Repository) -> Self {
        ContentHasher {
            filters: Some(Filters {
                repo,
                config: ConvertConfig::of(repo),
                asked: None,
            }),
        }
    }

    pub fn without_filters() -> Self {
        ContentHasher { filters: None }
    }

    /// Takes the attributes of the paths `asked` holds from it, that is from git.
    pub fn answered_by(mut self, asked: Option<&'r GitAttributes>) -> Self {
        if let Some(filters) = &mut self.filters {
            filters.asked = asked;
        }
        self
    }

    /// The `filter` driver of `relative` (Git LFS, git-crypt, ...), when one is configured:
    /// this tool cannot run drivers, so such a file's content cannot be compared with its
    /// blob. A driver the configuration does not define is a no-op for git, and for this tool.
    /// git's answer when it was asked about `relative`, libgit2's otherwise.
    pub fn filter_driver(&self, relative: &[u8]) -> Option<FilterDriver> {
        let filters = self.filters.as_ref()?;
        // No driver configured, none to find: a warm sync of a repository with attributes
        // files (git/git, dagger/dagger) spent most of its time on these look-ups.
        if !filters.config.any_driver() {
            return None;
        }
        if let Some(attributes) = filters.asked.and_then(|asked| asked.get(relative)) {
            return filters.config.driver(&attributes.filter);
        }
        let path = Path::new(OsStr::from_bytes(relative));
        let flags = git2::AttrCheckFlags::FILE_THEN_INDEX;
        match filters.repo.get_attr_bytes(path, "filter", flags) {
            Ok(value) => filters.config.driver(&AttrState::from_libgit2(value)),
            // When the attributes cannot be read, assume the worst: the file is left alone.
            Err(_) => Some(FilterDriver {
                name: b"(attributes unreadable)".to_vec(),
                required: false,
            }),
        }
    }

    /// True when git's `git status` would find the symlink `name` in `dir` (tracked as
    /// `blob` in the index) unchanged: its target is the blob.
    pub fn symlink_matches(&self, dir: BorrowedFd<'_>, name: &[u8], blob: Oid) -> io::Result<bool> {
        let target = rustix::fs::readlinkat(dir, OsStr::from_bytes(name), Vec::new())?;
        Ok(crate::objects::blob_id(target.as_bytes()) == blob)
    }

    /// True when git's `git status` would find the open `file` (tracked as `relative`, and as
    /// `blob` in the index) unchanged: its content, converted as git converts it, is the blob.
    /// `size` is its size as the stat call before found it. The file is read from its start,
    /// whatever its position, so that one handle can be read again after the stamp; exactly
    /// `size` bytes are read, and a file shorter than that is an error. A file that grew is
    /// caught by the stat call after the read, which the caller makes.
    pub fn matches(
        &self,
        file: &std::fs::File,
        relative: &[u8],
        size: u64,
        blob: Oid,
    ) -> io::Result<bool> {
        let Some(filters) = &self.filters else {
            return Ok(hash_blob(file, size)? == blob);
        };
        let from_git = filters.asked.and_then(|asked| asked.get(relative));
        let attributes = match from_git {
            Some(attributes) => attributes.clone(),
            None => ConversionAttributes::from_libgit2(filters.repo, relative)
                .map_err(io::Error::other)?,
        };
        let to_git = ToGit::new(&attributes, &filters.config).map_err(|reason| {
            io::Error::other(format!("cannot compare the content with git's: {reason:?}"))
        })?;
        if to_git.keeps_content() {
            return Ok(hash_blob(file, size)? == blob);
        }
        Ok(to_git.matches(read_whole(file, size)?, blob))
    }
}

/// Opens `name` in `dir` for reading, without following a symlink, and without blocking
/// should it have become a FIFO: the caller checks from the handle that it is a file.
pub(crate) fn open_file(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<std::fs::File> {
    let fd = rustix::fs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(fd.into())
}

/// Reads `file` from offset 0 into `buffer` piece by piece until `size` bytes have come,
/// handing each piece to `piece`. No read past `size` is made to find the end: the stat data
/// taken after the read tells whether the file changed (see [`ContentHasher::matches`]).
fn read_exactly(
    file: &std::fs::File,
    size: u64,
    buffer: &mut [u8],
    mut piece: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut read = 0u64;
    while read < size {
        let want = buffer
            .len()
            .min(usize::try_from(size - read).unwrap_or(usize::MAX));
        let n = file.read_at(&mut buffer[..want], read)?;
        if n == 0 {
            // The file is shorter than stat said: it changed, and cannot be the blob.
            return Err(io::Error::other("the file changed while it was read"));
        }
        piece(&buffer[..n]);
        read += n as u64;
    }
    Ok(())
}

/// Each thread's buffer for reading files in pieces: a fresh one per file would be zeroed
/// each time, 64 KiB for every file of a cold sync.
fn with_buffer<T>(read: impl FnOnce(&mut [u8]) -> T) -> T {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 * 1024]);
    }
    BUFFER.with_borrow_mut(|buffer| read(buffer))
}

/// The whole content of `file`, which must be `size` bytes long (see [`read_exactly`]).
fn read_whole(file: &std::fs::File, size: u64) -> io::Result<Vec<u8>> {
    let mut content = Vec::with_capacity(usize::try_from(size).map_err(io::Error::other)?);
    with_buffer(|buffer| {
        read_exactly(file, size, buffer, |piece| content.extend_from_slice(piece))
    })?;
    Ok(content)
}

/// The blob id of `file`'s content, which must be `size` bytes long: the SHA-1 of
/// `blob <size>\0` and the bytes, read in pieces so that a large file is never held in memory
/// whole.
fn hash_blob(file: &std::fs::File, size: u64) -> io::Result<Oid> {
    let mut sha = sha1::Sha1::new();
    sha.update(format!("blob {size}\0").as_bytes());
    with_buffer(|buffer| read_exactly(file, size, buffer, |piece| sha.update(piece)))?;
    Oid::from_bytes(&sha.finalize()).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_hash_like_git() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "hello\n").unwrap();
        let file = std::fs::File::open(dir.path().join("f")).unwrap();
        // `echo hello | git hash-object --stdin`
        assert_eq!(
            hash_blob(&file, 6).unwrap().to_string(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        // The handle is read from its start each time: the read-back after a stamp reads
        // the same handle again.
        assert_eq!(hash_blob(&file, 6).unwrap(), hash_blob(&file, 6).unwrap());
        assert_eq!(read_whole(&file, 6).unwrap(), b"hello\n");
        // Shorter than stat said: it changed in between, no answer.
        assert!(hash_blob(&file, 7).is_err());
        assert!(read_whole(&file, 7).is_err());
        // Longer: exactly the size asked is read (the stat call after the read, which must
        // agree with the one before, catches a file that grew).
        assert_eq!(read_whole(&file, 5).unwrap(), b"hello");
        assert_eq!(
            hash_blob(&file, 5).unwrap(),
            Oid::hash_object(git2::ObjectType::Blob, b"hello").unwrap()
        );
    }
}
