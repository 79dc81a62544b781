//! A git work tree and the sync of its files' mtimes.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, IndexEntry, Oid, Repository};

use crate::Options;
use crate::cache::{Anchor, AnswerCache};
use crate::error::Error;
use crate::fingerprint::blob_fingerprint_nanos;
use crate::history::{KnownAnswers, LastChange, last_change_times_with};
use crate::index_refresh::{VerifiedStat, refresh_index};
use crate::progress::Progress;
use crate::report::{FileReport, IndexUpdate, Outcome, Report, SkipReason, Timestamp};
use crate::scope::Scope;
use crate::stamp::{ContentHasher, FileStat, set_mtime, set_mtime_now};

const MODE_SYMLINK: u32 = 0o120000;
pub(crate) const MODE_GITLINK: u32 = 0o160000;
const MODE_EXECUTABLE: u32 = 0o100755;
/// `GIT_INDEX_ENTRY_VALID`: "assume unchanged".
const FLAG_ASSUME_UNCHANGED: u16 = 0x8000;
const FLAG_EXTENDED_INTENT_TO_ADD: u16 = 1 << 13;
const FLAG_EXTENDED_SKIP_WORKTREE: u16 = 1 << 14;

/// A repository with a work tree, opened for syncing.
pub struct WorkTree {
    repo: Repository,
    root: PathBuf,
}

impl WorkTree {
    /// Opens the repository whose work tree contains `path`, searching upward like `git -C`.
    pub fn open(path: &Path) -> Result<WorkTree, Error> {
        let repo = Repository::discover(path).map_err(|e| open_error(e, path))?;
        WorkTree::from_repository(repo)
    }

    /// Opens the repository the way the git command line does from the current directory:
    /// `GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, `GIT_CEILING_DIRECTORIES` and
    /// `GIT_OBJECT_DIRECTORY` are honoured.
    pub fn open_from_env() -> Result<WorkTree, Error> {
        let cwd = std::env::current_dir().map_err(|source| Error::Io {
            context: "cannot read the current directory",
            path: PathBuf::from("."),
            source,
        })?;
        let work_tree_var = std::env::var_os("GIT_WORK_TREE").filter(|v| !v.is_empty());
        let git_dir_var = std::env::var_os("GIT_DIR").filter(|v| !v.is_empty());
        // libgit2 refuses GIT_WORK_TREE in its environment mode, so that case opens the
        // repository first and sets the work tree itself.
        let repo = match (&git_dir_var, &work_tree_var) {
            (_, None) => Repository::open_from_env(),
            (Some(git_dir), Some(_)) => Repository::open(git_dir),
            (None, Some(_)) => Repository::discover(&cwd),
        }
        .map_err(|e| open_error(e, &cwd))?;
        if let Some(work_tree) = work_tree_var {
            repo.set_workdir(&cwd.join(work_tree), false)
                .map_err(Error::git("cannot use GIT_WORK_TREE"))?;
        } else if git_dir_var.is_some() && !repo.is_bare() && !has_core_worktree(&repo) {
            // git's rule: GIT_DIR without GIT_WORK_TREE or core.worktree makes the current
            // directory the top of the work tree.
            repo.set_workdir(&cwd, false)
                .map_err(Error::git("cannot use the current directory as work tree"))?;
        }
        WorkTree::from_repository(repo)
    }

    fn from_repository(repo: Repository) -> Result<WorkTree, Error> {
        configure_libgit2();
        let Some(root) = repo.workdir().map(Path::to_path_buf) else {
            return Err(Error::BareRepository {
                git_dir: repo.path().to_path_buf(),
            });
        };
        Ok(WorkTree { repo, root })
    }

