//! Reading commits and trees straight from their raw bytes.
//!
//! The history walk reads every commit and many trees once. libgit2's commit parser also
//! decodes signatures, messages and encodings, and its tree parser allocates an entry table;
//! the walk needs only a commit's tree, parents and committer time, and a tree's entries in
//! order. Parsing those from the raw object is a large part of what makes the walk as fast as
//! `git log`.
//!
//! Trees are also sorted and written here as git sorts and writes them ([`git_order`],
//! [`tree_object`]), for the stored answers' rebuilt trees. The modes of tree entries, index
//! entries and answers are [`EntryMode`]s.

use std::cmp::Ordering;

use git2::Oid;

/// What the walk needs of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitHeader {
    pub tree: Oid,
    pub parents: Vec<Oid>,
    /// Committer time, seconds since the Unix epoch.
    pub time: i64,
}

/// Parses the header of a raw commit object; None when it is malformed.
pub(crate) fn parse_commit(data: &[u8]) -> Option<CommitHeader> {
    let mut tree = None;
    let mut parents = Vec::new();
    let mut time = None;
    for line in data.split(|&b| b == b'\n') {
        if line.is_empty() {
            break; // The message follows.
        }
        if let Some(hex) = line.strip_prefix(b"tree ") {
            tree = Some(hex_oid(hex)?);
        } else if let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(hex_oid(hex)?);
        } else if let Some(signature) = line.strip_prefix(b"committer ") {
            // "Name <email> 1700000000 +0100": the time is the second field from the end.
            let mut fields = signature.rsplit(|&b| b == b' ');
            let _zone = fields.next()?;
            time = Some(std::str::from_utf8(fields.next()?).ok()?.parse().ok()?);
        }
    }
    Some(CommitHeader {
        tree: tree?,
        parents,
        time: time?,
    })
}

fn hex_oid(hex: &[u8]) -> Option<Oid> {
    Oid::from_str(std::str::from_utf8(hex).ok()?).ok()
}

/// A line of `info/grafts` that git refuses ("bad graft data"), and skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadGraft;

/// One line of an `info/grafts` file, read as git reads it (`read_graft_line` in its
/// commit.c): a commit's id, then the ids of the parents it is given instead of its own, each
/// after one whitespace byte; trailing whitespace (a CR too) is ignored. None for an empty
/// line or a comment (`#` first); a graft without parents makes the commit a root.
pub(crate) fn parse_graft_line(line: &[u8]) -> Result<Option<(Oid, Vec<Oid>)>, BadGraft> {
    // git's isspace: space, tab, LF and CR (not VT or FF).
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let end = line
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(0, |last| last + 1);
    let line = &line[..end];
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    // Forty hex digits, as git's parse_oid_hex reads them (either case).
    let oid_at = |at: usize| -> Result<Oid, BadGraft> {
        let hex = line.get(at..at + 40).ok_or(BadGraft)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(BadGraft);
        }
        hex_oid(hex).ok_or(BadGraft)
    };
    let commit = oid_at(0)?;
    let mut parents = Vec::new();
    let mut at = 40;
    while at < line.len() {
        if !is_space(&line[at]) {
            return Err(BadGraft);
        }
        parents.push(oid_at(at + 1)?);
        at += 41;
    }
    Ok(Some((commit, parents)))
}

/// The mode of a tree entry or an index entry, as git writes it: its kind in the bits of
/// `S_IFMT` and, for a regular file, whether it is executable. Trees (read through
/// [`parse_entry`]), the index and the answers hold canonical modes (see
/// [`EntryMode::canonical`]): one per kind, two for regular files, so comparing a mode with
/// these constants is comparing kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EntryMode(u32);

impl EntryMode {
    /// A directory.
    pub const TREE: EntryMode = EntryMode(0o040000);
    pub const REGULAR: EntryMode = EntryMode(0o100644);
    pub const EXECUTABLE: EntryMode = EntryMode(0o100755);
    pub const SYMLINK: EntryMode = EntryMode(0o120000);
    /// A submodule: the entry's id is a commit of another repository.
    pub const GITLINK: EntryMode = EntryMode(0o160000);
    /// The kind of a regular file, executable or not.
    const FILE_KIND: EntryMode = EntryMode(0o100000);
    /// `S_IFMT`: the bits that say what kind of entry it is.
    const KIND_BITS: u32 = 0o170000;
    /// `S_IXUSR`: the bit that makes a regular file executable for git.
    const OWNER_EXECUTE: u32 = 0o100;

