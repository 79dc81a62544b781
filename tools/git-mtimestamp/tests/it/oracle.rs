//! Every clean file gets the committer time of its last commit, exactly as git answers it:
//! `git log [--first-parent] -1 --format=%ct -- PATH`, and the fingerprint of its blob in the
//! nanoseconds. Hand-built histories name the interesting cases; randomized histories look
//! for the ones nobody thought of.

use crate::support::history::{RandomHistory, Rng, kinds_of_history};
use crate::support::repo::{EPOCH, Repo};
use crate::support::{fingerprint, mtime_of};

/// A fresh clone of `repo` (every file has the current time), synced, and checked against
/// git in both history modes.
fn check_fresh_clone(repo: &Repo) -> Repo {
    let clone = repo.clone_to("clone", &[]);
    clone.sync(["-q"]);
    clone.assert_synced();
    clone.sync(["-q", "--first-parent"]);
    let wrong = clone.wrong_mtimes(true);
    assert!(wrong.is_empty(), "--first-parent:\n{}", wrong.join("\n"));
    clone
}

#[test]
fn linear_history_gives_each_file_its_last_change() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "1")
        .write("dir/b", "1")
        .commit("add");
    repo.at(EPOCH + 100).commit_file("a", "2");
    repo.at(EPOCH + 200).commit_file("c", "1");

    let clone = repo.clone_to("clone", &[]);
    clone.sync(["-q"]);
    assert_eq!(
        clone.mtime("a"),
        (EPOCH + 100, fingerprint(&clone.blob_id("a")))
    );
    assert_eq!(
        clone.mtime("dir/b"),
        (EPOCH, fingerprint(&clone.blob_id("dir/b")))
    );
    assert_eq!(clone.mtime("c").0, EPOCH + 200);
    clone.assert_synced();
}

#[test]
fn a_change_made_on_a_merged_branch_keeps_the_branch_commit_time() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "1")
        .write("b", "1")
        .commit("base");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("a", "main");
    repo.checkout("feature")
        .at(EPOCH + 200)
        .commit_file("b", "feature");
    repo.checkout("main").at(EPOCH + 300);
    assert!(repo.merge(["--no-ff", "feature"]));

    let clone = check_fresh_clone(&repo);
    clone.sync(["-q"]);
    assert_eq!(clone.mtime("a").0, EPOCH + 100);
    assert_eq!(clone.mtime("b").0, EPOCH + 200);
    clone.sync(["-q", "--first-parent"]);
    assert_eq!(
        clone.mtime("b").0,
        EPOCH + 300,
        "b arrived on main with the merge"
    );
}

#[test]
fn a_conflict_resolution_with_new_content_gets_the_merge_time() {
    let repo = Repo::new();
    repo.at(EPOCH).commit_file("a", "base\n");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("a", "main\n");
    repo.checkout("feature")
        .at(EPOCH + 200)
        .commit_file("a", "feature\n");
    repo.checkout("main").at(EPOCH + 300);
    assert!(!repo.merge(["feature"]), "the merge should conflict");
    repo.write("a", "resolved\n").commit("merge");

    let clone = check_fresh_clone(&repo);
    assert_eq!(clone.mtime("a").0, EPOCH + 300);
}

#[test]
fn a_conflict_resolved_by_taking_one_side_gets_that_sides_time() {
    let repo = Repo::new();
    repo.at(EPOCH).commit_file("a", "base\n");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("a", "main\n");
    repo.checkout("feature")
        .at(EPOCH + 200)
        .commit_file("a", "feature\n");
    repo.checkout("main").at(EPOCH + 300);
    assert!(!repo.merge(["feature"]));
    repo.git(["checkout", "--theirs", "--", "a"]);
    repo.commit("merge, taking theirs");

    let clone = check_fresh_clone(&repo);
    clone.sync(["-q"]);
    assert_eq!(
        clone.mtime("a").0,
        EPOCH + 200,
        "simplification follows feature"
    );
}

#[test]
fn an_evil_merge_gets_the_merge_time() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "1")
        .write("evil", "1")
        .commit("base");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("b", "main");
    repo.checkout("feature")
        .at(EPOCH + 200)
        .commit_file("a", "feature");
    repo.checkout("main").at(EPOCH + 300);
    assert!(repo.merge(["--no-ff", "--no-commit", "feature"]));
    repo.write("evil", "changed in the merge")
        .commit("evil merge");

    let clone = check_fresh_clone(&repo);
    assert_eq!(clone.mtime("evil").0, EPOCH + 300);
}

