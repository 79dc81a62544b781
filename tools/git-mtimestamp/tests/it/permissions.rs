//! Files, directories and file systems the sync may not write: each is reported and skipped,
//! the rest is synced, and nothing is lost.
//!
//! Root may set any file's time, so where permissions are the point the tool runs as
//! `nobody` (the tests run as root on CI and on the development machines); run as another
//! user, these tests run the tool as that user, or say why they cannot.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::repo::{EPOCH, Repo};
use crate::support::run::Tool;

const NOBODY: (u32, u32) = (65534, 65534);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A clone with files in nested directories, all at their checkout time.
fn clone() -> Repo {
    let origin = Repo::new();
    origin.at(EPOCH);
    for i in 0..8 {
        origin.write(format!("f{i}"), format!("file {i}"));
    }
    origin
        .write("ro/inside", "in a read-only directory")
        .write("ro/deeper/file", "deeper")
        .commit("base");
    origin.at(EPOCH + 100).commit_file("f1", "changed");
    origin.clone_to("clone", &[])
}

fn chown(path: &Path, (uid, gid): (u32, u32), recursive: bool) {
    let mut command = Command::new("chown");
    if recursive {
        command.arg("-R");
    }
    let status = command
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "chown {}", path.display());
}

/// The tool as the owner of `repo`'s files: `nobody` when the tests run as root, who would
/// be allowed everything.
fn as_owner(repo: &Repo) -> Tool {
    if is_root() {
        chown(repo.sandbox(), NOBODY, true);
        repo.tool().user(NOBODY.0, NOBODY.1)
    } else {
        repo.tool()
    }
}

