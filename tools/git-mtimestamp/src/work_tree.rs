//! A git work tree and the sync of its files' mtimes.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::{ErrorCode, Oid, Repository};

use crate::Options;
use crate::answers::{Anchor, AnchorEntry, AnchorTrees, AnswerCache, NOT_WALKED};
use crate::attributes::{EarlyAttributes, GitAttributes};
use crate::classify::{
    Classified, IndexedFiles, StampJob, config_flag, filters_possible, target_time,
};
use crate::directories::{Checkout, ExtraEntry, directory_jobs, ignored_by_git, stamp_directories};
use crate::error::Error;
use crate::history::{
    HistoryMode, KnownAnswers, LastChange, MODE_TREE, WalkOptions, commit_tree, first_parent_line,
    last_change_times,
};
use crate::index_refresh::{IndexSnapshot, refresh_index};
use crate::odb::{ObjectReader, Replacements};
use crate::open::{WorkTree, is_partial_clone, open_again};
use crate::report::{FileReport, IndexUpdate, Outcome, Report, SkipReason};
use crate::scope::Scope;
use crate::signals::DeferSignals;
use crate::stamp::stamp_all;
use crate::sync_lock::SyncLock;
use crate::time_limits::TimeLimits;
use crate::trace::Trace;

pub(crate) const MODE_GITLINK: u32 = 0o160000;

