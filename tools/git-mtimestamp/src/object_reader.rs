//! Reading the history walk's commits and trees straight from the repository's pack files.
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

use std::fs::File;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use flate2::{Decompress, FlushDecompress, Status};
use git2::{ObjectType, Odb, Oid, Repository};
use memmap2::Mmap;
use rustc_hash::FxHashMap;

use crate::error::Error;

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
    /// The pack that held the last object found: history's objects cluster in one pack.
    last_pack: usize,
    cache: ResolvedCache,
    inflater: Decompress,
    /// Buffers reused from read to read, to spare allocations: the delta chain being
    /// resolved, the delta being applied, and the object being built.
    chain: Vec<ChainLink>,
    delta: Vec<u8>,
    built: Vec<u8>,
    /// The compressed bytes of the last loose object read.
    loose: Vec<u8>,
}

/// A delta of a chain being resolved: where it is, and its inflated size.
#[derive(Clone, Copy)]
struct ChainLink {
    pack: usize,
    offset: u64,
    data_start: usize,
    size: usize,
}

impl<'r> ObjectReader<'r> {
    /// Two thirds of git's default `core.deltaBaseCacheLimit`: on the 50,000-commit bench
    /// repository a walk in one part then applies 748,000 deltas, against 656,000 with
    /// 96 MB and 582,000 with an unbounded cache, and it keeps the sync's peak memory clearly
    /// below `git log`'s (whose cache holds only delta bases, not every object read). A walk
    /// split in parts gives each part its share.
    pub const CACHE_BYTES: usize = 64 << 20;