    pub const fn from_raw(mode: u32) -> EntryMode {
        EntryMode(mode)
    }

    /// The mode as git writes it.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The mode git reads a tree entry's mode as (`canon_mode` in its tree-walk.c): old
    /// repositories, git/git among them, hold regular files as `100664`, which git treats as
    /// `100644`, so rewriting one as the other is no change, and the index holds `100644`.
    pub fn canonical(mode: u32) -> EntryMode {
        let mode = EntryMode(mode);
        match mode.kind_bits() {
            EntryMode::FILE_KIND if mode.0 & EntryMode::OWNER_EXECUTE != 0 => EntryMode::EXECUTABLE,
            EntryMode::FILE_KIND => EntryMode::REGULAR,
            EntryMode::SYMLINK => EntryMode::SYMLINK,
            EntryMode::TREE => EntryMode::TREE,
            _ => EntryMode::GITLINK,
        }
    }

    fn kind_bits(self) -> EntryMode {
        EntryMode(self.0 & EntryMode::KIND_BITS)
    }

    pub fn is_tree(self) -> bool {
        self == EntryMode::TREE
    }

    pub fn is_gitlink(self) -> bool {
        self == EntryMode::GITLINK
    }

    pub fn is_symlink(self) -> bool {
        self == EntryMode::SYMLINK
    }

    pub fn is_executable(self) -> bool {
        self == EntryMode::EXECUTABLE
    }

    /// A regular file, executable or not.
    pub fn is_regular(self) -> bool {
        self.kind_bits() == EntryMode::FILE_KIND
    }

    /// What the entry is in its directory's list of entries.
    pub fn kind(self) -> EntryKind {
        match self.kind_bits() {
            EntryMode::TREE => EntryKind::Directory,
            EntryMode::SYMLINK => EntryKind::Symlink,
            EntryMode::GITLINK => EntryKind::Submodule,
            _ => EntryKind::File,
        }
    }
}

/// Octal, as git writes a mode in a tree and `git ls-files --stage` prints it.
impl std::fmt::Octal for EntryMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Octal::fmt(&self.0, f)
    }
}

/// What a tree entry is, as far as its directory's list of entries is concerned: a file's
/// mode bits (644, 755, or the legacy 664) are left out, as a chmod does not change a
/// directory's mtime on disk either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum EntryKind {
    Directory,
    File,
    Symlink,
    Submodule,
}

impl EntryKind {
    /// The kind of an entry of mode `mode` (see [`EntryMode::kind`]).
    pub fn of_mode(mode: u32) -> EntryKind {
        EntryMode::from_raw(mode).kind()
    }

    /// The byte that stands for the kind in a directory's fingerprint.
    pub fn letter(self) -> u8 {
        match self {
            EntryKind::Directory => b'd',
            EntryKind::File => b'f',
            EntryKind::Symlink => b'l',
            EntryKind::Submodule => b'm',
        }
    }
}

/// One entry of a raw tree object, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawEntry<'a> {
    /// Canonical (see [`EntryMode::canonical`]).
    pub mode: u32,
    pub name: &'a [u8],
    pub id: &'a [u8],
}

impl RawEntry<'_> {
    pub fn is_tree(&self) -> bool {
        EntryMode::from_raw(self.mode).is_tree()
    }

    pub fn oid(&self) -> Oid {
        Oid::from_bytes(self.id).expect("twenty bytes")
    }
}

/// The tree entry at the start of `data`, and its length in bytes.
pub(crate) fn parse_entry(data: &[u8]) -> Option<(RawEntry<'_>, usize)> {
    let space = data.iter().position(|&b| b == b' ')?;
    let mut mode = 0u32;
    for &digit in &data[..space] {
        if !(b'0'..=b'7').contains(&digit) {
            return None;
        }
        mode = mode.checked_mul(8)? + u32::from(digit - b'0');
    }
    let after_mode = &data[space + 1..];
    let nul = after_mode.iter().position(|&b| b == 0)?;
    let name = &after_mode[..nul];
    let id = after_mode.get(nul + 1..nul + 21)?;
    let mode = EntryMode::canonical(mode).raw();
    Some((RawEntry { mode, name, id }, space + 1 + nul + 21))
}

