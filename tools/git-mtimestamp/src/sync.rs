//! The sync, phase by phase. HEAD's answers are found on a second thread (see
//! [`crate::answers`]) while this one reads the index and every file's stat data; the two meet
//! to classify the files (see [`crate::classify`]). The history walk goes on on the second
//! thread, and tells each answer as soon as it is final: the files and directories waiting
//! for it are handed to the stamping threads, which set their times and read them back (see
//! [`crate::stamp`] and [`crate::directories`]) while the walk goes on. Once the walk is done,
//! the answers are stored beside the last stamps; then the index is refreshed (see
//! [`crate::index_refresh`]). A walk that fails undoes the stamps made meanwhile; Ctrl-C
//! stops it.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;

use git2::ErrorCode;

use crate::Options;
use crate::answers::{
    AnswerCache, AnswerEntry, AnswerNews, AnswerSources, LazyAnswers, WalkFlags, find_answers,
};
use crate::attributes::{AttributeRules, EarlyAttributes, GitAttributes};
use crate::classify::{
    Classified, EntryStat, IndexedFiles, StampJob, filters_possible, target_time,
};
use crate::convert::ConvertConfig;
use crate::directories::{
    Checkout, DirectoryJob, ExtraEntry, PendingDirectory, directory_reports, ignored_by_git,
    pending_directories,
};
use crate::error::Error;
use crate::history::LastChange;
use crate::index_refresh::{VerifiedStat, refresh_index};
use crate::odb::Replacements;
use crate::open::{WorkTree, is_partial_clone, open_again};
use crate::progress::Progress;
use crate::report::{FileReport, IndexUpdate, Outcome, Report, SkipReason};
use crate::scope::Scope;
use crate::signals::DeferSignals;
use crate::stamp::{StampSetup, Stamped, Stamping, undo_stamps};
use crate::sync_lock::SyncLock;
use crate::time_limits::TimeLimits;
use crate::trace::Trace;

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
        // Stored answers of other commits, newest first: the newest is the base of HEAD's
        // new answers, and each ends the walk where it reaches that commit (read only then).
        let stored_commits = cache.commits(options.history);
        // Nothing stored: every answer comes from the walk, and on a fresh clone every file
        // is read (see `attributes_before_classifying`).
        let nothing_stored = stored_commits.is_empty();
        let head_stored = stored_commits.contains(&head_id);
        let others: Vec<LazyAnswers<'_>> = stored_commits
            .into_iter()
            .filter(|commit| *commit != head_id)
            .map(|commit| LazyAnswers::new(&cache, commit, options.history))
            .collect();
        let scope = Scope::new(options)?;

        // HEAD's answers (stored, or the newest stored ones patched with the difference of
        // the trees) are found on a second thread while this one reads the index and stats
        // every file; the two meet to classify. The walk for the paths still open goes on
        // there, and the files are stamped as it answers them.
        let git_dir = repo.path();
        let root = self.root.as_path();
        let (stop, split) = (AtomicBool::new(false), AtomicBool::new(false));
        // Declared before the threads, which borrow it; set once the files are classified.
        let setup: OnceLock<StampSetup<'_>> = OnceLock::new();
        let (cache_ref, others_ref, trace_ref) = (&cache, &others, &trace);
        let flags = WalkFlags {
            stop: &stop,
            split: &split,
        };
        let (news_sender, news) = std::sync::mpsc::channel::<AnswerNews>();
        std::thread::scope(|threads| {
            let answers_thread = threads.spawn(move || {
                let tell = |news: AnswerNews| {
                    // Nobody listens only once this sync has failed.
                    let _ = news_sender.send(news);
                };
                let sources = AnswerSources {
                    git_dir,
                    root,
                    head_id,
                    cache: cache_ref,
                    others: others_ref,
                    replacements: std::sync::Arc::clone(&replacements),
                };
                find_answers(sources, options, trace_ref, &tell, flags)
            });
            let mut indexed = self.read_index_and_stats(&scope, nothing_stored);
            trace.phase("index and stat data (first thread)");
            let early_attributes = match &mut indexed {
                Ok(indexed) if !head_stored => {
                    self.attributes_before_classifying(indexed, nothing_stored)
                }
                _ => EarlyAttributes::default(),
            };
            trace.phase("attributes (first thread)");
            let in_partial_clone = |e: Error| match e {
                Error::Corrupt { what, cause } if is_partial_clone(repo) => {
                    Error::PartialClone { what, cause }
                }
                e => e,
            };
            let head = match news.recv() {
                Ok(AnswerNews::Head { answers, fresh }) => Some((answers, fresh)),
                _ => None,
            };
            let (indexed, (head_answers, fresh)) = match (indexed, head) {
                (Ok(indexed), Some(head)) => (indexed, head),
                (indexed, _) => {
                    // HEAD's answers failed, or the walk is of no use without the index. The
                    // answers' error says more, and comes first.
                    stop.store(true, Ordering::Relaxed);
                    let walked = answers_thread
                        .join()
                        .expect("the history walk does not panic");
                    return Err(match (walked, indexed) {
                        (Err(e), _) if !matches!(e, Error::Interrupted) => in_partial_clone(e),
                        (_, Err(e)) => e,
                        (_, Ok(_)) => unreachable!("HEAD's answers are told before the walk"),
                    });
                }
            };
            let classified =
                self.classify_entries(indexed, &head_answers, options.whole_seconds, &limits);
            trace.phase("classified");
            let Classified {
                mut files,
                candidates,
                index_path,
                index_snapshot,
                filters_possible,
                directory_mtimes,
                rules,
            } = classified;

            // From here on files, the answer cache and the index are written: an interrupt
            // stops the walk, then waits until they are consistent (see signals.rs).
            let signals = DeferSignals::while_writing();
            let setup = setup.get_or_init(|| StampSetup {
                git_dir,
                root,
                options,
                limits: &limits,
                conversions: filters_possible.then(|| ConvertConfig::of(repo)),
                asked: StampSetup::attributes(
                    git_dir,
                    root,
                    filters_possible,
                    early_attributes,
                    &candidates,
                ),
                answers: head_answers,
                directory_mtimes,
                checkout: Checkout {
                    symlinks: rules.symlinks,
                },
                rules,
            });
            let head_answers = &setup.answers;
            let stamping = Stamping::start(threads, setup);
            let progress = options.progress.as_deref();
            let mut approximate = 0;
            // The common case of a warm sync: stat data proves the content and the time is
            // right, so there is nothing to do and no reason to hand the file to a thread.
            let mut answer =
                |mut job: StampJob, change: LastChange, to_stamp: &mut Vec<StampJob>| {
                    let target =
                        limits.storable(target_time(change, job.entry.id, options.whole_seconds));
                    if job.candidate.proven_at(target) {
                        approximate += usize::from(change.approximate);
                        files[job.slot].outcome = Outcome::AlreadyCorrect { time: target };
                    } else {
                        job.change = Some(change);
                        to_stamp.push(job);
                    }
                };
            let mut waiting = Waiting::new(head_answers.entries.len());
            let mut held = Held::default();
            for job in candidates {
                match job.candidate.known_change {
                    Some((commit, time)) => {
                        let change = LastChange {
                            commit,
                            time,
                            approximate: false,
                        };
                        answer(job, change, &mut held.files);
                    }
                    None => waiting.add(job.candidate.answer_at, Wait::File(job)),
                }
            }
            if !options.no_directories {
                let entries = &head_answers.entries;
                for directory in pending_directories(entries, &scope, options.whole_seconds) {
                    match entries[directory.at].1.change {
                        Some((commit, time)) => {
                            let change = LastChange {
                                commit,
                                time,
                                approximate: false,
                            };
                            held.directories.push(directory.answered(change, &limits));
                        }
                        None => waiting.add(directory.at, Wait::Directory(directory)),
                    }
                }
            }
            held.hand_over(&stamping, progress);
            let (mut interrupted, mut split_asked) = (false, false);
            loop {
                // Once the walk has split, both cores walk, and what it answers waits until
                // one of its parts ends (and lowers the flag): stamped beside the two parts,
                // the synthetic repository's files made its walk a tenth slower.
                let walk_split = split_asked && split.load(Ordering::Relaxed);
                if held.due() && !walk_split {
                    held.hand_over(&stamping, progress);
                }
                let next = news.try_recv().or_else(|_| {
                    // Nothing new, and the other cores have stamped everything answered so
                    // far: the walk may split (it says no by clearing the flag).
                    if !split_asked && stamping.idle() {
                        split.store(true, Ordering::Relaxed);
                        split_asked = true;
                    }
                    news.recv_timeout(std::time::Duration::from_millis(10))
                });
                match next {
                    Ok(AnswerNews::Walked(answered)) => {
                        for (at, change) in answered {
                            match waiting.take(at as usize) {
                                Some(Wait::File(job)) => answer(job, change, &mut held.files),
                                Some(Wait::Directory(directory)) => {
                                    held.directories.push(directory.answered(change, &limits))
                                }
                                None => {}
                            }
                        }
                        held.note_added();
                    }
                    Ok(AnswerNews::Head { .. }) => {}
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                // Looked at after every answer and every 10 ms: a long walk may answer
                // without pause.
                if !interrupted && signals.arrived() {
                    stop.store(true, Ordering::Relaxed);
                    interrupted = true;
                }
            }
            let walked = answers_thread
                .join()
                .expect("the history walk does not panic");
            trace.phase("history walk (both threads)");
            let walked = match walked {
                Ok(walked) => walked,
                Err(Error::Interrupted) => {
                    // Every file stamped is verified: its time is right, and so is its entry
                    // once the index is refreshed; so is every directory stamped. The signal
                    // is raised again below.
                    let (stamped, _) = stamping.abandon();
                    let (verified, ..) = take_stamped(&mut files, stamped);
                    if !options.dry_run {
                        refresh_index(&index_path, repo.path(), &verified, &index_snapshot);
                    }
                    drop(signals);
                    return Err(Error::Interrupted);
                }
                Err(e) => {
                    // A failed sync leaves the files as they were: those stamped meanwhile
                    // (with right times: each answer told was final) get their old ones back.
                    let (files, directories) = stamping.abandon();
                    let files: Vec<_> = files.into_iter().filter_map(|s| s.undo).collect();
                    let directories: Vec<_> =
                        directories.into_iter().filter_map(|d| d.undo).collect();
                    let (files_undone, directories_undone) = (files.len(), directories.len());
                    undo_stamps(
                        setup,
                        files.into_iter().map(|undo| *undo).collect(),
                        directories,
                    );
                    drop(signals);
                    let e = in_partial_clone(e);
                    return Err(if files_undone + directories_undone == 0 {
                        e
                    } else {
                        Error::Undone {
                            cause: Box::new(e),
                            files: files_undone,
                            directories: directories_undone,
                        }
                    });
                }
            };
            // Every path the walk answered was told; what is left was never walked.
            for (at, wait) in waiting.rest() {
                match wait {
                    Wait::File(job) => {
                        let change = walked
                            .get(at)
                            .expect("every candidate is a HEAD path with an answer");
                        answer(job, change, &mut held.files);
                    }
                    Wait::Directory(directory) => {
                        if let Some(change) = walked.get(at) {
                            held.directories.push(directory.answered(change, &limits));
                        }
                    }
                }
            }
            held.hand_over(&stamping, progress);

            // The answers go to a file of their own, written while the last files are stamped.
            let new_answers = fresh || !walked.is_empty();
            let stored = (new_answers && !options.dry_run).then(|| {
                threads.spawn(move || {
                    // Approximate answers (a shallow boundary) would not survive an unshallow.
                    let change_of = |at: usize, entry: &AnswerEntry| match walked.get(at) {
                        Some(change) => {
                            (!change.approximate).then_some((change.commit, change.time))
                        }
                        None => entry.change,
                    };
                    let stored = cache_ref.store_with(&setup.answers, change_of);
                    stored.err().map(|e| e.to_string())
                })
            });
            let (stamped, directories_stamped) = stamping.finish();
            trace.phase("stamping");
            let (verified, required_drivers, stamped_approximate) =
                take_stamped(&mut files, stamped);
            let index_update = if options.dry_run {
                IndexUpdate::DryRun
            } else {
                refresh_index(&index_path, repo.path(), &verified, &index_snapshot)
            };
            trace.phase("index refresh");
            let directories = (!options.no_directories).then(|| {
                let ignored = |paths: &[ExtraEntry]| {
                    ignored_by_git(git_dir, root, paths)
                        .unwrap_or_else(|| ignored_by_libgit2(git_dir, root, paths))
                };
                directory_reports(directories_stamped, &ignored)
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
                approximate: approximate + stamped_approximate,
                dry_run: options.dry_run,
                no_commit_yet: false,
                answers_not_saved,
            })
        })
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
    /// They come from git's rules applied to the work tree's `.gitattributes`
    /// ([`AttributeRules`]), or from `git check-attr` where those cannot answer. When nothing
    /// is stored at all (`every_file`), every regular file in scope is answered for: that is a
    /// first sync, which after a fresh clone reads every file (asked after classifying, `git
    /// check-attr` alone once took 0.11 s of a 1.0 s sync of dagger/dagger's 15,600 files).
    /// Otherwise (new commits since the last sync) the rules are read and kept for the few
    /// files to read, or, where they cannot answer, `git check-attr` is only started, so that
    /// its start, 4 ms or so, is not added to a sync of 40 ms.
    /// The places of the `.gitattributes` files are taken out of `indexed`: nothing after
    /// needs them, and copying them took 2 ms on dagger/dagger.
    fn attributes_before_classifying(
        &self,
        indexed: &mut IndexedFiles,
        every_file: bool,
    ) -> EarlyAttributes {
        let (git_dir, root) = (self.repo.path(), self.root.as_path());
        if !filters_possible(&self.repo, &indexed.entries) {
            return EarlyAttributes::default();
        }
        let files = std::mem::take(&mut indexed.gitattributes);
        let rules = AttributeRules::for_work_tree(&self.repo, root, files);
        if !every_file {
            // git is started only where the work tree's rules cannot answer.
            let started = match rules {
                Some(_) => None,
                None => GitAttributes::start(git_dir, root),
            };
            return EarlyAttributes {
                answered: None,
                rules,
                started,
            };
        }
        let regular_files = indexed
            .entries
            .iter()
            .zip(&indexed.stats)
            .filter(|(entry, stat)| {
                entry.stage() == 0
                    && entry.mode.is_regular()
                    && match stat {
                        EntryStat::Found(Ok(stat)) => !stat.is_symlink(),
                        EntryStat::Deferred => true,
                        EntryStat::Found(Err(_)) | EntryStat::ConflictStage => false,
                    }
            })
            .map(|(entry, _)| entry.path.as_slice());
        let answered = rules
            .and_then(|mut rules| rules.answer(regular_files.clone()))
            .or_else(|| GitAttributes::ask(git_dir, root, regular_files));
        EarlyAttributes {
            answered,
            rules: None,
            started: None,
        }
    }
}

