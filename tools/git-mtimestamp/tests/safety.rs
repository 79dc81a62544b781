//! Files whose content might differ from HEAD are never touched: their mtime, their content
//! and what the index holds for them stay exactly as they were. Each test builds one such
//! state next to a clean witness file, which must be stamped, so a sync that did nothing at
//! all cannot pass.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use support::{EPOCH, Repo, Run, mtime_of};

/// A repository with everything committed at [`EPOCH`]: `clean.txt` (the witness), `a.txt`
/// and `d/b.txt`. Their mtimes are the time they were written, not the commit time.
fn repo() -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("clean.txt", "clean\n")
        .write("a.txt", "aaaa\n")
        .write("d/b.txt", "bbbb\n")
        .commit("base");
    repo
}

/// What the verbose output must say about each untouched path.
#[derive(Clone, Copy)]
enum Says {
    Skipped(&'static str),
    SkippedForSomeReason,
    /// Not a tracked path: not mentioned at all.
    Nothing,
    /// Checked by the test itself.
    Whatever,
}

/// Syncs and asserts that `paths` (files, symlinks, directories or nothing) and the index
/// are exactly as before, that the output says `says` about each, and that the witness
/// `clean.txt` got its commit time.
fn assert_untouched(repo: &Repo, paths: &[&str], says: Says) -> Run {
    let before = repo.snapshot(paths);
    let run = repo.sync(["-v"]);
    assert_eq!(before, repo.snapshot(paths), "{}", run.stdout());
    let stdout = run.stdout();
    for path in paths {
        let mut lines = stdout.lines();
        let ok = match says {
            Says::Skipped(reason) => lines.any(|l| l == format!("skipped {reason} {path}")),
            Says::SkippedForSomeReason => {
                lines.any(|l| l.starts_with("skipped ") && l.ends_with(&format!(" {path}")))
            }
            Says::Nothing => !stdout.contains(path),
            Says::Whatever => true,
        };
        assert!(ok, "{path}: expected {:?}, got:\n{stdout}", says_text(says));
    }
    assert_eq!(repo.mtime("clean.txt"), repo.expected_mtime("clean.txt"));
    run
}

fn says_text(says: Says) -> String {
    match says {
        Says::Skipped(reason) => format!("skipped {reason}"),
        Says::SkippedForSomeReason => "skipped".to_owned(),
        Says::Nothing => "no mention".to_owned(),
        Says::Whatever => String::new(),
    }
}

#[test]
fn modified() {
    let repo = repo();
    repo.write("a.txt", "longer content\n");
    assert_untouched(&repo, &["a.txt"], Says::Skipped("modified"));
}

#[test]
fn modified_with_the_same_size_and_the_old_mtime_put_back() {
    let repo = repo();
    let mtime = repo.mtime("a.txt");
    repo.write("a.txt", "AAAA\n");
    repo.set_mtime("a.txt", mtime);
    assert_untouched(&repo, &["a.txt"], Says::Skipped("modified"));
}

#[test]
fn staged() {
    let repo = repo();
    repo.write("a.txt", "staged\n").git(["add", "a.txt"]);
    assert_untouched(&repo, &["a.txt"], Says::Skipped("staged"));
}

#[test]
fn staged_with_the_work_tree_back_at_head() {
    let repo = repo();
    repo.write("a.txt", "staged\n").git(["add", "a.txt"]);
    repo.write("a.txt", "aaaa\n");
    assert_untouched(&repo, &["a.txt"], Says::SkippedForSomeReason);
}

#[test]
fn untracked_and_ignored() {
    let repo = repo();
    repo.write(".gitignore", "*.log\n").commit("ignore logs");
    repo.write("new.txt", "untracked\n")
        .write("build.log", "ignored\n");
    assert_untouched(&repo, &["new.txt", "build.log"], Says::Nothing);
}

#[test]
fn deleted_stays_deleted() {
    let repo = repo();
    repo.remove("a.txt");
    assert_untouched(&repo, &["a.txt"], Says::Skipped("deleted"));
    assert!(!repo.path("a.txt").exists());
}

#[test]
fn renamed() {
    let repo = repo();
    repo.git(["mv", "a.txt", "renamed.txt"]);
    assert_untouched(&repo, &["a.txt", "renamed.txt"], Says::Whatever);
}

#[test]
fn intent_to_add() {
    let repo = repo();
    repo.write("later.txt", "later\n")
        .git(["add", "-N", "later.txt"]);
    assert_untouched(&repo, &["later.txt"], Says::Skipped("intent-to-add"));
}

#[test]
fn conflicted_during_a_merge() {
    let repo = repo();
    repo.branch("feature").commit_file("a.txt", "main\n");
    repo.checkout("feature").write("a.txt", "feature\n");
    repo.write("d/b.txt", "merged cleanly\n").commit("feature");
    repo.checkout("main");
    assert!(!repo.merge(["feature"]));
    assert_untouched(&repo, &["a.txt"], Says::Skipped("conflicted"));
    assert_untouched(&repo, &["d/b.txt"], Says::Skipped("staged"));
}

#[test]
fn type_changed_to_a_symlink() {
    let repo = repo();
    repo.symlink("a.txt", "clean.txt");
    assert_untouched(&repo, &["a.txt"], Says::Skipped("type-changed"));
}

#[test]
fn mode_changed() {
    let repo = repo();
    repo.chmod("a.txt", 0o755);
    assert_untouched(&repo, &["a.txt"], Says::Skipped("mode-changed"));
}

#[test]
fn skip_worktree_with_edited_content() {
    let repo = repo();
    repo.git(["update-index", "--skip-worktree", "a.txt"]);
    repo.write("a.txt", "AAAA\n");
    assert_untouched(&repo, &["a.txt"], Says::Skipped("skip-worktree"));
}

#[test]
fn outside_a_sparse_checkout() {
    let repo = repo();
    repo.write("out/x.txt", "x\n").commit("more");
    repo.git(["sparse-checkout", "set", "d"]);
    assert!(!repo.path("out/x.txt").exists());
    assert_untouched(&repo, &["out/x.txt"], Says::Skipped("skip-worktree"));
    assert!(!repo.path("out/x.txt").exists());
    assert_eq!(repo.mtime("d/b.txt"), repo.expected_mtime("d/b.txt"));
}

#[test]
fn assume_unchanged_with_edited_content() {
    let repo = repo();
    let mtime = repo.mtime("a.txt");
    repo.git(["update-index", "--assume-unchanged", "a.txt"]);
    repo.write("a.txt", "AAAA\n");
    repo.set_mtime("a.txt", mtime);
    assert_untouched(&repo, &["a.txt"], Says::SkippedForSomeReason);
}

#[test]
fn assume_unchanged_with_content_equal_to_head_is_stamped() {
    let repo = repo();
    repo.git(["update-index", "--assume-unchanged", "a.txt"]);
    repo.sync(["-q"]);
    assert_eq!(repo.mtime("a.txt"), repo.expected_mtime("a.txt"));
}

/// `repo` with `library` added and committed as the submodule `sub`; the submodule's
/// checkout.
fn add_submodule(repo: &Repo, library: &Repo) -> Repo {
    repo.git([
        OsStr::new("submodule"),
        "add".as_ref(),
        "-q".as_ref(),
        library.root().as_os_str(),
        "sub".as_ref(),
    ]);
    repo.commit("add a submodule");
    repo.other("repo/sub")
}

#[test]
fn submodule_files() {
    let repo = repo();
    let library = repo.init_sibling("library");
    library.commit_file("lib.txt", "lib\n");
    let submodule = add_submodule(&repo, &library);
    let index = submodule.snapshot(["lib.txt"]);
    assert_untouched(&repo, &["sub/lib.txt", "sub"], Says::Whatever)
        .stdout_has("skipped submodule sub\n");
    assert_eq!(index, submodule.snapshot(["lib.txt"]));
}

/// Inside a submodule, whose `.git` is a file pointing into the superproject's git
/// directory, the sync covers the submodule's own files and history and nothing above it.
#[test]
fn inside_a_submodule_only_its_own_files_are_synced() {
    let repo = repo();
    let library = repo.init_sibling("library");
    library.at(EPOCH + 500).commit_file("lib.txt", "lib\n");
    library
        .at(EPOCH + 600)
        .commit_file("src/more.txt", "more\n");
    let submodule = add_submodule(&repo, &library);
    assert!(submodule.path(".git").is_file());
    let above = repo.snapshot(["clean.txt", "a.txt", "d/b.txt", ".gitmodules"]);

    submodule.tool().arg("-q").run().success();
    submodule.assert_synced();
    assert_eq!(submodule.mtime("lib.txt").0, EPOCH + 500);
    assert_eq!(
        above,
        repo.snapshot(["clean.txt", "a.txt", "d/b.txt", ".gitmodules"])
    );
}

#[test]
fn below_a_directory_replaced_by_a_symlink() {
    let repo = repo();
    let outside = repo.sandbox().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("b.txt"), "bbbb\n").unwrap();
    let outside_mtime = mtime_of(&outside.join("b.txt"));
    std::fs::rename(repo.path("d"), repo.sandbox().join("d.away")).unwrap();
    repo.symlink("d", outside.as_os_str().as_bytes());
    assert_untouched(&repo, &["d/b.txt"], Says::Skipped("beyond-symlink"));
    assert_eq!(mtime_of(&outside.join("b.txt")), outside_mtime);
}