#[test]
fn the_same_change_on_both_sides_follows_the_first_parent() {
    let repo = Repo::new();
    repo.at(EPOCH).commit_file("a", "base");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("a", "same");
    repo.checkout("feature")
        .at(EPOCH + 200)
        .commit_file("a", "same");
    repo.commit_file("other", "x");
    repo.checkout("main").at(EPOCH + 400);
    assert!(repo.merge(["feature"]));

    let clone = check_fresh_clone(&repo);
    clone.sync(["-q"]);
    assert_eq!(clone.mtime("a").0, EPOCH + 100);
}

#[test]
fn an_octopus_merge_keeps_each_branch_time() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "0")
        .write("b", "0")
        .write("c", "0")
        .commit("base");
    for (i, name) in ["one", "two", "three"].iter().enumerate() {
        repo.checkout("main").git(["checkout", "-q", "-b", name]);
        let file = ["a", "b", "c"][i];
        repo.at(EPOCH + 100 * (i as i64 + 1))
            .commit_file(file, *name);
    }
    repo.checkout("main").at(EPOCH + 1000);
    assert!(repo.merge(["one", "two", "three"]));
    assert_eq!(
        repo.git(["rev-list", "--count", "--merges", "HEAD"]).trim(),
        "1"
    );

    let clone = check_fresh_clone(&repo);
    clone.sync(["-q"]);
    assert_eq!(
        [clone.mtime("a").0, clone.mtime("b").0, clone.mtime("c").0],
        [EPOCH + 100, EPOCH + 200, EPOCH + 300]
    );
    clone.sync(["-q", "--first-parent"]);
    assert_eq!(clone.mtime("c").0, EPOCH + 1000);
}

/// A `filter=<name>` attribute whose driver the configuration does not define is a no-op for
/// git (git/git's `po/*.po` name `gettext-no-location`, which a plain clone leaves
/// unconfigured): the files are clean for `git status`, and get their commit times.
#[test]
fn a_filter_attribute_without_a_configured_driver_changes_nothing() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write(".gitattributes", "*.po filter=gettext-no-location\n")
        .write("po/de.po", "msgid \"a\"\n")
        .write("po/fr.po", "msgid \"b\"\n")
        .commit("po");
    origin
        .at(EPOCH + 60)
        .commit_file("po/fr.po", "msgid \"c\"\n");
    let clone = origin.clone_to("clone", &[]);
    assert_eq!(clone.git(["status", "--porcelain"]), "");
    let run = clone.sync(["-v"]);
    run.success()
        .stdout_has(&format!("updated {EPOCH}."))
        .stdout_has(&format!("updated {}.", EPOCH + 60));
    assert!(!run.stdout().contains("filter-driver"), "{}", run.stdout());
    clone.assert_synced();
    assert_eq!(clone.git(["status", "--porcelain"]), "");
}

/// Old repositories (git/git among them) hold regular files as mode `100664`, which git
/// reads as `100644`: a commit that only rewrites one as the other changes nothing, and a
/// HEAD that holds `100664` checks out clean, with `100644` in the index.
#[test]
fn legacy_file_modes_are_read_as_git_reads_them() {
    let origin = Repo::new();
    let object = |kind: &str, bytes: &[u8]| -> String {
        let file = origin.sandbox().join("object");
        std::fs::write(&file, bytes).unwrap();
        let id = origin.git(
            ["hash-object", "-w", "--literally", "-t", kind]
                .into_iter()
                .map(std::ffi::OsString::from)
                .chain([file.into_os_string()]),
        );
        id.trim().to_owned()
    };
    let (f, g) = (object("blob", b"f\n"), object("blob", b"g\n"));
    let tree = |f_mode: &str, g_id: &str| {
        let mut bytes = Vec::new();
        for (mode, name, id) in [(f_mode, "f", &f), ("100644", "g", &g_id.to_owned())] {
            bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            let raw: Vec<u8> = (0..20)
                .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            bytes.extend_from_slice(&raw);
        }
        object("tree", &bytes)
    };
    let g2 = object("blob", b"g2\n");
    let commit = |time: i64, tree: &str, parent: Option<&str>| {
        let mut args = vec![
            "commit-tree".to_owned(),
            tree.to_owned(),
            "-m".into(),
            "c".into(),
        ];
        if let Some(parent) = parent {
            args.extend(["-p".to_owned(), parent.to_owned()]);
        }
        origin.at(time).git(&args).trim().to_owned()
    };
    // f: 100664, then rewritten as 100644 (with g changing beside it), then 100664 again.
    let first = commit(EPOCH, &tree("100664", &g), None);
    let second = commit(EPOCH + 60, &tree("100644", &g2), Some(&first));
    let head = commit(EPOCH + 120, &tree("100664", &g), Some(&second));
    origin.git(["update-ref", "refs/heads/main", &head]);
    assert_eq!(origin.oracle_time("f"), EPOCH, "git's own answer");

    let clone = origin.clone_to("clone", &[]);
    assert_eq!(clone.git(["status", "--porcelain"]), "");
    let run = clone.sync(["-v"]);
    run.success()
        .stdout_has(&format!("updated {EPOCH}."))
        .stdout_has("skipped 0");
    assert!(!run.stdout().contains("staged"), "{}", run.stdout());
    clone.assert_synced();
    clone.sync(["-q", "--first-parent"]);
    assert!(clone.wrong_mtimes(true).is_empty());
    assert_eq!(clone.git(["status", "--porcelain"]), "");
}

