//! After a sync git's index holds the new stat data of every stamped file, so the next
//! `git status` neither re-hashes them nor sees anything different; a held `index.lock` is
//! respected.

use std::collections::BTreeMap;

use crate::support::repo::{EPOCH, Repo};

/// The stat data git's index holds per path, as `git ls-files --debug` prints it: the
/// `mtime: SECONDS:NANOSECONDS` line, and the whole block.
fn index_stat(repo: &Repo) -> BTreeMap<String, ((i64, u32), String)> {
    let mut stat = BTreeMap::new();
    let debug = repo.git(["ls-files", "--debug"]);
    let mut lines = debug.lines().peekable();
    while let Some(path) = lines.next() {
        let mut block = String::new();
        let mut mtime = None;
        while let Some(line) = lines.next_if(|l| l.starts_with("  ")) {
            block.push_str(line);
            block.push('\n');
            if let Some(value) = line.trim().strip_prefix("mtime: ") {
                let (seconds, nanos) = value.split_once(':').unwrap();
                mtime = Some((seconds.parse().unwrap(), nanos.parse().unwrap()));
            }
        }
        stat.insert(path.to_owned(), (mtime.unwrap(), block));
    }
    stat
}

/// A fresh clone with clean files in nested directories, one modified and one staged file.
fn clone_with_changes() -> Repo {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write("a", "a")
        .write("dir/b", "b")
        .write("dir/sub/c", "c");
    origin
        .write("modified", "m")
        .write("staged", "s")
        .commit("base");
    origin.at(EPOCH + 100).commit_file("dir/b", "b2");
    let clone = origin.clone_to("clone", &[]);
    clone
        .write("modified", "M!")
        .write("staged", "S!")
        .git(["add", "staged"]);
    clone
}

#[test]
fn the_index_holds_the_new_mtime_of_every_stamped_file() {
    let repo = clone_with_changes();
    let before = index_stat(&repo);
    repo.sync(["-q"]);
    let after = index_stat(&repo);
    for path in ["a", "dir/b", "dir/sub/c"] {
        assert_eq!(repo.mtime(path), repo.expected_mtime(path), "{path}");
        assert_eq!(after[path].0, repo.mtime(path), "index mtime of {path}");
    }
    for path in ["modified", "staged"] {
        assert_eq!(after[path], before[path], "stat data of the skipped {path}");
    }
}

#[test]
fn git_sees_the_stamped_files_as_up_to_date_without_refreshing() {
    let repo = clone_with_changes();
    repo.sync(["-q"]);
    // `git diff-files` trusts the index's stat data and lists every file whose stat data
    // does not match (mtime, ctime, size, inode...), whatever its content.
    let listed = repo.git(["diff-files", "--name-only"]);
    for path in ["a", "dir/b", "dir/sub/c"] {
        assert!(!listed.lines().any(|l| l == path), "{path} in\n{listed}");
    }
}

#[test]
fn git_status_says_the_same_before_and_after() {
    let repo = clone_with_changes();
    repo.write("untracked", "u").remove("a");
    repo.write("later", "l").git(["add", "-N", "later"]);
    let before = repo.git(["status", "--porcelain"]);
    repo.sync(["-q"]);
    assert_eq!(repo.git(["status", "--porcelain"]), before);
    assert_eq!(
        before,
        " D a\n A later\n M modified\nM  staged\n?? untracked\n"
    );
}

#[test]
fn a_held_index_lock_leaves_the_index_alone_but_files_are_stamped() {
    let repo = clone_with_changes();
    let lock = repo.root().join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let index = std::fs::read(repo.root().join(".git/index")).unwrap();

    let run = repo.tool().run();
    run.success();
    assert!(
        format!("{}{}", run.stdout(), run.stderr()).contains("index.lock"),
        "the lock is not mentioned:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    assert_eq!(
        std::fs::read(repo.root().join(".git/index")).unwrap(),
        index
    );
    assert!(lock.exists(), "another process's lock was removed");
    assert_eq!(repo.mtime("dir/b"), repo.expected_mtime("dir/b"));

    let json = repo.sync(["--json"]).json();
    assert_eq!(json["index"]["state"], "locked", "{json}");
}

#[test]
fn a_dry_run_and_a_second_sync_leave_the_index_file_alone() {
    let repo = clone_with_changes();
    let index = || std::fs::read(repo.root().join(".git/index")).unwrap();
    let before = index();
    repo.sync(["-q", "--dry-run"]);
    assert_eq!(index(), before, "dry run");

    repo.sync(["-q"]);
    let synced = index();
    repo.sync(["-q"]);
    assert_eq!(index(), synced, "second sync");
}

