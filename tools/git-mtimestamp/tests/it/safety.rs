//! Files whose content might differ from HEAD are never touched: their mtime, their content
//! and what the index holds for them stay exactly as they were. Each test builds one such
//! state next to a clean witness file, which must be stamped, so a sync that did nothing at
//! all cannot pass.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::support::mtime_of;
use crate::support::repo::{EPOCH, Repo};
use crate::support::run::Run;

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

/// A file read to be compared, and found modified, keeps its access time as well: checking
/// it is no use of it (`O_NOATIME`). Any other read changes that time here (relatime, the
/// access time not after the last write), which a twin file outside the work tree shows
/// first, so that the test cannot pass on a file system that keeps no access times.
#[test]
fn a_modified_file_read_to_be_compared_keeps_its_access_time() {
    let repo = repo();
    // Same size, other content: only reading it tells.
    repo.write("a.txt", "AAAA\n");
    let twin = repo.sandbox().join("twin.txt");
    std::fs::write(&twin, "AAAA\n").unwrap();
    let accessed = |path: &std::path::Path| std::fs::metadata(path).unwrap().accessed().unwrap();
    let (twin_before, before) = (accessed(&twin), accessed(&repo.path("a.txt")));
    // Past the file system's clock tick, so that a read would show.
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::read(&twin).unwrap();
    assert_ne!(
        accessed(&twin),
        twin_before,
        "this file system keeps no access times"
    );
    // Not `assert_untouched`, whose snapshot reads the file first.
    let run = repo.sync(["-v"]);
    assert!(
        run.stdout().contains("skipped modified a.txt"),
        "{}",
        run.stdout()
    );
    assert_eq!(accessed(&repo.path("a.txt")), before);
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

/// `text` in UTF-16, little-endian, after a byte-order mark when `bom`.
fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mark: &[u8] = if bom { b"\xFF\xFE" } else { b"" };
    let units = text.encode_utf16().flat_map(u16::to_le_bytes);
    mark.iter().copied().chain(units).collect()
}

/// Checks a fresh clone whose files `paths` git converts on checkout, and that
/// `git status` finds clean: a sync gives them their commit times, a second finds them
/// correct; so does a sync of files whose stat data proves them clean but whose times are
/// wrong (each is read back after its stamp); and an edit that keeps the size is left alone.
/// `edit` is one of `paths`, and `edited` its new content.
fn assert_converted_files_sync(clone: &Repo, paths: &[&str], edit: &str, edited: Vec<u8>) {
    assert_eq!(clone.git(["status", "--porcelain"]), "");
    for path in paths {
        let blob = clone.git_bytes(["cat-file", "blob", &format!("HEAD:{path}")]);
        assert_ne!(clone.read(path), blob, "{path} is converted on checkout");
    }
    clone.sync(["-q"]);
    clone.assert_synced();
    let stdout = clone.sync(["-v"]).stdout();
    for path in paths {
        let correct =
            |line: &str| line.starts_with("correct ") && line.ends_with(&format!(" {path}"));
        assert!(stdout.lines().any(correct), "{path}:\n{stdout}");
    }
    clone.assert_synced();

    // Times wrong, stat data recorded in the index: stamped without a first read, and read
    // back after the stamp.
    for path in paths {
        clone.set_mtime(path, (EPOCH - 1000, 0));
    }
    clone.git(["update-index", "-q", "--refresh"]);
    let stdout = clone.sync(["-v"]).stdout();
    for path in paths {
        let updated =
            |line: &str| line.starts_with("updated ") && line.ends_with(&format!(" {path}"));
        assert!(stdout.lines().any(updated), "{path}:\n{stdout}");
    }
    clone.assert_synced();

    let stamped = clone.mtime(edit);
    assert_eq!(
        edited.len(),
        clone.read(edit).len(),
        "the edit keeps the size"
    );
    clone.write(edit, edited);
    clone.set_mtime(edit, stamped);
    // What git stores for the new content is another blob. (`git status` may not look: with
    // whole-second times, the stat data of an edit made within the second of the last
    // refresh equal the index's.)
    let stored = clone.git(["hash-object", "--path", edit, edit]);
    assert_ne!(stored.trim(), clone.blob_id(edit));
    assert_untouched(clone, &[edit], Says::Skipped("modified"));
}

