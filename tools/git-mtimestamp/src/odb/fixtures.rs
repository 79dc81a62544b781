//! Repositories and packs for the tests of the object reader's modules.

use std::path::Path;
use std::sync::Arc;

use git2::{Oid, Repository};

use super::pack::{INDEX_MAGIC, Packs};
use super::{ObjectReader, Replacements};
use crate::test_git::git;

/// A history whose trees become long delta chains once packed: 150 commits, each
/// changing one of 40 files in one of three directories.
pub(super) fn repository_with_history() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    for commit in 0..150 {
        let file = root.join(format!("d{}/f{}.txt", commit % 3, commit % 40));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, format!("line {commit}\n").repeat(1 + commit % 7)).unwrap();
        git(root, &["add", "."]);
        git(root, &["commit", "-q", "-m", &format!("commit {commit}")]);
    }
    dir
}

/// Every object of the repository, as `git cat-file --batch-all-objects --batch` prints it.
pub(super) fn objects_as_git_prints_them(root: &Path) -> Vec<(Oid, String, Vec<u8>)> {
    let out = git(root, &["cat-file", "--batch-all-objects", "--batch"]);
    let mut objects = Vec::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').unwrap();
        let header = std::str::from_utf8(&rest[..end]).unwrap();
        let fields: Vec<&str> = header.split(' ').collect();
        let size: usize = fields[2].parse().unwrap();
        let data = rest[end + 1..end + 1 + size].to_vec();
        objects.push((
            Oid::from_str(fields[0]).unwrap(),
            fields[1].to_string(),
            data,
        ));
        rest = &rest[end + 1 + size + 1..];
    }
    objects
}

/// Reads every object through the reader and compares it with git's bytes; returns how
/// many came from the packs (the rest came through libgit2).
pub(super) fn read_all(root: &Path, objects: &[(Oid, String, Vec<u8>)], budget: usize) -> usize {
    let repo = Repository::open(root).unwrap();
    let packs = Arc::new(Packs::open(&repo));
    let replacements = Arc::new(Replacements::default());
    let mut reader = ObjectReader::sharing(&repo, packs, replacements, budget).unwrap();
    let mut packed = 0;
    for (id, kind, data) in objects {
        let object = reader.read(*id).unwrap();
        assert_eq!(object.kind.str(), kind, "{id}");
        assert!(object.data() == &data[..], "{id}: bytes differ from git's");
        if let Ok(Some(direct)) = reader.read_packed(*id) {
            assert!(direct.data() == &data[..], "{id}");
            packed += 1;
        }
    }
    packed
}

/// The repository's pack files (`.pack`), newest first.
pub(super) fn pack_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut packs: Vec<_> = std::fs::read_dir(root.join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect();
    packs.sort_by_key(|p| std::cmp::Reverse(p.metadata().unwrap().modified().unwrap()));
    packs
}

/// An entry of a pack written by [`write_pack`].
pub(super) enum TestEntry {
    /// An object stored whole: its pack type (1 commit, 2 tree, 3 blob) and content.
    Whole(u8, Vec<u8>),
    /// A delta on the entry at this position of the pack (which must come before it).
    OnEntry(usize, Vec<u8>),
    /// A delta on the object with this id.
    OnId(Oid, Vec<u8>),
}

/// A delta that copies the first `size` bytes of a base of `size` bytes.
pub(super) fn copy_delta(size: u8) -> Vec<u8> {
    assert!(size < 0x80);
    vec![size, size, 0x90, size]
}

/// Writes a pack of `entries` into the repository at `root`, and its version 2 index,
/// which lists the entries of `listed` (an id and a position in `entries`) only: entries
/// that git could not resolve, so neither `git index-pack` nor git writes such packs.
pub(super) fn write_pack(root: &Path, entries: &[TestEntry], listed: &[(Oid, usize)]) {
    use sha1::Digest;
    let mut pack = b"PACK".to_vec();
    pack.extend(2u32.to_be_bytes());
    pack.extend((entries.len() as u32).to_be_bytes());
    let mut offsets = Vec::new();
    for entry in entries {
        let offset = pack.len();
        offsets.push(offset);
        let (kind, data) = match entry {
            TestEntry::Whole(kind, data) => (*kind, data),
            TestEntry::OnEntry(_, delta) => (6, delta),
            TestEntry::OnId(_, delta) => (7, delta),
        };
        // The type and the size, four bits of it first, then seven at a time.
        let mut size = data.len();
        let mut byte = (kind << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        match entry {
            TestEntry::OnEntry(base, _) => {
                // git's offset encoding of the distance back to the base.
                let mut distance = offset - offsets[*base];
                let mut bytes = vec![(distance & 0x7f) as u8];
                distance >>= 7;
                while distance > 0 {
                    distance -= 1;
                    bytes.push(0x80 | (distance & 0x7f) as u8);
                    distance >>= 7;
                }
                pack.extend(bytes.iter().rev());
            }
            TestEntry::OnId(base, _) => pack.extend(base.as_bytes()),
            TestEntry::Whole(..) => {}
        }
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, data).unwrap();
        pack.extend(encoder.finish().unwrap());
    }
    let checksum = sha1::Sha1::digest(&pack).to_vec();
    pack.extend(&checksum);
    let mut listed: Vec<(Oid, usize)> = listed.to_vec();
    listed.sort();
    let mut index = INDEX_MAGIC.to_vec();
    for first in 0..=255u8 {
        let count = listed.iter().filter(|(id, _)| id.as_bytes()[0] <= first);
        index.extend((count.count() as u32).to_be_bytes());
    }
    listed
        .iter()
        .for_each(|(id, _)| index.extend(id.as_bytes()));
    listed.iter().for_each(|_| index.extend(0u32.to_be_bytes()));
    for (_, at) in &listed {
        index.extend((offsets[*at] as u32).to_be_bytes());
    }
    index.extend(&checksum);
    index.extend(sha1::Sha1::digest(&index));
    let name: String = checksum.iter().map(|b| format!("{b:02x}")).collect();
    let stem = root.join(format!(".git/objects/pack/pack-{name}"));
    std::fs::write(stem.with_extension("pack"), pack).unwrap();
    std::fs::write(stem.with_extension("idx"), index).unwrap();
}

pub(super) fn test_id(byte: u8) -> Oid {
    Oid::from_bytes(&[byte; 20]).unwrap()
}

/// A repository with no objects of its own, for packs written by hand.
pub(super) fn empty_repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    dir
}
