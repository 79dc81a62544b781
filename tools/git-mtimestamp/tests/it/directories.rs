//! Every clean tracked directory (the work-tree root included) gets the committer time of the
//! last commit that changed its list of entries, found as `git log -1 -- PATH` finds a
//! file's, with the list standing in for the file's content; the nanoseconds are a
//! fingerprint of the list.
//!
//! The list of a directory holds each entry's name and kind (directory, file, symlink,
//! submodule), not file modes and not contents. The oracle ([`git_history`]) computes the
//! answers with the git command line only: it walks history as git's default simplification
//! does (at a commit, follow the first parent whose list is equal; a parent without the
//! directory has no list; with `--first-parent`, only the first parent is compared), and is
//! itself checked against `git log` twice: for files, with the blob standing in for the list,
//! and for directories, through a synthetic history in which every directory's list is a file.
//!
//! Randomized histories ([`generator`]) are written with `git fast-import` from a model of the
//! tree, so that every commit's tree (merges included) is exactly what the generator chose:
//! both sides of a merge adding different files to one directory, merges taking one side,
//! files becoming directories and symlinks and back, renames, directories that vanish and come
//! back, submodules, chmod-only and content-only commits, same-second commits and clock skew.
//! `DIR_SEED=N` reruns one seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use crate::support::repo::{EPOCH, Repo};
use crate::support::{mtime_of, os};

mod generator;
mod git_history;

use generator::{GENERATED, Generator};
use git_history::{
    ANSWERED, Answer, DEFAULT, FIRST_PARENT, GitHistory, List, Listing, Mode, kind_of_mode,
    list_bytes, list_fingerprint, show, show_time,
};

// --- Checking a sync against the oracle ------------------------------------------------------

/// Every tracked directory of HEAD whose content on disk is not exactly its list (at the
/// root, `.git` aside): a fresh clone has none. A submodule is a directory on disk.
fn unclean_dirs(repo: &Repo, listing: &Listing) -> Vec<String> {
    let mut unclean = Vec::new();
    for (path, dir) in &listing.dirs {
        let mut on_disk: List = std::fs::read_dir(repo.path(path))
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| !path.is_empty() || entry.file_name() != ".git")
            .map(|entry| {
                let kind = entry.file_type().unwrap();
                let kind = if kind.is_symlink() {
                    b'l'
                } else if kind.is_dir() {
                    b'd'
                } else {
                    b'f'
                };
                (entry.file_name().as_bytes().to_vec(), kind)
            })
            .collect();
        on_disk.sort();
        let wanted: List = dir
            .list
            .iter()
            .map(|(name, kind)| (name.clone(), if *kind == b'm' { b'd' } else { *kind }))
            .collect();
        if on_disk != wanted {
            unclean.push(format!(
                "{}: tree {:?}, disk {:?}",
                show(path),
                wanted,
                on_disk
            ));
        }
    }
    unclean
}

/// Every directory of `expected` whose mtime differs, one line each, naming the commit.
fn wrong_dirs(repo: &Repo, expected: &BTreeMap<Vec<u8>, Answer>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (path, answer) in expected {
        let actual = mtime_of(&repo.path(path));
        if actual != Some(answer.mtime) {
            wrong.push(format!(
                "directory {}: expected {} (commit {}), found {}",
                show(path),
                show_time(Some(answer.mtime)),
                &answer.commit[..12],
                show_time(actual)
            ));
        }
    }
    wrong
}

/// Every file of HEAD whose mtime is not git's answer (`git log -1 -- PATH`), one line each.
fn wrong_files(repo: &Repo, mode: Mode) -> Vec<String> {
    let mut expected = repo.expected_mtimes(mode.first_parent);
    if mode.whole_seconds {
        for time in expected.values_mut() {
            time.1 = 0;
        }
    }
    repo.mtimes_differing_from(&expected)
        .into_iter()
        .map(|line| format!("file {line}"))
        .collect()
}