/// Puts what became of each stamped file into its report; returns the files verified (for
/// the index), the required filter drivers files were left alone for, and how many stamped
/// files got an approximate time.
fn take_stamped(
    files: &mut [FileReport],
    stamped: Vec<Stamped>,
) -> (Vec<VerifiedStat>, Vec<String>, usize) {
    let mut verified = Vec::new();
    let mut approximate = 0;
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
    (verified, required_drivers, approximate)
}

/// Files and directories answered and not yet handed to the stamping threads. They go in large
/// batches: answers that trickle in one by one are paths from all over the tree, and stamped
/// one by one each took its own chain of directory opens (three times as many opens as files
/// on the synthetic 50,000-commit repository). A batch waits for more only so long.
#[derive(Default)]
struct Held<'a> {
    files: Vec<StampJob>,
    directories: Vec<DirectoryJob<'a>>,
    /// When the oldest of them was answered.
    since: Option<std::time::Instant>,
}

impl<'a> Held<'a> {
    /// Handed over once there are this many, or the first has waited this long.
    const AT_LEAST: usize = 1024;
    const AFTER: std::time::Duration = std::time::Duration::from_millis(50);

    /// Notes when answers were added, if any were.
    fn note_added(&mut self) {
        if !self.files.is_empty() || !self.directories.is_empty() {
            self.since.get_or_insert_with(std::time::Instant::now);
        }
    }