/// The index is changed in place: extensions git keeps there (here the untracked cache and the
/// cached trees) survive the refresh, and git still reads the file as sound.
#[test]
fn index_extensions_survive_the_refresh() {
    let repo = clone_with_changes();
    repo.git(["config", "core.untrackedCache", "true"]);
    repo.git(["update-index", "--untracked-cache"]);
    repo.git(["status", "--porcelain"]);
    let index_path = repo.path(".git/index");
    let extensions = |data: &[u8]| {
        [b"UNTR", b"TREE"]
            .iter()
            .filter(|signature| data.windows(4).any(|w| w == signature.as_slice()))
            .count()
    };
    let before = std::fs::read(&index_path).unwrap();
    assert_eq!(
        extensions(&before),
        2,
        "the fixture should have both extensions"
    );
    repo.sync(["-q"]).success();
    let after = std::fs::read(&index_path).unwrap();
    assert_ne!(before, after, "stamped files should have new stat data");
    assert_eq!(before.len(), after.len());
    assert_eq!(extensions(&after), 2);
    // git checks the trailing checksum and every entry when it reads the index.
    repo.git(["ls-files", "--debug"]);
    // Entries git itself doubts (racily clean) are left for it to check: after it has looked,
    // only the modified file differs.
    repo.git_output(["update-index", "-q", "--refresh"]);
    let dirty = repo.git(["diff-files", "--name-only"]);
    assert_eq!(dirty, "modified\n");
}

/// Index format versions 3 (extended flags) and 4 (prefix-compressed paths) are refreshed in
/// place as well, and git reads the result.
#[test]
fn every_index_version_is_refreshed() {
    for version in ["3", "4"] {
        let repo = clone_with_changes();
        repo.write("new", "n").git(["add", "-N", "new"]);
        repo.git(["update-index", "--index-version", version]);
        let status_before = repo.git(["status", "--porcelain"]);
        repo.sync(["-q"]).success();
        assert_eq!(
            repo.git(["status", "--porcelain"]),
            status_before,
            "version {version}"
        );
        for (path, ((seconds, nanos), _)) in index_stat(&repo) {
            if ["a", "dir/b", "dir/sub/c"].contains(&path.as_str()) {
                assert_eq!(
                    (seconds, nanos),
                    repo.mtime(&path),
                    "version {version}, {path}"
                );
            }
        }
        // The header's second word is the version.
        let header = std::fs::read(repo.path(".git/index")).unwrap();
        assert_eq!(header[4..8], [0, 0, 0, version.parse::<u8>().unwrap()]);
    }
}

/// A git built without USE_NSEC (Debian's) compares stat times in whole seconds, and doubts an
/// entry whose mtime second is not older than the index file's. Such an entry, edited within
/// that second, must stay in doubt after the sync rewrites the index one second or more later.
#[test]
fn an_edit_in_the_same_second_as_its_entry_stays_visible_to_git() {
    let repo = clone_with_changes();
    // ctime changes with every edit and cannot be set: leave it out, as core.trustctime does.
    repo.git(["config", "core.trustctime", "false"]);
    let second = EPOCH + 5000;
    // The entry of `a` records mtime .1 of that second; the index file was written at .7, so
    // git doubts the entry (same second) even though .1 is older than .7.
    repo.set_mtime("a", (second, 100_000_000));
    // (It exits 1 because of the file `modified`; `a` is refreshed all the same.)
    repo.git_output(["update-index", "-q", "--refresh"]);
    assert!(
        repo.git(["ls-files", "--debug", "a"])
            .contains("mtime: 1600005000:100000000")
    );
    repo.set_mtime(".git/index", (second, 700_000_000));
    // Same size, new content, still in that second.
    repo.write("a", "A");
    repo.set_mtime("a", (second, 400_000_000));
    let dirty = |repo: &Repo| {
        repo.git(["diff-files", "--name-only"])
            .lines()
            .any(|l| l == "a")
    };
    assert!(dirty(&repo), "git sees the edit");

    // The sync stamps other files, so it rewrites the index.
    let json = repo.sync(["--json", "-v"]).json();
    assert_eq!(json["index"]["state"], "refreshed", "{json}");
    let a = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "a")
        .unwrap();
    assert_eq!(a["reason"], "modified", "{json}");
    assert!(
        dirty(&repo),
        "git still sees the edit after the index was rewritten"
    );
    assert!(repo.git(["status", "--porcelain"]).contains(" M a\n"));
}