/// Syncs `repo` in `mode` and returns what is wrong, each line prefixed with `label`: every
/// tracked directory (all must be clean) and every file must have the oracle's time.
fn sync_and_check(repo: &Repo, mode: Mode, label: &str) -> Vec<String> {
    let history = GitHistory::read(repo);
    let unclean = unclean_dirs(repo, &history.listing(&history.head));
    assert!(
        unclean.is_empty(),
        "{label}: the test expects clean directories only:\n{}",
        unclean.join("\n")
    );
    let expected = history.expected_dirs(mode);
    repo.sync(mode.args());
    let mut wrong = wrong_dirs(repo, &expected);
    wrong.extend(wrong_files(repo, mode));
    wrong
        .into_iter()
        .map(|line| format!("{label} {:?}: {line}", mode.args()))
        .collect()
}

fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} wrong mtimes (rerun one seed with DIR_SEED=N):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The tracked directories of HEAD: the trees of `git ls-tree -r -t -d HEAD` (which lists
/// submodules too) and the root.
fn tracked_dirs(repo: &Repo) -> Vec<Vec<u8>> {
    let out = repo.git_bytes(["ls-tree", "-r", "-t", "-d", "-z", "HEAD"]);
    let mut dirs = vec![Vec::new()];
    for line in out.split(|&b| b == 0).filter(|l| !l.is_empty()) {
        if line.starts_with(b"040000 ") {
            let tab = line.iter().position(|&b| b == b'\t').unwrap();
            dirs.push(line[tab + 1..].to_vec());
        }
    }
    dirs
}

/// The mtime of every tracked directory, file and symlink (submodules aside).
fn all_mtimes(repo: &Repo) -> BTreeMap<Vec<u8>, Option<(i64, u32)>> {
    let mut paths = tracked_dirs(repo);
    paths.extend(repo.head_blobs().into_keys());
    paths
        .into_iter()
        .map(|path| {
            let time = mtime_of(&repo.path(&path));
            (path, time)
        })
        .collect()
}

/// Sets a directory's mtime (a file's too, without opening it for writing).
fn set_dir_mtime(path: &Path, (seconds, nanos): (i64, u32)) {
    let time = SystemTime::UNIX_EPOCH + Duration::new(seconds as u64, nanos);
    std::fs::File::open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn seeds(range: std::ops::Range<u64>) -> Vec<u64> {
    let only: Option<u64> = std::env::var("DIR_SEED").ok().map(|s| s.parse().unwrap());
    range
        .filter(|seed| only.is_none_or(|only| only == *seed))
        .collect()
}

fn assert_covered(seen: &BTreeSet<String>, wanted: &[&str], seeds: &[u64]) {
    if seeds.len() < 5 {
        return;
    }
    let missing: Vec<_> = wanted.iter().filter(|k| !seen.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "no seed of {seeds:?} made {missing:?}; seen: {seen:?}"
    );
}

// --- Checks of the oracle itself -------------------------------------------------------------

/// Checks the oracle of `repo`'s HEAD against git: the walk for files against
/// `git log -1 -- PATH`, the listing against `git ls-tree`, the fingerprint against
/// `sha1sum`, and the walk for directories against `git log` on a synthetic history (made
/// in a sibling repository named `synthetic`) where each directory's list is a file.
fn check_oracle(repo: &Repo, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let history = GitHistory::read(repo);
    let head = history.listing(&history.head);

    // The listing of HEAD is git's.
    let mut dirs = tracked_dirs(repo);
    dirs.sort();
    let ours: Vec<Vec<u8>> = head.dirs.keys().cloned().collect();
    if ours != dirs {
        failures.push(format!(
            "{label}: directories {:?}, git has {:?}",
            ours.iter().map(|p| show(p)).collect::<Vec<_>>(),
            dirs.iter().map(|p| show(p)).collect::<Vec<_>>()
        ));
    }
    for (path, dir) in &head.dirs {
        let mut spec = b"HEAD:".to_vec();
        spec.extend_from_slice(path);
        let out = repo.git_bytes([os("ls-tree"), os("-z"), os(spec)]);
        let mut list: List = out
            .split(|&b| b == 0)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let tab = line.iter().position(|&b| b == b'\t').unwrap();
                let mode = std::str::from_utf8(&line[..6]).unwrap();
                (line[tab + 1..].to_vec(), kind_of_mode(mode))
            })
            .collect();
        list.sort();
        if list != dir.list {
            failures.push(format!(
                "{label}: list of {} differs from git's",
                show(path)
            ));
        }
        // The fingerprint, through another SHA-1.
        let mut sha1sum = std::process::Command::new("sha1sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        sha1sum
            .stdin
            .take()
            .unwrap()
            .write_all(&list_bytes(&dir.list))
            .unwrap();
        let digest = String::from_utf8(sha1sum.wait_with_output().unwrap().stdout).unwrap();
        let nanos = u32::from_str_radix(&digest[..8], 16).unwrap() % 1_000_000_000;
        if nanos != list_fingerprint(&dir.list) {
            failures.push(format!("{label}: fingerprint of {} differs", show(path)));
        }
    }

    // The walk for files is `git log -1 -- PATH`.
    for first_parent in [false, true] {
        for (path, time) in history.file_times(first_parent) {
            let git = if first_parent {
                repo.oracle_time_first_parent(&path)
            } else {
                repo.oracle_time(&path)
            };
            if git != time {
                failures.push(format!(
                    "{label} first_parent={first_parent}: file {}: walk {time}, git log {git}",
                    show(&path)
                ));
            }
        }
    }

    // The walk for directories is `git log -1 -- DIR/.list` in a copy of the history whose
    // trees hold one file per directory, the directory's list.
    let synthetic = repo.init_sibling("synthetic");
    let order = repo.git(["rev-list", "--topo-order", "--reverse", "HEAD"]);
    let mut marks = HashMap::new();
    let mut stream = Vec::new();
    for (n, id) in order.lines().enumerate() {
        let mark = n + 1;
        marks.insert(id.to_owned(), mark);
        let commit = &history.commits[id];
        writeln!(stream, "reset refs/heads/main\ncommit refs/heads/main").unwrap();
        writeln!(
            stream,
            "mark :{mark}\ncommitter t <t@e> {} +0000",
            commit.time
        )
        .unwrap();
        writeln!(stream, "data 0").unwrap();
        for (i, parent) in commit.parents.iter().enumerate() {
            let command = if i == 0 { "from" } else { "merge" };
            writeln!(stream, "{command} :{}", marks[parent]).unwrap();
        }
        writeln!(stream, "deleteall").unwrap();
        for (path, dir) in &history.listing(id).dirs {
            stream.extend_from_slice(b"M 100644 inline ");
            if !path.is_empty() {
                stream.extend_from_slice(path);
                stream.push(b'/');
            }
            let bytes = list_bytes(&dir.list);
            writeln!(stream, ".list\ndata {}", bytes.len()).unwrap();
            stream.extend_from_slice(&bytes);
            stream.push(b'\n');
        }
        stream.push(b'\n');
    }
    writeln!(
        stream,
        "reset refs/heads/main\nfrom :{}",
        marks[&history.head]
    )
    .unwrap();
    let mut child = synthetic
        .git_command()
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    for mode in [DEFAULT, FIRST_PARENT] {
        for (path, answer) in history.expected_dirs(mode) {
            let mut file = path.clone();
            if !file.is_empty() {
                file.push(b'/');
            }
            file.extend_from_slice(b".list");
            let git = if mode.first_parent {
                synthetic.oracle_time_first_parent(&file)
            } else {
                synthetic.oracle_time(&file)
            };
            if git != answer.mtime.0 {
                failures.push(format!(
                    "{label} {:?}: directory {}: walk {}, git log on the lists {git}",
                    mode.args(),
                    show(&path),
                    answer.mtime.0
                ));
            }
        }
    }
    std::fs::remove_dir_all(synthetic.root()).unwrap();
    failures
}

/// The oracle agrees with git, before the tool is asked anything: on generated histories and
/// on one made with git's porcelain (real merges, `git mv`, conflicts).
#[test]
fn the_oracle_agrees_with_git() {
    let mut failures = Vec::new();
    for seed in seeds(0..4) {
        let generated = Generator::generate(seed);
        failures.extend(check_oracle(&generated.repo, &format!("seed {seed}")));
    }
    let repo = porcelain_history();
    failures.extend(check_oracle(&repo, "porcelain"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A history made with git's own commands: `git mv`, a clean merge where both sides add to
/// one directory, a conflicted merge resolved by taking theirs, file/directory and
/// file/symlink changes, a directory that vanishes and comes back.
fn porcelain_history() -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("src/a/b/c/deep.txt", "deep")
        .write("src/lib.rs", "lib")
        .write("src/a/x", "x")
        .write("doc/readme", "r")
        .write("name", "a file")
        .commit("start");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("src/main.rs", "main");
    repo.at(EPOCH + 200);
    repo.git(["mv", "src/a/x", "src/a/b/y"]);
    repo.commit("git mv");
    repo.checkout("feature");
    repo.at(EPOCH + 300)
        .commit_file("src/feature.rs", "feature");
    repo.at(EPOCH + 400).commit_file("doc/readme", "changed");
    repo.at(EPOCH + 500)
        .remove("name")
        .write("name/inside", "dir");
    repo.commit("file to directory");
    repo.checkout("main").at(EPOCH + 600);
    assert!(repo.merge(["--no-ff", "feature"]));
    repo.at(EPOCH + 700)
        .commit_file("src/a/b/c/deep.txt", "content only");
    repo.at(EPOCH + 800)
        .chmod("src/lib.rs", 0o755)
        .commit("chmod");
    repo.at(EPOCH + 900).remove("doc").commit("doc vanishes");
    repo.at(EPOCH + 1000)
        .write("doc/readme", "changed")
        .commit("doc comes back");
    repo.branch("other");
    repo.at(EPOCH + 1100).commit_file("src/lib.rs", "ours");
    repo.checkout("other");
    repo.at(EPOCH + 1200)
        .write("src/lib.rs", "theirs")
        .symlink("src/link", "lib.rs")
        .commit("theirs");
    repo.checkout("main").at(EPOCH + 1300);
    assert!(!repo.merge(["other"]), "the merge should conflict");
    repo.git(["checkout", "--theirs", "--", "src/lib.rs"]);
    repo.commit("merge taking theirs");
    repo
}

// --- Hand-built histories -------------------------------------------------------------------

/// The list `(name, kind)...` as the oracle holds it.
fn list(entries: &[(&str, u8)]) -> List {
    let mut list: List = entries
        .iter()
        .map(|(name, kind)| (name.as_bytes().to_vec(), *kind))
        .collect();
    list.sort();
    list
}

/// Asserts that the oracle gives `repo`'s directories exactly these (path, seconds, list)
/// in `mode`, then that a fresh clone synced in `mode` matches the oracle.
fn check_by_hand(repo: &Repo, mode: Mode, wanted: &[(&str, i64, List)]) {
    let history = GitHistory::read(repo);
    let answers = history.expected_dirs(mode);
    let by_hand: BTreeMap<Vec<u8>, (i64, u32)> = wanted
        .iter()
        .map(|(path, seconds, list)| {
            let path = if *path == "." { "" } else { path };
            (path.as_bytes().to_vec(), (*seconds, list_fingerprint(list)))
        })
        .collect();
    let oracle: BTreeMap<Vec<u8>, (i64, u32)> =
        answers.iter().map(|(p, a)| (p.clone(), a.mtime)).collect();
    assert_eq!(
        oracle, by_hand,
        "the oracle disagrees with the hand-made answers"
    );

    let clone = repo.clone_to(&format!("clone-{}", mode.args().join("")), &[]);
    let wrong = sync_and_check(&clone, mode, "hand-built");
    assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
}

#[test]
fn content_and_mode_changes_leave_a_directory_alone_and_list_changes_do_not() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("top", "1")
        .write("d/a", "1")
        .write("d/e/f", "1")
        .write("d/e/g/h", "1")
        .commit("start");
    repo.at(EPOCH + 100).commit_file("d/a", "content only");
    repo.at(EPOCH + 200)
        .chmod("d/a", 0o755)
        .commit("chmod only");
    repo.at(EPOCH + 300).commit_file("d/b", "a new file");
    repo.at(EPOCH + 400).commit_file("d/e/g/h", "deep content");
    repo.at(EPOCH + 500);
    repo.git(["mv", "d/e/f", "d/e/f2"]);
    repo.commit("rename");
    let wanted = [
        (".", EPOCH, list(&[("d", b'd'), ("top", b'f')])),
        (
            "d",
            EPOCH + 300,
            list(&[("a", b'f'), ("b", b'f'), ("e", b'd')]),
        ),
        ("d/e", EPOCH + 500, list(&[("f2", b'f'), ("g", b'd')])),
        ("d/e/g", EPOCH, list(&[("h", b'f')])),
    ];
    check_by_hand(&repo, DEFAULT, &wanted);
    check_by_hand(&repo, FIRST_PARENT, &wanted);
}

#[test]
fn merges_follow_the_side_whose_list_is_equal() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("d/base", "1")
        .write("other/x", "1")
        .commit("start");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("d/ours", "1");
    repo.checkout("feature");
    repo.at(EPOCH + 200).commit_file("d/theirs", "1");
    repo.at(EPOCH + 250).commit_file("other/y", "1");
    repo.checkout("main").at(EPOCH + 300);
    assert!(repo.merge(["--no-ff", "feature"]));
    // A merge that keeps our tree: the directory follows the first parent.
    repo.branch("ignored");
    repo.at(EPOCH + 400).commit_file("d/more", "1");
    repo.checkout("ignored");
    repo.at(EPOCH + 500).commit_file("d/ignored", "1");
    repo.checkout("main").at(EPOCH + 600);
    assert!(repo.merge(["-s", "ours", "ignored"]));

    let d = list(&[
        ("base", b'f'),
        ("more", b'f'),
        ("ours", b'f'),
        ("theirs", b'f'),
    ]);
    let other = list(&[("x", b'f'), ("y", b'f')]);
    let root = list(&[("d", b'd'), ("other", b'd')]);
    check_by_hand(
        &repo,
        DEFAULT,
        &[
            (".", EPOCH, root.clone()),
            ("d", EPOCH + 400, d.clone()),
            ("other", EPOCH + 250, other.clone()),
        ],
    );
    check_by_hand(
        &repo,
        FIRST_PARENT,
        &[
            (".", EPOCH, root),
            ("d", EPOCH + 400, d),
            ("other", EPOCH + 300, other),
        ],
    );
}

#[test]
fn a_merge_whose_list_is_new_gets_the_merge_time() {
    let repo = Repo::new();
    repo.at(EPOCH).write("d/base", "1").commit("start");
    repo.branch("feature");
    repo.at(EPOCH + 100).commit_file("d/ours", "1");
    repo.checkout("feature");
    repo.at(EPOCH + 200).commit_file("d/theirs", "1");
    repo.checkout("main").at(EPOCH + 300);
    assert!(repo.merge(["--no-ff", "feature"]));
    let d = list(&[("base", b'f'), ("ours", b'f'), ("theirs", b'f')]);
    for mode in [DEFAULT, FIRST_PARENT] {
        check_by_hand(
            &repo,
            mode,
            &[
                (".", EPOCH, list(&[("d", b'd')])),
                ("d", EPOCH + 300, d.clone()),
            ],
        );
    }
}

#[test]
fn a_directory_that_vanishes_and_comes_back_gets_the_return_time() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("d/x", "1")
        .write("d/e/y", "1")
        .write("keep", "1")
        .commit("start");
    repo.at(EPOCH + 100).remove("d").commit("d vanishes");
    repo.at(EPOCH + 200)
        .write("d/x", "1")
        .write("d/e/y", "1")
        .commit("d comes back as it was");
    // The root's list is again what it was at the start, but it was different in between.
    check_by_hand(
        &repo,
        DEFAULT,
        &[
            (".", EPOCH + 200, list(&[("d", b'd'), ("keep", b'f')])),
            ("d", EPOCH + 200, list(&[("e", b'd'), ("x", b'f')])),
            ("d/e", EPOCH + 200, list(&[("y", b'f')])),
        ],
    );
}