impl WorkTree {
    /// Stamps every clean tracked file in scope with the time of its last commit, then
    /// refreshes the index. See the crate documentation for the guarantees.
    pub fn sync(&self, options: &Options) -> Result<Report, Error> {
        let repo = &self.repo;
        // Before anything is read: a sync that held the lock may have changed every file's
        // stat data, the index and the answers. A dry run writes nothing and never waits.
        let lock = (!options.dry_run)
            .then(|| SyncLock::acquire(repo.path(), options.on_wait))
            .flatten();
        let root_dev = std::fs::metadata(&self.root).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.dev()
        });
        let limits = TimeLimits::probing(lock.as_ref().and_then(SyncLock::file), root_dev);
        let head = match repo.head() {
            Ok(head) => head,
            Err(e) if e.code() == ErrorCode::UnbornBranch => {
                return self.report_without_commits(options);
            }
            Err(e) => return Err(Error::corrupt("HEAD")(e)),
        };
        let head_id = match head.target() {
            Some(id) => id,
            None => head.peel_to_commit().map_err(Error::corrupt("HEAD"))?.id(),
        };
        // History as `git log` reads it (replace refs, grafts), read once for the whole sync:
        // the answers depend on it, so the cache keeps those of each set apart.
        let replacements = std::sync::Arc::new(Replacements::of(repo)?);
        // No index (a `git clone --no-checkout`, a deleted one): git sees no tracked file, and
        // neither does the sync, which says so instead of reporting nothing.
        let no_index = matches!(
            std::fs::symlink_metadata(&self.index_path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        );
        let cache = AnswerCache::new(repo.commondir()).replaced(replacements.cache_key());
        let trace = Trace::from_env();
        // Stored answers of other commits, newest first: the newest is the base of a new
        // anchor, and each ends the walk where it reaches that commit (read only then).
        let stored_commits = cache.commits(options.history);
        // Nothing stored: every answer comes from the walk, and on a fresh clone every file
        // is read (see `attributes_before_classifying`).
        let nothing_stored = stored_commits.is_empty();
        let head_stored = stored_commits.contains(&head_id);
        let others: Vec<LazyAnchor<'_>> = stored_commits
            .into_iter()
            .filter(|commit| *commit != head_id)
            .map(|commit| LazyAnchor::new(&cache, commit, options.history))
            .collect();
        let scope = Scope::new(options)?;

        // HEAD's answers (stored, or the newest stored ones patched with the difference of
        // the trees, then the history walk for the paths still open) are found on a second
        // thread while this one reads the index and stats every file; the two meet to classify.
        let git_dir = repo.path();
        let root = self.root.as_path();
        let (cache_ref, others_ref, trace_ref) = (&cache, &others, &trace);
        let (answers, indexed) = std::thread::scope(|threads| {
            let answers = threads.spawn(move || {
                find_answers(
                    AnswerSources {
                        git_dir,
                        root,
                        head_id,
                        cache: cache_ref,
                        others: others_ref,
                        replacements: std::sync::Arc::clone(&replacements),
                    },
                    options,
                    trace_ref,
                )
            });
            let indexed = self.read_index_and_stats(&scope);
            trace.phase("index and stat data (first thread)");
            let early_attributes = match &indexed {
                Ok(indexed) if !head_stored => {
                    self.attributes_before_classifying(indexed, nothing_stored)
                }
                _ => EarlyAttributes::default(),
            };
            trace.phase("attributes (first thread)");
            let answers = answers.join().expect("the history walk does not panic");
            (answers, indexed.map(|indexed| (indexed, early_attributes)))
        });
        trace.phase("both threads");
        let (mut anchor, changes, fresh) = answers.map_err(|e| match e {
            Error::Corrupt { what, cause } if is_partial_clone(repo) => {
                Error::PartialClone { what, cause }
            }
            e => e,
        })?;
        let (indexed, early_attributes) = indexed?;
        let classified = self.classify_entries(indexed, &anchor, options.whole_seconds, &limits);
        trace.phase("classified");
        let Classified {
            files,
            candidates,
            index_path,
            index_snapshot,
            filters_possible,
            directory_mtimes,
        } = classified;

        // From here on files, the answer cache and the index are written: an interrupt waits
        // until they are consistent (see signals.rs).
        let signals = DeferSignals::while_writing();
        let new_answers = fresh || !changes.is_empty();
        if new_answers {
            for (_, entry) in anchor.entries.iter_mut() {
                if let Some(change) = changes.get(entry.walk_slot as usize) {
                    // Approximate answers (a shallow boundary) would not survive an unshallow.
                    entry.change = (!change.approximate).then_some((change.commit, change.time));
                }
            }
        }
        let anchor = &anchor;
        std::thread::scope(|threads| {
            // The answers go to a file of their own, written while the files are stamped.
            let stored = (new_answers && !options.dry_run)
                .then(|| threads.spawn(|| cache.store(anchor).err().map(|e| e.to_string())));
            let (files, index_update, approximate, required_drivers) = self.stamp_and_refresh(
                files,
                candidates,
                &changes,
                options,
                &limits,
                filters_possible,
                early_attributes,
                &index_path,
                &index_snapshot,
                &trace,
            );
            // Directories after their files: nothing that happens to a file changes the
            // stat data of its directory, but a directory is judged on what is there now.
            let directories = (!options.no_directories).then(|| {
                let answer = |entry: &AnchorEntry| match entry.change {
                    Some((commit, time)) => Some(LastChange {
                        commit,
                        time,
                        approximate: false,
                    }),
                    None => changes.get(entry.walk_slot as usize).copied(),
                };
                let jobs = directory_jobs(
                    &anchor.entries,
                    &scope,
                    options.whole_seconds,
                    &limits,
                    answer,
                );
                let ignored = |paths: &[ExtraEntry]| {
                    ignored_by_git(repo.path(), root, paths).unwrap_or_else(|| {
                        // Without a git to ask, libgit2's rules (close to git's).
                        let ignored = |extra: &ExtraEntry| {
                            let mut path = extra.path.clone();
                            if extra.is_directory {
                                path.push(b'/');
                            }
                            let path = Path::new(std::ffi::OsStr::from_bytes(&path));
                            repo.is_path_ignored(path).unwrap_or(false)
                        };
                        paths.iter().map(ignored).collect()
                    })
                };
                let checkout = Checkout {
                    symlinks: config_flag(repo, "core.symlinks"),
                };
                stamp_directories(
                    root,
                    jobs,
                    &directory_mtimes,
                    checkout,
                    &limits,
                    options.dry_run,
                    &ignored,
                )
            });
            trace.phase("directories");
            let answers_not_saved =
                stored.and_then(|store| store.join().expect("storing answers does not panic"));
            drop(signals);
            Ok(Report {
                no_index: no_index.then(|| self.index_path.clone()),
                clamped: limits.clamped(),
                files,
                directories,
                required_filter_drivers: required_drivers,
                index: index_update,
                approximate,
                dry_run: options.dry_run,
                no_commit_yet: false,
                answers_not_saved,
            })
        })
    }

    /// Stamps the files whose time is wrong, then writes the stat data of every file it
    /// verified into the index.
    #[allow(clippy::too_many_arguments)]
    fn stamp_and_refresh(
        &self,
        mut files: Vec<FileReport>,
        candidates: Vec<StampJob>,
        changes: &[LastChange],
        options: &Options,
        limits: &TimeLimits,
        filters_possible: bool,
        early_attributes: EarlyAttributes,
        index_path: &Path,
        index_snapshot: &IndexSnapshot,
        trace: &Trace,
    ) -> (Vec<FileReport>, IndexUpdate, usize, Vec<String>) {
        let repo = &self.repo;
        let mut verified = Vec::new();
        let mut approximate = 0;
        let mut to_stamp = Vec::new();
        for mut job in candidates {
            let change = match job.candidate.known_change {
                Some((commit, time)) => LastChange {
                    commit,
                    time,
                    approximate: false,
                },
                // This walk's answer, which may be an approximate one the anchor left out.
                None => *changes
                    .get(job.candidate.walk_slot as usize)
                    .expect("every candidate is a HEAD path with an answer"),
            };
            job.change = Some(change);
            // The common case of a warm sync: stat data proves the content and the time is
            // right, so there is nothing to do and no reason to hand the file to a thread.
            let target = limits.storable(target_time(change, job.entry.id, options.whole_seconds));
            if job.candidate.proven_at(target) {
                approximate += usize::from(change.approximate);
                files[job.slot].outcome = Outcome::AlreadyCorrect { time: target };
            } else {
                to_stamp.push(job);
            }
        }
        let stamped = stamp_all(
            repo.path(),
            &self.root,
            to_stamp,
            options,
            limits,
            filters_possible,
            early_attributes,
        );
        let mut required_drivers = std::collections::BTreeSet::new();
        for stamped in stamped {
            if stamped.approximate_change
                && matches!(
                    stamped.outcome,
                    Outcome::Updated { .. } | Outcome::AlreadyCorrect { .. }
                )
            {
                approximate += 1;
            }
            files[stamped.slot].outcome = stamped.outcome;
            verified.extend(stamped.verified);
            required_drivers.extend(stamped.required_driver);
        }
        let required_drivers = required_drivers
            .into_iter()
            .map(|name| String::from_utf8_lossy(&name).into_owned())
            .collect();

        trace.phase("stamping");
        let index_update = if options.dry_run {
            IndexUpdate::DryRun
        } else {
            refresh_index(index_path, repo.path(), &verified, index_snapshot)
        };
        trace.phase("index refresh");
        (files, index_update, approximate, required_drivers)
    }

    /// Before the first commit (a new repository, or `git checkout --orphan`) no file has a
    /// commit time: everything in the index is content HEAD lacks, and is left alone.
    fn report_without_commits(&self, options: &Options) -> Result<Report, Error> {
        let scope = Scope::new(options)?;
        let (entries, _, _) = self.read_index()?;
        let mut files: Vec<FileReport> = Vec::new();
        for entry in scope.select_index_entries(entries)?.iter() {
            if files.last().is_some_and(|f| f.path == entry.path) {
                continue;
            }
            let reason = if entry.stage() != 0 {
                SkipReason::Conflicted
            } else {
                SkipReason::Staged
            };
            files.push(FileReport {
                path: entry.path.clone(),
                outcome: Outcome::Skipped(reason),
            });
        }
        Ok(Report {
            no_index: None,
            clamped: 0,
            files,
            directories: None,
            required_filter_drivers: Vec::new(),
            index: IndexUpdate::Unchanged,
            approximate: 0,
            dry_run: options.dry_run,
            no_commit_yet: true,
            answers_not_saved: None,
        })
    }
}