/// `working-tree-encoding`: git stores UTF-8 and checks files out in the named encoding, so
/// the bytes on disk are never the blob's. They are decoded as git decodes them, then their
/// line endings converted, before they are compared.
#[test]
fn files_under_a_working_tree_encoding_are_compared_through_it() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write(
            ".gitattributes",
            "*.u16 text working-tree-encoding=UTF-16\n\
             *.le text working-tree-encoding=UTF-16LE\n\
             *.crlf-u16 text working-tree-encoding=UTF-16 eol=crlf\n\
             *.crlf-le text working-tree-encoding=UTF-16LE eol=crlf\n",
        )
        .write("clean.txt", "clean\n")
        .write("bom.u16", utf16le("one\ntwo\n", true))
        .write("plain.le", utf16le("one\ntwo\n", false))
        .write("bom.crlf-u16", utf16le("one\r\ntwo\r\n", true))
        .write("plain.crlf-le", utf16le("one\r\ntwo\r\n", false))
        .commit("base");
    origin
        .at(EPOCH + 60)
        .commit_file("plain.le", utf16le("three\n", false));
    let clone = origin.clone_to("clone", &[]);
    assert_eq!(
        clone.read("plain.crlf-le"),
        utf16le("one\r\ntwo\r\n", false)
    );
    let paths = ["bom.u16", "plain.le", "bom.crlf-u16", "plain.crlf-le"];
    // "two" becomes "twO", whichever byte order the checkout wrote.
    let mut edited = clone.read("bom.crlf-u16");
    let last_o = edited.iter().rposition(|&b| b == b'o').unwrap();
    edited[last_o] = b'O';
    assert_converted_files_sync(&clone, &paths, "bom.crlf-u16", edited);
}

/// Attribute macros as git expands them: defined in `.gitattributes` and used in
/// `.git/info/attributes` (which libgit2 does not expand: it found such files modified), or
/// used above their definition.
#[test]
fn attribute_macros_are_expanded_as_git_expands_them() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write(
            ".gitattributes",
            "*.late late\n\
             [attr]late text eol=crlf\n\
             [attr]windows text eol=crlf\n\
             [attr]wide text working-tree-encoding=UTF-16LE eol=crlf\n",
        )
        .write("clean.txt", "clean\n")
        .write("a.late", "one\ntwo\n")
        .write("a.x", "one\ntwo\n")
        .write("a.w", "one\ntwo\n")
        .commit("base");
    let clone = origin.clone_to("clone", &[]);
    clone.write(".git/info/attributes", "*.x windows\n*.w wide\n");
    // Checked out again, now under the attributes of info/attributes.
    clone.remove("a.x").remove("a.w");
    clone.git(["checkout", "--", "a.x", "a.w"]);
    assert_eq!(clone.read("a.x"), b"one\r\ntwo\r\n");
    assert_eq!(clone.read("a.w"), utf16le("one\r\ntwo\r\n", false));
    let paths = ["a.late", "a.x", "a.w"];
    assert_converted_files_sync(&clone, &paths, "a.x", b"one\r\ntwO\r\n".to_vec());
}

/// The same macros after new commits arrive: the sync that follows stores no answers for the
/// new HEAD yet, starts `git check-attr` before it knows which files it reads, and asks it
/// about the files the commits rewrote. A file converted through a macro is stamped with
/// its new commit's time, not left as modified.
#[test]
fn attribute_macros_are_expanded_as_git_expands_them_after_new_commits() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write(".gitattributes", "[attr]windows text eol=crlf\n")
        .write("a.x", "one\ntwo\n")
        .write("b.x", "three\n")
        .commit("base");
    let clone = origin.clone_to("clone", &[]);
    clone.write(".git/info/attributes", "*.x windows\n");
    clone.remove("a.x").remove("b.x");
    clone.git(["checkout", "--", "a.x", "b.x"]);
    clone.sync(["-q"]);
    clone.assert_synced();

    origin
        .at(EPOCH + 3600)
        .write("a.x", "one\ntwo\nthree\n")
        .commit("more");
    clone.git(["pull", "-q", "--ff-only"]);
    assert_eq!(clone.read("a.x"), b"one\r\ntwo\r\nthree\r\n");
    assert_eq!(clone.git(["status", "--porcelain"]), "");
    let stdout = clone.sync(["-v"]).stdout();
    let updated = |line: &str| line.starts_with("updated ") && line.ends_with(" a.x");
    assert!(stdout.lines().any(updated), "{stdout}");
    assert_eq!(clone.mtime("a.x").0, EPOCH + 3600);
    clone.assert_synced();
}

/// A filter driver that a macro in `.git/info/attributes` selects is seen as git sees it.
#[test]
fn a_filter_driver_selected_through_a_macro_is_seen() {
    let repo = repo();
    repo.git(["config", "filter.crypt.clean", "cat"]);
    repo.git(["config", "filter.crypt.smudge", "cat"]);
    repo.at(EPOCH + 10)
        .write(".gitattributes", "[attr]sealed filter=crypt\n")
        .write("a.secret", "sealed\n")
        .commit("crypt");
    repo.write(".git/info/attributes", "*.secret sealed\n");
    assert_untouched(&repo, &["a.secret"], Says::Skipped("filter-driver"));
}

