//! Directory times: each clean tracked directory gets the time of the last commit that changed
//! its list of entries.
//!
//! Go's test cache keys a directory a test read by its own stat data (size, mode, mtime) and
//! that of every entry in it; BuildKit's upload of host directories compares directories'
//! stat data too. A checkout gives every directory the current time, so without this step a
//! fresh clone misses every cached test that globs or lists `testdata/`.
//!
//! A directory's mtime on disk changes when an entry is added, removed or renamed in it, not
//! when a file in it is written or chmod'ed. Its "content" for history is therefore its list
//! of names and kinds (file, symlink, directory, submodule), and its time the last commit that
//! changed that list, found in the same walk as the files' times (see [`crate::history`]).
//! The nanoseconds hold a fingerprint of the list, so two different lists of one directory
//! never share an mtime.
//!
//! Only a clean directory is stamped: one that holds exactly its tree's entries, of the same
//! kinds, reached from the work-tree root without following a symlink, and not holding
//! another repository. Anything else (an untracked or ignored file, a deleted one, a file
//! turned into a directory) would mean that the commit time stands for a list the directory
//! does not have. Each stamped directory is listed again after its stamp: one whose entries
//! changed meanwhile gets the current time, as a file that changed under the sync does.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustc_hash::FxHashMap;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::answers::AnswerEntry;
use crate::fingerprint::list_fingerprint_nanos;
use crate::fs::{FileStat, TimesOf, set_mtime, set_mtime_now};
use crate::history::LastChange;
use crate::objects::EntryKind;
use crate::path_map::PathMap;
use crate::report::{Failure, FileReport, OsError, Outcome, SkipReason, Timestamp};
use crate::scope::Scope;
use crate::time_limits::TimeLimits;

/// A directory's entries: names and kinds.
type List<'a> = Vec<(&'a [u8], EntryKind)>;

/// A tracked directory in scope, with the list its tree holds, waiting for its last change.
pub(crate) struct PendingDirectory<'a> {
    /// The place of its entry in HEAD's answers.
    pub at: usize,
    path: &'a [u8],
    /// The tree's entries, sorted bytewise by name.
    entries: List<'a>,
    /// The list's fingerprint, or 0 for whole seconds.
    nanos: u32,
}

impl<'a> PendingDirectory<'a> {
    /// The directory to stamp, now that its last change is known.
    pub fn answered(self, change: LastChange, limits: &TimeLimits) -> DirectoryJob<'a> {
        let requested = Timestamp {
            seconds: change.time,
            nanos: self.nanos,
        };
        DirectoryJob {
            path: self.path,
            entries: self.entries,
            requested,
            target: limits.storable(requested),
        }
    }
}

/// A tracked directory in scope, with the list its tree holds and the time it should get.
pub(crate) struct DirectoryJob<'a> {
    /// Relative to the work-tree root; the root itself is empty.
    pub path: &'a [u8],
    /// The tree's entries, sorted bytewise by name.
    entries: List<'a>,
    /// The commit time with the list's fingerprint, and what the file system stores for it.
    requested: Timestamp,
    pub target: Timestamp,
}

/// The tracked directories (the root included) that `scope` covers, in the order of
/// `entries` (HEAD's answers), each with its list and, unless `whole_seconds`, the list's
/// fingerprint as nanoseconds.
pub(crate) fn pending_directories<'a>(
    entries: &'a [(Vec<u8>, AnswerEntry)],
    scope: &Scope,
    whole_seconds: bool,
) -> Vec<PendingDirectory<'a>> {
    let mut lists: FxHashMap<&[u8], List<'a>> = FxHashMap::default();
    for (path, entry) in entries {
        if path.is_empty() {
            continue;
        }
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(slash) => (&path[..slash], &path[slash + 1..]),
            None => (&path[..0], path.as_slice()),
        };
        if !scope.contains_directory(parent) {
            continue;
        }
        lists
            .entry(parent)
            .or_default()
            .push((name, entry.mode.kind()));
    }
    let mut pending = Vec::new();
    for (at, (path, entry)) in entries.iter().enumerate() {
        if !entry.mode.is_tree() || !scope.contains_directory(path) {
            continue;
        }
        let mut list = lists.remove(path.as_slice()).unwrap_or_default();
        list.sort_unstable();
        let nanos = if whole_seconds {
            0
        } else {
            list_fingerprint_nanos(list.iter().copied())
        };
        pending.push(PendingDirectory {
            at,
            path,
            entries: list,
            nanos,
        });
    }
    pending
}

