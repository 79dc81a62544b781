//! After a sync git's index holds the new stat data of every stamped file, so the next
//! `git status` neither re-hashes them nor sees anything different; a held `index.lock` is
//! respected.

mod support;

use std::collections::BTreeMap;

use support::{EPOCH, Repo};

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

/// The stat block with git's mark for a racily clean entry: size 0, so that git compares
/// the content next time. Git writes it for entries whose mtime is not older than the index
/// file; a writer that cannot vouch for such an entry may do the same.
fn racily_clean(block: &str) -> String {
    let mut lines: Vec<String> = block.lines().map(str::to_owned).collect();
    for line in &mut lines {
        if let Some(rest) = line.trim().strip_prefix("size: ") {
            let flags = rest.split_once('\t').map_or("", |(_, flags)| flags);
            *line = format!("  size: 0\t{flags}");
        }
    }
    lines.join("\n") + "\n"
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
        let smudged = racily_clean(&before[path].1);
        assert!(
            after[path] == before[path] || after[path].1 == smudged,
            "stat data of the skipped {path}: {:?} became {:?}",
            before[path],
            after[path]
        );
    }
}

#[test]
fn git_sees_the_stamped_files_as_up_to_date_without_refreshing() {
    let repo = clone_with_changes();
    repo.sync(["-q"]);
    // `git diff-files` trusts the index's stat data and lists every file whose stat data
    // does not match (mtime, ctime, size, inode...), whatever its content. `staged` may be
    // listed too: see `racily_clean`.
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
