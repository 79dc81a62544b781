//! Which tracked files may be stamped, decided as git decides that a file is clean: from its
//! index entry, HEAD's entry (in the answers) and its stat data, under git's stat rules (racily
//! clean entries, `core.trustctime`, `core.filemode`, `core.symlinks`). Nothing here reads a
//! file: a file whose stat data cannot prove it clean is a candidate whose content the
//! stamping reads (see [`crate::stamp`]).

use std::os::fd::AsFd;
use std::path::PathBuf;

use git2::{Oid, Repository};
use rustc_hash::FxHashSet;

use crate::answers::{Answers, SortedLookup};
use crate::attributes::GitattributesFiles;
use crate::error::Error;
use crate::fingerprint::blob_fingerprint_nanos;
use crate::fs::{FileStat, TreeStats};
use crate::history::LastChange;
use crate::index_file::{
    FLAG_ASSUME_UNCHANGED, FLAG_EXTENDED_INTENT_TO_ADD, FLAG_EXTENDED_SKIP_WORKTREE,
    IndexFileError, IndexRecord, is_racy, read_index,
};
use crate::index_refresh::IndexSnapshot;
use crate::open::WorkTree;
use crate::path_map::PathMap;
use crate::report::{FileReport, Outcome, SkipReason, Timestamp};
use crate::scope::Scope;
use crate::time_limits::TimeLimits;
use crate::workers::on_worker_threads;