    /// The top directory of the work tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// Stamps every clean tracked file in scope with the time of its last commit, then
    /// refreshes the index. See the crate documentation for the guarantees.
    pub fn sync(&self, options: &Options) -> Result<Report, Error> {
        let repo = &self.repo;
        let head = match repo.head() {
            Ok(head) => head,
            Err(e) if e.code() == ErrorCode::UnbornBranch => return Err(Error::UnbornHead),
            Err(e) => return Err(Error::corrupt("HEAD")(e)),
        };
        let head_commit = head.peel_to_commit().map_err(Error::corrupt("HEAD"))?;
        let cache = AnswerCache::new(repo.commondir());
        // A sync at a HEAD seen before reads neither its tree nor its history.
        let trace = Trace::from_env();
        let mut anchor = match cache.load(head_commit.id(), options.history) {
            Some(anchor) => anchor,
            None => Anchor::of_tree(
                repo,
                head_commit.id(),
                head_commit.tree_id(),
                options.history,
            )?,
        };
        trace.phase("head tree");
        let scope = Scope::new(&options.pathspecs)?;
        let unresolved: Vec<Vec<u8>> = anchor
            .entries
            .iter()
            .filter(|(path, entry)| {
                entry.change.is_none() && entry.mode != MODE_GITLINK && scope.contains(path)
            })
            .map(|(path, _)| path.clone())
            .collect();

        // History is walked on a second thread while this one reads the index and the files.
        let head_id = head_commit.id();
        let git_dir = repo.path();
        let root = self.root.as_path();
        let (cache_ref, unresolved_ref) = (&cache, &unresolved);
        let (changes, classified) = std::thread::scope(|threads| {
            let walk = (!unresolved.is_empty()).then(|| {
                threads.spawn(move || {
                    let repo = open_again(git_dir, root)?;
                    let others = cache_ref.load_all(options.history, head_id);
                    let paths: Vec<&[u8]> = unresolved_ref.iter().map(Vec::as_slice).collect();
                    let lookups: Vec<_> = others
                        .iter()
                        .map(|other| move |path: &[u8]| other.answer(path))
                        .collect();
                    let known: Vec<KnownAnswers<'_>> = others
                        .iter()
                        .zip(&lookups)
                        .map(|(other, lookup)| KnownAnswers {
                            commit: other.commit,
                            answers: lookup,
                        })
                        .collect();
                    last_change_times_with(
                        &repo,
                        head_id,
                        &paths,
                        options.history,
                        &known,
                        options.progress.as_deref(),
                    )
                })
            });
            let classified = self.classify_index(&anchor, &scope);
            trace.phase("index and stat data");
            let changes = match walk {
                Some(walk) => walk.join().expect("the history walk does not panic"),
                None => Ok(Vec::new()),
            };
            (changes, classified)
        });
        trace.phase("history");
        let changes = changes?;
        let Classified {
            mut files,
            candidates,
            index_path,
            filters_possible,
        } = classified?;

        if !changes.is_empty() {
            for (path, change) in unresolved.iter().zip(&changes) {
                if let Some(entry) = anchor.entries.get_mut(path) {
                    // Approximate answers (a shallow boundary) would not survive an unshallow.
                    entry.change = (!change.approximate).then_some((change.commit, change.time));
                }
            }
            if !options.dry_run {
                cache.store(&anchor);
            }
        }
        // Answers of this walk first: they include the approximate ones the anchor left out.
        let walked: HashMap<&[u8], LastChange> = unresolved
            .iter()
            .map(Vec::as_slice)
            .zip(changes.iter().copied())
            .collect();
        let targets: HashMap<usize, LastChange> = candidates
            .iter()
            .map(|c| {
                let change = walked
                    .get(c.entry.path.as_slice())
                    .copied()
                    .or_else(|| anchor.answer(&c.entry.path))
                    .expect("every candidate is a HEAD path with an answer");
                (c.slot, change)
            })
            .collect();

        let stamped = stamp_all(
            repo.path(),
            &self.root,
            candidates,
            &targets,
            options,
            filters_possible,
        );
        let mut verified = Vec::new();
        let mut approximate = 0;
        for (slot, outcome, verified_stat) in stamped {
            if targets[&slot].approximate
                && matches!(
                    outcome,
                    Outcome::Updated { .. } | Outcome::AlreadyCorrect { .. }
                )
            {
                approximate += 1;
            }
            files[slot].outcome = outcome;
            verified.extend(verified_stat);
        }

        trace.phase("stamping");
        let index_update = if options.dry_run {
            IndexUpdate::DryRun
        } else {
            refresh_index(&index_path, &verified)
        };
        trace.phase("index refresh");
        Ok(Report {
            files,
            index: index_update,
            approximate,
            dry_run: options.dry_run,
        })
    }

