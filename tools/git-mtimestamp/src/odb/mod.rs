//! The object database: the history walk's commits and trees, read straight from the
//! repository's pack files and loose objects.
//!
//! A cold walk reads every commit and hundreds of thousands of trees, and in a packed
//! repository almost every tree is a delta on a neighbouring version of itself, in chains up
//! to 50 long. Resolving a chain is cheap when its base is cached and costly otherwise. git
//! keeps a 96 MB least-recently-used cache of resolved objects; libgit2's is fixed at 16 MB
//! at compile time and is emptied whole whenever it fills, so on long histories it resolves
//! most chains from their start, again and again: reads through libgit2 took three times as
//! long as git's whole `git log --raw` walk (see `docs/proposals/object-reads/`).
//!
//! This reader finds an object through the packs' `.idx` files, resolves its delta chain
//! itself, and keeps every object of every chain in a least-recently-used cache. The packs of
//! alternates are read the same way. Loose objects of the repository's own object directory
//! are read directly too: a sync after new commits reads mostly those, and libgit2 resolved
//! each one's whole path three times. Anything it does not find or cannot decode (a loose
//! object of an alternate, a pack with a version 1 index, an alternate written in quotes, a
//! damaged entry) is read through libgit2 instead, which then gives its own answer or error;
//! so the reader only ever decides how fast an object is read, never what it is.
//!
//! Two things it refuses itself, because libgit2 (and git) would never finish reading them: a
//! delta chain that leads back to one of its own entries (a REF_DELTA whose base is itself,
//! or a longer cycle, in a damaged pack), and a chain deeper, or a read larger, than git ever
//! writes. Every read is bounded in depth and in bytes.
//!
//! History is read as `git log` reads it: an object replaced by a replace ref (`git replace`)
//! reads as its replacement, and a commit grafted in `info/grafts` gets the graft's parents
//! (see [`Replacements`]).
//!
//! Where each part lives, as in gitoxide's crates: this module has the reader and the order
//! in which it tries the packs, the loose objects and libgit2; `pack.rs` the packs (the
//! alternates' too) and the search for an id in their indexes; `delta.rs` the resolving of a
//! chain of deltas and the applying of one; `lru.rs` the cache of resolved objects;
//! `loose.rs` loose objects; `replacements.rs` replace refs and grafts. Why the reader is
//! this crate's own is recorded in `docs/proposals/object-reads/`.

use std::rc::Rc;
use std::sync::Arc;

use flate2::Decompress;
use git2::{ObjectType, Odb, Oid, Repository};

use crate::error::Error;

mod delta;
#[cfg(test)]
mod fixtures;
mod loose;
mod lru;
mod pack;
mod replacements;

use delta::{ChainLink, MAX_READ_BYTES};
use loose::Loose;
use lru::ResolvedCache;
use pack::Packs;
pub(crate) use replacements::{
    Environment, Replacements, open_despite_grafts, reopen_despite_grafts,
};

/// A commit, tree, blob or tag, with its bytes shared with the reader's cache.
#[derive(Clone)]
pub(crate) struct Object {
    pub kind: ObjectType,
    pub data: Rc<[u8]>,
}

impl Object {
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

pub(crate) struct ObjectReader<'r> {
    odb: Odb<'r>,
    packs: Arc<Packs>,
    replacements: Arc<Replacements>,
    /// The most bytes one read may inflate and build: [`MAX_READ_BYTES`], lower in tests.
    read_limit: usize,
    /// The pack that held the last object found: history's objects cluster in one pack.
    last_pack: usize,
    cache: ResolvedCache,
    /// Reads the headers of loose objects, whose sizes are inside their streams.
    inflater: Decompress,
    /// Inflates whole streams of known sizes, as most reads are.
    whole: libdeflater::Decompressor,
    /// Buffers reused from read to read, to spare allocations: the delta chain being
    /// resolved, the delta being applied, and the object being built.
    chain: Vec<ChainLink>,
    delta: Vec<u8>,
    built: Vec<u8>,
    /// The compressed bytes of the last loose object read.
    loose: Vec<u8>,
}