impl WorkTree {
    /// git's attributes, prepared while HEAD's answers are found, for a sync whose HEAD has
    /// no stored answers (nothing is prepared when no attribute can change a file's content).
    /// When nothing is stored at all (`every_file`), every regular file in scope is asked
    /// about: that is a first sync, which after a fresh clone reads every file, and asked
    /// after classifying, `git check-attr` alone took 0.11 s of a 1.0 s sync of
    /// dagger/dagger's 15,600 files, with the walk's threads done and one core idle.
    /// Otherwise (new commits since the last sync) `git check-attr` is only started, so that
    /// its start, 4 ms or so, is not added to a sync of 40 ms.
    fn attributes_before_classifying(
        &self,
        indexed: &IndexedFiles,
        every_file: bool,
    ) -> EarlyAttributes {
        let (git_dir, root) = (self.repo.path(), self.root.as_path());
        if !filters_possible(&self.repo, &indexed.entries) {
            return EarlyAttributes::default();
        }
        if !every_file {
            return EarlyAttributes {
                answered: None,
                started: GitAttributes::start(git_dir, root),
            };
        }
        let regular_files = indexed
            .entries
            .iter()
            .zip(&indexed.stats)
            .filter(|(entry, stat)| {
                entry.stage() == 0
                    && entry.mode & 0o170000 == 0o100000
                    && matches!(stat, Some(Ok(stat)) if !stat.is_symlink())
            })
            .map(|(entry, _)| entry.path.as_slice());
        EarlyAttributes {
            answered: GitAttributes::ask(git_dir, root, regular_files),
            started: None,
        }
    }
}