impl WorkTree {
    /// The index's entries, its mtime and its bytes; none for a repository that has no index
    /// yet.
    pub(crate) fn read_index(&self) -> Result<(Vec<IndexRecord>, Timestamp, Vec<u8>), Error> {
        match read_index(&self.index_path, self.repo.path()) {
            Ok(read) => Ok(read),
            // No index yet (a repository that was never checked out): nothing is staged and
            // no file is known to git's stat cache.
            Err(IndexFileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Vec::new(), Timestamp::default(), Vec::new()))
            }
            Err(e) => Err(Error::index(self.index_path.clone(), e)),
        }
    }

    /// Reads the index and the stat data of every entry in scope: all a classification
    /// needs besides HEAD's answers.
    /// `first_sync`: nothing is stored, so every file is about to be opened and read. Then
    /// the stamping threads take each file's stat data from the handle they open it with (see
    /// [`Candidate::stat`]), and only the `.gitattributes` files are looked for here, in every
    /// directory on the way to the entries: the first sync reads every file, and needs them
    /// all. On dagger/dagger the stat calls of files and directories were a tenth of a first
    /// sync's CPU time, for stat data that the open handles give again.
    pub(crate) fn read_index_and_stats(
        &self,
        scope: &Scope,
        first_sync: bool,
    ) -> Result<IndexedFiles, Error> {
        let (entries, index_mtime, bytes) = self.read_index()?;
        let snapshot = IndexSnapshot::of(bytes, &entries);
        let tracked = entries.iter().map(|entry| entry.path.as_slice());
        let mut gitattributes = GitattributesFiles::tracked(tracked);
        let in_scope: Vec<IndexRecord> = scope.select_index_entries(entries)?;
        let PreloadedStats {
            files: stats,
            directory_mtimes,
            gitattributes_on_disk,
        } = self.preload_stats(&in_scope, first_sync)?;
        gitattributes.on_disk = gitattributes_on_disk;
        Ok(IndexedFiles {
            directory_mtimes,
            entries: in_scope,
            gitattributes,
            index_mtime,
            snapshot,
            stats,
        })
    }

    /// Decides, from the index, HEAD and the files' stat data, which files may be stamped.
    pub(crate) fn classify_entries(
        &self,
        indexed: IndexedFiles,
        head_answers: &Answers,
        whole_seconds: bool,
        limits: &TimeLimits,
    ) -> Classified {
        let repo = &self.repo;
        let index_path = self.index_path.clone();
        let IndexedFiles {
            directory_mtimes,
            entries,
            index_mtime,
            snapshot,
            stats,
            ..
        } = indexed;
        let rules = StatRules::new(repo, index_mtime);
        let filters_possible = filters_possible(repo, &entries);
        // Owned, so that the entries' paths can move into the report.
        let conflicted: FxHashSet<Vec<u8>> = entries
            .iter()
            .filter(|e| e.stage() != 0)
            .map(|e| e.path.clone())
            .collect();
        let mut head_entries = SortedLookup::new(head_answers);
        let mut files: Vec<FileReport> = Vec::with_capacity(entries.len());
        let mut candidates = Vec::new();
        for (entry, stat) in entries.into_iter().zip(stats) {
            if entry.stage() != 0 {
                // One report per conflicted path, however many stages it has.
                if files.last().is_none_or(|f| f.path != entry.path) {
                    files.push(FileReport {
                        path: entry.path,
                        outcome: Outcome::Skipped(SkipReason::Conflicted),
                    });
                }
                continue;
            }
            let outcome = match classify(&entry, stat, &mut head_entries, &conflicted, &rules) {
                Ok(candidate) => match already_correct(&candidate, entry.id, whole_seconds, limits)
                {
                    // The common case of a warm sync: nothing to do, nothing to copy.
                    Some(time) => Outcome::AlreadyCorrect { time },
                    None => {
                        files.push(FileReport {
                            path: entry.path.clone(),
                            // Replaced by the stamping outcome.
                            outcome: Outcome::Skipped(SkipReason::Modified),
                        });
                        candidates.push(StampJob {
                            slot: files.len() - 1,
                            entry,
                            candidate,
                            change: None,
                        });
                        continue;
                    }
                },
                Err(reason) => Outcome::Skipped(reason),
            };
            files.push(FileReport {
                path: entry.path,
                outcome,
            });
        }
        Classified {
            files,
            candidates,
            index_path,
            index_snapshot: snapshot,
            filters_possible,
            directory_mtimes,
            rules,
        }
    }

    /// The stat data of every stage-0 entry, or why its path cannot be trusted (see
    /// [`TreeStats`]), read on all cores as `git status` does: on a warm sync these calls are
    /// most of the work. On a first sync (`first_sync`), only whether each directory holds a
    /// `.gitattributes` (see [`WorkTree::read_index_and_stats`]).
    fn preload_stats(
        &self,
        entries: &[IndexRecord],
        first_sync: bool,
    ) -> Result<PreloadedStats, Error> {
        let root = rustix::fs::open(
            &self.root,
            rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::Io {
            context: "cannot open the work tree",
            path: self.root.clone(),
            cause: e.into(),
        })?;
        let mut directory_mtimes: PathMap<Timestamp> = PathMap::default();
        if let Ok(stat) = FileStat::of_fd(root.as_fd()) {
            directory_mtimes.insert(Vec::new(), stat.mtime);
        }
        if first_sync {
            let files = entries
                .iter()
                .map(|e| match e.stage() {
                    0 => EntryStat::Deferred,
                    _ => EntryStat::ConflictStage,
                })
                .collect();
            // Where no attribute can convert content, none is looked up, nor looked for.
            let probed = filters_possible(&self.repo, entries).then(|| {
                let paths = entries.iter().filter(|e| e.stage() == 0);
                GitattributesFiles::probe(root.as_fd(), paths.map(|e| e.path.as_slice()))
            });
            return Ok(PreloadedStats {
                files,
                directory_mtimes,
                gitattributes_on_disk: probed,
            });
        }
        let entries: Vec<&IndexRecord> = entries.iter().collect();
        // Each part hands back its files' stat data, then the mtimes of the directories it
        // checked (a directory on the border of two parts is checked by both).
        let parts = on_worker_threads(entries, 256, |part| {
            let mut stats = TreeStats::new(root.as_fd());
            let files: Vec<_> = part
                .iter()
                .map(|e| match e.stage() {
                    0 => EntryStat::Found(stats.stat(&e.path)),
                    _ => EntryStat::ConflictStage,
                })
                .collect();
            vec![(files, stats.directory_mtimes)]
        });
        let mut files = Vec::with_capacity(entries_len(&parts));
        for (part, directories) in parts {
            files.extend(part);
            directory_mtimes.extend(directories);
        }
        Ok(PreloadedStats {
            files,
            directory_mtimes,
            gitattributes_on_disk: None,
        })
    }
}

/// What the stat calls before classification found for one index entry.
pub(crate) enum EntryStat {
    /// Its stat data, or why its path cannot be trusted (see [`TreeStats`]).
    Found(Result<FileStat, SkipReason>),
    /// Not looked at yet: a first sync's stamping threads classify it on the stat data of
    /// the handle they open it with.
    Deferred,
    /// A conflict stage, which is never looked at.
    ConflictStage,
}

/// What the stat calls before classification found.
struct PreloadedStats {
    /// Per index entry in scope.
    files: Vec<EntryStat>,
    /// The mtime of each directory on the way to those files, and the root's; on a first
    /// sync the root's only.
    directory_mtimes: PathMap<Timestamp>,
    /// When probed: whether each of those directories (not the root) holds a
    /// `.gitattributes`.
    gitattributes_on_disk: Option<PathMap<bool>>,
}