impl<'r> ObjectReader<'r> {
    /// What the cache may grow to: two thirds of git's default `core.deltaBaseCacheLimit`.
    /// On the 50,000-commit bench repository a walk in one part then applies 748,000 deltas,
    /// against 656,000 with 96 MB and 582,000 with an unbounded cache. A walk split in parts
    /// gives each part its share.
    pub const CACHE_BYTES: usize = 64 << 20;
    /// What the cache starts with, growing only when reads show that more room would have
    /// kept what they had to rebuild (see [`ResolvedCache`]). With 32 MiB for each of two
    /// parts, a first sync of dagger/dagger peaked at 1.34 times `git log`'s memory.
    pub const CACHE_START_BYTES: usize = 4 << 20;

    /// A reader of `repo` that sees history as `git log` does there (see [`Replacements`]).
    pub fn new(repo: &'r Repository) -> Result<ObjectReader<'r>, Error> {
        Self::with_replacements(repo, Arc::new(Replacements::of(repo)?))
    }

    /// A reader of `repo` that reads through `replacements`, loaded once for a whole sync.
    pub fn with_replacements(
        repo: &'r Repository,
        replacements: Arc<Replacements>,
    ) -> Result<ObjectReader<'r>, Error> {
        let packs = Arc::new(Packs::open(repo));
        Self::sharing(repo, packs, replacements, Self::CACHE_BYTES)
    }

    /// A reader of `packs` (opened for `repo` or another handle of the same repository),
    /// with a cache of `cache_bytes`. Readers on several threads share one mapping of each
    /// pack, as the pages of a second mapping would count again in the process's memory.
    pub fn sharing(
        repo: &'r Repository,
        packs: Arc<Packs>,
        replacements: Arc<Replacements>,
        cache_bytes: usize,
    ) -> Result<ObjectReader<'r>, Error> {
        let odb = repo.odb().map_err(Error::corrupt("the object database"))?;
        Ok(ObjectReader {
            odb,
            packs,
            replacements,
            read_limit: MAX_READ_BYTES,
            last_pack: 0,
            cache: ResolvedCache::new(Self::CACHE_START_BYTES, cache_bytes),
            inflater: Decompress::new(true),
            whole: libdeflater::Decompressor::new(),
            chain: Vec::new(),
            delta: Vec::new(),
            built: Vec::new(),
            loose: Vec::new(),
        })
    }

    /// The packs this reader reads, to share with readers on other threads.
    pub fn packs(&self) -> Arc<Packs> {
        Arc::clone(&self.packs)
    }

    /// The replacements this reader reads through, to share with readers on other threads.
    pub fn replacements(&self) -> Arc<Replacements> {
        Arc::clone(&self.replacements)
    }

    /// See [`Packs::release_pages_over_budget`].
    pub fn release_pack_pages_over_budget(&self) {
        self.packs.release_pages_over_budget();
    }

    /// The parents `info/grafts` gives commit `id` instead of its own, if it grafts it.
    pub fn grafted_parents(&self, id: Oid) -> Option<&[Oid]> {
        self.replacements.parents(id)
    }

    /// Lowers what the cache may grow to (and hold) to `bytes`, evicting what no longer fits.
    pub fn limit_cache(&mut self, bytes: usize) {
        self.cache.limit(bytes);
    }

    /// Reads object `id` (its replacement, when a replace ref replaces it), from the packs
    /// or a loose object file when it is there, else through libgit2.
    pub fn read(&mut self, id: Oid) -> Result<Object, git2::Error> {
        let stored = self.replacements.object(id)?;
        match self.read_stored(stored) {
            Err(e) if stored != id => Err(git2::Error::from_str(&format!(
                "it is replaced by {stored} (a replace ref), which cannot be read: {}",
                e.message()
            ))),
            read => read,
        }
    }

    /// Reads the object stored under `id`.
    fn read_stored(&mut self, id: Oid) -> Result<Object, git2::Error> {
        match self.read_packed(id) {
            Ok(Some(object)) => return Ok(object),
            // Never handed to libgit2, which would not come back.
            Err(refused) => return Err(git2::Error::from_str(&refused)),
            Ok(None) => {}
        }
        match self.read_loose(id) {
            Loose::Read(object) => return Ok(object),
            // libgit2 was seen to loop forever on a truncated loose object.
            Loose::Damaged => {
                return Err(git2::Error::from_str(
                    "its loose object file is damaged (run `git fsck`)",
                ));
            }
            Loose::NotHere => {}
        }
        let object = self.odb.read(id)?;
        Ok(Object {
            kind: object.kind(),
            data: Rc::from(object.data()),
        })
    }
}