    /// Reads the index and decides, from it, HEAD and the files' stat data, which files may
    /// be stamped.
    fn classify_index(&self, anchor: &Anchor, scope: &Scope) -> Result<Classified, Error> {
        let repo = &self.repo;
        let mut index = repo.index().map_err(|source| Error::Index {
            path: repo.path().join("index"),
            source,
        })?;
        let index_path = index
            .path()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.path().join("index"));
        // Re-read: an Index cached by the Repository may predate a `git add`.
        index.read(true).map_err(|source| Error::Index {
            path: index_path.clone(),
            source,
        })?;
        let rules = StatRules::new(repo, &index_path);
        let filters_possible = filters_possible(repo, &index);
        let hasher = if filters_possible {
            ContentHasher::with_filters(repo)
        } else {
            ContentHasher::without_filters()
        };
        let conflicted: HashSet<Vec<u8>> = index
            .iter()
            .filter(|e| stage(e) != 0)
            .map(|e| e.path)
            .collect();
        let mut directories = DirectoryCheck::new(&self.root);
        let mut files: Vec<FileReport> = Vec::new();
        let mut candidates = Vec::new();
        for entry in index.iter() {
            if !scope.contains(&entry.path) {
                continue;
            }
            if stage(&entry) != 0 {
                // One report per conflicted path, however many stages it has.
                if files.last().is_none_or(|f| f.path != entry.path) {
                    files.push(FileReport {
                        path: entry.path.clone(),
                        outcome: Outcome::Skipped(SkipReason::Conflicted),
                    });
                }
                continue;
            }
            let absolute = self.root.join(OsStr::from_bytes(&entry.path));
            match classify(
                &entry,
                &absolute,
                anchor,
                &conflicted,
                &rules,
                &hasher,
                &mut directories,
            ) {
                Ok(candidate) => {
                    files.push(FileReport {
                        path: entry.path.clone(),
                        // Replaced by the stamping outcome.
                        outcome: Outcome::Skipped(SkipReason::Modified),
                    });
                    candidates.push(StampJob {
                        slot: files.len() - 1,
                        entry,
                        absolute,
                        candidate,
                    });
                }
                Err(reason) => files.push(FileReport {
                    path: entry.path,
                    outcome: Outcome::Skipped(reason),
                }),
            };
        }
        Ok(Classified {
            files,
            candidates,
            index_path,
            filters_possible,
        })
    }
}

/// Phase timings on stderr when `GIT_MTIMESTAMP_TRACE` is set, for finding where a slow
/// sync spends its time.
struct Trace {
    start: Option<std::time::Instant>,
}

impl Trace {
    fn from_env() -> Trace {
        Trace {
            start: std::env::var_os("GIT_MTIMESTAMP_TRACE").map(|_| std::time::Instant::now()),
        }
    }

    fn phase(&self, name: &str) {
        if let Some(start) = self.start {
            eprintln!(
                "trace: {name} done at {:.3} s",
                start.elapsed().as_secs_f64()
            );
        }
    }
}

/// The index read and sorted into skipped files and files to stamp.
struct Classified {
    files: Vec<FileReport>,
    candidates: Vec<StampJob>,
    index_path: PathBuf,
    filters_possible: bool,
}