/// What became of a directory.
pub(crate) struct DirectoryStamped<'a> {
    pub report: FileReport,
    /// The entries its tree lacks, when those alone kept it from being stamped (reported as
    /// untracked until git says whether it ignores them).
    extras: Option<Vec<ExtraEntry>>,
    /// When it was stamped: the same directory with its time from before as its target, to
    /// give it back if the sync fails.
    pub undo: Option<DirectoryJob<'a>>,
}

/// Stamps directories on one thread. Stamping one directory changes no other directory's list
/// or time, so any order will do; directories that come in the order of paths share their
/// parents' handles. `known_mtimes` holds directories' mtimes as the stat calls before found
/// them, opened the same way: a directory whose mtime is already its target is not opened
/// again.
pub(crate) struct DirectoryStamper<'r> {
    opener: Result<DirectoryOpener<'r>, Failure>,
    /// Where directories are listed, one for every listing of this thread.
    listing: ListingBuffer,
    known_mtimes: &'r PathMap<Timestamp>,
    checkout: Checkout,
    limits: &'r TimeLimits,
    dry_run: bool,
}

impl<'r> DirectoryStamper<'r> {
    /// A stamper below `root`, opened as a directory by [`open_root`].
    pub fn new(
        root: &'r Result<OwnedFd, Failure>,
        known_mtimes: &'r PathMap<Timestamp>,
        checkout: Checkout,
        limits: &'r TimeLimits,
        dry_run: bool,
    ) -> DirectoryStamper<'r> {
        DirectoryStamper {
            opener: match root {
                Ok(fd) => Ok(DirectoryOpener::new(fd.as_fd())),
                Err(failure) => Err(failure.clone()),
            },
            listing: ListingBuffer::default(),
            known_mtimes,
            checkout,
            limits,
            dry_run,
        }
    }

    pub fn stamp<'a>(&mut self, job: DirectoryJob<'a>) -> DirectoryStamped<'a> {
        let mut stamped_from = None;
        let (outcome, extras) = match &mut self.opener {
            Ok(opener) => stamp_job(
                opener,
                &mut self.listing,
                &job,
                self.known_mtimes,
                self.checkout,
                self.dry_run,
                &mut stamped_from,
            ),
            Err(failure) => (Outcome::Failed(failure.clone()), None),
        };
        if let Outcome::Updated { .. } = outcome {
            self.limits.note_stamped(job.requested);
        }
        let report = FileReport {
            path: job.path.to_vec(),
            outcome,
        };
        let undo = stamped_from.map(|before| DirectoryJob {
            requested: before,
            target: before,
            ..job
        });
        DirectoryStamped {
            report,
            extras,
            undo,
        }
    }
}

/// The work tree's root, opened for [`DirectoryStamper::new`].
pub(crate) fn open_root(root: &Path) -> Result<OwnedFd, Failure> {
    rustix::fs::open(root, directory_flags(), Mode::empty()).map_err(|e| Failure::WorkTree {
        root: root.to_path_buf(),
        error: OsError::of(&e.into()),
    })
}