/// Deeper down, and pointing inside the work tree: still a path git does not track.
#[test]
fn below_a_nested_directory_replaced_by_a_symlink() {
    let repo = repo();
    repo.write("d/e/f.txt", "ffff\n")
        .write("d/e.real/f.txt", "not f\n")
        .commit("nested");
    repo.sync(["-q"]);
    std::fs::remove_dir_all(repo.path("d/e")).unwrap();
    repo.symlink("d/e", "e.real");
    assert_untouched(&repo, &["d/e/f.txt"], Says::Skipped("beyond-symlink"));
    assert_eq!(repo.mtime("d/b.txt"), repo.expected_mtime("d/b.txt"));
}

#[test]
fn below_a_directory_replaced_by_a_file() {
    let repo = repo();
    std::fs::remove_dir_all(repo.path("d")).unwrap();
    repo.write("d", "not a directory\n");
    assert_untouched(&repo, &["d/b.txt", "d"], Says::Whatever);
    let stdout = repo.sync(["-v"]).stdout();
    assert!(stdout.contains("skipped type-changed d/b.txt"), "{stdout}");
}

#[test]
fn below_a_deleted_directory() {
    let repo = repo();
    std::fs::remove_dir_all(repo.path("d")).unwrap();
    assert_untouched(&repo, &["d/b.txt"], Says::Skipped("deleted"));
}