/// A file that may be stamped, and where its outcome goes in the report.
struct StampJob {
    slot: usize,
    entry: IndexEntry,
    absolute: PathBuf,
    candidate: Candidate,
}

/// Stamps the candidates on as many threads as there are cores (reading every stamped file
/// back is most of the work), each with its own repository handle for content filters.
fn stamp_all(
    git_dir: &Path,
    root: &Path,
    candidates: Vec<StampJob>,
    targets: &HashMap<usize, LastChange>,
    options: &Options,
    filters_possible: bool,
) -> Vec<(usize, Outcome, Option<VerifiedStat>)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    Progress::add(
        options.progress.as_deref().map(|p| &p.files_to_stamp),
        candidates.len(),
    );
    let per_thread = candidates.len().div_ceil(threads).max(256);
    let mut jobs = candidates;
    let mut chunks = Vec::new();
    while jobs.len() > per_thread {
        let rest = jobs.split_off(per_thread);
        chunks.push(jobs);
        jobs = rest;
    }
    chunks.push(jobs);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let own_repo = if filters_possible {
                        open_again(git_dir, root).ok()
                    } else {
                        None
                    };
                    let hasher = match &own_repo {
                        Some(repo) => ContentHasher::with_filters(repo),
                        None => ContentHasher::without_filters(),
                    };
                    chunk
                        .into_iter()
                        .map(|job| {
                            Progress::add(options.progress.as_deref().map(|p| &p.files_stamped), 1);
                            let change = targets[&job.slot];
                            let target = target_time(change, job.entry.id, options.whole_seconds);
                            let mut verified = None;
                            let outcome = stamp_file(
                                &job.entry,
                                &job.absolute,
                                job.candidate,
                                target,
                                options.dry_run,
                                &hasher,
                                &mut verified,
                            );
                            (job.slot, outcome, verified)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("stamping does not panic"))
            .collect()
    })
}

/// libgit2 re-hashes every object it reads to check its id, which git itself does not do;
/// the walk reads every commit and many trees, and the check alone cost a fifth of its time.
/// Its object cache is off too: it grew to hundreds of megabytes during a long walk, while
/// the walk keeps the few trees and commits it needs itself. Object contents are still
/// checked by zlib and the packs' own checksums.
fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_hash_verification(false);
        git2::opts::enable_caching(false);
    });
}

/// A second handle on a repository, for another thread.
fn open_again(git_dir: &Path, root: &Path) -> Result<Repository, Error> {
    let repo = Repository::open(git_dir).map_err(Error::git("cannot open the repository again"))?;
    repo.set_workdir(root, false)
        .map_err(Error::git("cannot set the work tree"))?;
    Ok(repo)
}

fn open_error(error: git2::Error, path: &Path) -> Error {
    match error.code() {
        ErrorCode::NotFound => Error::NotARepository {
            path: path.to_path_buf(),
        },
        _ => Error::Git {
            context: format!("cannot open the repository at {}", path.display()),
            source: error,
        },
    }
}

fn has_core_worktree(repo: &Repository) -> bool {
    repo.config()
        .and_then(|c| c.get_path("core.worktree"))
        .is_ok()
}

fn stage(entry: &IndexEntry) -> u16 {
    (entry.flags >> 12) & 0x3
}

