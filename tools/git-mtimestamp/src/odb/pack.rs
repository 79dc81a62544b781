//! Pack files and their version 2 indexes, mapped: where the repository's packs are (its
//! alternates' too), where an object's entry is in them, and what the entry's header says.

use std::fs::File;
use std::path::Path;

use git2::{ObjectType, Oid, Repository};
use memmap2::Mmap;

use super::{Object, ObjectReader};

impl ObjectReader<'_> {
    /// The object `id` from the packs; None when they do not hold it or it does not decode
    /// (then libgit2 reads it), an error saying why when reading it would never end.
    pub(super) fn read_packed(&mut self, id: Oid) -> Result<Option<Object>, String> {
        match self.find(id) {
            Some((pack, offset)) => self.resolve(pack, offset),
            None => Ok(None),
        }
    }

    /// The pack and offset of `id`, trying the pack of the last find first.
    pub(super) fn find(&mut self, id: Oid) -> Option<(usize, u64)> {
        let order = std::iter::once(self.last_pack).chain(0..self.packs.len());
        for pack in order {
            if let Some(offset) = self.packs.get(pack)?.offset_of(id.as_bytes()) {
                self.last_pack = pack;
                return Some((pack, offset));
            }
        }
        None
    }
}

/// One pack file and its index, both mapped.
pub(crate) struct Pack {
    /// The pack's file name, for messages.
    pub(super) name: String,
    index: Mmap,
    pub(super) data: Mmap,
    /// Objects in the pack, from the index's fan-out table.
    count: usize,
}

/// The first budget of [`Packs::release_pages_over_budget`]. Letting go of the packs' pages
/// every 1,024 commits instead kept a first sync of dagger/dagger at 91 MB (against 140 MB
/// without), but added half a second of system time to the synthetic 50,000-commit
/// repository's.
const FIRST_PAGE_BUDGET: usize = 64 << 20;

/// The bytes of files' pages this process has mapped (the third field of `/proc/self/statm`,
/// which also counts shared memory, of which a sync has none).
fn mapped_file_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(2)?.parse().ok()?;
    // SAFETY: sysconf only reads a constant of the system.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * usize::try_from(page_size).ok()?)
}

/// Version 2 index: magic, version, 256 fan-out counts, then names, CRCs, offsets.
pub(super) const INDEX_MAGIC: [u8; 8] = [0xff, b't', b'O', b'c', 0, 0, 0, 2];
const FANOUT_START: usize = 8;
const NAMES_START: usize = FANOUT_START + 256 * 4;

/// The repository's packs that this reader can read, newest first, and its own object
/// directory, for loose objects.
pub(crate) struct Packs {
    packs: Vec<Pack>,
    pub(super) loose: Option<std::os::fd::OwnedFd>,
    /// How many bytes of files' pages the process may hold before the packs' pages are let
    /// go of (see [`Packs::release_pages_over_budget`]).
    page_budget: std::sync::atomic::AtomicUsize,
}

impl std::ops::Deref for Packs {
    type Target = [Pack];

    fn deref(&self) -> &[Pack] {
        &self.packs
    }
}

impl Packs {
    /// Lets go of the pages of the packs' data that this process has mapped, when it holds
    /// more bytes of files' pages than its budget: they stay in the kernel's page cache, and a
    /// later read maps them again. A walk reads many pages of a large pack once and then
    /// rarely again; they otherwise count in the process's memory until the walk ends, while
    /// the files are stamped beside it. Each release doubles the budget: a walk that keeps
    /// coming back to the same pages (the synthetic 50,000-commit repository) would otherwise
    /// spend its time mapping them again. Where the process's memory cannot be read (no
    /// `/proc`), nothing is let go of.
    pub fn release_pages_over_budget(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let budget = self.page_budget.load(Relaxed);
        if mapped_file_bytes().is_none_or(|mapped| mapped <= budget) {
            return;
        }
        self.page_budget.store(budget.saturating_mul(2), Relaxed);
        self.release_pages();
    }