#[test]
fn kinds_are_part_of_the_list() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("n", "a file")
        .write("l", "a file")
        .write("g/z", "1")
        .commit("start");
    repo.at(EPOCH + 100)
        .remove("n")
        .write("n/inside", "n is a directory")
        .commit("file to directory");
    repo.at(EPOCH + 200)
        .symlink("l", "n")
        .commit("file to symlink");
    // A submodule (a gitlink without .gitmodules); its empty directory keeps `git add -A`
    // from deleting it.
    std::fs::create_dir(repo.path("g/m")).unwrap();
    repo.git([
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,g/m",
    ]);
    repo.at(EPOCH + 300).commit("add a submodule");
    repo.git([
        "update-index",
        "--cacheinfo",
        "160000,2222222222222222222222222222222222222222,g/m",
    ]);
    repo.at(EPOCH + 400)
        .commit("move the submodule: no list change");
    assert_eq!(
        repo.git(["log", "-1", "--format=%ct", "--", "g/m"]).trim(),
        (EPOCH + 400).to_string()
    );
    check_by_hand(
        &repo,
        DEFAULT,
        &[
            (
                ".",
                EPOCH + 200,
                list(&[("g", b'd'), ("l", b'l'), ("n", b'd')]),
            ),
            ("g", EPOCH + 300, list(&[("m", b'm'), ("z", b'f')])),
            ("n", EPOCH + 100, list(&[("inside", b'f')])),
        ],
    );
}

