//! Reading git's index file directly.
//!
//! A warm sync does little more than read the index and stat every file, so reading the index
//! is a third of its time. libgit2 checks the whole file's SHA-1 and builds hash maps of the
//! entries; a sync needs only the entries in order. Nothing here is trusted blindly: the
//! trailer's SHA-1 is checked as `git fsck` checks it, so a damaged index is refused rather
//! than rewritten with a fresh, valid checksum; and an entry is only ever stamped after its
//! file's content is compared with the entry's blob. A split index is read with its shared
//! index, as git reads it (see [`split`]).

mod ewah;
mod split;

use std::path::{Path, PathBuf};

use git2::Oid;
use sha1::Digest;

use crate::objects::EntryMode;
use crate::report::Timestamp;

pub(crate) use split::{Replacement, SplitIndex, with_replacements};

/// `assume unchanged`.
pub(crate) const FLAG_ASSUME_UNCHANGED: u16 = 0x8000;
const FLAG_EXTENDED: u16 = 0x4000;
pub(crate) const FLAG_EXTENDED_SKIP_WORKTREE: u16 = 1 << 14;
pub(crate) const FLAG_EXTENDED_INTENT_TO_ADD: u16 = 1 << 13;

/// One index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexRecord {
    /// Where the entry starts in the file that holds it: its stat data is the first 40 bytes.
    /// That file is the index file, except for an entry of a split index that is read from
    /// its shared index (see `shared_position`).
    pub offset: usize,
    /// The entry's position in the shared index, when it belongs to a split index and is read
    /// from the shared index as it is there (not replaced by an entry of the index file).
    pub shared_position: Option<usize>,
    pub ctime: Timestamp,
    pub mtime: Timestamp,
    pub ino: u32,
    pub mode: EntryMode,
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
    pub id: Oid,
    pub flags: u16,
    pub flags_extended: u16,
    pub path: Vec<u8>,
}

impl IndexRecord {
    pub fn stage(&self) -> u16 {
        (self.flags >> 12) & 0x3
    }

    /// How git orders entries: by path bytes, then stage.
    fn key(&self) -> (&[u8], u16) {
        (&self.path, self.stage())
    }
}

/// Why an index file could not be read. Most reasons mean that the file is damaged, which
/// `git fsck` confirms; see [`IndexFileError::is_damage`].
#[derive(Debug, thiserror::Error)]
pub enum IndexFileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is not an index file (it does not start with \"DIRC\")")]
    Signature,
    #[error("it is shorter than an index file's header and checksum")]
    Truncated,
    #[error("it is in index format version {0}, which this tool does not read (it reads 2 to 4)")]
    Version(u32),
    #[error("the index is truncated or malformed at entry {0}")]
    Entry(usize),
    #[error("the index is truncated or malformed after its {0} entries")]
    Extensions(usize),
    #[error("the index's checksum does not match its content: the file is damaged")]
    Checksum,
    #[error("its split-index link extension is wrong: {0}")]
    Link(String),
    #[error("it is a split index, and its shared index {} is missing", .path.display())]
    SharedMissing { path: PathBuf },
    #[error(
        "it is a split index, and its shared index {} holds another index (its checksum is {checksum})",
        .path.display()
    )]
    SharedMismatch { path: PathBuf, checksum: String },
    #[error(
        "it is a split index, and its shared index {} cannot be read: {cause}",
        .path.display()
    )]
    Shared {
        path: PathBuf,
        cause: Box<IndexFileError>,
    },
}

impl IndexFileError {
    /// True when the index (or its shared index) is damaged, as far as this reader can tell:
    /// not merely unreadable for this process (permissions) or of a version it does not know.
    pub fn is_damage(&self) -> bool {
        match self {
            IndexFileError::Io(_) | IndexFileError::Version(_) => false,
            IndexFileError::Shared { cause, .. } => cause.is_damage(),
            _ => true,
        }
    }
}

/// git's "racily clean" rule: an entry whose mtime is not older than the index file's cannot
/// be proven unchanged by its stat data, because the file may have been written again within
/// the same tick after git read it. Whole seconds are compared, as git does unless it was built
/// with USE_NSEC (Debian's git 2.39 was not): comparing nanoseconds would call entries safe
/// that such a git still doubts, and an index rewritten with them would hide an edit from it.
pub(crate) fn is_racy(entry_mtime: Timestamp, index_mtime: Timestamp) -> bool {
    entry_mtime.seconds >= index_mtime.seconds
}

/// The entries of the index at `path` as git sees them (a split index merged with its shared
/// index, which is looked for in `git_dir` first, as git does), with the index file's own
/// mtime (for git's racy-clean rule) and its bytes.
pub(crate) fn read_index(
    path: &Path,
    git_dir: &Path,
) -> Result<(Vec<IndexRecord>, Timestamp, Vec<u8>), IndexFileError> {
    let (data, mtime) = read_with_mtime(path)?;
    let index = parse_index(&data, path, git_dir)?;
    Ok((index.entries, mtime, data))
}

