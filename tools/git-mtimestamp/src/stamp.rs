//! Stamping: each candidate file gets its target time, and is read back afterwards, so that
//! an edit made while the sync ran never keeps an old time. The files are reached without
//! following a symlink (see [`crate::fs`]) and compared with their blobs as `git status`
//! compares them (see [`crate::fs::content`]).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::Options;
use crate::answers::Answers;
use crate::attributes::{EarlyAttributes, GitAttributes};
use crate::classify::{Candidate, StampJob, StatRules, classify_on_disk, target_time};
use crate::convert::ConvertConfig;
use crate::directories::{Checkout, DirectoryJob, DirectoryStamped, DirectoryStamper, open_root};
use crate::fs::content::{ContentHasher, LazyRepository, open_file};
use crate::fs::{FileStat, SafePaths, TimesOf, set_mtime, set_mtime_now};
use crate::index_file::IndexRecord;
use crate::index_refresh::VerifiedStat;
use crate::path_map::PathMap;
use crate::progress::Progress;
use crate::report::{Failure, OsError, Outcome, SkipReason, Timestamp};
use crate::time_limits::TimeLimits;
use crate::workers::worker_threads;

/// What every stamping thread shares: where the files are, how they are stamped, git's
/// attributes for the files whose content is read, and what directories are stamped against.
pub(crate) struct StampSetup<'a> {
    pub git_dir: &'a Path,
    pub root: &'a Path,
    pub options: &'a Options,
    pub limits: &'a TimeLimits,
    /// How git converts content, read once from the configuration; None when no attribute or
    /// setting can make a conversion apply.
    pub conversions: Option<ConvertConfig>,
    /// git's attributes for the files whose content may be read: from git's rules applied in
    /// process, or one `git check-attr` where they cannot answer (libgit2 expands attribute
    /// macros differently, see attributes.rs); None when no attribute can change a file's
    /// content, or git could not be asked.
    pub asked: Option<GitAttributes>,
    /// HEAD's answers, whose trees' lists the directories are compared with.
    pub answers: Arc<Answers>,
    /// The mtimes of the directories as the stat calls found them.
    pub directory_mtimes: PathMap<Timestamp>,
    pub checkout: Checkout,
    /// How stat data is compared with the index, for the files a first sync classifies only
    /// once they are open (see [`Candidate::stat`]).
    pub rules: StatRules,
}

impl StampSetup<'_> {
    /// git's attributes for stamping `candidates`, asked now (some may have been asked, or
    /// git started, while HEAD's answers were found); None when no attribute can change a
    /// file's content.
    pub fn attributes(
        git_dir: &Path,
        root: &Path,
        filters_possible: bool,
        early_attributes: EarlyAttributes,
        candidates: &[StampJob],
    ) -> Option<GitAttributes> {
        filters_possible
            .then(|| {
                let files = candidates
                    .iter()
                    .filter(|job| job.candidate.stat.is_none_or(|stat| !stat.is_symlink()));
                let paths = files.map(|job| job.entry.path.as_slice());
                early_attributes.complete(git_dir, root, paths)
            })
            .flatten()
    }
}

/// Work for the stamping threads: files, or directories, whose answers are known.
pub(crate) enum Work<'a> {
    Files(Vec<StampJob>),
    Directories(Vec<DirectoryJob<'a>>),
}

/// Stamping threads, one per core (reading every stamped file back is most of the work), fed
/// files and directories as their answers come: during a cold sync's history walk, most are
/// answered long before the walk ends. Nothing done to a file changes its directory's list or
/// stat data, so the two are stamped side by side. Each thread has its own repository handle
/// for content filters and its own chains of open directories, which work in the order of
/// paths reuses.
pub(crate) struct Stamping<'scope, 'env> {
    work: std::sync::mpsc::Sender<Work<'env>>,
    threads: Vec<std::thread::ScopedJoinHandle<'scope, Finished<'env>>>,
    /// Files and directories handed over and not done yet.
    in_hand: Arc<AtomicUsize>,
    /// Set when what was handed over and not begun yet is no longer to be stamped.
    abandoned: Arc<AtomicBool>,
}