/// The fingerprint's bytes, pinned: entries sorted bytewise (`a` before `a.txt`, although git
/// sorts the directory `a` after `a.txt`), kind byte, name, NUL.
#[test]
fn the_fingerprint_is_the_sha1_of_the_sorted_kinds_and_names() {
    let root = list(&[("a", b'd'), ("a.txt", b'f'), ("l", b'l'), ("m", b'm')]);
    assert_eq!(list_bytes(&root), b"da\0fa.txt\0ll\0mm\0");
    // python3 -c 'import hashlib; print(hashlib.sha1(b"da\0fa.txt\0ll\0mm\0").hexdigest())'
    // 5b1d3255a606fd457afe203ea5e84ba700c01a03: 0x5b1d3255 % 10^9.
    assert_eq!(list_fingerprint(&root), 528_640_085);

    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a/x", "1")
        .write("a.txt", "1")
        .symlink("l", "a.txt");
    std::fs::create_dir(repo.path("m")).unwrap();
    repo.git([
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,m",
    ]);
    repo.commit("all kinds");
    let clone = repo.clone_to("clone", &[]);
    clone.sync(["-q"]);
    assert_eq!(clone.mtime(""), (EPOCH, 528_640_085), "the root");
    assert_eq!(
        clone.mtime("a"),
        (EPOCH, list_fingerprint(&list(&[("x", b'f')]))),
        "a"
    );
}

