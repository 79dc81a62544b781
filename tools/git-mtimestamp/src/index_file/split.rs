//! Split indexes (`core.splitIndex`, `git update-index --split-index`; git's
//! Documentation/technical/index-format.txt, "Split index", and split-index.c).
//!
//! A split index file holds only what changed since its shared index
//! `sharedindex.<id>` was written: its `link` extension names the shared index and carries two
//! bitmaps over the shared index's entries, one of entries deleted and one of entries replaced.
//! The index file's first entries are the replacements, one per bit of the replace bitmap in
//! order, with empty paths (the path is the shared entry's); the rest are entries added, in
//! git's order. The shared index itself is never rewritten: it is named by its checksum, and
//! other index files may share it. Giving an entry of the shared index new stat data therefore
//! means adding a replacement for it to the index file, as git does when it refreshes one.

use std::path::{Path, PathBuf};

use sha1::Digest;

use super::{FLAG_EXTENDED, Index, IndexFile, IndexFileError, IndexRecord, ewah, parse_file};

/// What a split index holds besides its entries.
pub(crate) struct SplitIndex {
    /// The shared index's id: the checksum that names its file.
    shared_id: [u8; 20],
    /// The shared index's bytes and format version.
    shared: Vec<u8>,
    shared_version: u32,
    /// The positions in the shared index of the entries that the index file's first entries
    /// replace, in order.
    replaced: Vec<usize>,
    /// Where each of the index file's own entries starts: the replacements, then the entries
    /// added.
    own_offsets: Vec<usize>,
    /// The delete bitmap as the link extension stores it.
    delete_bitmap: Vec<u8>,
}

/// New stat data for an entry that a split index reads from its shared index.
pub(crate) struct Replacement {
    /// The entry's position in the shared index.
    pub position: usize,
    /// Where the entry starts in the shared index file.
    pub shared_offset: usize,
    /// Its stat data: the first 40 bytes of an index entry.
    pub stat_data: [u8; 40],
}

impl SplitIndex {
    /// The stat data of the shared index's entry at `offset`.
    pub fn shared_stat_data(&self, offset: usize) -> [u8; 40] {
        self.shared[offset..offset + 40].try_into().unwrap()
    }
}

/// The index git reads from the split index `file`, whose link extension is `link`: the shared
/// index's entries, less those deleted, with the replacements in their places and the added
/// entries merged in, as git's `merge_base_index` does. Every check git makes there is made
/// here, so that an index git would refuse is refused.
pub(super) fn merge(
    file: IndexFile,
    link: &[u8],
    index_path: &Path,
    git_dir: &Path,
) -> Result<Index, IndexFileError> {
    let malformed = |what: String| IndexFileError::Link(what);
    let shared_id: [u8; 20] = link
        .get(..20)
        .ok_or_else(|| malformed("it is too short".to_owned()))?
        .try_into()
        .unwrap();
    // A null id: the index file holds the whole index (git does not look at the bitmaps).
    if shared_id == [0; 20] {
        return Ok(Index {
            entries: file.entries,
            version: file.version,
            entries_end: file.entries_end,
            extensions: file.extensions,
            split: None,
        });
    }
    let (shared_path, shared) = read_shared(&shared_id, index_path, git_dir)?;
    let in_shared = |cause: IndexFileError| IndexFileError::Shared {
        path: shared_path.clone(),
        cause: Box::new(cause),
    };
    let base = parse_file(&shared).map_err(in_shared)?;
    if base.extensions.iter().any(|e| &e.signature == b"link") {
        return Err(in_shared(IndexFileError::Link(
            "a shared index cannot be split itself".to_owned(),
        )));
    }
    // git's "broken index, expect <id> in <file>, got <checksum>".
    let trailer = &shared[shared.len() - 20..];
    if trailer != shared_id {
        return Err(IndexFileError::SharedMismatch {
            path: shared_path,
            checksum: hex(trailer),
        });
    }

    let bitmaps = &link[20..];
    let (deleted, replaced, delete_bitmap) = if bitmaps.is_empty() {
        (Vec::new(), Vec::new(), ewah::encode(&[]))
    } else {
        let limit = base.entries.len();
        let (deleted, used) = ewah::decode(bitmaps, limit)
            .map_err(|e| malformed(format!("its delete bitmap: {e}")))?;
        let (replaced, used_too) = ewah::decode(&bitmaps[used..], limit)
            .map_err(|e| malformed(format!("its replace bitmap: {e}")))?;
        if used + used_too != bitmaps.len() {
            return Err(malformed("bytes follow its bitmaps".to_owned()));
        }
        (deleted, replaced, bitmaps[..used].to_vec())
    };
    if replaced.len() > file.entries.len() {
        return Err(malformed(format!(
            "it replaces {} entries, and the index file holds {}",
            replaced.len(),
            file.entries.len()
        )));
    }
    let own_offsets: Vec<usize> = file.entries.iter().map(|e| e.offset).collect();
    let mut own = file.entries.into_iter();
    let replacements: Vec<IndexRecord> = own.by_ref().take(replaced.len()).collect();
    let added: Vec<IndexRecord> = own.collect();
    if let Some(n) = replacements.iter().position(|e| !e.path.is_empty()) {
        return Err(malformed(format!(
            "its entry {n} replaces an entry of the shared index, and has a path of its own"
        )));
    }
    if let Some(n) = added.iter().position(|e| e.path.is_empty()) {
        return Err(malformed(format!(
            "its entry {} is added to the shared index's, and has no path",
            replaced.len() + n
        )));
    }

    let mut entries = Vec::with_capacity(base.entries.len() + added.len());
    let mut deleted_iter = deleted.iter().copied().peekable();
    let mut replacements = replaced.iter().copied().zip(replacements).peekable();
    for (position, mut entry) in base.entries.into_iter().enumerate() {
        let is_deleted = deleted_iter.next_if_eq(&position).is_some();
        match replacements.next_if(|(at, _)| *at == position) {
            Some(_) if is_deleted => {
                return Err(malformed(format!(
                    "entry {position} of the shared index is both replaced and deleted"
                )));
            }
            Some((_, mut replacement)) => {
                replacement.path = entry.path;
                entries.push(replacement);
            }
            None if is_deleted => {}
            None => {
                entry.shared_position = Some(position);
                entries.push(entry);
            }
        }
    }
    Ok(Index {
        entries: add_entries(entries, added),
        version: file.version,
        entries_end: file.entries_end,
        extensions: file.extensions,
        split: Some(SplitIndex {
            shared_id,
            shared,
            shared_version: base.version,
            replaced,
            own_offsets,
            delete_bitmap,
        }),
    })
}

