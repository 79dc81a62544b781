//! The answers kept in `<git common dir>/mtimestamp/`: one file per commit and history mode,
//! its format (a header, every entry, a checksum), and which files are kept.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;

use super::model::{AnswerEntry, Answers};
use crate::history::HistoryMode;
use crate::objects::EntryMode;

const MAGIC: &[u8] = b"git-mtimestamp answers\n";
/// Bumped whenever the layout or the meaning of an answer changes.
const FORMAT: u32 = 5;
/// How many answer files are kept: enough for switching between a few branches.
const KEEP: usize = 4;

/// The folder of answer files.
pub(crate) struct AnswerCache {
    dir: PathBuf,
    /// The replacements history is read through (replace refs, grafts), when there are any:
    /// see [`AnswerCache::replaced`].
    replacements_key: Option<String>,
}

impl AnswerCache {
    pub fn new(common_dir: &Path) -> AnswerCache {
        AnswerCache {
            dir: common_dir.join("mtimestamp"),
            replacements_key: None,
        }
    }

    /// The answers found while history is read through the replacements named `key` (see
    /// [`crate::odb::Replacements::cache_key`]), or through none. A commit's
    /// answers depend on them, so each set has files of its own, `<mode>-replaced-<key>-
    /// <commit>`, which the plain `<mode>-<commit>` of a history without replacements never
    /// match: a sync with replacements, then one without, gives each its own answers.
    pub fn replaced(self, key: Option<String>) -> AnswerCache {
        AnswerCache {
            replacements_key: key,
            ..self
        }
    }

    /// How the names of this cache's files for `mode` start, before the commit's id.
    fn prefix(&self, mode: HistoryMode) -> String {
        match &self.replacements_key {
            None => format!("{}-", mode_name(mode)),
            Some(key) => format!("{}-replaced-{key}-", mode_name(mode)),
        }
    }

    fn file(&self, commit: Oid, mode: HistoryMode) -> PathBuf {
        self.dir.join(format!("{}{commit}", self.prefix(mode)))
    }

    /// The answers for `commit`, if a sound file of them is stored.
    pub fn load(&self, commit: Oid, mode: HistoryMode) -> Option<Answers> {
        let bytes = fs::read(self.file(commit, mode)).ok()?;
        let answers = decode(&bytes)?;
        (answers.commit == commit && answers.mode == mode).then_some(answers)
    }

    /// The commits with stored answers for `mode`, newest first.
    pub fn commits(&self, mode: HistoryMode) -> Vec<Oid> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let prefix = self.prefix(mode);
        let mut found: Vec<(std::time::SystemTime, Oid)> = dir
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name();
                let commit = Oid::from_str(name.to_str()?.strip_prefix(&prefix)?).ok()?;
                Some((entry.metadata().ok()?.modified().ok()?, commit))
            })
            .collect();
        found.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        found.into_iter().map(|(_, commit)| commit).collect()
    }

    /// Stores `answers` as they are.
    #[cfg(test)]
    pub fn store(&self, answers: &Answers) -> std::io::Result<()> {
        self.store_with(answers, |_, entry| entry.change)
    }

    /// Stores `answers`, with the last change of each entry (by its place) that `change_of`
    /// gives: HEAD's answers completed by a walk, without a copy of them. Atomically
    /// (replacing any file of the same commit and mode), and drops the least recently written
    /// answer files beyond a few. A failure (a read-only git directory, a full disk) costs only
    /// the next sync's time, so the caller reports it and goes on; no partial file is left
    /// behind.
    pub fn store_with(
        &self,
        answers: &Answers,
        change_of: impl Fn(usize, &AnswerEntry) -> Option<(Oid, i64)>,
    ) -> std::io::Result<()> {
        let in_dir = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{}: {e}", self.dir.display()))
        };
        fs::create_dir_all(&self.dir).map_err(in_dir)?;
        let path = self.file(answers.commit, answers.mode);
        // A name of its own in the same directory, so that the rename is atomic and no other
        // sync writing the same answers at the same time can meet it; it is removed if
        // anything fails before the rename.
        let mut temporary = tempfile::Builder::new()
            .prefix(TEMPORARY_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(in_dir)?;
        temporary
            .write_all(&encode_with(answers, change_of))
            .map_err(in_dir)?;
        temporary.persist(&path).map_err(|e| in_dir(e.error))?;
        // Old answer files are only a matter of space.
        let _ = self.evict();
        Ok(())
    }

    /// Removes the least recently written answer files beyond [`KEEP`], and temporary files
    /// left by syncs that were killed while writing. A temporary file younger than
    /// [`STALE_TEMPORARY`] may be another sync's, still being written, and is left alone.
    fn evict(&self) -> std::io::Result<()> {
        let now = std::time::SystemTime::now();
        let mut answers: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let Ok(entry) = entry else { continue };
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMPORARY_PREFIX) {
                let age = now.duration_since(modified).unwrap_or_default();
                if age > STALE_TEMPORARY {
                    let _ = fs::remove_file(entry.path());
                }
            } else if is_answer_file(&name) {
                answers.push((modified, entry.path()));
            }
        }
        answers.sort_by_key(|file| std::cmp::Reverse(file.0));
        for (_, path) in answers.into_iter().skip(KEEP) {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }
}