/// A clone whose every entry is racily clean, as those of a fresh clone usually are (the
/// checkout writes the files and the index within one second): here the files' mtimes and
/// the index file's fall in one second long ago, so that any later write of the index comes
/// at a later second for sure. ctime changes with every write and cannot be set back, so it is
/// left out of git's comparison, as `core.trustctime=false` does.
fn racy_clone() -> Repo {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write("a", "a")
        .write("b", "b")
        .write("dir/c", "c")
        .write("other", "other")
        .commit("base");
    let clone = origin.clone_to("clone", &[]);
    clone.git(["config", "core.trustctime", "false"]);
    let second = EPOCH + 5000;
    for (n, path) in ["a", "b", "dir/c", "other"].into_iter().enumerate() {
        clone.set_mtime(path, (second, 100_000_000 * (n as u32 + 1)));
    }
    clone.git(["update-index", "-q", "--refresh"]);
    clone.set_mtime(".git/index", (second, 900_000_000));
    clone
}

/// Syncs `paths` alone and asserts that the index was written with the new stat data of
/// their files.
fn sync_paths(repo: &Repo, paths: &[&str]) {
    let mut args = vec!["--json", "--"];
    args.extend_from_slice(paths);
    let json = repo.sync(args).json();
    assert_eq!(json["index"]["state"], "refreshed", "{json}");
    let stat = index_stat(repo);
    for path in paths {
        assert_eq!(repo.mtime(path), repo.expected_mtime(path), "{path}");
        assert_eq!(stat[*path].0, repo.mtime(path), "index mtime of {path}");
    }
}

/// A sync limited by a pathspec (as `cargo xtask` runs it) writes the index, and leaves every
/// entry outside it byte for byte as it was: git doubts those entries exactly as before (it
/// compares their content), so it finds them unchanged, and nothing is listed as modified.
#[test]
fn a_sync_of_some_paths_leaves_the_other_entries_as_they_were() {
    let repo = racy_clone();
    let before = index_stat(&repo);
    sync_paths(&repo, &["a"]);
    let after = index_stat(&repo);
    for path in ["b", "dir/c", "other"] {
        assert_eq!(after[path], before[path], "stat data of {path}");
    }
    let diff_index = repo.git_output(["diff-index", "--quiet", "HEAD"]);
    assert!(
        diff_index.status.success(),
        "git diff-index --quiet HEAD: {}\n{}",
        diff_index.status,
        repo.git(["diff-index", "HEAD"])
    );
    assert_eq!(repo.git(["diff-files", "--name-only"]), "");
    assert_eq!(repo.git(["status", "--porcelain"]), "");
}

/// An edit that only git's doubt about a racily clean entry reveals (same size, same second,
/// the ctime not compared) outside the synced paths is still seen by git after the sync has
/// written the index.
#[test]
fn an_edit_git_doubts_outside_the_synced_paths_stays_visible() {
    let repo = racy_clone();
    let recorded = repo.mtime("other");
    repo.write("other", "OTHER").set_mtime("other", recorded);
    assert_eq!(repo.git(["diff-files", "--name-only"]), "other\n");
    let before = index_stat(&repo);
    sync_paths(&repo, &["a", "b"]);
    let after = index_stat(&repo);
    for path in ["dir/c", "other"] {
        assert_eq!(after[path], before[path], "stat data of {path}");
    }
    assert_eq!(repo.git(["diff-files", "--name-only"]), "other\n");
    assert_eq!(repo.git(["status", "--porcelain"]), " M other\n");
}

/// How a split index is asked for.
#[derive(Debug, Clone, Copy)]
enum SplitBy {
    /// `git update-index --split-index`, with no setting.
    Command,
    /// `core.splitIndex=true`.
    Config,
}

/// The clean files of [`split_clone`], which the sync stamps.
const SPLIT_CLEAN: [&str; 5] = ["a", "b", "dir/c", "dir/d", "refreshed"];

/// A clone whose index is split, with a staged change in the shared index and changes of
/// every kind in the index file: a replacement with a new blob, a replacement with new stat
/// data only (`refreshed`), an added file and a deletion (`gone`, whose file stays as an
/// untracked one). `unstaged` is modified and not staged.
fn split_clone(by: SplitBy) -> Repo {
    let origin = Repo::new();
    origin.at(EPOCH);
    for path in [
        "a",
        "b",
        "dir/c",
        "dir/d",
        "early",
        "late",
        "refreshed",
        "gone",
        "unstaged",
    ] {
        origin.write(path, path);
    }
    origin.commit("base");
    origin.at(EPOCH + 100).commit_file("dir/d", "d2");
    let clone = origin.clone_to("clone", &[]);
    // Old mtimes in the index, so that no entry is racily clean: git would otherwise copy
    // such entries from the shared index into the index file (to zero their sizes there),
    // and no clean entry would be left in the shared index.
    clone.at(EPOCH + 1000);
    for path in clone.tracked_files() {
        clone.touch(path);
    }
    clone.git(["update-index", "-q", "--refresh"]);
    // Keep every change in the index file (git writes a new shared index past 20%).
    clone.git(["config", "splitIndex.maxPercentChange", "100"]);
    clone.write("early", "staged before the split");
    match by {
        SplitBy::Command => {
            clone.git(["add", "early"]);
            clone.git(["update-index", "--split-index"]);
        }
        SplitBy::Config => {
            clone.git(["config", "core.splitIndex", "true"]);
            clone.git(["add", "early"]);
        }
    }
    clone
        .write("late", "staged after the split")
        .git(["add", "late"]);
    clone.tick(10).touch("refreshed").git(["add", "refreshed"]);
    clone.write("new", "new").git(["add", "new"]);
    clone.git(["rm", "-q", "--cached", "gone"]);
    clone.write("unstaged", "changed, not staged");
    clone
}