/// Where HEAD's answers come from.
struct AnswerSources<'a, 'c> {
    git_dir: &'a Path,
    root: &'a Path,
    head_id: Oid,
    cache: &'c AnswerCache,
    /// Stored anchors of other commits, newest first.
    others: &'a [LazyAnchor<'c>],
    /// What history is read through.
    replacements: std::sync::Arc<Replacements>,
}

/// HEAD's anchor, with the answers of a history walk for the paths it does not answer yet
/// (in the order of their `walk_slot`), and whether the anchor is new (not stored yet). Runs
/// on a thread of its own, with its own repository handle, opened only if the anchor or the
/// walk needs one.
fn find_answers(
    sources: AnswerSources<'_, '_>,
    options: &Options,
    trace: &Trace,
) -> Result<(Anchor, Vec<LastChange>, bool), Error> {
    let AnswerSources {
        git_dir,
        root,
        head_id,
        cache,
        others,
        replacements,
    } = sources;
    // This thread reads the pathspecs itself, which is cheap.
    let scope = Scope::new(options)?;
    let open = || -> Result<Repository, Error> { open_again(git_dir, root) };
    // A sync at a HEAD seen before reads neither its commit, nor its tree, nor history.
    let loaded = cache.load(head_id, options.history);
    let fresh = loaded.is_none();
    let repo = match loaded {
        Some(_) => None,
        None => Some(open()?),
    };
    // One reader for HEAD's tree and the walk, which starts with the trees just read.
    let reader_of =
        |repo| ObjectReader::with_replacements(repo, std::sync::Arc::clone(&replacements));
    let mut reader = repo.as_ref().map(reader_of).transpose()?;
    let mut anchor = match (loaded, &repo, &mut reader) {
        (Some(anchor), _, _) => anchor,
        (None, Some(repo), Some(reader)) => {
            new_anchor(repo, reader, head_id, options.history, others)?
        }
        (None, _, _) => unreachable!("the repository is opened when no anchor is stored"),
    };
    trace.phase("head tree (second thread)");
    let keys = number_paths_to_walk(&mut anchor, &scope, !options.no_directories);
    if keys.is_empty() {
        return Ok((anchor, Vec::new(), fresh));
    }
    let opened_now;
    let (repo, reader) = match (&repo, reader) {
        (Some(repo), Some(reader)) => (repo, reader),
        _ => {
            opened_now = open()?;
            (&opened_now, reader_of(&opened_now)?)
        }
    };
    let unresolved: Vec<&[u8]> = keys
        .iter()
        .map(|key| walk_key(&anchor.entries, key))
        .collect();
    // Other anchors end the walk early; each is read only if the walk reaches its commit.
    let lookups: Vec<_> = others
        .iter()
        .map(|other| move |path: &[u8]| other.get()?.answer(path))
        .collect();
    let known: Vec<KnownAnswers<'_>> = others
        .iter()
        .zip(&lookups)
        .map(|(other, lookup)| KnownAnswers {
            commit: other.commit,
            answers: lookup,
        })
        .collect();
    let walk = WalkOptions::default()
        .mode(options.history)
        .known(&known)
        .progress(options.progress.as_deref())
        .reader(reader);
    let changes = last_change_times(repo, head_id, &unresolved, walk)?;
    trace.phase("history walk (second thread)");
    drop(unresolved);
    Ok((anchor, changes, fresh))
}