type StatParts = Vec<(Vec<EntryStat>, Vec<(Vec<u8>, Timestamp)>)>;

fn entries_len(parts: &StatParts) -> usize {
    parts.iter().map(|(files, ..)| files.len()).sum()
}

/// The index entries in scope, the index file's mtime and each entry's stat data (None for
/// conflict stages).
pub(crate) struct IndexedFiles {
    pub directory_mtimes: PathMap<Timestamp>,
    pub entries: Vec<IndexRecord>,
    /// Where the `.gitattributes` files are, in the index and on disk.
    pub gitattributes: GitattributesFiles,
    pub index_mtime: Timestamp,
    pub snapshot: IndexSnapshot,
    pub stats: Vec<EntryStat>,
}

/// The index read and sorted into skipped files and files to stamp.
pub(crate) struct Classified {
    /// The mtimes of the directories the stat calls opened.
    pub directory_mtimes: PathMap<Timestamp>,
    pub files: Vec<FileReport>,
    pub candidates: Vec<StampJob>,
    pub index_path: PathBuf,
    pub index_snapshot: IndexSnapshot,
    pub filters_possible: bool,
    /// How stat data is compared with the index, for files classified while stamped.
    pub rules: StatRules,
}

/// A file that may be stamped, and where its outcome goes in the report.
pub(crate) struct StampJob {
    pub slot: usize,
    pub entry: IndexRecord,
    pub candidate: Candidate,
    /// The path's last change, once known.
    pub change: Option<LastChange>,
}

/// The mtime a clean file gets: the commit's seconds, and the blob's fingerprint as nanoseconds.
pub(crate) fn target_time(change: LastChange, blob: Oid, whole_seconds: bool) -> Timestamp {
    Timestamp {
        seconds: change.time,
        nanos: if whole_seconds {
            0
        } else {
            blob_fingerprint_nanos(blob)
        },
    }
}

/// True when some attribute or setting could make git convert content between the work tree
/// and the repository. Without one, the bytes on disk are the blob.
pub(crate) fn filters_possible(repo: &Repository, entries: &[IndexRecord]) -> bool {
    let attributes_in_tree = entries
        .iter()
        .any(|e| e.path == b".gitattributes" || e.path.ends_with(b"/.gitattributes"));
    let info_attributes = repo.commondir().join("info/attributes").exists();
    let config = repo.config().ok();
    let set = |key: &str| config.as_ref().is_some_and(|c| c.get_entry(key).is_ok());
    let global_attributes = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .is_some_and(|dir| dir.join("git/attributes").exists());
    attributes_in_tree
        || info_attributes
        || global_attributes
        || set("core.attributesfile")
        || set("core.autocrlf")
        || set("core.eol")
}

/// A boolean setting of git's that is true unless configured otherwise.
fn config_flag(repo: &Repository, key: &str) -> bool {
    repo.config()
        .ok()
        .and_then(|config| config.get_bool(key).ok())
        .unwrap_or(true)
}

/// git's settings for comparing stat data with the index.
#[derive(Clone, Copy)]
pub(crate) struct StatRules {
    trust_ctime: bool,
    file_mode: bool,
    /// `core.symlinks`: false where symlinks are checked out as plain files.
    pub symlinks: bool,
    /// Entries whose mtime is not older than the index file (in whole seconds) are "racily
    /// clean": their stat data cannot prove they are unchanged.
    index_mtime: Option<Timestamp>,
}

impl StatRules {
    fn new(repo: &Repository, index_mtime: Timestamp) -> StatRules {
        StatRules {
            trust_ctime: config_flag(repo, "core.trustctime"),
            file_mode: config_flag(repo, "core.filemode"),
            symlinks: config_flag(repo, "core.symlinks"),
            index_mtime: Some(index_mtime),
        }
    }

    /// git's `ie_match_stat`: true when the stat data proves the file equals its entry.
    fn proves_clean(&self, entry: &IndexRecord, stat: &FileStat) -> bool {
        let racy = self
            .index_mtime
            .is_none_or(|index| is_racy(entry.mtime, index));
        !racy
            && entry.mtime == truncated(stat.mtime)
            && (!self.trust_ctime || entry.ctime == truncated(stat.ctime))
            && entry.size == stat.size as u32
            && entry.ino == stat.ino as u32
            && entry.uid == stat.uid
            && entry.gid == stat.gid
    }
}

/// Index times hold unsigned 32-bit seconds.
fn truncated(time: Timestamp) -> Timestamp {
    Timestamp {
        seconds: time.seconds as u32 as i64,
        nanos: time.nanos,
    }
}