/// The length of the tree entry at the start of `data`, found without parsing its mode. The
/// NUL after the name is found eight bytes at a time: finding it a byte at a time was most of
/// what skipping identical entries cost (git/git's top and `t/` hold 560 and 1,300 entries,
/// compared at nearly every commit).
pub(crate) fn entry_length(data: &[u8]) -> Option<usize> {
    let nul = first_nul(data)?;
    (data.len() >= nul + 21).then_some(nul + 21)
}

/// Where the first NUL of `data` is, eight bytes at a time.
fn first_nul(data: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while at + 8 <= data.len() {
        let word = u64::from_le_bytes(data[at..at + 8].try_into().expect("eight bytes"));
        // The lowest byte flagged is the first NUL: a borrow can only flag bytes after one.
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    data[at..]
        .iter()
        .position(|&b| b == 0)
        .map(|found| at + found)
}

/// git's order of tree entries: names compare bytewise, with a tree's name read as if it
/// ended in '/'.
pub(crate) fn git_order(a: &[u8], a_is_tree: bool, b: &[u8], b_is_tree: bool) -> Ordering {
    let common = a.len().min(b.len());
    match a[..common].cmp(&b[..common]) {
        Ordering::Equal => {}
        other => return other,
    }
    let next = |name: &[u8], is_tree: bool| match name.get(common) {
        Some(&byte) => byte,
        None if is_tree => b'/',
        None => 0,
    };
    next(a, a_is_tree).cmp(&next(b, b_is_tree))
}

/// The bytes of the tree object that lists `entries` (name, mode, id), sorted in git's order:
/// for each entry its mode in octal, a space, its name, a NUL and the 20 bytes of its id.
pub(crate) fn tree_object<'a>(
    entries: impl IntoIterator<Item = (&'a [u8], EntryMode, Oid)>,
) -> Vec<u8> {
    let mut entries: Vec<(&[u8], EntryMode, Oid)> = entries.into_iter().collect();
    entries.sort_by(|a, b| git_order(a.0, a.1.is_tree(), b.0, b.1.is_tree()));
    let mut data = Vec::with_capacity(entries.len() * 48);
    for (name, mode, id) in entries {
        data.extend_from_slice(format!("{mode:o} ").as_bytes());
        data.extend_from_slice(name);
        data.push(0);
        data.extend_from_slice(id.as_bytes());
    }
    data
}

/// The id git gives the tree object whose bytes are `data`.
pub(crate) fn tree_id(data: &[u8]) -> Oid {
    object_id("tree", data)
}

/// The id git gives the blob `content`. The `sha1` crate uses the CPU's SHA instructions;
/// libgit2's `Oid::hash_object` runs SHA-1 with collision detection in software, three
/// times slower, and converted files (git/git's, dagger/dagger's) are hashed this way.
pub(crate) fn blob_id(content: &[u8]) -> Oid {
    object_id("blob", content)
}

/// The SHA-1 of `<kind> <size>\0` and the bytes.
fn object_id(kind: &str, data: &[u8]) -> Oid {
    use sha1::Digest;
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("{kind} {}\0", data.len()).as_bytes());
    hasher.update(data);
    Oid::from_bytes(&hasher.finalize()).expect("twenty bytes")
}

/// How many leading bytes of the trees `a` and `b` (each from an entry boundary on) hold the
/// same entries, byte for byte. Consecutive versions of a tree mostly share their entries at
/// the same offsets: a diff skips them without parsing.
pub(crate) fn identical_entries(a: &[u8], b: &[u8]) -> usize {
    let same = common_prefix(a, b);
    let mut skipped = 0;
    while let Some(length) = entry_length(&a[skipped..]) {
        if skipped + length > same {
            break;
        }
        skipped += length;
    }
    skipped
}