/// How the temporary files that answers are written to begin.
const TEMPORARY_PREFIX: &str = ".tmp-";

/// No sync takes this long to write one answer file: an older temporary file belongs to a
/// sync that was killed.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(3600);

/// A name that [`AnswerCache::file`] makes: a history mode, a dash, and a commit id; or,
/// for a history read through replacements, a history mode, `-replaced-`, their key, a dash
/// and a commit id.
fn is_answer_file(name: &str) -> bool {
    [HistoryMode::Simplified, HistoryMode::FirstParent]
        .iter()
        .any(|mode| {
            name.strip_prefix(mode_name(*mode))
                .and_then(|rest| rest.strip_prefix('-'))
                .map(|rest| match rest.strip_prefix("replaced-") {
                    Some(keyed) => keyed.split_once('-').map_or(rest, |(_, id)| id),
                    None => rest,
                })
                .is_some_and(|id| Oid::from_str(id).is_ok() && id.len() == 40)
        })
}

fn mode_name(mode: HistoryMode) -> &'static str {
    match mode {
        HistoryMode::Simplified => "simplified",
        HistoryMode::FirstParent => "first-parent",
    }
}

#[cfg(test)]
fn encode(answers: &Answers) -> Vec<u8> {
    encode_with(answers, |_, entry| entry.change)
}