/// What the stamping threads did: the files, then the directories.
type Finished<'a> = (Vec<Stamped>, Vec<DirectoryStamped<'a>>);

impl<'scope, 'env> Stamping<'scope, 'env> {
    pub fn start(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        setup: &'env StampSetup<'env>,
    ) -> Stamping<'scope, 'env> {
        let (work, receiver) = std::sync::mpsc::channel::<Work<'env>>();
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        let in_hand = Arc::new(AtomicUsize::new(0));
        let abandoned = Arc::new(AtomicBool::new(false));
        let threads = (0..worker_threads())
            .map(|_| {
                let receiver = Arc::clone(&receiver);
                let in_hand = Arc::clone(&in_hand);
                let abandoned = Arc::clone(&abandoned);
                scope.spawn(move || {
                    // Set up on the first work of each kind: a warm sync hands over none, and a
                    // repository opened for nothing cost it a millisecond.
                    let own_repo = LazyRepository::new(setup.git_dir, setup.root);
                    let root = std::cell::OnceCell::new();
                    let mut files = None;
                    let mut directories = None;
                    let (mut files_done, mut directories_done) = (Vec::new(), Vec::new());
                    loop {
                        let work = receiver
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .recv();
                        match work {
                            Ok(_) if abandoned.load(Ordering::Relaxed) => {}
                            Ok(Work::Files(jobs)) => {
                                let (hasher, paths) =
                                    files.get_or_insert_with(|| file_stamper(setup, &own_repo));
                                for job in jobs {
                                    files_done.push(stamp_job(setup, hasher, paths, job));
                                    in_hand.fetch_sub(1, Ordering::Relaxed);
                                }
                            }
                            Ok(Work::Directories(jobs)) => {
                                let stamper = directories.get_or_insert_with(|| {
                                    DirectoryStamper::new(
                                        root.get_or_init(|| open_root(setup.root)),
                                        &setup.directory_mtimes,
                                        setup.checkout,
                                        setup.limits,
                                        setup.options.dry_run,
                                    )
                                });
                                for job in jobs {
                                    directories_done.push(stamper.stamp(job));
                                    in_hand.fetch_sub(1, Ordering::Relaxed);
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    (files_done, directories_done)
                })
            })
            .collect();
        Stamping {
            work,
            threads,
            in_hand,
            abandoned,
        }
    }

    /// True when every file and directory handed over is done.
    pub fn idle(&self) -> bool {
        self.in_hand.load(Ordering::Relaxed) == 0
    }

    /// Hands `jobs`, whose answers are known, to the threads: in parts, so that every thread
    /// gets some of a large batch, each part in the order given.
    pub fn send_files(&self, jobs: Vec<StampJob>, progress: Option<&Progress>) {
        Progress::add(progress.map(|p| &p.files_to_stamp), jobs.len());
        for part in self.parts(jobs) {
            // The threads end only once `finish` drops the sender.
            let _ = self.work.send(Work::Files(part));
        }
    }

    /// Hands `jobs`, whose answers are known, to the threads (see [`Stamping::send_files`]).
    pub fn send_directories(&self, jobs: Vec<DirectoryJob<'env>>) {
        for part in self.parts(jobs) {
            let _ = self.work.send(Work::Directories(part));
        }
    }

    /// `jobs` in parts, each allocated to its own size: parts cut with `split_off` each kept
    /// the capacity of all the jobs after them, 200 MB for the 27,644 files of the synthetic
    /// repository handed over at once.
    fn parts<T>(&self, jobs: Vec<T>) -> Vec<Vec<T>> {
        self.in_hand.fetch_add(jobs.len(), Ordering::Relaxed);
        let part = jobs.len().div_ceil(self.threads.len()).clamp(1, MAX_BATCH);
        let mut jobs = jobs.into_iter();
        std::iter::from_fn(|| Some(jobs.by_ref().take(part).collect::<Vec<T>>()))
            .take_while(|part| !part.is_empty())
            .collect()
    }

    /// Lets the work handed over and not begun yet go (the walk failed or was stopped), waits
    /// for what the threads are doing, and returns what became of what they did.
    pub fn abandon(self) -> Finished<'env> {
        self.abandoned.store(true, Ordering::Relaxed);
        self.finish()
    }

    /// Waits for everything handed over, and returns what became of each file and each
    /// directory, in no set order.
    pub fn finish(self) -> Finished<'env> {
        drop(self.work);
        let (mut files, mut directories) = (Vec::new(), Vec::new());
        for thread in self.threads {
            let (files_done, directories_done) =
                thread.join().expect("stamping threads do not panic");
            files.extend(files_done);
            directories.extend(directories_done);
        }
        (files, directories)
    }
}

/// What a stamping thread needs for files: the content hasher (with the thread's own
/// repository handle, for content filters) and the way to the files.
fn file_stamper<'s>(
    setup: &'s StampSetup<'s>,
    own_repo: &'s LazyRepository<'s>,
) -> (ContentHasher<'s>, Result<SafePaths, Failure>) {
    let hasher = match &setup.conversions {
        Some(config) => {
            ContentHasher::with_filters(own_repo, config).answered_by(setup.asked.as_ref())
        }
        None => ContentHasher::without_filters(),
    };
    let paths = SafePaths::open(setup.root).map_err(|e| Failure::WorkTree {
        root: setup.root.to_path_buf(),
        error: OsError::of(&e),
    });
    (hasher, paths)
}

/// Large enough that a thread's chain of open directories serves many files in a row, small
/// enough that two threads share the files of one large batch.
const MAX_BATCH: usize = 512;

/// Stamps one file, whose answer is known, on a stamping thread.
fn stamp_job(
    setup: &StampSetup<'_>,
    hasher: &ContentHasher<'_>,
    paths: &mut Result<SafePaths, Failure>,
    job: StampJob,
) -> Stamped {
    let StampSetup {
        options,
        limits,
        rules,
        ..
    } = setup;
    Progress::add(options.progress.as_deref().map(|p| &p.files_stamped), 1);
    let paths = match paths {
        Ok(paths) => paths,
        Err(failure) => return Stamped::without_stamp(job.slot, Outcome::Failed(failure.clone())),
    };
    let change = job.change.expect("answered before stamping");
    // Looked up only now, for a file whose time is wrong or whose content is read, and
    // answered by git: a warm sync with git-lfs configured looked up every file's attributes
    // through libgit2 while classifying.
    if let Some(driver) = hasher.filter_driver(&job.entry.path) {
        let mut stamped =
            Stamped::without_stamp(job.slot, Outcome::Skipped(SkipReason::FilterDriver));
        stamped.required_driver = driver.required.then_some(driver.name);
        return stamped;
    }
    let requested = target_time(change, job.entry.id, options.whole_seconds);
    let target = limits.storable(requested);
    let mut verified = None;
    let mut stamped_from = None;
    let outcome = stamp_file(
        &job.entry,
        paths,
        job.candidate,
        rules,
        target,
        options.dry_run,
        hasher,
        (&mut verified, &mut stamped_from),
    );
    let mut undo = None;
    if matches!(outcome, Outcome::Updated { .. }) {
        limits.note_stamped(requested);
        if let (Some(verified), Some(before)) = (&verified, stamped_from) {
            undo = Some(Box::new(Undo {
                entry: job.entry,
                stamped: verified.stat,
                before,
            }));
        }
    }
    Stamped {
        slot: job.slot,
        outcome,
        approximate_change: change.approximate,
        verified,
        required_driver: None,
        undo,
    }
}

/// How to give a stamped file its time from before the sync back.
pub(crate) struct Undo {
    entry: IndexRecord,
    /// Its stat data once stamped.
    stamped: FileStat,
    /// Its mtime before the sync.
    before: Timestamp,
}

/// Gives the files and directories stamped by a sync that then failed their mtimes from
/// before it, so that a failed sync leaves them as they were. Each is set and read back as a
/// stamp is: one changed since it was stamped gets the current time instead.
pub(crate) fn undo_stamps(
    setup: &StampSetup<'_>,
    files: Vec<Undo>,
    directories: Vec<DirectoryJob<'_>>,
) {
    let own_repo = LazyRepository::new(setup.git_dir, setup.root);
    if let (hasher, Ok(mut paths)) = file_stamper(setup, &own_repo) {
        for undo in files {
            let candidate = Candidate {
                stat: Some(undo.stamped),
                // Read back after the time is set, as every stamp is.
                needs_content_check: false,
                known_change: None,
                answer_at: 0,
            };
            stamp_file(
                &undo.entry,
                &mut paths,
                candidate,
                &setup.rules,
                undo.before,
                false,
                &hasher,
                (&mut None, &mut None),
            );
        }
    }
    let root = open_root(setup.root);
    // No mtime is known to be right already: each directory's is the one it was stamped with.
    let none_known = PathMap::default();
    let mut stamper =
        DirectoryStamper::new(&root, &none_known, setup.checkout, setup.limits, false);
    for directory in directories {
        stamper.stamp(directory);
    }
}

/// What became of one file handed to the stamping threads.
pub(crate) struct Stamped {
    /// The file's place in the report.
    pub slot: usize,
    pub outcome: Outcome,
    /// Its answer is a shallow clone's boundary, not its real last change.
    pub approximate_change: bool,
    /// Its stat data, when its content was verified: for the index.
    pub verified: Option<VerifiedStat>,
    /// The required filter driver it was left alone for.
    pub required_driver: Option<Vec<u8>>,
    /// How to give it its time from before the sync back, when it was stamped.
    pub undo: Option<Box<Undo>>,
}

impl Stamped {
    fn without_stamp(slot: usize, outcome: Outcome) -> Stamped {
        Stamped {
            slot,
            outcome,
            approximate_change: false,
            verified: None,
            required_driver: None,
            undo: None,
        }
    }
}

/// Stamps `entry`'s file with `target`, or says why not. `out` gets its verified stat data
/// (for the index) and, when its time was set, its mtime from before.
#[allow(clippy::too_many_arguments)]
fn stamp_file(
    entry: &IndexRecord,
    paths: &mut SafePaths,
    candidate: Candidate,
    rules: &StatRules,
    target: Timestamp,
    dry_run: bool,
    hasher: &ContentHasher<'_>,
    out: (&mut Option<VerifiedStat>, &mut Option<Timestamp>),
) -> Outcome {
    // A leading directory that is now a symlink (or a file, or gone) leads outside git's
    // view: nothing below it is touched.
    let place = match paths.locate(&entry.path) {
        Ok(place) => place,
        Err(reason) => return Outcome::Skipped(reason),
    };
    let (verified, stamped_from) = out;
    let file = FileToStamp {
        entry,
        place,
        hasher,
        verified,
        stamped_from,
    };
    match candidate.stat {
        // What classification found on disk: a symlink, or a file (which, for a symlink
        // entry, stands for it under core.symlinks=false). A change of type since is caught
        // below.
        Some(stat) if stat.is_symlink() => {
            file.stamp_symlink(stat, candidate.needs_content_check, target, dry_run)
        }
        Some(stat) => file.stamp_regular(
            Some((stat, candidate.needs_content_check)),
            target,
            dry_run,
            rules,
        ),
        // Not classified yet (a first sync): a symlink is looked at by name, as classification
        // would have; a file through the handle it is read by.
        None if entry.mode.is_symlink() && rules.symlinks => {
            file.stamp_by_name(rules, target, dry_run, None)
        }
        None => file.stamp_regular(None, target, dry_run, rules),
    }
}

/// One file being stamped, and where its verified stat data goes (for the index).
struct FileToStamp<'a, 'h> {
    entry: &'a IndexRecord,
    place: (BorrowedFd<'a>, &'a [u8]),
    hasher: &'a ContentHasher<'h>,
    verified: &'a mut Option<VerifiedStat>,
    /// The file's mtime before its stamp, once set.
    stamped_from: &'a mut Option<Timestamp>,
}

impl FileToStamp<'_, '_> {
    /// A file is opened once, and checked, stamped and read back through that handle: seven
    /// system calls (and classification's `lstat` before, but on a first sync) where reaching
    /// it by name for each step took thirteen, on every file of a cold sync. `classified`: its stat data and whether its content must be read first, as
    /// classification found them; None when it was not stat'ed before (a first sync), so that
    /// it is classified now, on the stat data of the open handle, with `rules`: the stat call
    /// by path that classification makes was a tenth of a first sync's CPU time on
    /// dagger/dagger.
    fn stamp_regular(
        self,
        classified: Option<(FileStat, bool)>,
        target: Timestamp,
        dry_run: bool,
        rules: &StatRules,
    ) -> Outcome {
        if let Some((stat, false)) = classified
            && stat.mtime == target
        {
            return Outcome::AlreadyCorrect { time: target };
        }
        let (dir, name) = self.place;
        let opened = open_file(dir, name).and_then(|file| {
            let stat = FileStat::of_fd(file.as_fd())?;
            Ok((file, stat))
        });
        let (file, before, needs_content_check) = match (opened, classified) {
            (Ok((file, stat)), Some((_, needs_content_check))) if stat.is_file() => {
                (file, stat, needs_content_check)
            }
            // Now a directory or a FIFO: another kind of entry than classification found.
            (Ok(_), Some(_)) => return Outcome::Skipped(SkipReason::Modified),
            (Err(e), Some(_)) => return open_failure(&e),
            (Ok((file, stat)), None) => match classify_on_disk(self.entry, &stat, rules) {
                Ok(needs_content_check) => (file, stat, needs_content_check),
                Err(reason) => return Outcome::Skipped(reason),
            },
            // Not a file that can be opened: a symlink (which `O_NOFOLLOW` refuses), gone, or
            // unreadable; classified by name, as classification would have.
            (Err(e), None) => return self.stamp_by_name(rules, target, dry_run, Some(e)),
        };
        if classified.is_none() && !needs_content_check && before.mtime == target {
            return Outcome::AlreadyCorrect { time: target };
        }
        let blob = self.entry.id;
        if needs_content_check {
            if !matches!(
                self.hasher
                    .matches(&file, &self.entry.path, before.size, blob),
                Ok(true)
            ) {
                return Outcome::Skipped(SkipReason::Modified);
            }
            if before.mtime == target {
                // Clean and already right, but the index's stat data is stale. Nothing reads
                // this file back, so its stat data must hold across the read.
                let unchanged =
                    FileStat::of_fd(file.as_fd()).is_ok_and(|after| before.same_file_state(&after));
                if !unchanged {
                    return Outcome::Skipped(SkipReason::Modified);
                }
                if !dry_run {
                    *self.verified = Some(self.verified_stat(before));
                }
                return Outcome::AlreadyCorrect { time: target };
            }
        }
        if dry_run {
            return Outcome::Updated { time: target };
        }
        if let Err(e) = set_mtime(TimesOf::Open(file.as_fd()), target, before.atime) {
            return Outcome::Failed(cannot_set_time(&e, &before));
        }
        *self.stamped_from = Some(before.mtime);
        // Read the file back: an edit that landed between the checks above and the stamp must
        // not keep the old time, or a cache keyed by size and mtime would miss it. The stat
        // data before the read comes from the handle, the one after from the name, so that a
        // file renamed over this one meanwhile counts as a change too.
        // The stored mtime may differ from the target on file systems with coarse timestamps;
        // what matters is that the content read back under stable stat data is the blob.
        let read_back = FileStat::of_fd(file.as_fd()).ok().filter(|stamped| {
            matches!(
                self.hasher
                    .matches_again(&file, &self.entry.path, stamped.size, blob),
                Ok(true)
            ) && FileStat::at(dir, name).is_ok_and(|after| stamped.same_file_state(&after))
        });
        match read_back {
            Some(stamped) => {
                *self.verified = Some(self.verified_stat(stamped));
                Outcome::Updated { time: target }
            }
            None => {
                let _ = set_mtime_now(TimesOf::Open(file.as_fd()));
                Outcome::ChangedDuringSync
            }
        }
    }