/// A file's bytes and the mtime of those very bytes: taken from the open file, so that an
/// index renamed into place meanwhile cannot pair old entries with a newer mtime (which would
/// make racily clean entries look safe).
pub(crate) fn read_with_mtime(path: &Path) -> std::io::Result<(Vec<u8>, Timestamp)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mtime = crate::fs::FileStat::from_metadata(&file.metadata()?).mtime;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok((data, mtime))
}

/// An index as git reads it, with where its parts are in the index file.
pub(crate) struct Index {
    /// The entries git sees, in git's order (for a split index, merged with the shared one's).
    pub entries: Vec<IndexRecord>,
    /// The format version of the index file.
    pub version: u32,
    /// Where the index file's entries end and its extensions begin.
    pub entries_end: usize,
    pub extensions: Vec<Extension>,
    /// What a split index holds besides, `None` for a whole index.
    pub split: Option<SplitIndex>,
}

/// An extension of an index file: its signature, and where it is (its 8-byte header included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extension {
    pub signature: [u8; 4],
    pub start: usize,
    pub end: usize,
}

/// The index in `data`, read from the file `path`. A split index is merged with its shared
/// index `sharedindex.<id>`, which git looks for in `git_dir`, then next to the index file.
pub(crate) fn parse_index(
    data: &[u8],
    path: &Path,
    git_dir: &Path,
) -> Result<Index, IndexFileError> {
    let file = parse_file(data)?;
    match file.extensions.iter().find(|e| &e.signature == b"link") {
        Some(link) => {
            let link = &data[link.start + 8..link.end];
            split::merge(file, link, path, git_dir)
        }
        None => Ok(Index {
            entries: file.entries,
            version: file.version,
            entries_end: file.entries_end,
            extensions: file.extensions,
            split: None,
        }),
    }
}

/// One index file as it is stored: its version, its entries in the order it holds them,
/// where they end, and its extensions.
struct IndexFile {
    version: u32,
    entries: Vec<IndexRecord>,
    entries_end: usize,
    extensions: Vec<Extension>,
}

