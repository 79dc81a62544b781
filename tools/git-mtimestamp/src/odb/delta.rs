//! Delta chains: how the reader rebuilds an object that a pack stores as a delta on a base
//! that may itself be a delta, and how one delta is applied. A delta holds the instructions
//! that rebuild an object from its base, by copying ranges of the base and inserting new
//! bytes.

use std::rc::Rc;

use super::pack::EntryKind;
use super::{Object, ObjectReader, inflate_exactly};

/// A delta of a chain being resolved: where it is, and its inflated size.
#[derive(Clone, Copy)]
pub(super) struct ChainLink {
    pack: usize,
    offset: u64,
    data_start: usize,
    size: usize,
}

impl ObjectReader<'_> {
    /// The object at `offset` in pack `pack`, resolving its delta chain down to the first
    /// object that is cached or stored whole; None when any entry of the chain is malformed
    /// or its base is outside the packs; an error when the chain loops or is deeper, or
    /// rebuilding it larger, than any git writes (see [`MAX_CHAIN`], [`MAX_READ_BYTES`]).
    pub(super) fn resolve(&mut self, pack: usize, offset: u64) -> Result<Option<Object>, String> {
        if let Some(object) = self.cache.get(pack, offset) {
            return Ok(Some(object));
        }
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        let object = self.resolve_chain(pack, offset, &mut chain);
        self.chain = chain;
        object
    }

    /// [`Self::resolve`] for an object that is not cached: collects the deltas down to the
    /// first cached or whole object in `chain`, then applies them from there up. The whole
    /// chain is known, and checked for a loop, before anything is inflated.
    fn resolve_chain(
        &mut self,
        pack: usize,
        offset: u64,
        chain: &mut Vec<ChainLink>,
    ) -> Result<Option<Object>, String> {
        let (mut at_pack, mut at) = (pack, offset);
        // An OFS_DELTA's base lies before it in its own pack, so only a REF_DELTA can lead
        // back to an entry already on the chain: the chain is searched once one was followed.
        let mut by_id = false;
        // Bytes inflated and built so far.
        let mut work = 0;
        let mut base = loop {
            if chain.len() > MAX_CHAIN {
                return Err(self.refusal(
                    pack,
                    offset,
                    &format!(
                        "starts a chain of more than {MAX_CHAIN} deltas, deeper than git ever writes (4095)"
                    ),
                ));
            }
            let Some(entry) = self.packs[at_pack].entry(at) else {
                return Ok(None);
            };
            let link = ChainLink {
                pack: at_pack,
                offset: at,
                data_start: entry.data_start,
                size: entry.size,
            };
            match entry.kind {
                EntryKind::Whole(kind) => {
                    work = self.charge(work, entry.size, pack, offset)?;
                    let mut built = std::mem::take(&mut self.built);
                    let inflated = self.inflate_into(link, &mut built);
                    let data = Rc::from(&built[..]);
                    self.built = built;
                    if !inflated {
                        return Ok(None);
                    }
                    let object = Object { kind, data };
                    self.cache.put(at_pack, at, &object);
                    break object;
                }
                EntryKind::OffsetDelta(base_offset) => {
                    chain.push(link);
                    at = base_offset;
                }
                EntryKind::RefDelta(base_id) => {
                    chain.push(link);
                    let Some(found) = self.find(base_id) else {
                        return Ok(None);
                    };
                    (at_pack, at) = found;
                    by_id = true;
                }
            }
            if by_id && chain.iter().any(|l| (l.pack, l.offset) == (at_pack, at)) {
                return Err(self.refusal(
                    pack,
                    offset,
                    "is a delta whose chain of bases leads back to itself, which git and libgit2 would follow forever",
                ));
            }
            if let Some(object) = self.cache.get(at_pack, at) {
                break object;
            }
        };
        for &link in chain.iter().rev() {
            work = self.charge(work, link.size, pack, offset)?;
            let (mut delta, mut built) = (
                std::mem::take(&mut self.delta),
                std::mem::take(&mut self.built),
            );
            let mut applied = self.inflate_into(link, &mut delta);
            if applied {
                // The result's size, from the delta's header, is charged before it is built.
                let result_size = delta_header(&delta).map_or(0, |header| header.result_size);
                work = self.charge(work, result_size, pack, offset)?;
                applied = apply_delta(base.data(), &delta, &mut built).is_some();
            }
            let data = Rc::from(&built[..]);
            (self.delta, self.built) = (delta, built);
            if !applied {
                return Ok(None);
            }
            base = Object {
                kind: base.kind,
                data,
            };
            self.cache.put(link.pack, link.offset, &base);
        }
        Ok(Some(base))
    }

    /// `work` plus `bytes`, or an error when one read would inflate and build more than the
    /// reader's limit.
    fn charge(&self, work: usize, bytes: usize, pack: usize, offset: u64) -> Result<usize, String> {
        match work.checked_add(bytes) {
            Some(total) if total <= self.read_limit => Ok(total),
            _ => Err(self.refusal(
                pack,
                offset,
                &format!(
                    "takes more than {} to inflate and rebuild, far more than any commit or tree git writes",
                    match self.read_limit {
                        limit if limit >= 1 << 20 => format!("{} MiB", limit >> 20),
                        limit => format!("{limit} bytes"),
                    }
                ),
            )),
        }
    }

    /// Why the object at `offset` in pack `pack` is not read.
    fn refusal(&self, pack: usize, offset: u64, why: &str) -> String {
        format!(
            "its entry in {} (at offset {offset}) {why}",
            self.packs[pack].name
        )
    }

    /// Inflates the zlib stream of `link` into `out`, which it sizes to the entry's declared
    /// size; false when the stream is damaged or of another size.
    fn inflate_into(&mut self, link: ChainLink, out: &mut Vec<u8>) -> bool {
        let pack = &self.packs[link.pack];
        // A damaged header must not make the reader allocate more than the pack can hold.
        if !pack.could_inflate_to(link.data_start, link.size) {
            return false;
        }
        let Some(input) = pack.data.get(link.data_start..) else {
            return false;
        };
        inflate_exactly(&mut self.whole, input, out, link.size)
    }
}