#[test]
fn a_renamed_file_gets_the_rename_time() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("old", "content")
        .write("keep", "x")
        .commit("add");
    repo.at(EPOCH + 100);
    repo.git(["mv", "old", "new"]);
    repo.commit("rename");

    let clone = check_fresh_clone(&repo);
    assert_eq!(clone.mtime("new").0, EPOCH + 100);
    assert_eq!(clone.mtime("keep").0, EPOCH);
}

#[test]
fn a_deleted_and_re_added_file_gets_the_re_add_time() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "same")
        .write("b", "x")
        .commit("add");
    repo.at(EPOCH + 100).remove("a").commit("delete");
    repo.at(EPOCH + 200).commit_file("a", "same");

    let clone = check_fresh_clone(&repo);
    assert_eq!(clone.mtime("a").0, EPOCH + 200);
}

#[test]
fn a_reverted_change_gets_the_revert_time() {
    let repo = Repo::new();
    repo.at(EPOCH).commit_file("a", "one");
    repo.at(EPOCH + 100).commit_file("a", "two");
    repo.at(EPOCH + 200).git(["revert", "--no-edit", "HEAD"]);

    let clone = check_fresh_clone(&repo);
    assert_eq!(clone.mtime("a").0, EPOCH + 200);
    assert_eq!(clone.read("a"), b"one");
}

#[test]
fn a_mode_change_is_a_change() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("script", "#!/bin/sh\n")
        .write("x", "x")
        .commit("add");
    repo.at(EPOCH + 100).chmod("script", 0o755).commit("chmod");

    let clone = check_fresh_clone(&repo);
    assert_eq!(clone.mtime("script").0, EPOCH + 100);
}

#[test]
fn symlinks_get_their_own_time_and_leave_their_target_alone() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("target", "t")
        .symlink("link", "target")
        .commit("add");
    repo.at(EPOCH + 100)
        .symlink("link", "elsewhere")
        .commit("retarget");
    repo.at(EPOCH + 200).symlink("became-link", "target");
    repo.at(EPOCH + 200)
        .commit("a file path that is a symlink now");
    repo.at(EPOCH + 300).commit_file("target", "t2");
    repo.at(EPOCH + 400)
        .symlink("back", "target")
        .commit("link");
    repo.at(EPOCH + 500)
        .remove("back")
        .write("back", "a file again")
        .commit("typechange");

    let clone = check_fresh_clone(&repo);
    clone.sync(["-q"]);
    assert_eq!(clone.mtime("link").0, EPOCH + 100);
    assert_eq!(clone.mtime("target").0, EPOCH + 300);
    assert_eq!(clone.mtime("back").0, EPOCH + 500);
}