/// Inflates the zlib stream at the start of `input` into `out`, sized to `size`; false when
/// the stream is damaged or inflates to another size. Whatever follows the stream in `input`
/// (the next entry of a pack) is not read.
pub(super) fn inflate_exactly(
    inflater: &mut libdeflater::Decompressor,
    input: &[u8],
    out: &mut Vec<u8>,
    size: usize,
) -> bool {
    out.clear();
    out.resize(size, 0);
    // A stream longer than declared does not fit: `InsufficientSpace`.
    matches!(inflater.zlib_decompress(input, out), Ok(produced) if produced == size)
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::test_git::git;

    /// A stream is read whole only at exactly its declared size, whatever follows it, as the
    /// next entry follows each entry of a pack.
    #[test]
    fn a_stream_inflates_only_to_its_declared_size() {
        let content: Vec<u8> = (0..50_000u32)
            .flat_map(|n| (n % 251).to_le_bytes())
            .collect();
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, &content).unwrap();
        let mut stream = encoder.finish().unwrap();
        let mut inflater = libdeflater::Decompressor::new();
        let mut out = Vec::new();
        let mut inflates_to = |input: &[u8], size: usize| {
            inflate_exactly(&mut inflater, input, &mut out, size).then(|| out.clone())
        };

        assert_eq!(inflates_to(&stream, content.len()), Some(content.clone()));
        assert_eq!(inflates_to(&stream, content.len() - 1), None);
        assert_eq!(inflates_to(&stream, content.len() + 1), None);
        assert_eq!(
            inflates_to(&stream[..stream.len() - 1], content.len()),
            None
        );
        stream.extend_from_slice(b"the next entry of the pack");
        assert_eq!(inflates_to(&stream, content.len()), Some(content.clone()));
        let middle = stream.len() / 2;
        stream[middle] ^= 0x55;
        assert_eq!(inflates_to(&stream, content.len()), None);
    }

    #[test]
    fn objects_outside_the_packs_it_knows_are_read_through_libgit2() {
        let dir = repository_with_history();
        let root = dir.path();
        git(root, &["repack", "-adq"]);
        // A second pack with a version 1 index, which the reader leaves to libgit2.
        std::fs::write(root.join("d0/f0.txt"), "in the second pack").unwrap();
        git(root, &["commit", "-qam", "second pack"]);
        git(root, &["repack", "-dq"]);
        let newest = &pack_files(root)[0];
        std::fs::remove_file(newest.with_extension("idx")).unwrap();
        git(
            root,
            &["index-pack", "--index-version=1", newest.to_str().unwrap()],
        );
        // And loose objects.
        std::fs::write(root.join("d1/f1.txt"), "loose").unwrap();
        git(root, &["commit", "-qam", "loose"]);

        let objects = objects_as_git_prints_them(root);
        let loose = String::from_utf8(git(root, &["count-objects", "-v"])).unwrap();
        assert!(!loose.starts_with("count: 0\n"), "{loose}");
        let packed = read_all(root, &objects, ObjectReader::CACHE_BYTES);
        // The last two commits brought 4 objects each: a commit, two trees and a blob.
        assert_eq!(packed, objects.len() - 8);
    }
}