/// How many leading bytes `a` and `b` share, compared 32, then eight at a time: two versions
/// of a tree share long runs (git/git's top is 22 KB, `t/` 50 KB, and a commit changes a few
/// entries of them).
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let word = |data: &[u8], at: usize| {
        u64::from_ne_bytes(data[at..at + 8].try_into().expect("eight bytes"))
    };
    let mut k = 0;
    while k + 32 <= n {
        let differ = (word(a, k) ^ word(b, k))
            | (word(a, k + 8) ^ word(b, k + 8))
            | (word(a, k + 16) ^ word(b, k + 16))
            | (word(a, k + 24) ^ word(b, k + 24));
        if differ != 0 {
            break;
        }
        k += 32;
    }
    while k + 8 <= n {
        let x = u64::from_ne_bytes(a[k..k + 8].try_into().expect("eight bytes"));
        let y = u64::from_ne_bytes(b[k..k + 8].try_into().expect("eight bytes"));
        if x != y {
            break;
        }
        k += 8;
    }
    while k < n && a[k] == b[k] {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_headers_parse() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
parent 1111111111111111111111111111111111111111\n\
parent 2222222222222222222222222222222222222222\n\
author A U Thor <a@example.com> 1600000000 +0000\n\
committer C O Mitter <c@example.com> 1700000000 -0130\n\
\n\
parent 3333333333333333333333333333333333333333 is in the message\n";
        let header = parse_commit(raw).unwrap();
        assert_eq!(header.time, 1_700_000_000);
        assert_eq!(header.parents.len(), 2);
        assert_eq!(
            header.tree,
            Oid::from_str("4b825dc642cb6eb9a060e54bf8d69288fbee4904").unwrap()
        );
        assert_eq!(parse_commit(b"tree nonsense\n"), None);
    }

    #[test]
    fn graft_lines_read_as_git_reads_them() {
        let a = "1111111111111111111111111111111111111111";
        let b = "22222222222222222222222222222222222222AA";
        let id = |hex: &str| Oid::from_str(hex).unwrap();
        let parse = |line: String| parse_graft_line(line.as_bytes());
        assert_eq!(parse(format!("{a} {b}\n")), Ok(Some((id(a), vec![id(b)]))));
        assert_eq!(
            parse(format!("{a}\t{b}\r\n")),
            Ok(Some((id(a), vec![id(b)])))
        );
        assert_eq!(
            parse(format!("{a} {b} {a}")),
            Ok(Some((id(a), vec![id(b), id(a)])))
        );
        // No parents: a root.
        assert_eq!(parse(format!("{a}   \n")), Ok(Some((id(a), vec![]))));
        for skipped in ["", "\n", "  \n", "# a comment\n", "#"] {
            assert_eq!(parse(skipped.to_owned()), Ok(None), "{skipped:?}");
        }
        // What git calls bad graft data.
        for bad in [
            "garbage".to_owned(),
            format!(" {a} {b}"),
            format!("{a}  {b}"),
            format!("{a} {}", &b[..10]),
            format!("{a} {b}xyz"),
            format!("{a}{b}"),
            format!("{a} {b}\x0b{a}"),
            format!("{} {b}", a.replace('1', "g")),
        ] {
            assert_eq!(parse(bad.clone()), Err(BadGraft), "{bad:?}");
        }
    }

    #[test]
    fn legacy_modes_read_as_git_reads_them() {
        let canonical = |mode| EntryMode::canonical(mode).raw();
        assert_eq!(canonical(0o100664), 0o100644);
        assert_eq!(canonical(0o100644), 0o100644);
        assert_eq!(canonical(0o100775), 0o100755);
        assert_eq!(canonical(0o100755), 0o100755);
        assert_eq!(canonical(0o120000), 0o120000);
        assert_eq!(canonical(0o40000), 0o40000);
        assert_eq!(canonical(0o160000), 0o160000);
        let mut tree = b"100664 f\0".to_vec();
        tree.extend_from_slice(&[7; 20]);
        assert_eq!(parse_entry(&tree).unwrap().0.mode, 0o100644);
    }

    #[test]
    fn git_order_reads_trees_with_a_slash() {
        assert_eq!(git_order(b"a", true, b"a.c", false), Ordering::Greater);
        assert_eq!(git_order(b"a", false, b"a.c", false), Ordering::Less);
        assert_eq!(git_order(b"a", true, b"a", false), Ordering::Greater);
        assert_eq!(git_order(b"a", true, b"a0", false), Ordering::Less);
    }

    #[test]
    fn trees_are_written_as_git_writes_them() {
        let id = |byte: u8| Oid::from_bytes(&[byte; 20]).unwrap();
        let empty = tree_object([]);
        assert_eq!(
            tree_id(&empty).to_string(),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        // In any order; `git mktree --missing` gives the tree of these three entries this id.
        let entries = [
            (&b"b"[..], EntryMode::SYMLINK, id(3)),
            (&b"a"[..], EntryMode::TREE, id(2)),
            (&b"a.c"[..], EntryMode::REGULAR, id(1)),
        ];
        let tree = tree_object(entries);
        assert!(tree.starts_with(b"100644 a.c\0"));
        assert_eq!(
            tree_id(&tree).to_string(),
            "4b290f20e04cbe028d6f8a5c0441543138975c9c"
        );
    }

    #[test]
    fn entry_modes_tell_kinds_apart() {
        use EntryKind::{Directory, File, Submodule, Symlink};
        let modes = [
            EntryMode::TREE,
            EntryMode::REGULAR,
            EntryMode::EXECUTABLE,
            EntryMode::SYMLINK,
            EntryMode::GITLINK,
        ];
        let kinds: Vec<EntryKind> = modes.iter().map(|mode| mode.kind()).collect();
        assert_eq!(kinds, [Directory, File, File, Symlink, Submodule]);
        let is = |test: fn(EntryMode) -> bool| modes.map(test);
        assert_eq!(is(EntryMode::is_tree), [true, false, false, false, false]);
        assert_eq!(is(EntryMode::is_regular), [false, true, true, false, false]);
        assert_eq!(
            is(EntryMode::is_executable),
            [false, false, true, false, false]
        );
        assert_eq!(
            is(EntryMode::is_symlink),
            [false, false, false, true, false]
        );
        assert_eq!(
            is(EntryMode::is_gitlink),
            [false, false, false, false, true]
        );
        // A legacy mode is a file of its kind before it is made canonical.
        let legacy = EntryMode::from_raw(0o100664);
        assert_eq!(legacy.kind(), File);
        assert!(legacy.is_regular());
        assert_eq!(EntryKind::of_mode(0o100664), File);
        // Written as git writes modes in trees: a directory is `40000`.
        assert_eq!(format!("{:o}", EntryMode::TREE), "40000");
        assert_eq!(format!("{:o}", EntryMode::EXECUTABLE), "100755");
    }

    /// The first NUL, wherever it is in a word and whatever the bytes around it (those with
    /// the high bit set, and ones, which a borrow could flag), or none.
    #[test]
    fn the_first_nul_is_found() {
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            [0x01, 0x80, 0xff, 0x7f, b'a', 0x81][(state >> 16) as usize % 6]
        };
        for length in 0..40 {
            for at in 0..=length {
                let mut data: Vec<u8> = (0..length).map(|_| next()).collect();
                if at < length {
                    data[at] = 0;
                    // Another NUL later must not count.
                    if at + 3 < length {
                        data[at + 3] = 0;
                    }
                }
                let expected = data.iter().position(|&b| b == 0);
                assert_eq!(first_nul(&data), expected, "{data:?}");
            }
        }
    }

    #[test]
    fn common_prefixes() {
        assert_eq!(common_prefix(b"0123456789abcdef", b"0123456789abcdeX"), 15);
        assert_eq!(common_prefix(b"0123456789", b"0123456789abc"), 10);
        assert_eq!(common_prefix(b"", b"x"), 0);
        // Past the 32-byte steps: a difference anywhere, and none.
        let a: Vec<u8> = (0..100u8).collect();
        for at in 0..a.len() {
            let mut b = a.clone();
            b[at] ^= 0x40;
            assert_eq!(common_prefix(&a, &b), at);
            assert_eq!(common_prefix(&a[..at], &b), at);
        }
        assert_eq!(common_prefix(&a, &a), a.len());
    }

    #[test]
    fn tree_entries_parse() {
        let mut raw = Vec::new();
        raw.extend_from_slice(b"100644 a.txt\0");
        raw.extend_from_slice(&[1; 20]);
        raw.extend_from_slice(b"40000 dir\0");
        raw.extend_from_slice(&[2; 20]);
        let (first, length) = parse_entry(&raw).unwrap();
        let (second, rest) = parse_entry(&raw[length..]).unwrap();
        assert_eq!(first.mode, 0o100644);
        assert_eq!(second.name, b"dir");
        assert!(second.is_tree());
        assert_eq!(length + rest, raw.len());
        assert_eq!(entry_length(&raw), Some(length));
        assert_eq!(parse_entry(&raw[length..raw.len() - 1]), None);
    }
}