/// Only clean directories are stamped: one with an untracked or ignored entry, or missing a
/// tracked one, keeps its time; one whose file was only edited is still clean.
/// Small directories and large ones (whose names are looked up another way) alike.
#[test]
fn unclean_directories_keep_their_times() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write(".gitignore", "*.o\n")
        .write("untracked/a", "1")
        .write("ignored/a", "1")
        .write("missing/a", "1")
        .write("missing/b", "1")
        .write("retyped/a", "1")
        .write("edited/a", "1")
        .write("clean/a", "1");
    const LARGE: usize = 150;
    for dir in [
        "large-untracked",
        "large-missing",
        "large-retyped",
        "large-clean",
    ] {
        for n in 0..LARGE {
            repo.write(format!("{dir}/f{n:03}"), "1");
        }
    }
    // Entries of every kind in a large clean directory.
    repo.write("large-clean/sub/x", "1")
        .symlink("large-clean/link", "f000");
    repo.commit("start");
    let clone = repo.clone_to("clone", &[]);
    clone.write("untracked/new", "x");
    clone.write("ignored/x.o", "x");
    clone.remove("missing/b");
    clone.remove("retyped/a").symlink("retyped/a", "elsewhere");
    clone.write("edited/a", "2");
    clone.write("large-untracked/f0000", "x");
    clone.remove("large-missing/f149");
    clone.remove("large-retyped/f075");
    clone.write("large-retyped/f075/inside", "x");
    let unclean = [
        "untracked",
        "ignored",
        "missing",
        "retyped",
        "large-untracked",
        "large-missing",
        "large-retyped",
    ];
    for (n, dir) in unclean.iter().enumerate() {
        set_dir_mtime(&clone.path(dir), (EPOCH + 5_000 + n as i64, 7));
    }
    clone.sync(["-q"]);
    for (n, dir) in unclean.iter().enumerate() {
        assert_eq!(
            clone.mtime(dir),
            (EPOCH + 5_000 + n as i64, 7),
            "{dir} is not clean and must keep its time"
        );
    }
    for dir in ["edited", "clean"] {
        let expected = (EPOCH, list_fingerprint(&list(&[("a", b'f')])));
        assert_eq!(clone.mtime(dir), expected, "{dir} is clean");
    }
    let names: Vec<String> = (0..LARGE).map(|n| format!("f{n:03}")).collect();
    let mut entries: Vec<(&str, u8)> = names.iter().map(|name| (name.as_str(), b'f')).collect();
    entries.extend([("sub", b'd'), ("link", b'l')]);
    let expected = (EPOCH, list_fingerprint(&list(&entries)));
    assert_eq!(clone.mtime("large-clean"), expected, "large-clean is clean");
}