/// The shared index's path and bytes: `sharedindex.<id>` in the git directory, or else next to
/// the index file, where git looks.
fn read_shared(
    id: &[u8; 20],
    index_path: &Path,
    git_dir: &Path,
) -> Result<(PathBuf, Vec<u8>), IndexFileError> {
    let name = format!("sharedindex.{}", hex(id));
    let in_git_dir = git_dir.join(&name);
    let beside_index = index_path.parent().map(|dir| dir.join(&name));
    for path in std::iter::once(&in_git_dir).chain(beside_index.as_ref()) {
        match std::fs::read(path) {
            Ok(bytes) => return Ok((path.clone(), bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(IndexFileError::Shared {
                    path: path.clone(),
                    cause: Box::new(IndexFileError::Io(e)),
                });
            }
        }
    }
    Err(IndexFileError::SharedMissing { path: in_git_dir })
}

/// `entries` (in git's order) with `added` put in as git's `add_index_entry` puts each in
/// turn: an entry of the same path and stage is replaced, and a merged entry (stage 0) takes
/// the place of every stage of its path. git writes the added entries in order, which allows
/// one pass; a file that does not is read the slow way, one insertion at a time.
fn add_entries(entries: Vec<IndexRecord>, added: Vec<IndexRecord>) -> Vec<IndexRecord> {
    if added.is_empty() {
        return entries;
    }
    if !added.windows(2).all(|pair| pair[0].key() < pair[1].key()) {
        let mut entries = entries;
        for entry in added {
            match entries.binary_search_by(|e| e.key().cmp(&entry.key())) {
                Ok(at) => entries[at] = entry,
                Err(at) => {
                    if entry.stage() == 0 {
                        while entries.get(at).is_some_and(|e| e.path == entry.path) {
                            entries.remove(at);
                        }
                    }
                    entries.insert(at, entry);
                }
            }
        }
        return entries;
    }
    let mut merged = Vec::with_capacity(entries.len() + added.len());
    let mut entries = entries.into_iter().peekable();
    for entry in added {
        while let Some(before) = entries.next_if(|e| e.key() < entry.key()) {
            merged.push(before);
        }
        if entry.stage() == 0 {
            while entries.next_if(|e| e.path == entry.path).is_some() {}
        } else {
            entries.next_if(|e| e.key() == entry.key());
        }
        merged.push(entry);
    }
    merged.extend(entries);
    merged
}

/// The split index file `data` (read as `index`) with `new` replacements (in increasing
/// positions, none of them replaced already): each is put among the file's replacements in
/// the order of its position, with the entry's fixed fields copied from the shared index, its
/// new stat data and an empty path; the replace bitmap gains their bits, the header their
/// number. Everything else is copied, except the extensions that point into the entries:
/// the end-of-entries extension (EOIE) is computed again, and the optional table of entry
/// offsets (IEOT), which only speeds up reading on several threads, is left out. The trailer
/// is copied as it was; the caller computes the checksum.
pub(crate) fn with_replacements(data: &[u8], index: &Index, new: &[Replacement]) -> Vec<u8> {
    let split = index
        .split
        .as_ref()
        .expect("replacements go into a split index");
    let mut version = index.version;
    let new_entries: Vec<(usize, Vec<u8>)> = new
        .iter()
        .map(|replacement| {
            let (entry, extended) = replacement_entry(split, replacement, index.version);
            if extended && version == 2 {
                version = 3;
            }
            (replacement.position, entry)
        })
        .collect();

    let own = &split.own_offsets;
    let own_end = |k: usize| own.get(k + 1).copied().unwrap_or(index.entries_end);
    let mut out = Vec::with_capacity(data.len() + 72 * new.len() + 16);
    out.extend_from_slice(b"DIRC");
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&((own.len() + new.len()) as u32).to_be_bytes());
    let mut positions = Vec::with_capacity(split.replaced.len() + new.len());
    let mut new_entries = new_entries.into_iter().peekable();
    for (k, &position) in split.replaced.iter().enumerate() {
        while let Some((at, entry)) = new_entries.next_if(|(at, _)| *at < position) {
            out.extend_from_slice(&entry);
            positions.push(at);
        }
        out.extend_from_slice(&data[own[k]..own_end(k)]);
        positions.push(position);
    }
    for (at, entry) in new_entries {
        out.extend_from_slice(&entry);
        positions.push(at);
    }
    let added_at = own
        .get(split.replaced.len())
        .copied()
        .unwrap_or(index.entries_end);
    out.extend_from_slice(&data[added_at..index.entries_end]);

    // EOIE's hash covers the header of every extension written before it.
    let entries_end = out.len();
    let mut headers = sha1::Sha1::new();
    for extension in &index.extensions {
        let payload = &data[extension.start + 8..extension.end];
        match &extension.signature {
            b"link" => {
                let mut link = split.shared_id.to_vec();
                link.extend_from_slice(&split.delete_bitmap);
                link.extend_from_slice(&ewah::encode(&positions));
                put_extension(&mut out, Some(&mut headers), b"link", &link);
            }
            b"IEOT" => {}
            b"EOIE" => {
                let mut eoie = (entries_end as u32).to_be_bytes().to_vec();
                eoie.extend_from_slice(&headers.clone().finalize());
                put_extension(&mut out, None, b"EOIE", &eoie);
            }
            signature => put_extension(&mut out, Some(&mut headers), signature, payload),
        }
    }
    out.extend_from_slice(&data[data.len() - 20..]);
    out
}