/// The reports of the stamped directories, in the order of paths, as files are. `ignored`
/// tells which of the entries that the trees lack git ignores; it is asked once, for all of
/// them: a directory whose extra entries are all ignored is reported as such.
pub(crate) fn directory_reports(
    stamped: Vec<DirectoryStamped<'_>>,
    ignored: &dyn Fn(&[ExtraEntry]) -> Vec<bool>,
) -> Vec<FileReport> {
    // Directories holding entries the tree lacks, by their place in the reports, with those
    // entries: untracked or ignored is decided for all of them at once below.
    let mut with_extras: Vec<(usize, Vec<ExtraEntry>)> = Vec::new();
    let mut reports: Vec<FileReport> = Vec::with_capacity(stamped.len());
    for (at, DirectoryStamped { report, extras, .. }) in stamped.into_iter().enumerate() {
        if let Some(extras) = extras {
            with_extras.push((at, extras));
        }
        reports.push(report);
    }
    if !with_extras.is_empty() {
        let extras: Vec<ExtraEntry> = with_extras
            .iter()
            .flat_map(|(_, extras)| extras.iter().cloned())
            .collect();
        let mut ignored = ignored(&extras).into_iter();
        for (at, extras) in &with_extras {
            let all_ignored = extras
                .iter()
                .fold(true, |all, _| ignored.next().unwrap_or(false) && all);
            if all_ignored {
                reports[*at].outcome = Outcome::Skipped(SkipReason::Ignored);
            }
        }
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    reports
}

/// What became of one directory, with the entries the tree lacks when those alone keep it
/// from being stamped (reported as untracked until git says whether it ignores them).
/// `stamped_from` gets the directory's mtime from before, when its time was set.
fn stamp_job(
    opener: &mut DirectoryOpener<'_>,
    listing: &mut ListingBuffer,
    job: &DirectoryJob<'_>,
    known_mtimes: &PathMap<Timestamp>,
    checkout: Checkout,
    dry_run: bool,
    stamped_from: &mut Option<Timestamp>,
) -> (Outcome, Option<Vec<ExtraEntry>>) {
    // An entry added or removed since the directory was given this time would have changed
    // its mtime: the time itself proves the list, and the directory need not be read.
    if known_mtimes.get(job.path) == Some(&job.target) {
        return (Outcome::AlreadyCorrect { time: job.target }, None);
    }
    match opener.open(job.path) {
        Ok(fd) => match stamp_directory(fd, listing, job, checkout, dry_run, stamped_from) {
            Ok(outcome) => (outcome, None),
            Err(extras) => (Outcome::Skipped(SkipReason::Untracked), Some(extras)),
        },
        Err(Refusal::Skip(reason)) => (Outcome::Skipped(reason), None),
        Err(Refusal::Failed(e)) => (Outcome::Failed(Failure::Os(OsError::of(&e))), None),
    }
}

/// An entry of a directory on disk that the directory's tree lacks.
#[derive(Debug, Clone)]
pub(crate) struct ExtraEntry {
    /// Relative to the work-tree root.
    pub path: Vec<u8>,
    pub is_directory: bool,
}

/// Which of `paths` git ignores, as `git check-ignore` says; None when git cannot be run. git
/// itself is asked because libgit2 gets some rules wrong, a `!name` in a nested `.gitignore`
/// among them.
pub(crate) fn ignored_by_git(
    git_dir: &Path,
    root: &Path,
    paths: &[ExtraEntry],
) -> Option<Vec<bool>> {
    let mut input = Vec::new();
    for ExtraEntry { path, is_directory } in paths {
        input.extend_from_slice(path);
        if *is_directory {
            // A pattern such as `target/` matches only directories.
            input.push(b'/');
        }
        input.push(0);
    }
    let args = ["check-ignore", "-z", "--stdin"];
    let output = crate::git_cli::git_with_input(git_dir, root, &args, input)?;
    // 0: some paths are ignored, 1: none is; anything else is an error.
    if !matches!(output.status.code(), Some(0 | 1)) {
        return None;
    }
    let listed: std::collections::HashSet<&[u8]> = output
        .stdout
        .split(|&b| b == 0)
        .map(|path| path.strip_suffix(b"/").unwrap_or(path))
        .collect();
    Some(
        paths
            .iter()
            .map(|extra| listed.contains(extra.path.as_slice()))
            .collect(),
    )
}

/// What became of the open directory `fd`, or, when it holds entries its tree lacks (and is
/// otherwise clean), those entries. One handle serves every call: the listing after the stamp
/// rewinds it instead of opening the directory again.
fn stamp_directory(
    fd: OwnedFd,
    listing: &mut ListingBuffer,
    job: &DirectoryJob<'_>,
    checkout: Checkout,
    dry_run: bool,
    stamped_from: &mut Option<Timestamp>,
) -> Result<Outcome, Vec<ExtraEntry>> {
    let failed = |e: io::Error| Outcome::Failed(Failure::Os(OsError::of(&e)));
    let before = match FileStat::of_fd(fd.as_fd()) {
        Ok(stat) => stat,
        Err(e) => return Ok(failed(e)),
    };
    if before.mtime == job.target {
        return Ok(Outcome::AlreadyCorrect { time: job.target });
    }
    let names = TrackedNames::of(&job.entries);
    match compare_list(fd.as_fd(), listing, job, &names, checkout) {
        Ok(ListState::Clean) => {}
        Ok(ListState::Unclean(reason)) => return Ok(Outcome::Skipped(reason)),
        Ok(ListState::Extra(extras)) => return Err(extras),
        Err(e) => {
            return Ok(Outcome::Failed(Failure::ListDirectory(OsError::of(&e))));
        }
    }
    if dry_run {
        return Ok(Outcome::Updated { time: job.target });
    }
    let fd = fd.as_fd();
    if let Err(e) = set_mtime(TimesOf::Open(fd), job.target, before.atime) {
        return Ok(Outcome::Failed(crate::stamp::cannot_set_time(&e, &before)));
    }
    *stamped_from = Some(before.mtime);
    // Read the directory back: an entry added or removed between the listing above and the
    // stamp must not leave the commit time on a list the commit does not have.
    let stamped = FileStat::of_fd(fd);
    let listed_again = rustix::fs::seek(fd, rustix::fs::SeekFrom::Start(0))
        .map_err(io::Error::from)
        .and_then(|_| compare_list(fd, listing, job, &names, checkout));
    let after = FileStat::of_fd(fd);
    Ok(match (stamped, listed_again, after) {
        (Ok(stamped), Ok(ListState::Clean), Ok(after)) if stamped.mtime == after.mtime => {
            Outcome::Updated { time: job.target }
        }
        _ => {
            let _ = set_mtime_now(TimesOf::Open(fd));
            Outcome::ChangedDuringSync
        }
    })
}

/// The buffer directories are listed into: big enough for most directories in one call, and
/// for git/git's `t/` (1,199 entries) in two. A listing that grew its buffer from 768 bytes,
/// as `rustix::fs::Dir`'s does, took seven calls for `t/`, and a new buffer for every
/// directory.
struct ListingBuffer(Vec<u8>);

impl Default for ListingBuffer {
    fn default() -> Self {
        ListingBuffer(Vec::with_capacity(32 * 1024))
    }
}

impl ListingBuffer {
    fn space(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        self.0.spare_capacity_mut()
    }
}

/// How a directory on disk compares with its tree.
enum ListState {
    Clean,
    Unclean(SkipReason),
    /// Otherwise clean, but holding these entries the tree lacks.
    Extra(Vec<ExtraEntry>),
}

/// A tree's entries by name, for looking up the names a listing gives: most directories
/// hold a few entries, which are bisected; a large one's are hashed, once for both of its
/// listings (git/git's `t/` holds 1,300, and bisecting them for each name listed took 1 ms of
/// a sync after ten commits).
enum TrackedNames<'j> {
    Sorted(&'j [(&'j [u8], EntryKind)]),
    Hashed(FxHashMap<&'j [u8], EntryKind>),
}