/// With `core.symlinks=false` git checks a symlink out as a plain file holding its target,
/// and `git status` compares that content: such a file is clean and gets the symlink's
/// commit time, and an edit of it is still an edit.
#[test]
fn symlinks_checked_out_as_plain_files_are_synced() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write("target.txt", "t\n")
        .symlink("link", "target.txt")
        .symlink("other", "target.txt")
        .commit("links");
    origin
        .at(EPOCH + 60)
        .symlink("other", "elsewhere")
        .commit("retarget");
    let clone = origin.clone_to("clone", &["-c", "core.symlinks=false"]);
    assert_eq!(clone.read("link"), b"target.txt");
    assert!(
        std::fs::symlink_metadata(clone.path("link"))
            .unwrap()
            .is_file()
    );
    assert_eq!(clone.git(["status", "--porcelain"]), "");
    let run = clone.sync(["-v"]);
    // The top directory holds the files that stand for symlinks: it is clean too.
    run.success()
        .stdout_has("skipped 0; directories: updated 1, already correct 0, skipped 0");
    assert_eq!(clone.mtime("link").0, EPOCH);
    assert_eq!(clone.mtime("other").0, EPOCH + 60);
    clone.assert_synced();
    assert_eq!(clone.git(["status", "--porcelain"]), "");

    // The same size, another target: git calls it modified, and so does the sync.
    clone.write("other", "elsewherX");
    assert_eq!(clone.git(["status", "--porcelain"]), " M other\n");
    let before = clone.mtime("other");
    clone.sync(["-v"]).stdout_has("skipped modified other");
    assert_eq!(clone.mtime("other"), before);
}

#[test]
fn commits_in_the_same_second_give_equal_seconds_and_distinct_fingerprints() {
    let repo = Repo::new();
    repo.at(EPOCH).write("a", "1").write("b", "1").commit("add");
    repo.at(EPOCH + 100).commit_file("a", "2a");
    repo.at(EPOCH + 100).commit_file("b", "2b");

    let clone = check_fresh_clone(&repo);
    let (a, b) = (clone.mtime("a"), clone.mtime("b"));
    assert_eq!(a.0, b.0);
    assert_ne!(a.1, b.1);
}

#[test]
fn clock_skew_follows_history_not_the_calendar() {
    let repo = Repo::new();
    repo.at(EPOCH + 1000)
        .write("a", "1")
        .write("b", "1")
        .commit("add");
    repo.at(EPOCH + 500).commit_file("a", "2");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("b", "main, behind");
    repo.checkout("feature")
        .at(EPOCH + 2000)
        .commit_file("c", "feature, ahead");
    repo.checkout("main").at(EPOCH + 50);
    assert!(repo.merge(["--no-ff", "feature"]));

    let clone = check_fresh_clone(&repo);
    clone.sync(["-q"]);
    assert_eq!(clone.mtime("a").0, EPOCH + 500);
}

/// A commit time the file system cannot hold (ext4 clamps anything after 2446-05-10): the
/// file gets the nearest time it can hold, the sync says so once, and later syncs count it
/// as correct instead of stamping it, and rewriting the index, every time.
#[test]
fn a_time_the_file_system_cannot_hold_is_reported_once() {
    const YEAR_9999: i64 = 253_402_300_799;
    let origin = Repo::new();
    origin.at(EPOCH).write("a.txt", "a\n").commit("a");
    // git's date parser refuses such a year, so the commit is written as git would store it.
    let head = origin.git(["rev-parse", "HEAD"]).trim().to_owned();
    origin.write("future.txt", "f\n").git(["add", "future.txt"]);
    let tree = origin.git(["write-tree"]).trim().to_owned();
    let commit = format!(
        "tree {tree}\nparent {head}\nauthor A <a@example.com> {YEAR_9999} +0000\n\
         committer A <a@example.com> {YEAR_9999} +0000\n\nfrom the far future\n"
    );
    let object = origin.sandbox().join("commit");
    std::fs::write(&object, commit).unwrap();
    let future = origin.git([
        "hash-object",
        "-w",
        "-t",
        "commit",
        object.to_str().unwrap(),
    ]);
    origin.git(["update-ref", "refs/heads/main", future.trim()]);
    origin.git(["reset", "-q", "--hard"]);
    assert_eq!(origin.oracle_time("future.txt"), YEAR_9999);

    // What this file system stores for that time.
    let probe = origin.sandbox().join("probe");
    std::fs::write(&probe, "").unwrap();
    let target = std::time::UNIX_EPOCH + std::time::Duration::from_secs(YEAR_9999 as u64);
    std::fs::File::options()
        .write(true)
        .open(&probe)
        .unwrap()
        .set_modified(target)
        .unwrap();
    let stored = mtime_of(&probe).unwrap();
    if stored.0 == YEAR_9999 {
        eprintln!("skipped: this file system holds year 9999, so nothing is clamped");
        return;
    }

    let clone = origin.clone_to("clone", &[]);
    let run = clone.sync(["-v"]);
    run.success()
        .stdout_has(&format!("updated {}.{:09} future.txt", stored.0, stored.1))
        .stderr_has("the file system cannot hold the commit times of ");
    assert_eq!(clone.mtime("future.txt"), stored);
    assert_eq!(clone.mtime("a.txt"), clone.expected_mtime("a.txt"));

    let index = std::fs::read(clone.path(".git/index")).unwrap();
    let again = clone.sync(["-v"]);
    again
        .success()
        .stdout_has(&format!("correct {}.{:09} future.txt", stored.0, stored.1))
        .stdout_has(
            "updated 0, already correct 2, skipped 0; directories: updated 0, already correct 1",
        );
    assert_eq!(again.stderr(), "", "said only once");
    assert_eq!(std::fs::read(clone.path(".git/index")).unwrap(), index);
}