/// Appends an extension, and its header to `headers` (for EOIE).
fn put_extension(
    out: &mut Vec<u8>,
    headers: Option<&mut sha1::Sha1>,
    signature: &[u8; 4],
    payload: &[u8],
) {
    let size = (payload.len() as u32).to_be_bytes();
    if let Some(headers) = headers {
        headers.update(signature);
        headers.update(size);
    }
    out.extend_from_slice(signature);
    out.extend_from_slice(&size);
    out.extend_from_slice(payload);
}

/// The bytes of a replacement entry in an index file of format `version`, and whether it has
/// extended flags: the shared entry's fields with new stat data, its flags less the path's
/// length, and an empty path (git's `CE_STRIP_NAME`).
fn replacement_entry(
    split: &SplitIndex,
    replacement: &Replacement,
    version: u32,
) -> (Vec<u8>, bool) {
    let at = replacement.shared_offset;
    let shared = &split.shared;
    let mut entry = shared[at..at + 62].to_vec();
    entry[..40].copy_from_slice(&replacement.stat_data);
    let flags = u16::from_be_bytes([shared[at + 60], shared[at + 61]]);
    let extended = flags & FLAG_EXTENDED != 0 && split.shared_version >= 3;
    // Keep assume-valid, the stage and the extended bit; the path's length is now zero.
    let flags = flags & 0xF000 & if extended { !0 } else { !FLAG_EXTENDED };
    entry[60..62].copy_from_slice(&flags.to_be_bytes());
    if extended {
        entry.extend_from_slice(&shared[at + 62..at + 64]);
    }
    if version == 4 {
        // Strip nothing from the previous path (empty: replacements come first, and each has
        // an empty path), then an empty suffix.
        entry.extend_from_slice(&[0, 0]);
    } else {
        // The terminating NUL, and padding to a multiple of eight bytes.
        let padded = (entry.len() + 8) & !7;
        entry.resize(padded, 0);
    }
    (entry, extended)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