    fn due(&self) -> bool {
        self.files.len() + self.directories.len() >= Self::AT_LEAST
            || self
                .since
                .is_some_and(|since| since.elapsed() >= Self::AFTER)
    }

    /// Hands everything held to the stamping threads, in the order of paths.
    fn hand_over(&mut self, stamping: &Stamping<'_, 'a>, progress: Option<&Progress>) {
        self.files.sort_unstable_by_key(|job| job.slot);
        stamping.send_files(std::mem::take(&mut self.files), progress);
        stamping.send_directories(std::mem::take(&mut self.directories));
        self.since = None;
    }
}

/// What waits for the history walk's answer of an entry of HEAD's answers. Mostly files: a
/// box for each would only add an allocation per file.
#[allow(clippy::large_enum_variant)]
enum Wait<'a> {
    File(StampJob),
    Directory(PendingDirectory<'a>),
}

/// The files and directories that wait for the history walk's answers, by the place of their
/// entry in HEAD's answers (each entry is one path's).
struct Waiting<'a> {
    by_entry: Vec<u32>,
    waiting: Vec<Option<(usize, Wait<'a>)>>,
}

impl<'a> Waiting<'a> {
    const NONE: u32 = u32::MAX;

    fn new(entries: usize) -> Waiting<'a> {
        Waiting {
            by_entry: vec![Self::NONE; entries],
            waiting: Vec::new(),
        }
    }

    fn add(&mut self, at: usize, wait: Wait<'a>) {
        self.by_entry[at] = self.waiting.len() as u32;
        self.waiting.push(Some((at, wait)));
    }

    /// What waits for the answer of entry `at`, if anything (once).
    fn take(&mut self, at: usize) -> Option<Wait<'a>> {
        let place = *self.by_entry.get(at)?;
        let (_, wait) = self.waiting.get_mut(place as usize)?.take()?;
        Some(wait)
    }

    /// What still waits, with the places of the entries.
    fn rest(self) -> impl Iterator<Item = (usize, Wait<'a>)> {
        self.waiting.into_iter().flatten()
    }
}

/// Which of `paths` libgit2 counts as ignored: without a git to ask, its rules (close to
/// git's) decide which directories are untracked.
fn ignored_by_libgit2(git_dir: &Path, root: &Path, paths: &[ExtraEntry]) -> Vec<bool> {
    let repo = open_again(git_dir, root).ok();
    let ignored = |extra: &ExtraEntry| {
        let mut path = extra.path.clone();
        if extra.is_directory {
            path.push(b'/');
        }
        let path = Path::new(std::ffi::OsStr::from_bytes(&path));
        repo.as_ref()
            .is_some_and(|repo| repo.is_path_ignored(path).unwrap_or(false))
    };
    paths.iter().map(ignored).collect()
}