fn parse_file(data: &[u8]) -> Result<IndexFile, IndexFileError> {
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    if data.get(..4) != Some(b"DIRC") {
        return Err(IndexFileError::Signature);
    }
    let Some(trailer_at) = data.len().checked_sub(20).filter(|&at| at >= 12) else {
        return Err(IndexFileError::Truncated);
    };
    // All zeros means index.skipHash: git wrote no checksum, and checks none.
    let trailer = &data[trailer_at..];
    if trailer.iter().any(|&b| b != 0)
        && sha1::Sha1::digest(&data[..trailer_at]).as_slice() != trailer
    {
        return Err(IndexFileError::Checksum);
    }
    let data = &data[..trailer_at];
    let version = be32(4).ok_or(IndexFileError::Truncated)?;
    if !(2..=4).contains(&version) {
        return Err(IndexFileError::Version(version));
    }
    let count = be32(8).ok_or(IndexFileError::Truncated)? as usize;
    let mut entries = Vec::with_capacity(count.min(data.len() / 62));
    let mut at = 12;
    let mut previous: Vec<u8> = Vec::new();
    for n in 0..count {
        let bad = || IndexFileError::Entry(n);
        let word = |i: usize| be32(at + 4 * i).ok_or_else(bad);
        let time = |i: usize| -> Result<Timestamp, IndexFileError> {
            Ok(Timestamp {
                seconds: i64::from(word(i)?),
                nanos: word(i + 1)?,
            })
        };
        let id = data.get(at + 40..at + 60).ok_or_else(bad)?;
        let flags = u16::from_be_bytes(
            data.get(at + 60..at + 62)
                .ok_or_else(bad)?
                .try_into()
                .unwrap(),
        );
        let mut path_at = at + 62;
        let flags_extended = if flags & FLAG_EXTENDED != 0 && version >= 3 {
            path_at += 2;
            u16::from_be_bytes(
                data.get(at + 62..at + 64)
                    .ok_or_else(bad)?
                    .try_into()
                    .unwrap(),
            )
        } else {
            0
        };
        let record = |path: Vec<u8>| -> Result<IndexRecord, IndexFileError> {
            Ok(IndexRecord {
                offset: at,
                shared_position: None,
                ctime: time(0)?,
                mtime: time(2)?,
                ino: word(5)?,
                mode: EntryMode::from_raw(word(6)?),
                uid: word(7)?,
                gid: word(8)?,
                size: word(9)?,
                id: Oid::from_bytes(id).map_err(|_| bad())?,
                flags,
                flags_extended,
                path,
            })
        };
        if version == 4 {
            // The path is the previous path less N trailing bytes, plus a NUL-terminated suffix.
            let (strip, varint_len) =
                decode_varint(data.get(path_at..).ok_or_else(bad)?).ok_or_else(bad)?;
            let suffix_at = path_at + varint_len;
            let nul = data
                .get(suffix_at..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
                .ok_or_else(bad)?;
            let keep = previous.len().checked_sub(strip).ok_or_else(bad)?;
            previous.truncate(keep);
            previous.extend_from_slice(&data[suffix_at..suffix_at + nul]);
            entries.push(record(previous.clone())?);
            at = suffix_at + nul + 1;
        } else {
            let nul = data
                .get(path_at..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
                .ok_or_else(bad)?;
            entries.push(record(data[path_at..path_at + nul].to_vec())?);
            // Entries are padded with NULs to a multiple of eight bytes.
            at = (path_at + nul + 8 - at) / 8 * 8 + at;
        }
    }
    if at > data.len() {
        return Err(IndexFileError::Entry(count.saturating_sub(1)));
    }
    // Extensions follow, each a signature, a size and that many bytes, up to the trailer.
    let entries_end = at;
    let mut extensions = Vec::new();
    while at < data.len() {
        let signature = data
            .get(at..at + 4)
            .ok_or(IndexFileError::Extensions(count))?;
        let size = be32(at + 4).ok_or(IndexFileError::Extensions(count))? as usize;
        let end = at
            .checked_add(8 + size)
            .filter(|&end| end <= data.len())
            .ok_or(IndexFileError::Extensions(count))?;
        extensions.push(Extension {
            signature: signature.try_into().unwrap(),
            start: at,
            end,
        });
        at = end;
    }
    Ok(IndexFile {
        version,
        entries,
        entries_end,
        extensions,
    })
}

/// git's offset varint (varint.c): seven bits a byte, each continuation adding one.
fn decode_varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut iter = bytes.iter();
    let mut byte = *iter.next()?;
    let mut value = usize::from(byte & 0x7f);
    let mut used = 1;
    while byte & 0x80 != 0 {
        byte = *iter.next()?;
        used += 1;
        value = value.checked_add(1)?.checked_shl(7)? | usize::from(byte & 0x7f);
    }
    Some((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        String::from_utf8(crate::test_git::git(dir, args)).unwrap()
    }

    /// Every version of the format reads back what `git ls-files --stage` lists, including
    /// v4's prefix-compressed paths and v3's extended flags.
    #[test]
    fn index_versions_match_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        for path in ["a.txt", "dir/b.txt", "dir/sub/c.txt", "dir/sub/cc.txt", "z"] {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, path).unwrap();
        }
        git(root, &["add", "."]);
        std::fs::write(root.join("new.txt"), "n").unwrap();
        git(root, &["add", "-N", "new.txt"]);
        git(root, &["update-index", "--skip-worktree", "z"]);
        for version in ["2", "3", "4"] {
            git(root, &["update-index", "--index-version", version]);
            let git_dir = root.join(".git");
            let (entries, _, _) = read_index(&git_dir.join("index"), &git_dir).unwrap();
            let listed: Vec<String> = entries
                .iter()
                .map(|e| {
                    format!(
                        "{:o} {} {}\t{}",
                        e.mode,
                        e.id,
                        e.stage(),
                        String::from_utf8_lossy(&e.path)
                    )
                })
                .collect();
            let expected: Vec<String> = git(root, &["ls-files", "--stage"])
                .lines()
                .map(str::to_owned)
                .collect();
            assert_eq!(listed, expected, "index version {version}");
            let flags = |path: &[u8]| {
                entries
                    .iter()
                    .find(|e| e.path == path)
                    .unwrap()
                    .flags_extended
            };
            if version != "2" {
                assert_ne!(flags(b"new.txt") & FLAG_EXTENDED_INTENT_TO_ADD, 0);
                assert_ne!(flags(b"z") & FLAG_EXTENDED_SKIP_WORKTREE, 0);
            }
        }
    }

    #[test]
    fn truncated_indexes_are_errors() {
        assert!(matches!(
            parse_file(b"DIRC"),
            Err(IndexFileError::Truncated)
        ));
        assert!(matches!(
            parse_file(b"XXXX\0\0\0\x02\0\0\0\0"),
            Err(IndexFileError::Signature)
        ));
        let mut one_entry = b"DIRC\0\0\0\x02\0\0\0\x01".to_vec();
        one_entry.extend_from_slice(&[0; 30]);
        assert!(matches!(
            parse_file(&one_entry),
            Err(IndexFileError::Entry(0))
        ));
    }

    #[test]
    fn varints_follow_git() {
        assert_eq!(decode_varint(&[0x05]), Some((5, 1)));
        // 0x80 0x00 is 128 in git's encoding (each continuation adds one).
        assert_eq!(decode_varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(decode_varint(&[0x80]), None);
    }
}