impl<'j> TrackedNames<'j> {
    /// Bisecting beats hashing up to about this many entries.
    const HASHED_FROM: usize = 64;

    fn of(entries: &'j [(&'j [u8], EntryKind)]) -> TrackedNames<'j> {
        if entries.len() < Self::HASHED_FROM {
            return TrackedNames::Sorted(entries);
        }
        TrackedNames::Hashed(entries.iter().copied().collect())
    }

    fn kind(&self, name: &[u8]) -> Option<EntryKind> {
        match self {
            TrackedNames::Sorted(entries) => entries
                .binary_search_by(|(tracked, _)| (*tracked).cmp(name))
                .ok()
                .map(|at| entries[at].1),
            TrackedNames::Hashed(kinds) => kinds.get(name).copied(),
        }
    }
}

/// Whether the directory `fd` (read from its current position, its start) holds exactly the
/// job's entries (`names`), of the same kinds. At the root, `.git` is set aside.
fn compare_list(
    fd: BorrowedFd<'_>,
    listing: &mut ListingBuffer,
    job: &DirectoryJob<'_>,
    names: &TrackedNames<'_>,
    checkout: Checkout,
) -> io::Result<ListState> {
    // Each name on disk is looked up among the tree's entries: no name is copied and nothing
    // sorted, for what is mostly a directory that matches. Names are unique on both sides, so
    // the entries found are all there when they are as many as the tree's.
    let mut found = 0;
    let mut type_changed = false;
    let mut extras = Vec::new();
    let mut dir = rustix::fs::RawDir::new(fd, listing.space());
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if name == b".git" {
            if job.path.is_empty() {
                continue;
            }
            // Another repository's work tree: its files are not this one's to judge.
            return Ok(ListState::Unclean(SkipReason::Submodule));
        }
        let file_type = match entry.file_type() {
            FileType::Unknown => {
                let stat =
                    rustix::fs::statat(fd, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(stat.st_mode)
            }
            known => known,
        };
        let kind = match file_type {
            FileType::RegularFile => Some(EntryKind::File),
            FileType::Symlink => Some(EntryKind::Symlink),
            FileType::Directory => Some(EntryKind::Directory),
            // A fifo, a socket, a device: nothing git tracks.
            _ => None,
        };
        match names.kind(name) {
            Some(tracked) => {
                // A submodule is a directory on disk, checked out or not; a symlink is a plain
                // file where the checkout writes symlinks as files.
                let expected = match tracked {
                    EntryKind::Submodule => EntryKind::Directory,
                    kind => kind,
                };
                let as_checked_out = kind == Some(expected)
                    || (expected == EntryKind::Symlink
                        && !checkout.symlinks
                        && kind == Some(EntryKind::File));
                // Reported once the whole list is read: a `.git` listed later says more.
                type_changed |= !as_checked_out;
                found += 1;
            }
            None => {
                let mut path = job.path.to_vec();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(name);
                extras.push(ExtraEntry {
                    path,
                    is_directory: kind == Some(EntryKind::Directory),
                });
            }
        }
    }
    if type_changed {
        return Ok(ListState::Unclean(SkipReason::TypeChanged));
    }
    let missing = found < job.entries.len();
    // In the order of names, whatever order the directory lists them in.
    extras.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(if missing {
        ListState::Unclean(SkipReason::Missing)
    } else if !extras.is_empty() {
        ListState::Extra(extras)
    } else {
        ListState::Clean
    })
}

