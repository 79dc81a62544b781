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
use rustix::fs::OFlags;
use sha1::Digest;

use crate::attributes::{AttrState, ConversionAttributes, GitAttributes};
use crate::convert::{ConvertConfig, FilterDriver, ToGit};

/// Reads work-tree files and compares them with blobs the way `git status` does: through the
/// conversions git applies on the way into the repository (see [`crate::convert`]).
pub(crate) struct ContentHasher<'r> {
    /// None when no attributes file or config can make a conversion apply: then the bytes on
    /// disk are the blob, and hashing needs no attribute lookups.
    filters: Option<Filters<'r>>,
    /// What the last [`ContentHasher::matches`] read, for [`ContentHasher::matches_again`].
    kept: std::cell::RefCell<KeptContent>,
}

/// The bytes of the last file found to match its blob. The read-back after a stamp then
/// compares bytes instead of converting and hashing them again: equal bytes at the same path
/// convert to the same blob. Hashing every file twice was an eighth of a cold sync's CPU time
/// on dagger/dagger.
#[derive(Default)]
struct KeptContent {
    /// The blob and the path the bytes were found to match; None when nothing is kept.
    matched: Option<(Oid, Vec<u8>)>,
    /// The bytes, at the start of `buffer`.
    len: usize,
    /// Never shortened (only let go when large), so that only its growth is ever zeroed:
    /// zeroing each file's size before reading it was 2% of a cold sync's instructions.
    buffer: Vec<u8>,
}

/// Files up to this size are kept for the read-back (dagger/dagger's largest is 3 MB); larger
/// ones are hashed again.
const KEEP_UP_TO: u64 = 8 << 20;

/// A kept buffer larger than this is let go after use, so that one large file does not hold
/// its size in every stamping thread to the end.
const KEEP_CAPACITY: usize = 1 << 20;

impl KeptContent {
    /// Forgets the kept bytes, ready to keep the next file's.
    fn forget(&mut self) {
        self.matched = None;
        self.len = 0;
        if self.buffer.len() > KEEP_CAPACITY {
            self.buffer = Vec::new();
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

struct Filters<'r> {
    repo: &'r LazyRepository<'r>,
    config: &'r ConvertConfig,
    /// git's own attributes for the files about to be read, when git could be asked; libgit2
    /// answers for the others.
    asked: Option<&'r GitAttributes>,
}

/// A stamping thread's own repository handle (libgit2's are not shared between threads),
/// opened the first time it is needed: libgit2 answers only for the attributes of paths git
/// was not asked about, which is seldom, and opening one took each thread a millisecond of a
/// 20 ms sync after new commits on git/git.
pub(crate) struct LazyRepository<'a> {
    git_dir: &'a Path,
    root: &'a Path,
    opened: std::cell::OnceCell<Option<Repository>>,
}

impl<'a> LazyRepository<'a> {
    pub fn new(git_dir: &'a Path, root: &'a Path) -> Self {
        LazyRepository {
            git_dir,
            root,
            opened: std::cell::OnceCell::new(),
        }
    }

    /// The handle; None when the repository cannot be opened.
    fn get(&self) -> Option<&Repository> {
        self.opened
            .get_or_init(|| crate::open::open_again(self.git_dir, self.root).ok())
            .as_ref()
    }
}

impl<'r> ContentHasher<'r> {
    /// A hasher that applies git's conversions, configured by `config`; `repo` is opened
    /// only if libgit2 must answer for attributes git was not asked about.
    pub fn with_filters(repo: &'r LazyRepository<'r>, config: &'r ConvertConfig) -> Self {
        ContentHasher {
            filters: Some(Filters {
                repo,
                config,
                asked: None,
            }),
            kept: Default::default(),
        }
    }