fn mode(repo: &Repo, path: &str) -> u32 {
    std::fs::symlink_metadata(repo.path(path))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn read_only_files_and_directories_are_synced_and_keep_their_modes() {
    let repo = clone();
    repo.chmod("f0", 0o444).chmod("ro/deeper/file", 0o400);
    std::fs::set_permissions(repo.path("ro/deeper"), PermissionsExt::from_mode(0o555)).unwrap();
    std::fs::set_permissions(repo.path("ro"), PermissionsExt::from_mode(0o555)).unwrap();
    let tool = as_owner(&repo);
    tool.arg("-q").run().success();
    repo.assert_synced();
    assert_eq!(mode(&repo, "f0"), 0o444);
    assert_eq!(mode(&repo, "ro/deeper/file"), 0o400);
    assert_eq!(mode(&repo, "ro"), 0o555);
    assert_eq!(mode(&repo, "ro/deeper"), 0o555);
    assert_eq!(repo.git(["status", "--porcelain"]), "");
}

#[test]
fn files_of_another_user_are_reported_once_and_the_rest_is_synced() {
    if !is_root() {
        eprintln!("skipped: giving files to another user needs root");
        return;
    }
    let repo = clone();
    let tool = as_owner(&repo);
    // The user running the sync owns the repository but not these.
    let foreign = ["f2", "f3", "f4", "f5", "ro/inside"];
    for path in foreign {
        chown(&repo.path(path), (0, 0), false);
    }
    let before: Vec<(i64, u32)> = foreign.iter().map(|p| repo.mtime(p)).collect();
    let status_before = repo.git(["status", "--porcelain"]);
    let run = tool.run();
    run.code(1)
        .stdout_has("failed 5")
        .stderr_has("cannot set the time of 5 files (f2, f3, f4, ...)")
        .stderr_has("the file belongs to user 0, and only its owner or root may set its time");
    assert_eq!(run.stderr().matches("cannot set the time").count(), 1);
    let after: Vec<(i64, u32)> = foreign.iter().map(|p| repo.mtime(p)).collect();
    assert_eq!(after, before, "foreign files keep their times");
    let mut wrong = repo.wrong_mtimes(false);
    wrong.retain(|line| !foreign.iter().any(|p| line.starts_with(&format!("{p:?}:"))));
    assert!(wrong.is_empty(), "{wrong:?}");
    assert_eq!(repo.git(["status", "--porcelain"]), status_before);
}

#[test]
fn a_read_only_git_directory_still_gives_files_their_times() {
    if !is_root() {
        eprintln!(
            "skipped: a read-only git directory binds root only when it runs as another user"
        );
        return;
    }
    let repo = clone();
    let tool = as_owner(&repo);
    let git_dir = repo.path(".git");
    let chmod = |mode: &str| {
        let status = Command::new("chmod")
            .args(["-R", mode])
            .arg(&git_dir)
            .status()
            .unwrap();
        assert!(status.success());
    };
    chmod("a-w");
    let index_before = std::fs::read(git_dir.join("index")).unwrap();
    let run = tool.run();
    chmod("u+w");
    run.success()
        .stderr_has("the index was left alone")
        .stderr_has("index.lock: Permission denied")
        .stderr_has("could not be saved for the next one");
    repo.assert_synced();
    assert_eq!(std::fs::read(git_dir.join("index")).unwrap(), index_before);
    assert!(!git_dir.join("mtimestamp").exists());
    // git re-reads the stamped files once and agrees they are clean.
    assert_eq!(repo.git(["status", "--porcelain"]), "");
}

/// The work tree mounted read-only in a mount namespace of its own (`unshare -m`, root only).
#[test]
fn a_read_only_file_system_changes_nothing_and_says_so_once() {
    if !is_root() {
        eprintln!("skipped: mounting a read-only file system needs root");
        return;
    }
    let repo = clone();
    let root = repo.root().to_str().unwrap().to_owned();
    let paths = repo.tracked_files();
    let before: Vec<(i64, u32)> = paths.iter().map(|p| repo.mtime(p)).collect();
    let index_before = std::fs::read(repo.path(".git/index")).unwrap();
    let script = format!(
        "mount --bind '{root}' '{root}' && mount -o remount,bind,ro '{root}' && exec \"$@\""
    );
    let run = repo
        .tool()
        .via("unshare", &["-m", "sh", "-c", &script, "sh"])
        .run();
    let directories = repo.git(["ls-tree", "-r", "-d", "--name-only", "HEAD"]);
    // The root counts too.
    let directories = directories.lines().count() + 1;
    run.code(1)
        .stderr_has(&format!(
            "cannot set the time of {} files and {directories} directories (",
            paths.len()
        ))
        .stderr_has("Read-only file system (os error 30): the file system is mounted read-only")
        .stderr_has("could not be saved for the next one");
    assert_eq!(run.stderr().matches("cannot set the time").count(), 1);
    let after: Vec<(i64, u32)> = paths.iter().map(|p| repo.mtime(p)).collect();
    assert_eq!(after, before);
    assert_eq!(
        std::fs::read(repo.path(".git/index")).unwrap(),
        index_before
    );
}

/// An index the sync may not read, or a split index's shared index, is no damage: the message
/// says what keeps it from being read, and never offers the rebuild that drops what is staged.
#[test]
fn an_index_that_cannot_be_read_is_refused_without_advice_that_drops_staged_work() {
    let repo = clone();
    repo.write("f2", "staged").git(["add", "f2"]);
    repo.git(["update-index", "--split-index"]);
    let shared = repo.shared_index();
    let paths = repo.tracked_files();
    let before: Vec<_> = paths.iter().map(|p| repo.mtime(p)).collect();
    for file in [repo.path(".git/index"), shared] {
        let tool = as_owner(&repo);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
        let run = tool.run();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        run.code(2)
            .stderr_has("cannot read the index")
            .stderr_has(&file.file_name().unwrap().to_string_lossy())
            .stderr_has("Permission denied")
            .stderr_has("nothing says the index is damaged");
        assert!(!run.stderr().contains("git reset"), "{}", run.stderr());
        let after: Vec<_> = paths.iter().map(|p| repo.mtime(p)).collect();
        assert_eq!(after, before, "{}", file.display());
    }
    as_owner(&repo).run().success();
    assert_eq!(repo.git(["status", "--porcelain"]), "M  f2\n");
}

/// A file its owner may not read cannot be compared with its commit: it keeps its time and is
/// reported, whether its stat data proved it clean (f6) or its content had to be read (f7).
/// Stamping it first and failing to read it back would have given it the current time and
/// reported it as changed during the sync, which it was not.
#[test]
fn files_that_cannot_be_read_keep_their_times_and_are_reported() {
    let repo = clone();
    let tool = as_owner(&repo);
    repo.chmod("f6", 0o000);
    // The index's stat data for f6 must prove it clean: refreshed by root (who may read it)
    // once its mtime lies in an earlier second than the index's.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    repo.git(["update-index", "--really-refresh"]);
    repo.chmod("f7", 0o000);
    let before = [repo.mtime("f6"), repo.mtime("f7")];
    let run = tool.run();
    run.code(1)
        .stdout_has("failed 2")
        .stderr_has("cannot set the time of f6, f7: ")
        .stderr_has("Permission denied (os error 13): the file cannot be read");
    assert!(!run.stdout().contains("changed"), "{}", run.stdout());
    assert_eq!([repo.mtime("f6"), repo.mtime("f7")], before);
    let mut wrong = repo.wrong_mtimes(false);
    wrong.retain(|line| !line.starts_with("\"f6\":") && !line.starts_with("\"f7\":"));
    assert!(wrong.is_empty(), "{wrong:?}");
}