/// The mtime a clean file gets: the commit's seconds, and the blob's fingerprint as nanoseconds.
fn target_time(change: LastChange, blob: Oid, whole_seconds: bool) -> Timestamp {
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
fn filters_possible(repo: &Repository, index: &git2::Index) -> bool {
    let attributes_in_tree = index
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

/// git's settings for comparing stat data with the index.
struct StatRules {
    trust_ctime: bool,
    file_mode: bool,
    /// Entries whose mtime is not older than the index file are "racily clean": their stat
    /// data cannot prove they are unchanged.
    index_mtime: Option<Timestamp>,
}

impl StatRules {
    fn new(repo: &Repository, index_path: &Path) -> StatRules {
        let config = repo.config().ok();
        let flag = |key: &str| {
            config
                .as_ref()
                .and_then(|c| c.get_bool(key).ok())
                .unwrap_or(true)
        };
        StatRules {
            trust_ctime: flag("core.trustctime"),
            file_mode: flag("core.filemode"),
            index_mtime: FileStat::of(index_path).ok().map(|s| s.mtime),
        }
    }

    /// git's `ie_match_stat`: true when the stat data proves the file equals its entry.
    fn proves_clean(&self, entry: &IndexEntry, stat: &FileStat) -> bool {
        let racy = self
            .index_mtime
            .is_none_or(|index| index_time(entry.mtime) >= index);
        !racy
            && index_time(entry.mtime) == truncated(stat.mtime)
            && (!self.trust_ctime || index_time(entry.ctime) == truncated(stat.ctime))
            && entry.file_size == stat.size as u32
            && entry.ino == stat.ino as u32
            && entry.uid == stat.uid
            && entry.gid == stat.gid
    }
}

/// Index times hold 32-bit seconds.
fn truncated(time: Timestamp) -> Timestamp {
    Timestamp {
        seconds: time.seconds as i32 as i64,
        nanos: time.nanos,
    }
}

fn index_time(time: git2::IndexTime) -> Timestamp {
    Timestamp {
        seconds: time.seconds() as i64,
        nanos: time.nanoseconds(),
    }
}

/// A tracked file whose index and HEAD entries agree and whose work-tree type and mode match.
struct Candidate {
    stat: FileStat,
    /// The stat data does not prove the content: it must be read before the file is stamped.
    needs_content_check: bool,
}

/// Decides from the index, HEAD and the file's stat data whether `entry` may be stamped.
fn classify(
    entry: &IndexEntry,
    absolute: &Path,
    anchor: &Anchor,
    conflicted: &HashSet<Vec<u8>>,
    rules: &StatRules,
    hasher: &ContentHasher<'_>,
    directories: &mut DirectoryCheck,
) -> Result<Candidate, SkipReason> {
    if entry.mode == MODE_GITLINK {
        return Err(SkipReason::Submodule);
    }
    if conflicted.contains(&entry.path) {
        return Err(SkipReason::Conflicted);
    }
    if entry.flags_extended & FLAG_EXTENDED_SKIP_WORKTREE != 0 {
        return Err(SkipReason::SkipWorktree);
    }
    if entry.flags_extended & FLAG_EXTENDED_INTENT_TO_ADD != 0 {
        return Err(SkipReason::IntentToAdd);
    }
    match anchor.entries.get(&entry.path) {
        Some(head) if head.blob == entry.id && head.mode == entry.mode => {}
        _ => return Err(SkipReason::Staged),
    }
    directories.check_parents(&entry.path)?;
    let stat = match FileStat::of(absolute) {
        Ok(stat) => stat,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SkipReason::Deleted),
        Err(_) => return Err(SkipReason::Deleted),
    };
    let type_matches = if entry.mode == MODE_SYMLINK {
        stat.is_symlink()
    } else {
        stat.is_file()
    };
    if !type_matches {
        return Err(SkipReason::TypeChanged);
    }
    if rules.file_mode
        && !stat.is_symlink()
        && stat.is_executable() != (entry.mode == MODE_EXECUTABLE)
    {
        return Err(SkipReason::ModeChanged);
    }
    if hasher.has_filter_driver(&entry.path) {
        return Err(SkipReason::FilterDriver);
    }
    // git's rule: a size that differs from a recorded non-zero size is a modification, with no
    // need to read the file.
    if entry.file_size != 0 && entry.file_size != stat.size as u32 {
        return Err(SkipReason::Modified);
    }
    let assume_unchanged = entry.flags & FLAG_ASSUME_UNCHANGED != 0;
    Ok(Candidate {
        needs_content_check: assume_unchanged || !rules.proves_clean(entry, &stat),
        stat,
    })
}

/// Reads `absolute` and compares it with `blob`, between two stat calls that must agree.
/// Returns the stat data the file had while it was read, or None if the content differs or the
/// file changed while it was being read.
fn read_and_compare(
    hasher: &ContentHasher<'_>,
    absolute: &Path,
    relative: &[u8],
    symlink: bool,
    blob: Oid,
) -> Option<FileStat> {
    let before = FileStat::of(absolute).ok()?;
    if before.is_symlink() != symlink {
        return None;
    }
    let id = hasher.hash(absolute, relative, symlink).ok()?;
    let after = FileStat::of(absolute).ok()?;
    (id == blob && before.same_file_state(&after)).then_some(before)
}

fn stamp_file(
    entry: &IndexEntry,
    absolute: &Path,
    candidate: Candidate,
    target: Timestamp,
    dry_run: bool,
    hasher: &ContentHasher<'_>,
    verified: &mut Option<VerifiedStat>,
) -> Outcome {
    let symlink = entry.mode == MODE_SYMLINK;
    let mut stat = candidate.stat;
    if candidate.needs_content_check {
        match read_and_compare(hasher, absolute, &entry.path, symlink, entry.id) {
            Some(checked) => stat = checked,
            None => return Outcome::Skipped(SkipReason::Modified),
        }
        if stat.mtime == target && !dry_run {
            // Clean and already right, but the index's stat data is stale.
            *verified = Some(VerifiedStat {
                path: entry.path.clone(),
                blob: entry.id,
                stat,
            });
        }
    }
    if stat.mtime == target {
        return Outcome::AlreadyCorrect { time: target };
    }
    if dry_run {
        return Outcome::Updated { time: target };
    }
    if let Err(e) = set_mtime(absolute, target, stat.atime) {
        return Outcome::Failed {
            message: e.to_string(),
        };
    }
    // Read the file back: an edit that landed between the checks above and the stamp must not
    // keep the old time, or a cache keyed by size and mtime would miss it.
    // The stored mtime may differ from the target on file systems with coarse timestamps;
    // what matters is that the content read back under stable stat data is the blob.
    match read_and_compare(hasher, absolute, &entry.path, symlink, entry.id) {
        Some(after) => {
            *verified = Some(VerifiedStat {
                path: entry.path.clone(),
                blob: entry.id,
                stat: after,
            });
            Outcome::Updated { time: target }
        }
        None => {
            let _ = set_mtime_now(absolute);
            Outcome::ChangedDuringSync
        }
    }
}

/// Checks that every leading directory of a path is a real directory, remembering answers:
/// a directory replaced by a symlink leads outside what git tracks, and nothing below it may
/// be touched.
struct DirectoryCheck {
    root: PathBuf,
    known: HashMap<Vec<u8>, Result<(), SkipReason>>,
}

impl DirectoryCheck {
    fn new(root: &Path) -> Self {
        DirectoryCheck {
            root: root.to_path_buf(),
            known: HashMap::new(),
        }
    }

    fn check_parents(&mut self, path: &[u8]) -> Result<(), SkipReason> {
        for (position, _) in path.iter().enumerate().filter(|(_, b)| **b == b'/') {
            let directory = &path[..position];
            if let Some(answer) = self.known.get(directory) {
                (*answer)?;
                continue;
            }
            let absolute = self.root.join(OsStr::from_bytes(directory));
            let answer = match std::fs::symlink_metadata(&absolute) {
                Ok(meta) if meta.file_type().is_symlink() => Err(SkipReason::BeyondSymlink),
                Ok(meta) if meta.is_dir() => Ok(()),
                Ok(_) => Err(SkipReason::TypeChanged),
                Err(_) => Err(SkipReason::Deleted),
            };
            self.known.insert(directory.to_vec(), answer);
            answer?;
        }
        Ok(())
    }
}