    /// A symlink is never opened: its target is read by name, between two stat calls that must
    /// agree, before and after its stamp.
    fn stamp_symlink(
        self,
        mut stat: FileStat,
        needs_content_check: bool,
        target: Timestamp,
        dry_run: bool,
    ) -> Outcome {
        if needs_content_check {
            match self.compare_symlink() {
                Some(checked) => stat = checked,
                None => return Outcome::Skipped(SkipReason::Modified),
            }
            if stat.mtime == target && !dry_run {
                // Clean and already right, but the index's stat data is stale.
                *self.verified = Some(self.verified_stat(stat));
            }
        }
        if stat.mtime == target {
            return Outcome::AlreadyCorrect { time: target };
        }
        if dry_run {
            return Outcome::Updated { time: target };
        }
        let (dir, name) = self.place;
        if let Err(e) = set_mtime(TimesOf::Name(dir, name), target, stat.atime) {
            return Outcome::Failed(cannot_set_time(&e, &stat));
        }
        *self.stamped_from = Some(stat.mtime);
        match self.compare_symlink() {
            Some(after) => {
                *self.verified = Some(self.verified_stat(after));
                Outcome::Updated { time: target }
            }
            None => {
                let _ = set_mtime_now(TimesOf::Name(dir, name));
                Outcome::ChangedDuringSync
            }
        }
    }