/// The file's time when its stat data proves it clean and its stored answer says its time is
/// already right.
fn already_correct(
    candidate: &Candidate,
    blob: Oid,
    whole_seconds: bool,
    limits: &TimeLimits,
) -> Option<Timestamp> {
    let (commit, time) = candidate.known_change?;
    let change = LastChange {
        commit,
        time,
        approximate: false,
    };
    let target = limits.storable(target_time(change, blob, whole_seconds));
    candidate.proven_at(target).then_some(target)
}

/// A tracked file whose index and HEAD entries agree and whose work-tree type and mode match.
pub(crate) struct Candidate {
    /// Its stat data; None on a first sync, where the stamping thread takes it from the
    /// handle it opens the file with, and classifies the file then ([`classify_on_disk`]).
    pub stat: Option<FileStat>,
    /// The stat data does not prove the content: it must be read before the file is stamped.
    /// Decided with the stat data.
    pub needs_content_check: bool,
    /// The last change as stored in the answer cache, when it is known there.
    pub known_change: Option<(Oid, i64)>,
    /// The place of its entry in HEAD's answers: where the history walk's answer for the path
    /// is found otherwise (see `Walked` in `answers/find.rs`).
    pub answer_at: usize,
}

impl Candidate {
    /// True when the stat data proves the content and the file already has time `target`.
    pub fn proven_at(&self, target: Timestamp) -> bool {
        self.stat
            .is_some_and(|stat| !self.needs_content_check && stat.mtime == target)
    }
}

/// Decides from the index, HEAD and the file's stat data whether `entry` may be stamped.
fn classify(
    entry: &IndexRecord,
    stat: EntryStat,
    head_entries: &mut SortedLookup<'_>,
    conflicted: &FxHashSet<Vec<u8>>,
    rules: &StatRules,
) -> Result<Candidate, SkipReason> {
    if entry.mode.is_gitlink() {
        return Err(SkipReason::Submodule);
    }
    if !conflicted.is_empty() && conflicted.contains(entry.path.as_slice()) {
        return Err(SkipReason::Conflicted);
    }
    if entry.flags_extended & FLAG_EXTENDED_SKIP_WORKTREE != 0 {
        return Err(SkipReason::SkipWorktree);
    }
    if entry.flags_extended & FLAG_EXTENDED_INTENT_TO_ADD != 0 {
        return Err(SkipReason::IntentToAdd);
    }
    let (known_change, answer_at) = match head_entries.get(&entry.path) {
        Some((at, head)) if head.blob == entry.id && head.mode == entry.mode => (head.change, at),
        _ => return Err(SkipReason::Staged),
    };
    let stat = match stat {
        EntryStat::Found(stat) => stat?,
        EntryStat::Deferred => {
            return Ok(Candidate {
                stat: None,
                needs_content_check: true,
                known_change,
                answer_at,
            });
        }
        // Not reached: conflict stages are reported before.
        EntryStat::ConflictStage => return Err(SkipReason::Conflicted),
    };
    Ok(Candidate {
        needs_content_check: classify_on_disk(entry, &stat, rules)?,
        stat: Some(stat),
        known_change,
        answer_at,
    })
}

/// Whether what `stat` describes may stand for `entry`: the same type and mode, and a size
/// that does not prove a change. If so, whether its content must be read before it is
/// stamped (its stat data does not prove it clean).
pub(crate) fn classify_on_disk(
    entry: &IndexRecord,
    stat: &FileStat,
    rules: &StatRules,
) -> Result<bool, SkipReason> {
    let type_matches = if entry.mode.is_symlink() {
        // With core.symlinks=false git checks a symlink out as a plain file holding its
        // target, and compares that file's content.
        stat.is_symlink() || (!rules.symlinks && stat.is_file())
    } else {
        stat.is_file()
    };
    if !type_matches {
        return Err(SkipReason::TypeChanged);
    }
    if rules.file_mode
        && !entry.mode.is_symlink()
        && stat.is_executable() != entry.mode.is_executable()
    {
        return Err(SkipReason::ModeChanged);
    }
    // git's rule: a size that differs from a recorded non-zero size is a modification, with no
    // need to read the file.
    if entry.size != 0 && entry.size != stat.size as u32 {
        return Err(SkipReason::Modified);
    }
    let assume_unchanged = entry.flags & FLAG_ASSUME_UNCHANGED != 0;
    Ok(assume_unchanged || !rules.proves_clean(entry, stat))
}

#[cfg(test)]
mod tests;