#[test]
fn a_merged_unrelated_history_keeps_its_own_times() {
    let repo = Repo::new();
    repo.at(EPOCH).write("a", "main").commit("main root");
    repo.git(["checkout", "-q", "--orphan", "imported"]);
    repo.git(["rm", "-q", "-r", "--cached", "."]);
    repo.remove("a");
    repo.at(EPOCH - 10_000)
        .write("lib/x", "old")
        .commit("another root");
    repo.at(EPOCH - 5_000).commit_file("lib/y", "y");
    repo.checkout("main").at(EPOCH + 100);
    assert!(repo.merge(["--allow-unrelated-histories", "imported"]));

    let clone = check_fresh_clone(&repo);
    clone.sync(["-q"]);
    assert_eq!(clone.mtime("lib/x").0, EPOCH - 10_000);
}

// --- Replace refs and grafts --------------------------------------------------------------
//
// `git log` reads history through the refs under refs/replace/ (`git replace`, `git replace
// --graft`) and the lines of info/grafts, and so does the sync; `GIT_NO_REPLACE_OBJECTS` and
// `core.useReplaceRefs=false` turn the refs off for both. The support's oracle runs git with
// the same environment as the tool (`Repo::set_env`).

/// Four commits: the files at EPOCH, then `b` changed, then `a` changed and `dir/d` added,
/// then `dir/c` changed.
fn history_to_rewrite() -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "a")
        .write("b", "b")
        .write("dir/c", "c")
        .write("keep", "k")
        .commit("base");
    repo.at(EPOCH + 100).commit_file("b", "b2");
    repo.at(EPOCH + 200)
        .write("a", "a2")
        .write("dir/d", "d")
        .commit("a and d");
    repo.at(EPOCH + 300).commit_file("dir/c", "c2");
    repo
}

/// The commit id of `spec`.
fn id(repo: &Repo, spec: &str) -> String {
    repo.git(["rev-parse", spec]).trim().to_owned()
}

/// The issue's example: HEAD replaced by a commit of the same tree and parent, made in 2012.
/// Its files get the replacement's time, older files keep theirs, in both history modes;
/// without replacements (either way of turning them off) the sync gives the stored history's
/// times again, and each set of answers is kept apart in the cache.
#[test]
fn a_replaced_commit_counts_as_its_replacement_unless_replace_refs_are_off() {
    let repo = history_to_rewrite().clone_to("clone", &[]);
    repo.at(1_350_000_000);
    let replacement = repo.git(["commit-tree", "-p", "HEAD~1", "-m", "r", "HEAD^{tree}"]);
    let (head, replacement) = (id(&repo, "HEAD"), replacement.trim().to_owned());
    repo.git(["replace", &head, &replacement]);
    assert_eq!(repo.oracle_time("dir/c"), 1_350_000_000);

    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("dir/c").0, 1_350_000_000);
    assert_eq!(repo.mtime("a").0, EPOCH + 200);
    repo.sync(["-q", "--first-parent"]);
    let wrong = repo.wrong_mtimes(true);
    assert!(wrong.is_empty(), "--first-parent:\n{}", wrong.join("\n"));
    repo.sync(["-q"]);

    // Off through the environment, then through the configuration: the stored history.
    repo.set_env("GIT_NO_REPLACE_OBJECTS", "1");
    assert_eq!(repo.oracle_time("dir/c"), EPOCH + 300);
    repo.sync(["-q"]);
    repo.assert_synced();
    repo.remove_env("GIT_NO_REPLACE_OBJECTS");
    repo.git(["config", "core.useReplaceRefs", "false"]);
    repo.touch("dir/c");
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("dir/c").0, EPOCH + 300);

    // On again: the answers stored for the replaced history.
    repo.git(["config", "--unset", "core.useReplaceRefs"]);
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("dir/c").0, 1_350_000_000);

    // Replace refs elsewhere count only where GIT_REPLACE_REF_BASE points.
    repo.git(["update-ref", &format!("refs/other/{head}"), &replacement]);
    repo.git(["replace", "-d", &head]);
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("dir/c").0, EPOCH + 300);
    repo.set_env("GIT_REPLACE_REF_BASE", "refs/other/");
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("dir/c").0, 1_350_000_000);
}