    /// Lets go of every page of the packs' data that this process has mapped (see
    /// [`Packs::release_pages_over_budget`]).
    pub fn release_pages(&self) {
        for pack in &self.packs {
            // SAFETY: the mapping is read-only and of a file git never changes in place (a
            // pack is only ever written under a new name): its pages read again are the same.
            let _ = unsafe {
                pack.data
                    .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
            };
        }
    }

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
            page_budget: std::sync::atomic::AtomicUsize::new(FIRST_PAGE_BUDGET),
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
            let data_path = index_path.with_extension("pack");
            let data_file = File::open(&data_path).ok()?;
            let modified = data_file.metadata().ok()?.modified().ok()?;
            let name = data_path.file_name()?.to_string_lossy().into_owned();
            Some((
                modified,
                Pack::open(name, &File::open(&index_path).ok()?, &data_file)?,
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
    fn open(name: String, index_file: &File, data_file: &File) -> Option<Pack> {
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
        Some(Pack {
            name,
            index,
            data,
            count,
        })
    }

    /// The offset of object `id` in the pack. Object ids are uniformly distributed, so
    /// after the index's fan-out table narrows the search to the ids with `id`'s first byte,
    /// the next bytes tell about where in that range `id` sits. Each probe interpolates again
    /// between the nearest ids known below and above `id`: two or three probes of the sorted
    /// names, each a likely cache miss in a large index, where the window widened around one
    /// guess took about ten (a tenth of a cold sync's walk on dagger/dagger, most of it in
    /// `memcmp`). Probes compare the first 8 bytes as one number. Ids that no uniform
    /// distribution would give (a hand-made index) end in a bisection after a few probes.
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
        let key = |name: &[u8; 20]| u64::from_be_bytes(name[..8].try_into().expect("8 bytes"));
        let wanted = key(id);
        // Names in `..start` are below `id`, names in `end..` above it; the keys of the
        // names between lie in `floor..=ceiling`.
        let (mut start, mut end) = (0, high - low);
        let mut floor = u128::from(wanted & !(u64::MAX >> 8));
        let mut ceiling = floor + (1 << 56) - 1;
        for _ in 0..INTERPOLATED_PROBES {
            if start >= end {
                return None;
            }
            let span = (end - start) as u128;
            let guess = start
                + (((u128::from(wanted) - floor) * span / (ceiling - floor + 1)) as usize)
                    .min(end - start - 1);
            let probed = key(name(guess));
            match probed.cmp(&wanted) {
                std::cmp::Ordering::Less => {
                    start = guess + 1;
                    floor = u128::from(probed);
                }
                std::cmp::Ordering::Greater => {
                    end = guess;
                    ceiling = u128::from(probed);
                }
                std::cmp::Ordering::Equal if name(guess) == id => {
                    return self.offset_at(low + guess);
                }
                // Another id with the same first 8 bytes: the bisection below tells them apart.
                std::cmp::Ordering::Equal => break,
            }
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
    pub(super) fn could_inflate_to(&self, start: usize, size: usize) -> bool {
        self.data.len().saturating_sub(start).saturating_mul(1032) >= size
    }

    /// The header of the entry at `offset`.
    pub(super) fn entry(&self, offset: u64) -> Option<Entry> {
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

pub(super) struct Entry {
    pub kind: EntryKind,
    /// Where the entry's zlib stream starts.
    pub data_start: usize,
    /// The inflated size of the object, or of the delta.
    pub size: usize,
}

pub(super) enum EntryKind {
    Whole(ObjectType),
    OffsetDelta(u64),
    RefDelta(Oid),
}

/// Probes that [`Pack::offset_of`] places by interpolation before it bisects.
const INTERPOLATED_PROBES: usize = 4;

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::test_git::git;

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

    /// Ids far from uniform (crowded together, sharing their first 8 bytes, alone at the
    /// ends of their range) are all found, and the ids between them are not.
    #[test]
    fn every_listed_id_is_found_however_the_ids_are_spread() {
        let id = |bytes: &[u8]| {
            let mut id = [0x42; 20];
            id[..bytes.len()].copy_from_slice(bytes);
            Oid::from_bytes(&id).unwrap()
        };
        let mut listed = Vec::new();
        // Crowded near the bottom of the first byte's range, each pair sharing 8 bytes.
        for k in 0..150u8 {
            listed.push(id(&[0x42, 0, 0, 0, 0, 0, 0, k, 0x10]));
            listed.push(id(&[0x42, 0, 0, 0, 0, 0, 0, k, 0x20]));
        }
        // Alone at the top, spread in the middle, and in the first and last ranges.
        listed.push(id(&[0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
        listed.extend((1..20u8).map(|k| id(&[0x42, k * 12, k])));
        listed.extend([id(&[0x00, 0x00]), id(&[0xff, 0xff, 0xff])]);
        let dir = empty_repository();
        let entries: Vec<TestEntry> = (0..listed.len())
            .map(|_| TestEntry::Whole(3, b"x".to_vec()))
            .collect();
        let at: Vec<(Oid, usize)> = listed.iter().copied().zip(0..).collect();
        write_pack(dir.path(), &entries, &at);
        let repo = Repository::open(dir.path()).unwrap();
        let reader = ObjectReader::new(&repo).unwrap();
        let [pack] = &reader.packs[..] else {
            panic!("one pack")
        };
        let offsets: std::collections::HashMap<Oid, u64> = (0..pack.count)
            .map(|position| {
                let name = &pack.index[NAMES_START + position * 20..][..20];
                (
                    Oid::from_bytes(name).unwrap(),
                    pack.offset_at(position).unwrap(),
                )
            })
            .collect();
        assert_eq!(offsets.len(), listed.len());
        for listed in &listed {
            assert_eq!(
                pack.offset_of(listed.as_bytes()),
                Some(offsets[listed]),
                "{listed}"
            );
        }
        let absent = [
            id(&[0x42, 0, 0, 0, 0, 0, 0, 7, 0x15]),
            id(&[0x42, 0, 0, 0, 0, 0, 0, 7, 0x30]),
            id(&[0x42, 0, 0, 0, 0, 0, 0, 200]),
            id(&[0x42, 0, 0, 0, 0, 0, 0, 0, 0x05]),
            id(&[0x42, 0x80]),
            id(&[0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]),
            id(&[0x43]),
            id(&[0x00, 0x01]),
        ];
        for absent in absent {
            assert_eq!(pack.offset_of(absent.as_bytes()), None, "{absent}");
        }
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