    pub fn without_filters() -> Self {
        ContentHasher {
            filters: None,
            kept: Default::default(),
        }
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
        let looked_up = match filters.repo.get() {
            Some(repo) => repo.get_attr_bytes(path, "filter", flags),
            None => Err(git2::Error::from_str("the repository cannot be opened")),
        };
        match looked_up {
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
    /// caught by the stat call after the read, which the caller makes. The bytes of a file
    /// that matches are kept for [`ContentHasher::matches_again`].
    pub fn matches(
        &self,
        file: &std::fs::File,
        relative: &[u8],
        size: u64,
        blob: Oid,
    ) -> io::Result<bool> {
        let mut kept = self.kept.borrow_mut();
        kept.forget();
        let to_git = self.conversion(relative)?;
        if size > KEEP_UP_TO {
            return Ok(match to_git {
                None => hash_blob(file, size)? == blob,
                Some(to_git) => to_git.matches(read_whole(file, size)?, blob),
            });
        }
        let bytes = read_into(file, size, &mut kept.buffer)?;
        let same = match to_git {
            None => crate::objects::blob_id(bytes) == blob,
            Some(to_git) => to_git.matches(bytes.to_vec(), blob),
        };
        if same {
            kept.len = bytes.len();
            kept.matched = Some((blob, relative.to_vec()));
        }
        Ok(same)
    }

    /// [`ContentHasher::matches`] for a file read again after its stamp: when the last file
    /// found to match was this path and blob, and its bytes were kept, `file` must hold
    /// exactly those bytes; otherwise it is converted and hashed again.
    pub fn matches_again(
        &self,
        file: &std::fs::File,
        relative: &[u8],
        size: u64,
        blob: Oid,
    ) -> io::Result<bool> {
        let kept = self.kept.borrow();
        let same_file = kept
            .matched
            .as_ref()
            .is_some_and(|(kept_blob, kept_path)| *kept_blob == blob && kept_path == relative);
        if !same_file {
            drop(kept);
            return self.matches(file, relative, size, blob);
        }
        let kept = kept.bytes();
        if kept.len() as u64 != size {
            return Ok(false);
        }
        let mut at = 0;
        let mut same = true;
        with_buffer(|buffer| {
            read_exactly(file, size, buffer, |piece| {
                same &= kept[at..at + piece.len()] == *piece;
                at += piece.len();
            })
        })?;
        Ok(same)
    }

    /// How git converts `relative` on its way into the repository; None when the bytes on
    /// disk are the blob's.
    fn conversion(&self, relative: &[u8]) -> io::Result<Option<ToGit>> {
        let Some(filters) = &self.filters else {
            return Ok(None);
        };
        let from_git = filters.asked.and_then(|asked| asked.get(relative));
        let attributes = match from_git {
            Some(attributes) => attributes.clone(),
            None => {
                let repo = filters.repo.get().ok_or_else(|| {
                    io::Error::other("the repository cannot be opened to read attributes")
                })?;
                ConversionAttributes::from_libgit2(repo, relative).map_err(io::Error::other)?
            }
        };
        let to_git = ToGit::new(&attributes, filters.config).map_err(|reason| {
            io::Error::other(format!("cannot compare the content with git's: {reason:?}"))
        })?;
        Ok((!to_git.keeps_content()).then_some(to_git))
    }
}

/// Opens `name` in `dir` for reading, without following a symlink, and without blocking
/// should it have become a FIFO: the caller checks from the handle that it is a file.
pub(crate) fn open_file(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<std::fs::File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(crate::fs::open_to_read(dir, OsStr::from_bytes(name), flags)?.into())
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
    let mut content = Vec::new();
    read_into(file, size, &mut content)?;
    Ok(content)
}

/// Reads the whole content of `file`, which must be `size` bytes long, into the start of
/// `buffer`, with no copy through a smaller buffer (one read for most files), and returns it.
/// `buffer` grows as needed and is never shortened.
fn read_into<'b>(file: &std::fs::File, size: u64, buffer: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
    let size = usize::try_from(size).map_err(io::Error::other)?;
    if buffer.len() < size {
        buffer.resize(size, 0);
    }
    let content = &mut buffer[..size];
    let mut read = 0;
    while read < size {
        let n = file.read_at(&mut content[read..], read as u64)?;
        if n == 0 {
            // The file is shorter than stat said: it changed, and cannot be the blob.
            return Err(io::Error::other("the file changed while it was read"));
        }
        read += n;
    }
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

    /// The read-back after a stamp compares the bytes the check before it kept: an edit in
    /// between that keeps the size is caught, and bytes kept for another path or blob are
    /// never taken for this file's.
    #[test]
    fn the_read_back_compares_with_the_bytes_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "hello\n").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let blob = Oid::hash_object(git2::ObjectType::Blob, b"hello\n").unwrap();
        let hasher = ContentHasher::without_filters();
        assert!(hasher.matches(&file, b"f", 6, blob).unwrap());
        assert!(hasher.matches_again(&file, b"f", 6, blob).unwrap());
        // Same size, other bytes: the file the read-back sees is not the blob.
        std::fs::write(&path, "jello\n").unwrap();
        assert!(!hasher.matches_again(&file, b"f", 6, blob).unwrap());
        // Another size than the bytes kept.
        std::fs::write(&path, "hello\n!").unwrap();
        assert!(!hasher.matches_again(&file, b"f", 7, blob).unwrap());

        // Kept for "f" and `blob`: asked about another path, or another blob, it hashes.
        std::fs::write(&path, "hello\n").unwrap();
        assert!(hasher.matches(&file, b"f", 6, blob).unwrap());
        std::fs::write(&path, "jello\n").unwrap();
        let jello = Oid::hash_object(git2::ObjectType::Blob, b"jello\n").unwrap();
        assert!(hasher.matches_again(&file, b"f", 6, jello).unwrap());
        assert!(!hasher.matches_again(&file, b"g", 6, blob).unwrap());
        // A file that did not match keeps nothing to compare with.
        assert!(!hasher.matches(&file, b"f", 6, blob).unwrap());
        assert!(!hasher.matches_again(&file, b"f", 6, blob).unwrap());
    }
}