    /// Classifies a file not stat'ed before by its stat data by name, as classification
    /// would have, and stamps it if it may be: a symlink, or what could not be opened
    /// (`open_error`).
    fn stamp_by_name(
        self,
        rules: &StatRules,
        target: Timestamp,
        dry_run: bool,
        open_error: Option<std::io::Error>,
    ) -> Outcome {
        let (dir, name) = self.place;
        let stat = match FileStat::at(dir, name) {
            Ok(stat) => stat,
            Err(e) => return open_failure(open_error.as_ref().unwrap_or(&e)),
        };
        match classify_on_disk(self.entry, &stat, rules) {
            Err(reason) => Outcome::Skipped(reason),
            Ok(needs_content_check) if stat.is_symlink() => {
                self.stamp_symlink(stat, needs_content_check, target, dry_run)
            }
            // A file that could not be opened (unreadable), or that was not one a moment ago.
            Ok(_) => match open_error {
                Some(e) => open_failure(&e),
                None => Outcome::Skipped(SkipReason::Modified),
            },
        }
    }

    /// The symlink's stat data, when its target is the blob and the stat data held while the
    /// target was read.
    fn compare_symlink(&self) -> Option<FileStat> {
        let (dir, name) = self.place;
        let before = FileStat::at(dir, name).ok()?;
        if !before.is_symlink() {
            return None;
        }
        let same = self.hasher.symlink_matches(dir, name, self.entry.id).ok()?;
        let after = FileStat::at(dir, name).ok()?;
        (same && before.same_file_state(&after)).then_some(before)
    }