/// A replacement of HEAD with another tree, checked out: HEAD's tree is the replacement's,
/// for git and for the sync.
#[test]
fn a_replaced_head_with_another_tree_is_synced_to_that_tree() {
    let repo = history_to_rewrite().clone_to("clone", &[]);
    // HEAD's change to dir/c undone by its replacement.
    repo.at(1_350_000_000);
    let replacement = repo.git(["commit-tree", "-p", "HEAD~1", "-m", "r", "HEAD~1^{tree}"]);
    repo.git(["replace", "HEAD", replacement.trim()]);
    repo.git(["reset", "-q", "--hard"]);
    assert_eq!(repo.read("dir/c"), b"c");
    let run = repo.sync(["--json"]);
    assert_eq!(
        run.json()["skipped"],
        serde_json::json!({}),
        "{}",
        run.stdout()
    );
    repo.assert_synced();
    assert_eq!(repo.mtime("dir/c").0, EPOCH);
}

/// `git replace --graft` as the line of new commits since the last sync meets it: the sync
/// that reads only the new commits sees the graft's parents too.
#[test]
fn syncs_after_new_commits_read_them_through_replacements() {
    let repo = history_to_rewrite().clone_to("clone", &[]);
    // HEAD's parent is now the commit before `a` changed: git log says HEAD changed `a`.
    repo.git(["replace", "--graft", "HEAD", "HEAD~2"]);
    assert_eq!(repo.oracle_time("a"), EPOCH + 300);
    repo.git(["checkout", "-q", "--detach", "HEAD~2"]);
    repo.sync(["-q"]);
    repo.assert_synced();
    repo.checkout("main");
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("a").0, EPOCH + 300);
    assert_eq!(repo.mtime("b").0, EPOCH + 100);

    // And a replacement with a time of its own, for the commit after the last sync's.
    let repo = history_to_rewrite().clone_to("clone2", &[]);
    repo.at(1_350_000_000);
    let replacement = repo.git(["commit-tree", "-p", "HEAD~1", "-m", "r", "HEAD^{tree}"]);
    repo.git(["replace", "HEAD", replacement.trim()]);
    repo.git(["checkout", "-q", "--detach", "HEAD~1"]);
    repo.sync(["-q"]);
    repo.checkout("main");
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("dir/c").0, 1_350_000_000);
}

/// `git replace --graft COMMIT` with no parents cuts history there: files last changed
/// before it get its time.
#[test]
fn a_graft_without_parents_cuts_history() {
    let repo = history_to_rewrite().clone_to("clone", &[]);
    repo.git(["replace", "--graft", "HEAD~1"]);
    repo.sync(["-q"]);
    repo.assert_synced();
    for path in ["b", "keep"] {
        assert_eq!(repo.mtime(path).0, EPOCH + 200, "{path}");
    }
}

