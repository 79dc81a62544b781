//! Loose objects of the repository's own object directory: each a zlib stream of
//! `<kind> <size>\0<content>` in `objects/<2 hex digits>/<38 hex digits>`.

use std::fs::File;
use std::rc::Rc;

use flate2::FlushDecompress;
use git2::{ObjectType, Oid};

use super::{Object, ObjectReader, inflate_exactly};

impl ObjectReader<'_> {
    /// The loose object `id` of the repository's own object directory: a zlib stream of
    /// `<kind> <size>\0<content>`.
    pub(super) fn read_loose(&mut self, id: Oid) -> Loose {
        let Some(directory) = self.packs.loose.as_ref() else {
            return Loose::NotHere;
        };
        let hex = id.to_string();
        let name = format!("{}/{}", &hex[..2], &hex[2..]);
        let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
        let file = rustix::fs::openat(directory, name.as_str(), flags, rustix::fs::Mode::empty());
        let mut compressed = std::mem::take(&mut self.loose);
        compressed.clear();
        let read = file
            .ok()
            .and_then(|fd| std::io::Read::read_to_end(&mut File::from(fd), &mut compressed).ok());
        let loose = match read {
            None => Loose::NotHere,
            // Not zlib: the old pack-like format of loose objects, which libgit2 reads.
            Some(_) if !looks_like_zlib(&compressed) => Loose::NotHere,
            Some(_) => self
                .inflate_loose(&compressed)
                .map_or(Loose::Damaged, Loose::Read),
        };
        self.loose = compressed;
        loose
    }

    fn inflate_loose(&mut self, compressed: &[u8]) -> Option<Object> {
        // The header first: "commit 1234\0" and the like fit in 32 bytes.
        let mut header = [0u8; 32];
        self.inflater.reset(true);
        self.inflater
            .decompress(compressed, &mut header, FlushDecompress::Sync)
            .ok()?;
        let produced = self.inflater.total_out() as usize;
        let nul = header[..produced].iter().position(|&b| b == 0)?;
        let header = &header[..nul];
        let (kind, size) = header.split_at(header.iter().position(|&b| b == b' ')?);
        let kind = match kind {
            b"commit" => ObjectType::Commit,
            b"tree" => ObjectType::Tree,
            b"blob" => ObjectType::Blob,
            b"tag" => ObjectType::Tag,
            _ => return None,
        };
        let size: usize = std::str::from_utf8(&size[1..]).ok()?.parse().ok()?;
        // A damaged header must not make the reader allocate more than the file can hold.
        if compressed.len().saturating_mul(1032) < size {
            return None;
        }
        let mut built = std::mem::take(&mut self.built);
        let whole = inflate_exactly(&mut self.whole, compressed, &mut built, nul + 1 + size);
        let object = whole.then(|| Object {
            kind,
            data: Rc::from(&built[nul + 1..]),
        });
        self.built = built;
        object
    }
}

/// What the object directory holds for an id.
pub(super) enum Loose {
    Read(Object),
    NotHere,
    Damaged,
}

/// A zlib header: deflate with a window of at most 32 KB, and a check value that makes the
/// two bytes a multiple of 31 (how git and libgit2 tell the formats of loose objects apart).
fn looks_like_zlib(data: &[u8]) -> bool {
    match data {
        [first, second, ..] => {
            first & 0x8f == 0x08 && (u16::from(*first) << 8 | u16::from(*second)) % 31 == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use git2::Repository;

    use super::super::fixtures::*;
    use super::*;
    use crate::test_git::git;

    #[test]
    fn loose_objects_are_read_as_git_reads_them_and_damaged_ones_never_misread() {
        let dir = repository_with_history();
        let root = dir.path();
        // Every object loose, an empty blob among them.
        std::fs::write(root.join("empty"), "").unwrap();
        git(root, &["add", "empty"]);
        git(root, &["commit", "-qm", "empty file"]);
        let objects = objects_as_git_prints_them(root);
        let repo = Repository::open(root).unwrap();
        let mut reader = ObjectReader::new(&repo).unwrap();
        assert!(reader.packs.is_empty());
        for (id, kind, data) in &objects {
            let Loose::Read(object) = reader.read_loose(*id) else {
                panic!("{id} not read directly")
            };
            assert_eq!(object.kind.str(), kind, "{id}");
            assert!(object.data() == &data[..], "{id}: bytes differ from git's");
        }
        // Damage: truncated, a flipped byte, a header that lies about the size, garbage.
        let (id, _, data) = objects.iter().find(|(_, kind, _)| kind == "tree").unwrap();
        let hex = id.to_string();
        let file = root.join(".git/objects").join(&hex[..2]).join(&hex[2..]);
        let stored = std::fs::read(&file).unwrap();
        let lying = {
            let mut header = format!("tree {}\0", data.len() + 1).into_bytes();
            header.extend_from_slice(data);
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut encoder, &header).unwrap();
            encoder.finish().unwrap()
        };
        let mut flipped = stored.clone();
        flipped[stored.len() / 2] ^= 0x55;
        let damaged = [
            stored[..stored.len() / 2].to_vec(),
            flipped,
            lying,
            b"not zlib at all".to_vec(),
        ];
        for (n, bytes) in damaged.iter().enumerate() {
            let mut permissions = std::fs::metadata(&file).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&file, permissions).unwrap();
            std::fs::write(&file, bytes).unwrap();
            let expected_damaged = n < 3;
            match reader.read_loose(*id) {
                Loose::Damaged => assert!(expected_damaged, "damage {n}"),
                Loose::NotHere => assert!(!expected_damaged, "damage {n}"),
                Loose::Read(_) => panic!("damage {n} was read"),
            }
            // Through libgit2 when it is not zlib at all; an error either way.
            assert!(reader.read(*id).is_err(), "damage {n}");
        }
    }
}