/// HEAD's paths, with the answers known without a walk. When HEAD's first-parent line reaches
/// a stored anchor (the HEAD of the last sync, a few commits back), only the line's changes
/// are read, and every path they leave alone keeps the anchor's answer. Otherwise the newest
/// stored anchor still saves reading HEAD's whole tree: its paths are patched with the
/// difference of the two trees, and every answer is left to the walk.
fn new_anchor(
    repo: &Repository,
    reader: &mut ObjectReader<'_>,
    head_id: Oid,
    mode: HistoryMode,
    others: &[LazyAnchor<'_>],
) -> Result<Anchor, Error> {
    let anchors: Vec<Oid> = others.iter().map(|other| other.commit).collect();
    if let Some(line) = first_parent_line(repo, reader, head_id, &anchors)?
        && let Some(base) = others
            .iter()
            .find(|other| other.commit == line.anchor)
            .and_then(LazyAnchor::get)
    {
        let base_trees = AnchorTrees::new(base, line.anchor_tree);
        let changed = line.changes(reader, mode, &|id| base_trees.tree(id))?;
        return Ok(Anchor::at_end_of_line(base, head_id, changed));
    }
    // Through the reader, which reads a replaced commit as its replacement, as git does.
    let tree = commit_tree(reader, head_id)?;
    let base = others.first().and_then(|newest| {
        let base = newest.get()?;
        let base_tree = commit_tree(reader, base.commit).ok()?;
        Some((base, base_tree))
    });
    Anchor::of_tree(reader, head_id, tree, mode, base)
}

/// A stored anchor that is read from disk the first time it is needed.
struct LazyAnchor<'c> {
    cache: &'c AnswerCache,
    commit: Oid,
    mode: HistoryMode,
    anchor: std::sync::OnceLock<Option<Anchor>>,
}

impl<'c> LazyAnchor<'c> {
    fn new(cache: &'c AnswerCache, commit: Oid, mode: HistoryMode) -> Self {
        LazyAnchor {
            cache,
            commit,
            mode,
            anchor: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> Option<&Anchor> {
        self.anchor
            .get_or_init(|| self.cache.load(self.commit, self.mode))
            .as_ref()
    }
}

/// Numbers the paths whose last change the history walk must find (in scope, not answered by
/// the anchor, not submodules; directories only when they are synced) in the order of their
/// keys for the walk, and returns them in that order: each entry's place in the anchor, with
/// its key when it is a directory. A directory's key is its path and a slash, the root's the
/// empty path (see [`crate::history`]); a file's key is its path.
fn number_paths_to_walk(
    anchor: &mut Anchor,
    scope: &Scope,
    directories: bool,
) -> Vec<(usize, Option<Vec<u8>>)> {
    let mut keys: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    for (at, (path, entry)) in anchor.entries.iter_mut().enumerate() {
        entry.walk_slot = NOT_WALKED;
        if entry.change.is_some() || entry.mode == MODE_GITLINK {
            continue;
        }
        if entry.mode != MODE_TREE {
            if scope.contains(path) {
                keys.push((at, None));
            }
        } else if directories && scope.contains_directory(path) {
            let mut key = path.clone();
            if !key.is_empty() {
                key.push(b'/');
            }
            keys.push((at, Some(key)));
        }
    }
    let entries = &anchor.entries;
    // The anchor's order differs only where a directory's key moves past names that sort
    // between its path and its path and a slash ("a" < "a.c" < "a/"): nearly sorted, which
    // the standard library's sort handles in about one pass.
    keys.sort_by(|a, b| walk_key(entries, a).cmp(walk_key(entries, b)));
    for (slot, (at, _)) in keys.iter().enumerate() {
        anchor.entries[*at].1.walk_slot = slot as u32;
    }
    keys
}

/// The key of an entry numbered by [`number_paths_to_walk`].
fn walk_key<'a>(
    entries: &'a [(Vec<u8>, AnchorEntry)],
    key: &'a (usize, Option<Vec<u8>>),
) -> &'a [u8] {
    match &key.1 {
        Some(directory) => directory,
        None => &entries[key.0].0,
    }
}