/// The index file's entry count, and whether it is split (has a `link` extension).
fn split_state(repo: &Repo) -> (u32, bool) {
    let data = std::fs::read(repo.path(".git/index")).unwrap();
    let count = u32::from_be_bytes(data[8..12].try_into().unwrap());
    (count, data.windows(4).any(|w| w == b"link"))
}

/// The shared index files, with their bytes.
fn shared_indexes(repo: &Repo) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(repo.path(".git"))
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("sharedindex.")
        })
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

/// What git says of the staged and unstaged changes.
fn staged_state(repo: &Repo) -> [String; 3] {
    [
        repo.git(["status", "--porcelain"]),
        repo.git(["diff", "--cached", "--stat"]),
        repo.git(["ls-files", "-s"]),
    ]
}

fn a_split_index_is_refreshed_and_keeps_what_is_staged(by: SplitBy) {
    let repo = split_clone(by);
    let staged = staged_state(&repo);
    let (count, split) = split_state(&repo);
    assert!(split, "{by:?}: the fixture's index should be split");
    let shared = shared_indexes(&repo);
    assert_eq!(shared.len(), 1, "{by:?}");
    assert_eq!(
        staged[0], "M  early\nD  gone\nM  late\nA  new\n M unstaged\n?? gone\n",
        "{by:?}"
    );

    repo.sync(["-q"]);

    // Every clean file is stamped; the shared index is untouched, and the index file holds a
    // replacement for each clean file the shared index held.
    let expected: BTreeMap<Vec<u8>, (i64, u32)> = repo
        .expected_mtimes(false)
        .into_iter()
        .filter(|(path, _)| SPLIT_CLEAN.contains(&String::from_utf8_lossy(path).as_ref()))
        .collect();
    assert_eq!(expected.len(), SPLIT_CLEAN.len());
    let wrong = repo.mtimes_differing_from(&expected);
    assert!(
        wrong.is_empty(),
        "{by:?}: wrong mtimes:\n{}",
        wrong.join("\n")
    );
    assert_eq!(shared_indexes(&repo), shared, "{by:?}");
    let (count_after, split) = split_state(&repo);
    assert!(split, "{by:?}: the index is still split");
    assert_eq!(
        count_after,
        count + 4,
        "{by:?}: a, b, dir/c and dir/d replaced"
    );

    // git reads every stamped file's new stat data, and doubts none of them: its first status
    // compares no content, and finds only the unstaged change.
    let index_mtime = repo.mtime(".git/index");
    let stat = index_stat(&repo);
    for path in SPLIT_CLEAN {
        assert_eq!(
            stat[path].0,
            repo.mtime(path),
            "{by:?}: index mtime of {path}"
        );
        assert!(
            stat[path].0.0 < index_mtime.0,
            "{by:?}: {path} is racily clean"
        );
    }
    assert_eq!(
        repo.git(["diff-files", "--name-only"]),
        "unstaged\n",
        "{by:?}"
    );
    assert_eq!(staged_state(&repo), staged, "{by:?}");
    repo.git(["fsck", "--no-progress"]);
    // A second sync finds everything right, and leaves the index alone.
    let index = std::fs::read(repo.path(".git/index")).unwrap();
    let json = repo.sync(["--json"]).json();
    assert_eq!(json["updated"], 0, "{by:?}: {json}");
    assert_eq!(json["index"]["state"], "unchanged", "{by:?}: {json}");
    assert_eq!(std::fs::read(repo.path(".git/index")).unwrap(), index);
}

#[test]
fn a_split_index_is_refreshed_and_keeps_what_is_staged_by_command() {
    a_split_index_is_refreshed_and_keeps_what_is_staged(SplitBy::Command);
}

#[test]
fn a_split_index_is_refreshed_and_keeps_what_is_staged_by_config() {
    a_split_index_is_refreshed_and_keeps_what_is_staged(SplitBy::Config);
}