/// Without a git to run, libgit2's ignore rules tell an ignored entry from an untracked one
/// (the directories are stamped on a thread of their own, which opens its own repository
/// handle for that).
#[test]
fn without_git_on_path_ignored_entries_are_told_by_libgit2() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write(".gitignore", "*.o\n")
        .write("ignored/a", "1")
        .write("untracked/a", "1")
        .commit("start");
    let clone = repo.clone_to("clone", &[]);
    clone.write("ignored/x.o", "x").write("untracked/new", "x");
    let no_git = clone.sandbox().join("no-git");
    std::fs::create_dir_all(&no_git).unwrap();
    clone
        .tool()
        .env("PATH", &no_git)
        .arg("-v")
        .run()
        .success()
        .stdout_has("skipped ignored ignored/\n")
        .stdout_has("skipped untracked untracked/\n");
}

// --- Randomized histories --------------------------------------------------------------------

/// For each seed: a generated history, its fresh clone synced in both history modes, every
/// tracked directory and file compared with the oracle.
fn check_seeds(range: std::ops::Range<u64>) {
    let seeds = seeds(range);
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for &seed in &seeds {
        let generated = Generator::generate(seed);
        seen.extend(generated.seen.iter().cloned());
        let clone = generated.repo.clone_to("clone", &["--no-local"]);
        let history = GitHistory::read(&clone);
        history.coverage(&history.expected_dirs(DEFAULT), &mut seen);
        for mode in [DEFAULT, FIRST_PARENT] {
            failures.extend(sync_and_check(&clone, mode, &format!("seed {seed}")));
        }
    }
    assert_no_failures(&failures);
    assert_covered(&seen, &GENERATED, &seeds);
    assert_covered(&seen, &ANSWERED, &seeds);
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

/// A clone synced, then new commits (merges among them) pulled, then branch switches: each
/// sync, which reuses the answers of the ones before, must match the oracle, and a sync with
/// nothing new must change nothing.
#[test]
fn syncs_after_new_commits_and_branch_switches_match_the_oracle() {
    let seeds = seeds(100..104);
    let mut failures = Vec::new();
    let (mut merges_pulled, mut switches) = (0, 0);
    for &seed in &seeds {
        let mode = if seed % 2 == 0 { DEFAULT } else { FIRST_PARENT };
        let mut generated = Generator::generate(seed);
        let clone = generated.repo.clone_to("clone", &["--no-local"]);
        failures.extend(sync_and_check(&clone, mode, &format!("seed {seed} first")));
        assert!(
            std::fs::read_dir(clone.path(".git/mtimestamp")).is_ok_and(|mut d| d.next().is_some()),
            "the sync stored no answers for the next one to reuse"
        );
        for round in 0..2 {
            let commits = 5 + generated.rng.below(10);
            generated.grow(commits);
            generated.finish();
            clone.git(["fetch", "-q", "origin"]);
            let merges = clone.git(["rev-list", "--count", "--merges", "HEAD..origin/main"]);
            merges_pulled += merges.trim().parse::<usize>().unwrap();
            clone.git(["merge", "-q", "--ff-only", "origin/main"]);
            let label = format!("seed {seed} after pull {round}");
            failures.extend(sync_and_check(&clone, mode, &label));
            let before = all_mtimes(&clone);
            clone.sync(mode.args());
            if all_mtimes(&clone) != before {
                failures.push(format!("{label}: a sync with nothing new changed mtimes"));
            }
        }
        let branches: Vec<String> = generated
            .branch_names()
            .into_iter()
            .filter(|b| b != "main")
            .collect();
        for _ in 0..2.min(branches.len()) {
            let branch = generated.rng.pick(&branches).clone();
            let tree_before = clone.git(["rev-parse", "HEAD^{tree}"]);
            clone.git(["checkout", "-q", &branch]);
            if clone.git(["rev-parse", "HEAD^{tree}"]) != tree_before {
                switches += 1;
            }
            let label = format!("seed {seed} on {branch}");
            failures.extend(sync_and_check(&clone, mode, &label));
        }
        clone.git(["checkout", "-q", "main"]);
        let label = format!("seed {seed} back on main");
        failures.extend(sync_and_check(&clone, mode, &label));
        let other = if mode.first_parent {
            DEFAULT
        } else {
            FIRST_PARENT
        };
        let label = format!("seed {seed} in the other mode");
        failures.extend(sync_and_check(&clone, other, &label));
    }
    assert_no_failures(&failures);
    if seeds.len() > 1 {
        assert!(merges_pulled > 0, "no pull brought a merge");
        assert!(switches > 0, "no branch switch changed the tree");
    }
}

/// `--whole-seconds` stamps directories with nanoseconds 0; `--no-directories` leaves their
/// mtimes as they were and still stamps files.
#[test]
fn whole_seconds_and_no_directories() {
    let generated = Generator::generate(200);
    let clone = generated.repo.clone_to("clone", &["--no-local"]);
    for mode in [
        Mode {
            first_parent: false,
            whole_seconds: true,
        },
        Mode {
            first_parent: true,
            whole_seconds: true,
        },
    ] {
        let wrong = sync_and_check(&clone, mode, "seed 200");
        assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
        for dir in tracked_dirs(&clone) {
            assert_eq!(clone.mtime(&dir).1, 0, "{} has nanoseconds", show(&dir));
        }
    }

    let clone = generated
        .repo
        .clone_to("clone-no-directories", &["--no-local"]);
    let dirs = tracked_dirs(&clone);
    for (n, dir) in dirs.iter().enumerate() {
        set_dir_mtime(&clone.path(dir), (EPOCH - 10_000 + n as i64, 1 + n as u32));
    }
    let before: Vec<_> = dirs.iter().map(|d| (show(d), clone.mtime(d))).collect();
    clone.sync(["-q", "--no-directories"]);
    let after: Vec<_> = dirs.iter().map(|d| (show(d), clone.mtime(d))).collect();
    assert_eq!(before, after, "--no-directories changed directory mtimes");
    let wrong = wrong_files(&clone, DEFAULT);
    assert!(wrong.is_empty(), "--no-directories: {}", wrong.join("\n"));
    // Without it, the next sync stamps them.
    let wrong = sync_and_check(&clone, DEFAULT, "seed 200 after --no-directories");
    assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
}

/// Two clones of one commit, made at different times with different mtimes, get the same
/// mtime for every tracked file and directory.
#[test]
fn clones_made_at_different_times_get_the_same_mtimes() {
    let generated = Generator::generate(300);
    for mode in [DEFAULT, FIRST_PARENT] {
        let name = |n: usize| format!("clone-{n}-{}", mode.first_parent);
        let first = generated.repo.clone_to(&name(1), &["--no-local"]);
        std::thread::sleep(Duration::from_millis(1_100));
        let second = generated.repo.clone_to(&name(2), &[]);
        for dir in tracked_dirs(&second) {
            set_dir_mtime(&second.path(&dir), (EPOCH + 77_777, 5));
        }
        first.sync(mode.args());
        second.sync(mode.args());
        let (a, b) = (all_mtimes(&first), all_mtimes(&second));
        let differing: Vec<String> = a
            .iter()
            .filter(|(path, time)| b.get(*path) != Some(time))
            .map(|(path, time)| {
                format!(
                    "{}: {} in one clone, {} in the other",
                    show(path),
                    show_time(*time),
                    show_time(b.get(path).copied().flatten())
                )
            })
            .collect();
        assert!(
            differing.is_empty() && a.len() == b.len(),
            "seed 300 {:?}:\n{}",
            mode.args(),
            differing.join("\n")
        );
        let wrong = sync_and_check(&second, mode, "seed 300");
        assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
    }
}