/// Longer than any chain git writes (`pack.depth` is at most 4095).
const MAX_CHAIN: usize = 10_000;

/// The most bytes one read inflates and builds along its delta chain: a chain of git's
/// deepest (4095) deltas of a 256 KiB tree (a directory of several thousand entries) stays
/// well below it, while a damaged size, or a chain of deltas that each copy their base many
/// times over, cannot make a read take minutes or allocate gigabytes.
pub(super) const MAX_READ_BYTES: usize = 2 << 30;

/// What a delta's header declares: the sizes of its base and of its result, and where its
/// commands start.
struct DeltaHeader {
    base_size: usize,
    result_size: usize,
    length: usize,
}

fn delta_header(delta: &[u8]) -> Option<DeltaHeader> {
    let mut at = 0;
    let mut varint = || -> Option<usize> {
        let mut value = 0usize;
        let mut shift = 0;
        loop {
            let byte = *delta.get(at)?;
            at += 1;
            if shift > 56 {
                return None;
            }
            value |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
    };
    let base_size = varint()?;
    let result_size = varint()?;
    Some(DeltaHeader {
        base_size,
        result_size,
        length: at,
    })
}

/// Applies a git delta to `base`, into `result`; None when the delta is malformed or does
/// not fit `base`.
fn apply_delta(base: &[u8], delta: &[u8], result: &mut Vec<u8>) -> Option<()> {
    let DeltaHeader {
        base_size,
        result_size,
        length: mut at,
    } = delta_header(delta)?;
    // Each command byte yields at most 64 KiB, so a larger size is a damaged header.
    if base_size != base.len() || result_size / 0x10000 > delta.len() {
        return None;
    }
    result.clear();
    result.reserve(result_size);
    while at < delta.len() {
        let command = delta[at];
        at += 1;
        if command & 0x80 != 0 {
            // Copy from the base: the low four bits say which offset bytes follow, the next
            // three which size bytes; a size of zero means 64 KiB.
            let mut offset = 0usize;
            let mut size = 0usize;
            for bit in 0..4 {
                if command & (1 << bit) != 0 {
                    offset |= usize::from(*delta.get(at)?) << (8 * bit);
                    at += 1;
                }
            }
            for bit in 0..3 {
                if command & (0x10 << bit) != 0 {
                    size |= usize::from(*delta.get(at)?) << (8 * bit);
                    at += 1;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            result.extend_from_slice(base.get(offset..offset.checked_add(size)?)?);
        } else if command != 0 {
            // Insert the next `command` bytes of the delta itself.
            let size = usize::from(command);
            result.extend_from_slice(delta.get(at..at + size)?);
            at += size;
        } else {
            return None; // Reserved.
        }
        if result.len() > result_size {
            return None;
        }
    }
    (result.len() == result_size).then_some(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use git2::{ObjectType, Oid, Repository};

    use super::super::fixtures::*;
    use super::*;
    use crate::test_git::git;

    fn applied(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
        let mut result = Vec::new();
        apply_delta(base, delta, &mut result).map(|()| result)
    }

    #[test]
    fn deltas_copy_and_insert() {
        let base = b"0123456789abcdef";
        // Base size 16, result size 9: copy 4 bytes from offset 10, insert "xyz", copy 2
        // bytes from offset 0.
        let delta = [16, 9, 0x91, 10, 4, 3, b'x', b'y', b'z', 0x90, 2];
        assert_eq!(applied(base, &delta).as_deref(), Some(&b"abcdxyz01"[..]));
    }

    #[test]
    fn deltas_that_do_not_fit_are_refused() {
        let base = b"0123456789abcdef";
        // Wrong base size.
        assert_eq!(applied(base, &[15, 1, 1, b'x']), None);
        // A copy past the end of the base.
        assert_eq!(applied(base, &[16, 4, 0x91, 14, 4]), None);
        // A result longer than declared.
        assert_eq!(applied(base, &[16, 1, 2, b'x', b'y']), None);
        // A result shorter than declared.
        assert_eq!(applied(base, &[16, 3, 1, b'x']), None);
        // The reserved command 0.
        assert_eq!(applied(base, &[16, 1, 0, b'x']), None);
        // An insert running past the end of the delta.
        assert_eq!(applied(base, &[16, 3, 3, b'x']), None);
    }

    #[test]
    fn a_copy_of_size_zero_copies_64_kib() {
        let base = vec![7u8; 0x10000];
        // Varints: 0x10000 = [0x80, 0x80, 0x04].
        let delta = [0x80, 0x80, 0x04, 0x80, 0x80, 0x04, 0x80];
        assert_eq!(applied(&base, &delta), Some(base.clone()));
    }

    /// The longest delta chain in the repository's packs, by `git verify-pack`.
    fn longest_chain(root: &Path) -> usize {
        let mut longest = 0;
        for pack in pack_files(root) {
            let index = pack.with_extension("idx");
            let report = git(root, &["verify-pack", "-v", index.to_str().unwrap()]);
            for line in String::from_utf8(report).unwrap().lines() {
                if let Some(rest) = line.strip_prefix("chain length = ") {
                    longest = longest.max(rest.split(':').next().unwrap().parse().unwrap());
                }
            }
        }
        longest
    }

    #[test]
    fn every_object_of_deep_delta_chains_reads_as_git_prints_it() {
        let dir = repository_with_history();
        let root = dir.path();
        git(root, &["repack", "-adfq", "--depth=50", "--window=50"]);
        assert!(
            longest_chain(root) >= 10,
            "the pack has long chains to resolve"
        );
        let objects = objects_as_git_prints_them(root);
        // With the real budget, and with one so small that chains are resolved again and
        // again from objects pushed out of the cache.
        for budget in [ObjectReader::CACHE_BYTES, 2048] {
            assert_eq!(read_all(root, &objects, budget), objects.len());
        }
    }

    /// A chain that comes back to an entry it passed, through a delta by id and then a delta
    /// by offset: refused by the reader itself, as libgit2 would follow it forever.
    #[test]
    fn a_chain_that_leads_back_to_itself_is_refused_and_never_handed_to_libgit2() {
        let dir = empty_repository();
        let (a, b) = (test_id(0xaa), test_id(0xbb));
        // a is a delta on b by id; b, after it in the pack, a delta on a by offset.
        let entries = [
            TestEntry::OnId(b, copy_delta(4)),
            TestEntry::OnEntry(0, copy_delta(4)),
        ];
        write_pack(dir.path(), &entries, &[(a, 0), (b, 1)]);
        let repo = Repository::open(dir.path()).unwrap();
        let mut reader = ObjectReader::new(&repo).unwrap();
        for (id, offset) in [(a, 12), (b, 45)] {
            let refused = reader.read_packed(id).err().expect("refused by the reader");
            assert!(refused.contains("leads back to itself"), "{refused}");
            assert!(
                refused.contains(&format!("(at offset {offset})")),
                "{refused}"
            );
            // So `read` answers at once, without libgit2.
            let error = reader.read(id).err().expect("an error");
            assert!(error.message().contains("leads back to itself"));
        }
    }

    /// A chain deeper than git writes is refused, however it ends.
    #[test]
    fn a_chain_deeper_than_git_writes_is_refused() {
        let dir = empty_repository();
        let mut entries = vec![TestEntry::Whole(3, b"abcd".to_vec())];
        for at in 0..=MAX_CHAIN {
            entries.push(TestEntry::OnEntry(at, copy_delta(4)));
        }
        let (top, shallower) = (test_id(1), test_id(2));
        write_pack(
            dir.path(),
            &entries,
            &[(top, MAX_CHAIN + 1), (shallower, MAX_CHAIN)],
        );
        let repo = Repository::open(dir.path()).unwrap();
        let mut reader = ObjectReader::new(&repo).unwrap();
        let refused = reader.read_packed(top).err().expect("refused");
        assert!(refused.contains("more than 10000 deltas"), "{refused}");
        // One delta less is read, and then its delta too, from the cache.
        let object = reader.read(shallower).unwrap();
        assert_eq!(
            (object.kind, object.data()),
            (ObjectType::Blob, &b"abcd"[..])
        );
        assert_eq!(reader.read(top).unwrap().data(), b"abcd");
    }

    /// One read inflates and builds at most the reader's limit, counted along its chain, and
    /// a delta's result is counted before it is allocated.
    #[test]
    fn a_read_that_would_build_more_than_the_limit_is_refused() {
        let dir = empty_repository();
        let base = vec![b'x'; 100];
        // Deltas that copy their base twice over: 100 bytes to 200 (varint 0xc8 0x01), 200
        // to 400 (0x90 0x03). A copy command 0x90 takes the size from the next byte, at
        // offset 0.
        let doubling = [100, 0xc8, 0x01, 0x90, 100, 0x90, 100].to_vec();
        let doubling_again = [0xc8, 0x01, 0x90, 0x03, 0x90, 0xc8, 0x90, 0xc8].to_vec();
        let entries = [
            TestEntry::Whole(3, base),
            TestEntry::OnEntry(0, doubling),
            TestEntry::OnEntry(1, doubling_again),
        ];
        let (whole, doubled, quadrupled) = (test_id(1), test_id(2), test_id(3));
        write_pack(
            dir.path(),
            &entries,
            &[(whole, 0), (doubled, 1), (quadrupled, 2)],
        );
        let repo = Repository::open(dir.path()).unwrap();
        let read_with_limit = |limit: usize, id: Oid| {
            let mut reader = ObjectReader::new(&repo).unwrap();
            reader.read_limit = limit;
            reader.read_packed(id)
        };
        // The base, each delta and each result: 100 + 7 + 200 + 8 + 400 bytes in all.
        let read = read_with_limit(715, quadrupled).unwrap().unwrap();
        assert_eq!(read.data(), &[b'x'; 400][..]);
        let refused = read_with_limit(714, quadrupled).err().expect("refused");
        assert!(refused.contains("to inflate and rebuild"), "{refused}");
        assert!(read_with_limit(714, doubled).unwrap().is_some());
        assert!(read_with_limit(714, whole).unwrap().is_some());
    }
}