    pub fn new(repo: &'r Repository) -> Result<ObjectReader<'r>, Error> {
        Self::sharing(repo, Arc::new(Packs::open(repo)), Self::CACHE_BYTES)
    }

    /// A reader of `packs` (opened for `repo` or another handle of the same repository),
    /// with a cache of `cache_bytes`. Readers on several threads share one mapping of each
    /// pack, as the pages of a second mapping would count again in the process's memory.
    pub fn sharing(
        repo: &'r Repository,
        packs: Arc<Packs>,
        cache_bytes: usize,
    ) -> Result<ObjectReader<'r>, Error> {
        let odb = repo.odb().map_err(Error::corrupt("the object database"))?;
        Ok(ObjectReader {
            odb,
            packs,
            last_pack: 0,
            cache: ResolvedCache::new(cache_bytes),
            inflater: Decompress::new(true),
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

    /// Lowers the cache's budget to `bytes`, evicting what no longer fits.
    pub fn limit_cache(&mut self, bytes: usize) {
        self.cache.budget = bytes;
        self.cache.evict_to_fit(0);
    }

    /// Reads object `id`, from the packs or a loose object file when it is there, else
    /// through libgit2.
    pub fn read(&mut self, id: Oid) -> Result<Object, git2::Error> {
        if let Some(object) = self.read_packed(id) {
            return Ok(object);
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

    /// The loose object `id` of the repository's own object directory: a zlib stream of
    /// `<kind> <size>\0<content>`.
    fn read_loose(&mut self, id: Oid) -> Loose {
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
        let whole = inflate_exactly(&mut self.inflater, compressed, &mut built, nul + 1 + size);
        let object = whole.then(|| Object {
            kind,
            data: Rc::from(&built[nul + 1..]),
        });
        self.built = built;
        object
    }

    fn read_packed(&mut self, id: Oid) -> Option<Object> {
        let (pack, offset) = self.find(id)?;
        self.resolve(pack, offset)
    }

    /// The pack and offset of `id`, trying the pack of the last find first.
    fn find(&mut self, id: Oid) -> Option<(usize, u64)> {
        let order = std::iter::once(self.last_pack).chain(0..self.packs.len());
        for pack in order {
            if let Some(offset) = self.packs.get(pack)?.offset_of(id.as_bytes()) {
                self.last_pack = pack;
                return Some((pack, offset));
            }
        }
        None
    }

    /// The object at `offset` in pack `pack`, resolving its delta chain down to the first
    /// object that is cached or stored whole; None when any entry of the chain is malformed
    /// or its base is outside the packs.
    fn resolve(&mut self, pack: usize, offset: u64) -> Option<Object> {
        if let Some(object) = self.cache.get(pack, offset) {
            return Some(object);
        }
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        let object = self.resolve_chain(pack, offset, &mut chain);
        self.chain = chain;
        object
    }

    /// [`Self::resolve`] for an object that is not cached: collects the deltas down to the
    /// first cached or whole object in `chain`, then applies them from there up.
    fn resolve_chain(
        &mut self,
        pack: usize,
        offset: u64,
        chain: &mut Vec<ChainLink>,
    ) -> Option<Object> {
        let (mut at_pack, mut at) = (pack, offset);
        let mut base = loop {
            if chain.len() > MAX_CHAIN {
                return None; // A cycle of REF_DELTAs in a damaged pack.
            }
            let entry = self.packs[at_pack].entry(at)?;
            let link = ChainLink {
                pack: at_pack,
                offset: at,
                data_start: entry.data_start,
                size: entry.size,
            };
            match entry.kind {
                EntryKind::Whole(kind) => {
                    let mut built = std::mem::take(&mut self.built);
                    let inflated = self.inflate_into(link, &mut built);
                    let data = Rc::from(&built[..]);
                    self.built = built;
                    if !inflated {
                        return None;
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
                    (at_pack, at) = self.find(base_id)?;
                }
            }
            if let Some(object) = self.cache.get(at_pack, at) {
                break object;
            }
        };
        for &link in chain.iter().rev() {
            let (mut delta, mut built) = (
                std::mem::take(&mut self.delta),
                std::mem::take(&mut self.built),
            );
            let applied = self.inflate_into(link, &mut delta)
                && apply_delta(base.data(), &delta, &mut built).is_some();
            let data = Rc::from(&built[..]);
            (self.delta, self.built) = (delta, built);
            if !applied {
                return None;
            }
            base = Object {
                kind: base.kind,
                data,
            };
            self.cache.put(link.pack, link.offset, &base);
        }
        Some(base)
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
        inflate_exactly(&mut self.inflater, input, out, link.size)
    }
}

/// What the object directory holds for an id.
enum Loose {
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

/// Inflates the zlib stream at the start of `input` into `out`, sized to `size`; false when
/// the stream is damaged or inflates to another size.
fn inflate_exactly(
    inflater: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    size: usize,
) -> bool {
    out.clear();
    out.resize(size, 0);
    inflater.reset(true);
    // One spare byte of output, so that a stream longer than declared is caught, and an
    // empty object still reaches the end of its stream.
    let mut spare = [0u8; 1];
    match inflater.decompress(input, out, FlushDecompress::Finish) {
        Ok(Status::StreamEnd) => inflater.total_out() == out.len() as u64,
        Ok(_) if inflater.total_out() == out.len() as u64 => {
            let consumed = inflater.total_in() as usize;
            matches!(
                inflater.decompress(&input[consumed..], &mut spare, FlushDecompress::Finish),
                Ok(Status::StreamEnd)
            ) && inflater.total_out() == out.len() as u64
        }
        _ => false,
    }
}

/// Longer than any chain git writes (`pack.depth` is at most 4095).
const MAX_CHAIN: usize = 10_000;

/// One pack file and its index, both mapped.
pub(crate) struct Pack {
    index: Mmap,
    data: Mmap,
    /// Objects in the pack, from the index's fan-out table.
    count: usize,
}

/// Version 2 index: magic, version, 256 fan-out counts, then names, CRCs, offsets.
const INDEX_MAGIC: [u8; 8] = [0xff, b't', b'O', b'c', 0, 0, 0, 2];
const FANOUT_START: usize = 8;
const NAMES_START: usize = FANOUT_START + 256 * 4;

/// The repository's packs that this reader can read, newest first, and its own object
/// directory, for loose objects.
pub(crate) struct Packs {
    packs: Vec<Pack>,
    loose: Option<std::os::fd::OwnedFd>,
}

impl std::ops::Deref for Packs {
    type Target = [Pack];

    fn deref(&self) -> &[Pack] {
        &self.packs
    }
}

impl Packs {
    /// The packs of the repository's object directory, then those of its alternates (as
    /// `git clone --shared` and `--reference` set up), newest first within each directory.
    pub fn open(repo: &Repository) -> Packs {
        let own = repo.commondir().join("objects");
        let mut directories = vec![own.canonicalize().unwrap_or(own)];
        let mut next = 0;
        // git follows alternates of alternates, five levels deep.
        for _depth in 0..5 {
            let end = directories.len();
            for at in next..end {
                for alternate in alternates_of(&directories[at]) {
                    if !directories.contains(&alternate) {
                        directories.push(alternate);
                    }
                }
            }
            next = end;
        }
        let loose = rustix::fs::open(
            &directories[0],
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok();
        Packs {
            packs: directories
                .iter()
                .flat_map(|objects| open_packs(&objects.join("pack")))
                .collect(),
            loose,
        }
    }
}

/// The object directories listed in `objects/info/alternates`: one per line, relative ones
/// to `objects`; `#` starts a comment. A quoted line (a path with unusual bytes, written in
/// C quoting) is left to libgit2.
fn alternates_of(objects: &Path) -> Vec<std::path::PathBuf> {
    let Ok(text) = std::fs::read_to_string(objects.join("info").join("alternates")) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('"'))
        .filter_map(|line| objects.join(line).canonicalize().ok())
        .collect()
}

fn open_packs(dir: &Path) -> Vec<Pack> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut packs: Vec<(std::time::SystemTime, Pack)> = entries
        .filter_map(|entry| {
            let index_path = entry.ok()?.path();
            if index_path.extension()? != "idx" {
                return None;
            }
            let data_file = File::open(index_path.with_extension("pack")).ok()?;
            let modified = data_file.metadata().ok()?.modified().ok()?;
            Some((
                modified,
                Pack::open(&File::open(&index_path).ok()?, &data_file)?,
            ))
        })
        .collect();
    // Newest first, as git searches them: recent history is in recent packs.
    packs.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    packs.into_iter().map(|(_, pack)| pack).collect()
}

impl Pack {
    /// Maps a pack and its index; None when either is not in a format this reader knows, so
    /// that its objects are read through libgit2.
    fn open(index_file: &File, data_file: &File) -> Option<Pack> {
        // SAFETY: a mapping stays valid as long as the file is not changed in place, and git
        // never changes a pack or an index in place: new ones are written under temporary
        // names and renamed, and old ones are deleted, which leaves the mapping intact. (A
        // program that truncated a pack in place would crash git and libgit2 too, which map
        // packs the same way.) Every read below is bounds-checked against the mapping.
        let (index, data) = unsafe { (Mmap::map(index_file).ok()?, Mmap::map(data_file).ok()?) };
        if index.get(..8)? != INDEX_MAGIC || data.get(..4)? != b"PACK" {
            return None;
        }
        if !matches!(read_u32(&data, 4)?, 2 | 3) {
            return None;
        }
        let count = read_u32(&index, FANOUT_START + 255 * 4)? as usize;
        // Names, CRCs and 4-byte offsets, then 8-byte offsets, then two checksums.
        if index.len() < NAMES_START + count * 28 + 40 {
            return None;
        }
        Some(Pack { index, data, count })
    }

    /// The offset of object `id` in the pack. Object ids are uniformly distributed, so
    /// after the index's fan-out table narrows the search to the ids with `id`'s first byte,
    /// the next bytes tell about where in that range `id` sits; a search that widens from
    /// there needs a few probes of the sorted names instead of the twenty of a binary search,
    /// each of which would be a cache miss in a large index.
    fn offset_of(&self, id: &[u8]) -> Option<u64> {
        let id: &[u8; 20] = id.try_into().ok()?;
        let first = usize::from(id[0]);
        let low = match first {
            0 => 0,
            _ => read_u32(&self.index, FANOUT_START + (first - 1) * 4)? as usize,
        };
        let high = (read_u32(&self.index, FANOUT_START + first * 4)? as usize).min(self.count);
        if low >= high {
            return None;
        }
        let names = self
            .index
            .get(NAMES_START + low * 20..NAMES_START + high * 20)?;
        let name = |position: usize| -> &[u8; 20] {
            names[position * 20..position * 20 + 20]
                .try_into()
                .expect("20 bytes")
        };
        let count = high - low;
        let fraction = u64::from_be_bytes(id[1..9].try_into().expect("8 bytes"));
        let guess = ((u128::from(fraction) * count as u128) >> 64) as usize;
        // Widen a window around the guess until it brackets `id`, then bisect it.
        let (mut start, mut end) = (guess, guess + 1);
        let mut step = 1;
        while start > 0 && name(start) > id {
            start = start.saturating_sub(step);
            step *= 2;
        }
        step = 1;
        while end < count && name(end - 1) < id {
            end = (end + step).min(count);
            step *= 2;
        }
        while start < end {
            let middle = start + (end - start) / 2;
            match name(middle).cmp(id) {
                std::cmp::Ordering::Less => start = middle + 1,
                std::cmp::Ordering::Greater => end = middle,
                std::cmp::Ordering::Equal => return self.offset_at(low + middle),
            }
        }
        None
    }

    fn offset_at(&self, position: usize) -> Option<u64> {
        let offsets_start = NAMES_START + self.count * 24;
        let small = read_u32(&self.index, offsets_start + position * 4)?;
        if small & 0x8000_0000 == 0 {
            return Some(u64::from(small));
        }
        // Packs over 2 GiB: the offset lives in the table of 8-byte offsets.
        let large_start = offsets_start + self.count * 4;
        let at = large_start + (small & 0x7fff_ffff) as usize * 8;
        Some(u64::from_be_bytes(
            self.index.get(at..at + 8)?.try_into().ok()?,
        ))
    }

    /// Whether the data from `start` to the end of the pack could inflate to `size` bytes:
    /// deflate expands by at most 1032 to 1, so a larger size is a damaged header.
    fn could_inflate_to(&self, start: usize, size: usize) -> bool {
        self.data.len().saturating_sub(start).saturating_mul(1032) >= size
    }

    /// The header of the entry at `offset`.
    fn entry(&self, offset: u64) -> Option<Entry> {
        let mut at = usize::try_from(offset).ok()?;
        let mut byte = *self.data.get(at)?;
        at += 1;
        let type_bits = (byte >> 4) & 7;
        let mut size = u64::from(byte & 0x0f);
        let mut shift = 4;
        while byte & 0x80 != 0 {
            byte = *self.data.get(at)?;
            at += 1;
            if shift > 57 {
                return None;
            }
            size |= u64::from(byte & 0x7f) << shift;
            shift += 7;
        }
        let kind = match type_bits {
            1 => EntryKind::Whole(ObjectType::Commit),
            2 => EntryKind::Whole(ObjectType::Tree),
            3 => EntryKind::Whole(ObjectType::Blob),
            4 => EntryKind::Whole(ObjectType::Tag),
            6 => {
                // The distance back to the base, in git's "offset encoding": each
                // continuation adds one before shifting, so no distance has two spellings.
                let mut byte = *self.data.get(at)?;
                at += 1;
                let mut distance = u64::from(byte & 0x7f);
                while byte & 0x80 != 0 {
                    byte = *self.data.get(at)?;
                    at += 1;
                    distance = distance.checked_add(1)?.checked_mul(128)? | u64::from(byte & 0x7f);
                }
                // A base lies before its delta.
                if distance == 0 || distance > offset {
                    return None;
                }
                EntryKind::OffsetDelta(offset - distance)
            }
            7 => {
                let id = Oid::from_bytes(self.data.get(at..at + 20)?).ok()?;
                at += 20;
                EntryKind::RefDelta(id)
            }
            _ => return None,
        };
        Some(Entry {
            kind,
            data_start: at,
            size: usize::try_from(size).ok()?,
        })
    }
}

struct Entry {
    kind: EntryKind,
    /// Where the entry's zlib stream starts.
    data_start: usize,
    /// The inflated size of the object, or of the delta.
    size: usize,
}

enum EntryKind {
    Whole(ObjectType),
    OffsetDelta(u64),
    RefDelta(Oid),
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Applies a git delta to `base`, into `result`; None when the delta is malformed or does
/// not fit `base`.
fn apply_delta(base: &[u8], delta: &[u8], result: &mut Vec<u8>) -> Option<()> {
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

/// Resolved objects by their place in a pack, bounded in bytes, least recently used first
/// out: a hash map to slots of a list kept in recency order, linked through slot numbers.
/// (The cheaper "clock" approximation was measured: it evicted worse and the sync was
/// slower.)
struct ResolvedCache {
    slots: FxHashMap<(usize, u64), usize>,
    entries: Vec<CacheEntry>,
    /// Slots whose entries were evicted, to be reused.
    free: Vec<usize>,
    /// The most and the least recently used slots; NONE when the cache is empty.
    newest: usize,
    oldest: usize,
    bytes: usize,
    budget: usize,
}

struct CacheEntry {
    key: (usize, u64),
    object: Option<Object>,
    newer: usize,
    older: usize,
}

const NONE: usize = usize::MAX;

impl ResolvedCache {
    fn new(budget: usize) -> ResolvedCache {
        ResolvedCache {
            slots: FxHashMap::default(),
            entries: Vec::new(),
            free: Vec::new(),
            newest: NONE,
            oldest: NONE,
            bytes: 0,
            budget,
        }
    }

    fn get(&mut self, pack: usize, offset: u64) -> Option<Object> {
        let slot = *self.slots.get(&(pack, offset))?;
        self.unlink(slot);
        self.link_newest(slot);
        self.entries[slot].object.clone()
    }

    fn put(&mut self, pack: usize, offset: u64, object: &Object) {
        let size = object.data.len();
        // One object as large as the budget would push out everything else for nothing.
        if size > self.budget / 8 || self.slots.contains_key(&(pack, offset)) {
            return;
        }
        self.evict_to_fit(size);
        let entry = CacheEntry {
            key: (pack, offset),
            object: Some(object.clone()),
            newer: NONE,
            older: NONE,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = entry;
                slot
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.link_newest(slot);
        self.slots.insert((pack, offset), slot);
        self.bytes += size;
    }

    /// Evicts the least recently used objects until `size` more bytes fit the budget.
    fn evict_to_fit(&mut self, size: usize) {
        while self.bytes + size > self.budget && self.oldest != NONE {
            let slot = self.oldest;
            self.unlink(slot);
            let entry = &mut self.entries[slot];
            self.bytes -= entry.object.take().map_or(0, |o| o.data.len());
            self.slots.remove(&entry.key);
            self.free.push(slot);
        }
    }

    fn unlink(&mut self, slot: usize) {
        let (newer, older) = (self.entries[slot].newer, self.entries[slot].older);
        match newer {
            NONE => self.newest = older,
            _ => self.entries[newer].older = older,
        }
        match older {
            NONE => self.oldest = newer,
            _ => self.entries[older].newer = newer,
        }
    }

    fn link_newest(&mut self, slot: usize) {
        self.entries[slot].newer = NONE;
        self.entries[slot].older = self.newest;
        match self.newest {
            NONE => self.oldest = slot,
            newest => self.entries[newest].newer = slot,
        }
        self.newest = slot;
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn the_cache_keeps_the_most_recently_used_objects_within_its_budget() {
        let object = |byte: u8| Object {
            kind: ObjectType::Tree,
            data: Rc::from(vec![byte; 100]),
        };
        let mut cache = ResolvedCache::new(800);
        for offset in 0..8 {
            cache.put(0, offset, &object(offset as u8));
        }
        // Using 0 makes 1 the least recently used, so 1 goes first.
        assert_eq!(cache.get(0, 0).unwrap().data[0], 0);
        cache.put(0, 8, &object(8));
        assert!(cache.get(0, 1).is_none());
        assert!(cache.get(0, 0).is_some());
        for offset in 9..14 {
            cache.put(0, offset, &object(offset as u8));
        }
        let kept: Vec<u64> = (0..14).filter(|&o| cache.get(0, o).is_some()).collect();
        assert_eq!(kept, vec![0, 7, 8, 9, 10, 11, 12, 13]);
        assert!(cache.bytes <= 800);
        // An object over an eighth of the budget is not kept at all.
        cache.put(1, 0, &object(1));
        let big = Object {
            kind: ObjectType::Blob,
            data: Rc::from(vec![0; 101]),
        };
        cache.put(1, 1, &big);
        assert!(cache.get(1, 1).is_none());
        // A lower budget (a walk split in parts) keeps the most recently used.
        cache.budget = 300;
        cache.evict_to_fit(0);
        let kept: Vec<u64> = (0..14).filter(|&o| cache.get(0, o).is_some()).collect();
        assert_eq!(kept, vec![12, 13]);
        assert!(cache.get(1, 0).is_some());
        assert_eq!(cache.bytes, 300);
    }

    /// A history whose trees become long delta chains once packed: 150 commits, each
    /// changing one of 40 files in one of three directories.
    fn repository_with_history() -> tempfile::TempDir {
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
    fn objects_as_git_prints_them(root: &Path) -> Vec<(Oid, String, Vec<u8>)> {
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
    fn read_all(root: &Path, objects: &[(Oid, String, Vec<u8>)], budget: usize) -> usize {
        let repo = Repository::open(root).unwrap();
        let mut reader =
            ObjectReader::sharing(&repo, Arc::new(Packs::open(&repo)), budget).unwrap();
        let mut packed = 0;
        for (id, kind, data) in objects {
            let object = reader.read(*id).unwrap();
            assert_eq!(object.kind.str(), kind, "{id}");
            assert!(object.data() == &data[..], "{id}: bytes differ from git's");
            if let Some(direct) = reader.read_packed(*id) {
                assert!(direct.data() == &data[..], "{id}");
                packed += 1;
            }
        }
        packed
    }

    /// The repository's pack files (`.pack`), newest first.
    fn pack_files(root: &Path) -> Vec<std::path::PathBuf> {
        let mut packs: Vec<_> = std::fs::read_dir(root.join(".git/objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pack"))
            .collect();
        packs.sort_by_key(|p| std::cmp::Reverse(p.metadata().unwrap().modified().unwrap()));
        packs
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

    #[test]
    fn deltas_by_id_and_offsets_past_the_32_bit_table_read_as_git_prints_them() {
        let dir = repository_with_history();
        let root = dir.path();
        git(
            root,
            &["-c", "repack.useDeltaBaseOffset=false", "repack", "-adfq"],
        );
        // Rewrite the index so that every offset above 64 bytes sits in the table of 8-byte
        // offsets, as in packs over 2 GiB.
        let [pack] = &pack_files(root)[..] else {
            panic!("one pack")
        };
        std::fs::remove_file(pack.with_extension("idx")).unwrap();
        git(
            root,
            &["index-pack", "--index-version=2,64", pack.to_str().unwrap()],
        );

        let repo = Repository::open(root).unwrap();
        let reader = ObjectReader::new(&repo).unwrap();
        let [pack] = &reader.packs[..] else {
            panic!("one pack")
        };
        let large_table = pack.index.len() - (NAMES_START + pack.count * 28 + 40);
        assert!(
            large_table >= 8 * (pack.count - 2),
            "offsets in the 64-bit table"
        );
        let ref_deltas = (0..pack.count)
            .filter_map(|position| pack.entry(pack.offset_at(position)?))
            .filter(|entry| matches!(entry.kind, EntryKind::RefDelta(_)))
            .count();
        assert!(
            ref_deltas > 100,
            "{ref_deltas} deltas name their base by id"
        );
        drop(reader);

        let objects = objects_as_git_prints_them(root);
        assert_eq!(read_all(root, &objects, 2048), objects.len());
    }

    #[test]
    fn the_packs_of_alternates_are_read_too() {
        let dir = repository_with_history();
        let root = dir.path();
        git(root, &["repack", "-adq"]);
        // A clone whose objects stay in the original (`--shared` writes the alternates
        // file), and a clone of that clone, whose alternates lead on to the original.
        let sandbox = tempfile::tempdir().unwrap();
        let (shared, chained) = (
            sandbox.path().join("shared"),
            sandbox.path().join("chained"),
        );
        let arg = |path: &Path| path.to_str().unwrap().to_owned();
        git(
            sandbox.path(),
            &["clone", "-q", "--shared", &arg(root), &arg(&shared)],
        );
        git(
            sandbox.path(),
            &["clone", "-q", "--shared", &arg(&shared), &arg(&chained)],
        );
        let objects = objects_as_git_prints_them(root);
        for clone in [&shared, &chained] {
            assert!(clone.join(".git/objects/info/alternates").exists());
            assert_eq!(read_all(clone, &objects, 2048), objects.len());
        }
    }

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

    #[test]
    fn a_damaged_entry_is_never_read_as_other_bytes() {
        let dir = repository_with_history();
        let root = dir.path();
        git(root, &["repack", "-adfq", "--depth=50", "--window=50"]);
        let objects = objects_as_git_prints_them(root);
        let [pack_path] = &pack_files(root)[..] else {
            panic!("one pack")
        };
        // Flip one byte inside the compressed data of every tenth entry.
        let offsets: Vec<u64> = {
            let repo = Repository::open(root).unwrap();
            let reader = ObjectReader::new(&repo).unwrap();
            let pack = &reader.packs[0];
            (0..pack.count)
                .step_by(10)
                .filter_map(|position| {
                    let entry = pack.entry(pack.offset_at(position)?)?;
                    Some(entry.data_start as u64 + 2)
                })
                .collect()
        };
        let mut bytes = std::fs::read(pack_path).unwrap();
        for &at in &offsets {
            bytes[at as usize] ^= 0x55;
        }
        let mut permissions = std::fs::metadata(pack_path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(pack_path, permissions).unwrap();
        std::fs::write(pack_path, bytes).unwrap();

        let repo = Repository::open(root).unwrap();
        let mut reader = ObjectReader::new(&repo).unwrap();
        let (mut refused, mut read) = (0, 0);
        for (id, _, data) in &objects {
            match reader.read(*id) {
                Ok(object) => {
                    assert!(object.data() == &data[..], "{id} read as other bytes");
                    read += 1;
                }
                Err(_) => refused += 1,
            }
        }
        assert!(
            refused >= offsets.len(),
            "{refused} of {} refused",
            objects.len()
        );
        assert!(read > 0);
    }
}