/// info/grafts, git's older way to give commits other parents: one line gives HEAD an older
/// parent, another makes a commit a root. Removing the file brings back the stored history,
/// and the answers of each are kept apart.
#[test]
fn info_grafts_give_commits_the_parents_they_list() {
    let repo = history_to_rewrite().clone_to("clone", &[]);
    let [head, first, second] = ["HEAD", "HEAD~3", "HEAD~2"].map(|spec| id(&repo, spec));
    let grafts = format!("{head} {second}\n# a comment\n\n{second}\n");
    std::fs::write(repo.path(".git/info/grafts"), &grafts).unwrap();
    assert_eq!(repo.oracle_time("keep"), EPOCH + 100);
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("a").0, EPOCH + 300);
    assert_eq!(repo.mtime("keep").0, EPOCH + 100);
    repo.sync(["-q", "--first-parent"]);
    let wrong = repo.wrong_mtimes(true);
    assert!(wrong.is_empty(), "--first-parent:\n{}", wrong.join("\n"));

    std::fs::remove_file(repo.path(".git/info/grafts")).unwrap();
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("keep").0, EPOCH);

    // A graft of the root commit onto nothing changes nothing, but is a graft all the same.
    std::fs::write(repo.path(".git/info/grafts"), format!("{first}\n")).unwrap();
    repo.sync(["-q"]);
    repo.assert_synced();
    std::fs::write(repo.path(".git/info/grafts"), &grafts).unwrap();
    repo.sync(["-q"]);
    repo.assert_synced();
}

/// `WorkTree::open(path)`, the library call `cargo xtask` makes, opens the repository of
/// `path` whatever `GIT_DIR` names (a git hook that runs `cargo xtask test` exports it), as
/// `Repository::discover` does: also when libgit2 refuses the grafts file and git is asked
/// where the repository is. The call runs in a child process of this test binary, whose
/// environment alone names the other repository.
#[test]
fn the_library_opens_the_path_it_is_given_whatever_git_dir_says() {
    const CHILD: &str = "GIT_MTIMESTAMP_TEST_OPEN_PATH";
    if let Some(path) = std::env::var_os(CHILD) {
        let path = std::path::Path::new(&path);
        let work_tree = git_mtimestamp::WorkTree::open(path).unwrap();
        let opened = work_tree.root().canonicalize().unwrap();
        assert_eq!(opened, path.canonicalize().unwrap());
        return;
    }
    let repo = history_to_rewrite().clone_to("clone", &[]);
    let other = repo.init_sibling("other");
    let head = id(&repo, "HEAD");
    // The comment makes libgit2 refuse the file; git reads it.
    std::fs::write(
        repo.path(".git/info/grafts"),
        format!("# a comment\n{head}\n"),
    )
    .unwrap();
    let name = "oracle::the_library_opens_the_path_it_is_given_whatever_git_dir_says";
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, repo.root())
        .env("GIT_DIR", other.path(".git"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(said.contains("1 passed"), "the child ran no test:\n{said}");
}

/// git skips the lines of info/grafts it cannot read, with an error message, and honours
/// the others: so does the sync, with a warning naming each line, and its answers are
/// git's.
#[test]
fn a_malformed_grafts_file_is_warned_about_and_its_good_lines_honoured() {
    let repo = history_to_rewrite().clone_to("clone", &[]);
    let [head, first, second] = ["HEAD", "HEAD~3", "HEAD~2"].map(|spec| id(&repo, spec));
    let grafts = format!("not a graft\n{head} {second}\n{second}  {first}\n{head} {first}\n");
    std::fs::write(repo.path(".git/info/grafts"), grafts).unwrap();
    let log = repo.git_output(["log", "--format=%ct"]);
    let said = String::from_utf8_lossy(&log.stderr);
    assert!(
        log.status.success() && said.contains("bad graft data"),
        "{said}"
    );

    let run = repo.tool().run();
    run.success()
        .stderr_has("warning: ")
        .stderr_has("info/grafts:1: bad graft data \"not a graft\"")
        .stderr_has(&format!(
            "info/grafts:3: bad graft data \"{second}  {first}\""
        ))
        .stderr_has(&format!("info/grafts:4: a second graft of commit {head}"));
    repo.assert_synced();
    assert_eq!(repo.mtime("a").0, EPOCH + 300);
}

/// With enough paths the walk is split into parts on separate threads, each reading only
/// the directories above its own paths; the parts' answers must together be git's.
#[test]
fn many_paths_walked_in_parts_match_git() {
    let mut rng = Rng::new(7);
    let repo = Repo::new();
    let path = |n: usize| format!("d{}/e{}/f{}.txt", n % 7, n % 11, n);
    repo.at(EPOCH);
    for n in 0..1_200 {
        repo.write(path(n), format!("{n}\n"));
    }
    repo.commit("start");
    repo.branch("side");
    for round in 0..40 {
        let branch = if round % 4 == 3 { "side" } else { "main" };
        repo.checkout(branch).tick(60);
        for _ in 0..1 + rng.below(6) {
            let n = rng.below(1_200);
            repo.write(path(n), format!("{n} changed in round {round}\n"));
        }
        repo.commit(&format!("round {round}"));
        if round % 8 == 7 {
            repo.checkout("main").tick(60);
            assert!(repo.merge(["--no-ff", "-X", "theirs", "side"]));
        }
    }
    let clone = repo.clone_to("clone", &["--no-local"]);
    clone.sync(["-q"]);
    clone.assert_synced();
    clone.sync(["-q", "--first-parent"]);
    let wrong = clone.wrong_mtimes(true);
    assert!(wrong.is_empty(), "--first-parent:\n{}", wrong.join("\n"));
}

/// Answers kept from earlier syncs must never leak into a sync of another commit.
#[test]
fn syncs_after_new_commits_branch_switches_and_rewinds_stay_exact() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "1")
        .write("b", "1")
        .write("d/c", "1")
        .commit("add");
    repo.branch("side");
    repo.commit_file("a", "2").commit_file("d/c", "2");
    repo.sync(["-q"]);
    repo.assert_synced();

    repo.commit_file("b", "2");
    repo.sync(["-q"]);
    repo.assert_synced();

    repo.checkout("side").commit_file("a", "side");
    repo.sync(["-q"]);
    repo.assert_synced();

    repo.checkout("main");
    repo.sync(["-q"]);
    repo.assert_synced();

    repo.git(["checkout", "-q", "--detach", "HEAD~2"]);
    repo.sync(["-q"]);
    repo.assert_synced();

    repo.checkout("main");
    repo.at(EPOCH + 100_000);
    repo.git(["commit", "-q", "--amend", "--no-edit", "--reset-author"]);
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("b").0, EPOCH + 100_000);
}