/// How git checks files out here, as far as a directory's entries are concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checkout {
    /// `core.symlinks`: false where symlinks are checked out as plain files.
    pub symlinks: bool,
}

/// Why a directory could not be opened.
enum Refusal {
    Skip(SkipReason),
    Failed(io::Error),
}

/// Opens tracked directories for reading without following a symlink at any level, keeping
/// the chain of the last one's parents open: directories come sorted by path, so children
/// share their parents' handles.
struct DirectoryOpener<'r> {
    root: BorrowedFd<'r>,
    open: Vec<(Vec<u8>, OwnedFd)>,
}

impl<'r> DirectoryOpener<'r> {
    fn new(root: BorrowedFd<'r>) -> Self {
        DirectoryOpener {
            root,
            open: Vec::new(),
        }
    }

    /// A handle on `path` (the root when empty). A leading directory that is a symlink makes
    /// the path [`SkipReason::BeyondSymlink`]; the directory itself being a symlink or a file,
    /// [`SkipReason::TypeChanged`]; a missing one, [`SkipReason::Deleted`].
    fn open(&mut self, path: &[u8]) -> Result<OwnedFd, Refusal> {
        if path.is_empty() {
            return crate::fs::open_to_read(self.root, OsStr::new("."), directory_flags())
                .map_err(Refusal::Failed);
        }
        if let Some(fd) = open_beneath(self.root, path) {
            return Ok(fd);
        }
        let components: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        let parents = &components[..components.len() - 1];
        // Keep the open directories that lead to this one.
        let mut kept = 0;
        while kept < self.open.len()
            && kept < parents.len()
            && self.open[kept].0 == parents[..=kept].join(&b'/')
        {
            kept += 1;
        }
        self.open.truncate(kept);
        for (at, component) in components.iter().enumerate().skip(kept) {
            let last = at + 1 == components.len();
            let parent = self.open.last().map_or(self.root, |(_, fd)| fd.as_fd());
            let name = OsStr::from_bytes(component);
            // The directory itself is listed; the ones on the way are only passed through.
            let opened = if last {
                crate::fs::open_to_read(parent, name, directory_flags())
            } else {
                rustix::fs::openat(parent, name, directory_flags(), Mode::empty())
                    .map_err(Into::into)
            };
            let fd = match opened {
                Ok(fd) => fd,
                Err(e) => {
                    let reason = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) if FileType::from_raw_mode(st.st_mode).is_symlink() && !last => {
                            SkipReason::BeyondSymlink
                        }
                        Ok(st) if FileType::from_raw_mode(st.st_mode).is_dir() => {
                            return Err(Refusal::Failed(e));
                        }
                        Ok(_) if last => SkipReason::TypeChanged,
                        _ => SkipReason::Deleted,
                    };
                    return Err(Refusal::Skip(reason));
                }
            };
            if last {
                return Ok(fd);
            }
            self.open.push((components[..=at].join(&b'/'), fd));
        }
        unreachable!("a non-empty path has a last component")
    }
}