#[test]
fn the_target_of_a_tracked_symlink_outside_the_work_tree() {
    let repo = repo();
    let outside = repo.sandbox().join("outside.txt");
    std::fs::write(&outside, "outside\n").unwrap();
    let outside_mtime = mtime_of(&outside);
    repo.symlink("link", outside.as_os_str().as_bytes())
        .commit("link out");
    repo.sync(["-q"]);
    assert_eq!(repo.mtime("link"), repo.expected_mtime("link"));
    assert_eq!(mtime_of(&outside), outside_mtime);
}

#[test]
fn a_pathspec_outside_the_work_tree() {
    let repo = repo();
    let outside = repo.sandbox().join("outside.txt");
    std::fs::write(&outside, "outside\n").unwrap();
    let outside_mtime = mtime_of(&outside);
    let before = repo.snapshot(["a.txt"]);
    repo.tool().args(["--", "../outside.txt"]).run();
    assert_eq!(mtime_of(&outside), outside_mtime);
    assert_eq!(before, repo.snapshot(["a.txt"]));
}

/// A file whose attributes make git convert it on checkout (here LF in the blob, CRLF on disk)
/// is compared with its blob through the same conversion, so it is clean and stamped.
#[test]
fn a_converted_file_is_compared_through_its_filters() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write(".gitattributes", "*.txt text eol=crlf\n")
        .write("notes.txt", "one\ntwo\n")
        .commit("base");
    let clone = origin.clone_to("clone", &[]);
    assert_eq!(clone.read("notes.txt"), b"one\r\ntwo\r\n");
    clone.sync(["-q"]).success();
    assert_eq!(clone.mtime("notes.txt"), clone.expected_mtime("notes.txt"));
}

/// A file under a configured filter driver (Git LFS and the like) cannot be compared with
/// its blob without running the driver, so it is left alone and said to be.
#[test]
fn a_file_with_a_filter_driver_is_left_alone() {
    let repo = repo();
    repo.git(["config", "filter.lfs.clean", "cat"]);
    repo.git(["config", "filter.lfs.smudge", "cat"]);
    repo.at(EPOCH + 10)
        .write(".gitattributes", "*.bin filter=lfs\n")
        .write("big.bin", "pointer\n")
        .commit("lfs");
    let run = assert_untouched(&repo, &["big.bin"], Says::Skipped("filter-driver"));
    assert!(!run.stderr().contains("required"), "{}", run.stderr());
}

/// A driver that git must run (`filter.<name>.required`) is named in a warning: the files
/// keep their checkout times for a reason the user may want to know.
#[test]
fn a_required_filter_driver_is_named() {
    let repo = repo();
    repo.git(["config", "filter.crypt.clean", "cat"]);
    repo.git(["config", "filter.crypt.smudge", "cat"]);
    repo.git(["config", "filter.crypt.required", "true"]);
    repo.at(EPOCH + 10)
        .write(".gitattributes", "*.secret filter=crypt\n")
        .write("a.secret", "sealed\n")
        .commit("crypt");
    let run = assert_untouched(&repo, &["a.secret"], Says::Skipped("filter-driver"));
    run.stderr_has("files with the required filter driver `crypt` were left alone");
}