fn encode_with(
    answers: &Answers,
    change_of: impl Fn(usize, &AnswerEntry) -> Option<(Oid, i64)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + answers.entries.len() * 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    out.extend_from_slice(&(version.len() as u32).to_le_bytes());
    out.extend_from_slice(version);
    out.push(match answers.mode {
        HistoryMode::Simplified => 0,
        HistoryMode::FirstParent => 1,
    });
    out.extend_from_slice(answers.commit.as_bytes());
    out.extend_from_slice(&(answers.entries.len() as u32).to_le_bytes());
    for (at, (path, entry)) in answers.entries.iter().enumerate() {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(entry.blob.as_bytes());
        out.extend_from_slice(&entry.mode.raw().to_le_bytes());
        match change_of(at, entry) {
            Some((commit, time)) => {
                out.push(1);
                out.extend_from_slice(commit.as_bytes());
                out.extend_from_slice(&time.to_le_bytes());
            }
            None => out.push(0),
        }
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Answers> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if checksum(body) != u32::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut reader = Reader { bytes: body };
    if reader.take(MAGIC.len())? != MAGIC || reader.u32()? != FORMAT {
        return None;
    }
    let version_len = reader.u32()? as usize;
    if reader.take(version_len)? != env!("CARGO_PKG_VERSION").as_bytes() {
        return None;
    }
    let mode = match reader.take(1)?[0] {
        0 => HistoryMode::Simplified,
        1 => HistoryMode::FirstParent,
        _ => return None,
    };
    let commit = reader.oid()?;
    let count = reader.u32()? as usize;
    let mut entries: Vec<(Vec<u8>, AnswerEntry)> = Vec::with_capacity(count.min(body.len() / 29));
    for _ in 0..count {
        let path_len = reader.u32()? as usize;
        let path = reader.take(path_len)?.to_vec();
        let blob = reader.oid()?;
        let mode = EntryMode::from_raw(reader.u32()?);
        let change = match reader.take(1)?[0] {
            0 => None,
            1 => Some((
                reader.oid()?,
                i64::from_le_bytes(reader.take(8)?.try_into().ok()?),
            )),
            _ => return None,
        };
        // Written sorted and each path once; anything else is damage.
        if entries.last().is_some_and(|(last, _)| *last >= path) {
            return None;
        }
        entries.push((path, AnswerEntry { blob, mode, change }));
    }
    if !reader.bytes.is_empty() {
        return None;
    }
    Some(Answers {
        commit,
        mode,
        entries,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.bytes.split_at_checked(n)?;
        self.bytes = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn oid(&mut self) -> Option<Oid> {
        Oid::from_bytes(self.take(20)?).ok()
    }
}

/// CRC-32 against truncation and bit rot (not against tampering: anyone who can write the git
/// directory can rewrite history itself).
fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::sample;
    use super::*;

    #[test]
    fn answers_round_trip() {
        let answers = sample();
        assert_eq!(decode(&encode(&answers)), Some(answers));
    }

    #[test]
    fn answers_out_of_order_are_rejected() {
        let mut answers = sample();
        answers.entries.reverse();
        assert_eq!(decode(&encode(&answers)), None);
        let mut answers = sample();
        answers.entries[1].0 = answers.entries[0].0.clone();
        assert_eq!(decode(&encode(&answers)), None, "a path twice");
    }

    /// Eviction keeps the newest answer files, removes temporary files only once they are
    /// clearly abandoned, and never touches a file it did not make.
    #[test]
    fn eviction_leaves_other_syncs_temporary_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = AnswerCache::new(dir.path());
        fs::create_dir_all(&cache.dir).unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        let set_modified = |path: &Path, time: std::time::SystemTime| {
            let file = fs::File::options().write(true).open(path).unwrap();
            file.set_modified(time).unwrap();
        };
        let write = |name: &str, modified: Option<std::time::SystemTime>| {
            let path = cache.dir.join(name);
            fs::write(&path, "x").unwrap();
            if let Some(time) = modified {
                set_modified(&path, time);
            }
        };
        write(".tmp-being-written", None);
        write(".tmp-abandoned", Some(old));
        write("notes.txt", Some(old));
        let mut answers = sample();
        for n in 0..KEEP + 2 {
            answers.commit = Oid::from_str(&format!("{n:040}")).unwrap();
            cache.store(&answers).unwrap();
            // Distinct times, oldest first.
            let path = cache.file(answers.commit, answers.mode);
            set_modified(&path, old + std::time::Duration::from_secs(60 * n as u64));
        }
        cache.evict().unwrap();
        let mut names: Vec<String> = fs::read_dir(&cache.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mode = mode_name(answers.mode);
        let mut expected: Vec<String> = (2..KEEP + 2)
            .map(|n| format!("{mode}-{n:040}"))
            .chain([".tmp-being-written".to_owned(), "notes.txt".to_owned()])
            .collect();
        expected.sort();
        assert_eq!(names, expected);
        // What store wrote was whole, and no temporary file of its own is left.
        assert_eq!(cache.load(answers.commit, answers.mode), Some(answers));
    }

    #[test]
    fn damaged_answers_are_rejected() {
        let bytes = encode(&sample());
        for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), None, "truncated at {cut}");
        }
        for position in [0, MAGIC.len(), bytes.len() / 2, bytes.len() - 5] {
            let mut flipped = bytes.clone();
            flipped[position] ^= 0x40;
            assert_eq!(decode(&flipped), None, "bit flipped at {position}");
        }
    }

    /// A sound file of the format before (whose checksum was not CRC-32) is not trusted, and
    /// the next store replaces it.
    #[test]
    fn files_of_another_format_are_ignored_and_replaced() {
        let answers = sample();
        let mut bytes = encode(&answers);
        let at = MAGIC.len();
        bytes[at..at + 4].copy_from_slice(&(FORMAT - 1).to_le_bytes());
        let body = bytes.len() - 4;
        let sum = checksum(&bytes[..body]);
        bytes[body..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(decode(&bytes), None);
        let dir = tempfile::tempdir().unwrap();
        let cache = AnswerCache::new(dir.path());
        let file = cache.file(answers.commit, answers.mode);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, &bytes).unwrap();
        assert_eq!(cache.load(answers.commit, answers.mode), None);
        cache.store(&answers).unwrap();
        assert_eq!(cache.load(answers.commit, answers.mode), Some(answers));
    }

    /// Answers found through one set of replacements (replace refs, grafts) are stored apart
    /// from those found through another or through none, and evicted with them.
    #[test]
    fn answers_through_replacements_have_files_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let answers = sample();
        let (commit, mode) = (answers.commit, answers.mode);
        let plain = AnswerCache::new(dir.path());
        let replaced = AnswerCache::new(dir.path()).replaced(Some("0123456789abcdef".into()));
        let other = AnswerCache::new(dir.path()).replaced(Some("fedcba9876543210".into()));
        replaced.store(&answers).unwrap();
        assert_eq!(replaced.load(commit, mode), Some(answers.clone()));
        assert_eq!(replaced.commits(mode), vec![commit]);
        for cache in [&plain, &other] {
            assert_eq!(cache.load(commit, mode), None);
            assert!(cache.commits(mode).is_empty());
        }
        plain.store(&answers).unwrap();
        assert_eq!(plain.commits(mode), vec![commit]);
        let mut names: Vec<String> = fs::read_dir(dir.path().join("mtimestamp"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let expected = [
            format!("first-parent-{commit}"),
            format!("first-parent-replaced-0123456789abcdef-{commit}"),
        ];
        assert_eq!(names, expected);
        assert!(names.iter().all(|name| is_answer_file(name)));
        assert!(!is_answer_file("first-parent-replaced-0123456789abcdef"));
    }
}