/// Line endings that `core.autocrlf`, `core.eol` and `text=auto` convert, including a
/// `text=auto` file whose blob holds CRLFs (git leaves those alone) and a binary one: every
/// fresh clone is clean for git and synced whole, and a second sync finds every time right.
#[test]
fn line_endings_converted_by_configuration_are_compared_as_git_does() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write("crlf-blob.auto", "one\r\ntwo\r\n")
        .commit("a blob with CRLFs");
    origin
        .at(EPOCH + 60)
        .write(".gitattributes", "*.auto text=auto\n")
        .write("lf.auto", "one\ntwo\n")
        .write("plain.txt", "one\ntwo\n")
        .write("binary.dat", "one\r\n\0two\n")
        .commit("text");
    for config in ["core.autocrlf=true", "core.autocrlf=input", "core.eol=crlf"] {
        let name = config.replace(['.', '='], "-");
        let clone = origin.clone_to(&name, &["-c", config]);
        assert_eq!(clone.git(["status", "--porcelain"]), "", "{config}");
        if config != "core.autocrlf=input" {
            assert_eq!(clone.read("lf.auto"), b"one\r\ntwo\r\n", "{config}");
        }
        clone.sync(["-q"]);
        clone.assert_synced();
        let stdout = clone.sync(["-v"]).stdout();
        let wrong = |line: &&str| !line.starts_with("correct ") && line.contains(' ');
        let wrong: Vec<&str> = stdout.lines().filter(wrong).collect();
        assert_eq!(
            wrong,
            [
                "updated 0, already correct 5, skipped 0; directories: updated 0, already correct 1, skipped 0"
            ],
            "{config}"
        );
    }
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

/// A first sync (nothing stored) classifies each file only once it has it open, on that
/// handle's stat data; a later sync classifies from `lstat` by path before. Both must leave
/// every file alone for the same reason, whatever became of it.
#[test]
fn a_first_sync_skips_each_file_for_the_reason_a_later_sync_gives() {
    let repo = repo();
    repo.write("mode.sh", "echo\n")
        .write("same-size.txt", "1234\n")
        .write("longer.txt", "1234\n")
        .write("gone.txt", "gone\n")
        .write("now-a-link.txt", "link\n")
        .write("now-a-dir.txt", "dir\n")
        .write("staged.txt", "staged\n")
        .write("e/below-a-link.txt", "e\n")
        .write("f/below-a-file.txt", "f\n")
        .symlink("link-now-a-file", "clean.txt")
        .symlink("clean-link", "a.txt")
        .commit("every kind");
    repo.chmod("mode.sh", 0o755)
        .write("same-size.txt", "abcd\n")
        .write("longer.txt", "12345678\n")
        .remove("gone.txt")
        .symlink("now-a-link.txt", "clean.txt")
        .remove("now-a-dir.txt")
        .write("now-a-dir.txt/inner", "inner\n")
        .write("staged.txt", "changed and added\n")
        .remove("e")
        .symlink("e", "d")
        .remove("f")
        .write("f", "a file\n")
        .write("link-now-a-file", "clean.txt");
    repo.git(["add", "staged.txt"]);
    let expected = [
        ("e/below-a-link.txt", "beyond-symlink"),
        ("f/below-a-file.txt", "type-changed"),
        ("gone.txt", "deleted"),
        ("link-now-a-file", "type-changed"),
        ("longer.txt", "modified"),
        ("mode.sh", "mode-changed"),
        ("now-a-dir.txt", "type-changed"),
        ("now-a-link.txt", "type-changed"),
        ("same-size.txt", "modified"),
        ("staged.txt", "staged"),
    ];
    let skipped = |stdout: &str| -> Vec<(String, String)> {
        stdout
            .lines()
            .filter_map(|line| line.strip_prefix("skipped "))
            .filter_map(|rest| rest.split_once(' '))
            // Files only: directories are reported with a slash.
            .filter(|(_, path)| !path.ends_with('/'))
            .map(|(reason, path)| (path.to_owned(), reason.to_owned()))
            .collect()
    };
    let paths: Vec<&str> = expected.iter().map(|(path, _)| *path).collect();
    let before = repo.snapshot(&paths);
    assert!(!repo.path(".git/mtimestamp").exists(), "nothing stored yet");
    let first = repo.sync(["-v"]).stdout();
    assert!(repo.path(".git/mtimestamp").exists(), "answers stored");
    let later = repo.sync(["-v"]).stdout();
    assert_eq!(before, repo.snapshot(&paths));
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(path, reason)| (path.to_string(), reason.to_string()))
        .collect();
    assert_eq!(skipped(&first), expected, "first sync:\n{first}");
    assert_eq!(skipped(&later), expected, "later sync:\n{later}");
    for path in ["clean.txt", "a.txt", "d/b.txt", "clean-link"] {
        assert_eq!(repo.mtime(path), repo.expected_mtime(path), "{path}");
    }
}