    fn verified_stat(&self, stat: FileStat) -> VerifiedStat {
        VerifiedStat {
            path: self.entry.path.clone(),
            offset: self.entry.offset,
            blob: self.entry.id,
            stat,
        }
    }
}

/// What becomes of a file that could not be opened to be checked and stamped.
fn open_failure(error: &std::io::Error) -> Outcome {
    match error.raw_os_error() {
        // Now a symlink, which `O_NOFOLLOW` refuses to open: another kind of entry.
        Some(libc_errno::ELOOP) => Outcome::Skipped(SkipReason::Modified),
        Some(libc_errno::ENOENT) => Outcome::Skipped(SkipReason::Deleted),
        _ => Outcome::Failed(Failure::Unreadable(OsError::of(error))),
    }
}

/// Why a file's time could not be set, the usual causes told apart.
pub(crate) fn cannot_set_time(error: &std::io::Error, stat: &FileStat) -> Failure {
    match error.raw_os_error() {
        Some(libc_errno::EPERM) if stat.uid != rustix::process::geteuid().as_raw() => {
            Failure::NotOwner { owner: stat.uid }
        }
        Some(libc_errno::EROFS) => Failure::ReadOnly,
        _ => Failure::Os(OsError::of(error)),
    }
}

/// The errno values this module tells apart.
mod libc_errno {
    pub const EPERM: i32 = rustix::io::Errno::PERM.raw_os_error();
    pub const EROFS: i32 = rustix::io::Errno::ROFS.raw_os_error();
    pub const ELOOP: i32 = rustix::io::Errno::LOOP.raw_os_error();
    pub const ENOENT: i32 = rustix::io::Errno::NOENT.raw_os_error();
}