fn directory_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// `path` below `root` opened to be listed in one call, with no symlink followed at any level
/// (`openat2` with `RESOLVE_NO_SYMLINKS`, Linux 5.6); None when that fails for any reason,
/// the path's or the kernel's, and [`DirectoryOpener::open`] goes one component at a time,
/// which also tells why. Opening the parents of dagger/dagger's 7,781 directories one at a
/// time took 5,730 more opens and closes.
fn open_beneath(root: BorrowedFd<'_>, path: &[u8]) -> Option<OwnedFd> {
    use rustix::fs::ResolveFlags;
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::BENEATH;
    let path = OsStr::from_bytes(path);
    let flags = directory_flags();
    match rustix::fs::openat2(root, path, flags | OFlags::NOATIME, Mode::empty(), resolve) {
        Err(rustix::io::Errno::PERM) => {
            rustix::fs::openat2(root, path, flags, Mode::empty(), resolve).ok()
        }
        opened => opened.ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory is reached without following a symlink at any level: in one call when
    /// the kernel can, one component at a time otherwise, which also tells why not.
    #[test]
    fn directories_are_opened_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        std::fs::create_dir_all(top.join("real/inner")).unwrap();
        std::os::unix::fs::symlink("real", top.join("link")).unwrap();
        std::os::unix::fs::symlink("real/inner", top.join("inner-link")).unwrap();
        std::fs::write(top.join("file"), "").unwrap();
        let root = open_root(top).unwrap();
        let mut opener = DirectoryOpener::new(root.as_fd());
        let skipped = |opener: &mut DirectoryOpener<'_>, path: &[u8]| match opener.open(path) {
            Err(Refusal::Skip(reason)) => Some(reason),
            _ => None,
        };

        assert!(open_beneath(root.as_fd(), b"real/inner").is_some());
        assert!(opener.open(b"real/inner").is_ok());
        // Through a symlinked parent, or a symlink itself: never opened.
        assert!(open_beneath(root.as_fd(), b"link/inner").is_none());
        assert!(open_beneath(root.as_fd(), b"inner-link").is_none());
        assert_eq!(
            skipped(&mut opener, b"link/inner"),
            Some(SkipReason::BeyondSymlink)
        );
        assert_eq!(
            skipped(&mut opener, b"inner-link"),
            Some(SkipReason::TypeChanged)
        );
        assert_eq!(skipped(&mut opener, b"file"), Some(SkipReason::TypeChanged));
        assert_eq!(
            skipped(&mut opener, b"gone/inner"),
            Some(SkipReason::Deleted)
        );
        // Nor out of the top.
        assert!(open_beneath(root.as_fd(), b"../x").is_none());
    }
}
