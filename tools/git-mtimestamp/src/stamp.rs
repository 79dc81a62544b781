//! Stamping: each candidate file gets its target time, and is read back afterwards, so that
//! an edit made while the sync ran never keeps an old time. The files are reached without
//! following a symlink (see [`crate::fs`]) and compared with their blobs as `git status`
//! compares them (see [`crate::fs::content`]).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::Options;
use crate::attributes::EarlyAttributes;
use crate::classify::{Candidate, StampJob, target_time};
use crate::fs::content::{ContentHasher, open_file};
use crate::fs::{FileStat, SafePaths, TimesOf, set_mtime, set_mtime_now};
use crate::index_file::IndexRecord;
use crate::index_refresh::VerifiedStat;
use crate::open::open_again;
use crate::progress::Progress;
use crate::report::{Failure, OsError, Outcome, SkipReason, Timestamp};
use crate::time_limits::TimeLimits;
use crate::workers::on_worker_threads;

/// Stamps the candidates on as many threads as there are cores (reading every stamped file
/// back is most of the work), each with its own repository handle for content filters.
pub(crate) fn stamp_all(
    git_dir: &Path,
    root: &Path,
    candidates: Vec<StampJob>,
    options: &Options,
    limits: &TimeLimits,
    filters_possible: bool,
    early_attributes: EarlyAttributes,
) -> Vec<Stamped> {
    if candidates.is_empty() {
        return Vec::new();
    }
    Progress::add(
        options.progress.as_deref().map(|p| &p.files_to_stamp),
        candidates.len(),
    );
    // git's attributes for the files whose content is read, in one `git check-attr`: libgit2
    // expands attribute macros differently (see attributes.rs). Some may have been asked,
    // or git started, while HEAD's answers were found.
    let asked = filters_possible
        .then(|| {
            let files = candidates
                .iter()
                .filter(|job| !job.candidate.stat.is_symlink());
            let paths = files.map(|job| job.entry.path.as_slice());
            early_attributes.complete(git_dir, root, paths)
        })
        .flatten();
    on_worker_threads(candidates, 256, |part| {
        let own_repo = if filters_possible {
            open_again(git_dir, root).ok()
        } else {
            None
        };
        let hasher = match &own_repo {
            Some(repo) => ContentHasher::with_filters(repo).answered_by(asked.as_ref()),
            None => ContentHasher::without_filters(),
        };
        let mut paths = match SafePaths::open(root) {
            Ok(paths) => paths,
            Err(e) => {
                let failure = Failure::WorkTree {
                    root: root.to_path_buf(),
                    error: OsError::of(&e),
                };
                return part
                    .into_iter()
                    .map(|job| {
                        let failed = Outcome::Failed(failure.clone());
                        Stamped::without_stamp(job.slot, failed)
                    })
                    .collect();
            }
        };
        part.into_iter()
            .map(|job| {
                Progress::add(options.progress.as_deref().map(|p| &p.files_stamped), 1);
                let change = job.change.expect("answered before stamping");
                // Looked up only now, for a file whose time is wrong or whose content is
                // read, and answered by git: a warm sync with git-lfs configured looked up
                // every file's attributes through libgit2 while classifying.
                if let Some(driver) = hasher.filter_driver(&job.entry.path) {
                    let mut stamped = Stamped::without_stamp(
                        job.slot,
                        Outcome::Skipped(SkipReason::FilterDriver),
                    );
                    stamped.required_driver = driver.required.then_some(driver.name);
                    return stamped;
                }
                let requested = target_time(change, job.entry.id, options.whole_seconds);
                let target = limits.storable(requested);
                let mut verified = None;
                let outcome = stamp_file(
                    &job.entry,
                    &mut paths,
                    job.candidate,
                    target,
                    options.dry_run,
                    &hasher,
                    &mut verified,
                );
                if matches!(outcome, Outcome::Updated { .. }) {
                    limits.note_stamped(requested);
                }
                Stamped {
                    slot: job.slot,
                    outcome,
                    approximate_change: change.approximate,
                    verified,
                    required_driver: None,
                }
            })
            .collect()
    })
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
}

impl Stamped {
    fn without_stamp(slot: usize, outcome: Outcome) -> Stamped {
        Stamped {
            slot,
            outcome,
            approximate_change: false,
            verified: None,
            required_driver: None,
        }
    }
}

fn stamp_file(
    entry: &IndexRecord,
    paths: &mut SafePaths,
    candidate: Candidate,
    target: Timestamp,
    dry_run: bool,
    hasher: &ContentHasher<'_>,
    verified: &mut Option<VerifiedStat>,
) -> Outcome {
    // A leading directory that is now a symlink (or a file, or gone) leads outside git's
    // view: nothing below it is touched.
    let place = match paths.locate(&entry.path) {
        Ok(place) => place,
        Err(reason) => return Outcome::Skipped(reason),
    };
    let file = FileToStamp {
        entry,
        place,
        hasher,
        verified,
    };
    // What classification found on disk: a symlink, or a file (which, for a symlink entry,
    // stands for it under core.symlinks=false). A change of type since is caught below.
    if candidate.stat.is_symlink() {
        file.stamp_symlink(candidate, target, dry_run)
    } else {
        file.stamp_regular(candidate, target, dry_run)
    }
}

/// One file being stamped, and where its verified stat data goes (for the index).
struct FileToStamp<'a, 'h> {
    entry: &'a IndexRecord,
    place: (BorrowedFd<'a>, &'a [u8]),
    hasher: &'a ContentHasher<'h>,
    verified: &'a mut Option<VerifiedStat>,
}

impl FileToStamp<'_, '_> {
    /// A file is opened once, and checked, stamped and read back through that handle: eight
    /// system calls where reaching it by name for each step took thirteen, on every file of a
    /// cold sync.
    fn stamp_regular(self, candidate: Candidate, target: Timestamp, dry_run: bool) -> Outcome {
        if !candidate.needs_content_check && candidate.stat.mtime == target {
            return Outcome::AlreadyCorrect { time: target };
        }
        let (dir, name) = self.place;
        let opened = open_file(dir, name).and_then(|file| {
            let stat = FileStat::of_fd(file.as_fd())?;
            Ok((file, stat))
        });
        let (file, before) = match opened {
            Ok((file, stat)) if stat.is_file() => (file, stat),
            // Now a directory or a FIFO: another kind of entry than classification found.
            Ok(_) => return Outcome::Skipped(SkipReason::Modified),
            Err(e) => return open_failure(&e),
        };
        let blob = self.entry.id;
        if candidate.needs_content_check {
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
        // Read the file back: an edit that landed between the checks above and the stamp must
        // not keep the old time, or a cache keyed by size and mtime would miss it. The stat
        // data before the read comes from the handle, the one after from the name, so that a
        // file renamed over this one meanwhile counts as a change too.
        // The stored mtime may differ from the target on file systems with coarse timestamps;
        // what matters is that the content read back under stable stat data is the blob.
        let read_back = FileStat::of_fd(file.as_fd()).ok().filter(|stamped| {
            matches!(
                self.hasher
                    .matches(&file, &self.entry.path, stamped.size, blob),
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
    fn stamp_symlink(self, candidate: Candidate, target: Timestamp, dry_run: bool) -> Outcome {
        let mut stat = candidate.stat;
        if candidate.needs_content_check {
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