// --- Randomized histories -----------------------------------------------------------------

/// For each seed: a random history; then its fresh clone and the original repository (which
/// was synced along the way) synced in both history modes and compared with git.
fn check_seeds(seeds: std::ops::Range<u64>) {
    let only: Option<u64> = std::env::var("ORACLE_SEED")
        .ok()
        .map(|s| s.parse().unwrap());
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for seed in seeds.filter(|s| only.is_none_or(|only| only == *s)) {
        let history = RandomHistory::generate(seed);
        // The generated repository keeps its objects loose; the clone gets them as one pack
        // of delta chains, as every real clone does, so both ways of reading objects are
        // checked against git.
        let clone = history.repo.clone_to("clone", &["--no-local"]);
        let counts = clone.git(["count-objects", "-v"]);
        assert!(
            counts.starts_with("count: 0\n") && !counts.contains("\npacks: 0\n"),
            "the clone's objects are packed:\n{counts}"
        );
        seen.extend(kinds_of_history(&clone));
        for first_parent in [false, true] {
            let args: &[&str] = if first_parent {
                &["-q", "--first-parent"]
            } else {
                &["-q"]
            };
            // Both have the same HEAD, so git's answers are the same.
            let expected = clone.expected_mtimes(first_parent);
            for repo in [&clone, &history.repo] {
                repo.sync(args);
                for wrong in repo.mtimes_differing_from(&expected) {
                    failures.push(format!(
                        "seed {seed} {} {args:?}: {wrong}",
                        repo.root().file_name().unwrap().to_string_lossy()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} wrong mtimes (rerun one seed with ORACLE_SEED=N):\n{}",
        failures.len(),
        failures.join("\n")
    );
    if only.is_none() {
        let all = [
            "merge",
            "octopus",
            "conflict",
            "evil",
            "symlink",
            "executable",
            "skew",
        ];
        let missing: Vec<_> = all.iter().filter(|k| !seen.contains(*k)).collect();
        assert!(
            missing.is_empty(),
            "no seed made a history with {missing:?}"
        );
    }
}

#[test]
fn random_histories_seeds_0_to_9() {
    check_seeds(0..10);
}

#[test]
fn random_histories_seeds_10_to_19() {
    check_seeds(10..20);
}

#[test]
fn random_histories_seeds_20_to_29() {
    check_seeds(20..30);
}

#[test]
fn random_histories_seeds_30_to_39() {
    check_seeds(30..40);
}
