//! An edit made while a sync runs is never hidden: whatever the interleaving, a file whose
//! content differs from HEAD does not end up with its commit time, which a cache keyed by
//! size and mtime would take for the committed content; and git's index never records stat
//! data that would make `git status` take an edited file for its staged content.
//!
//! Each round runs syncs over thousands of files while one thread rewrites random files (same
//! size, new content, sometimes the committed content again) and another stages random files
//! with `git add`, racing the sync for `index.lock`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::history::Rng;
use crate::support::repo::{EPOCH, Repo};
use crate::support::run::copy_command;
use crate::support::{fingerprint, mtime_of};

const FILES: usize = 3000;
const BATCH: usize = 100;
const ROUNDS: u64 = 6;
const SYNCS_PER_ROUND: usize = 3;

/// The committed content of a file. Edits replace `original` with `edit` and four digits, so
/// an edited file keeps its size and never equals HEAD.
fn original(path: &str) -> String {
    format!("{path} original {}\n", "x".repeat(60))
}

fn edited(path: &str, n: usize) -> String {
    original(path).replace("original", &format!("edit{:04}", n % 10_000))
}

#[derive(Default)]
struct Counts {
    edits: AtomicUsize,
    adds: AtomicUsize,
    adds_refused: AtomicUsize,
}

#[test]
fn edits_and_adds_during_syncs_are_never_hidden() {
    let origin = Repo::new();
    let paths: Vec<String> = (0..FILES)
        .map(|i| format!("d{}/e{}/f{i:04}.txt", i % 7, i % 11))
        .collect();
    // Batch b is committed at EPOCH + 1000 b: each file's commit time is known without
    // asking git once per file.
    for (batch, chunk) in paths.chunks(BATCH).enumerate() {
        for path in chunk {
            origin.write(path, original(path));
        }
        origin.at(EPOCH + 1000 * batch as i64).commit("batch");
    }
    let repo = origin.clone_to("clone", &[]);
    let blobs = repo.head_blobs();
    let committed: Vec<(i64, u32)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let seconds = EPOCH + 1000 * (i / BATCH) as i64;
            (seconds, fingerprint(&blobs[p.as_bytes()]))
        })
        .collect();

    let counts = Arc::new(Counts::default());
    let mut changed_during_sync = 0;
    let mut index_refreshes = 0;
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let editor = {
            let (stop, counts) = (Arc::clone(&stop), Arc::clone(&counts));
            let (root, paths) = (repo.root().to_owned(), paths.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(round);
                while !stop.load(Ordering::Relaxed) {
                    let path = rng.pick(&paths);
                    let content = if rng.chance(30) {
                        original(path)
                    } else {
                        edited(path, counts.edits.fetch_add(1, Ordering::Relaxed))
                    };
                    std::fs::write(root.join(path), content).unwrap();
                    std::thread::sleep(Duration::from_micros(50));
                }
            })
        };
        let adder = {
            let (stop, counts) = (Arc::clone(&stop), Arc::clone(&counts));
            let mut git = repo.git_command();
            git.args(["add", "--"]);
            let paths = paths.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(1000 + round);
                while !stop.load(Ordering::Relaxed) {
                    let picked: Vec<&String> = (0..3).map(|_| rng.pick(&paths)).collect();
                    let mut add = copy_command(&git, &[]);
                    let output = add.args(picked).output().unwrap();
                    if output.status.success() {
                        counts.adds.fetch_add(1, Ordering::Relaxed);
                    } else {
                        // Either the sync holds index.lock, or the editor rewrote a file
                        // while git read it ("short read"): git's own refusals.
                        let stderr = String::from_utf8_lossy(&output.stderr);
                        assert!(
                            stderr.contains("index.lock") || stderr.contains("short read"),
                            "git add failed: {stderr}"
                        );
                        counts.adds_refused.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        for _ in 0..SYNCS_PER_ROUND {
            let (json, stderr) = sync_under_changes(&repo);
            assert_eq!(json["failed"], 0, "{stderr}");
            changed_during_sync += json["changed_during_sync"].as_u64().unwrap();
            index_refreshes += usize::from(json["index"]["state"] == "refreshed");
        }
        stop.store(true, Ordering::Relaxed);
        editor.join().unwrap();
        adder.join().unwrap();

        let mut hidden = Vec::new();
        for (path, commit_time) in paths.iter().zip(&committed) {
            let content = std::fs::read(repo.path(path)).unwrap();
            let mtime = mtime_of(&repo.path(path)).unwrap();
            if content != original(path).as_bytes() && mtime == *commit_time {
                hidden.push(format!("{path}: edited, but has its commit time {mtime:?}"));
            }
        }
        hidden.extend(index_claims_clean_but_differs(&repo, &paths));
        assert!(hidden.is_empty(), "round {round}:\n{}", hidden.join("\n"));
    }
    eprintln!(
        "{ROUNDS} rounds of {SYNCS_PER_ROUND} syncs over {FILES} files: {} edits, {} git adds \
         ({} more refused: index.lock held, or a file rewritten while git read it); the syncs reported {changed_during_sync} files \
         changed under them and refreshed the index {index_refreshes} times",
        counts.edits.load(Ordering::Relaxed),
        counts.adds.load(Ordering::Relaxed),
        counts.adds_refused.load(Ordering::Relaxed),
    );
    assert!(counts.edits.load(Ordering::Relaxed) > 0 && counts.adds.load(Ordering::Relaxed) > 0);

    // Once edits and staging are undone, everything is synced again.
    for path in &paths {
        repo.write(path, original(path));
    }
    repo.git(["add", "-A"]);
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.git(["status", "--porcelain"]), "");
}

/// A sync while another thread changes files under it, and its JSON report and warnings. Exit
/// code 1 is fine: a path changed under the sync is a reported problem.
fn sync_under_changes(repo: &Repo) -> (serde_json::Value, String) {
    let run = repo.tool().arg("--json").run();
    assert!(
        matches!(run.output.status.code(), Some(0 | 1)),
        "{}",
        run.stderr()
    );
    (run.json(), run.stderr())
}

/// Files whose content differs from their staged blob although `git diff-files` (which
/// trusts the index's stat data, as `git status` does) does not list them.
fn index_claims_clean_but_differs(repo: &Repo, paths: &[String]) -> Vec<String> {
    let staged: Vec<String> = repo
        .git(["ls-files", "-s"])
        .lines()
        .map(|line| line.split(' ').nth(1).unwrap().to_owned())
        .collect();
    let mut hash = repo.git_command();
    hash.args(["hash-object", "--stdin-paths"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = hash.spawn().unwrap();
    let list: String = paths.iter().map(|p| format!("{p}\n")).collect();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), list.as_bytes()).unwrap();
    let on_disk = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let listed_dirty: BTreeSet<String> = repo
        .git(["diff-files", "--name-only"])
        .lines()
        .map(str::to_owned)
        .collect();
    // `ls-files` sorts like git; the paths are generated in the same byte order.
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort();
    assert_eq!(sorted.len(), staged.len());
    let disk_by_path: std::collections::HashMap<&String, &str> =
        paths.iter().zip(on_disk.lines()).collect();
    // Only stat data this tool wrote is its responsibility: it records commit times (2020),
    // while `git add` records the time it saw. git itself can record stale stat data when an
    // edit lands between its lstat and an index write in the next second (its own race,
    // which a loaded machine makes frequent), so those entries are not judged here.
    let recorded = repo.index_mtime_seconds();
    let written_by_sync = |path: &String| recorded[path.as_str()] < EPOCH + 100_000_000;
    sorted
        .into_iter()
        .zip(&staged)
        .filter(|(path, blob)| {
            disk_by_path[path] != blob.as_str()
                && !listed_dirty.contains(*path)
                && written_by_sync(path)
        })
        .map(|(path, blob)| {
            let debug = repo.git(["ls-files", "--debug", "--", path.as_str()]);
            format!(
                "{path}: differs from the index, but git sees it as clean\n  staged {blob}, on disk {}, file mtime {:?}\n{debug}",
                disk_by_path[path],
                mtime_of(&repo.path(path))
            )
        })
        .collect()
}

/// A directory that gains an entry while a sync stamps it never keeps its commit time:
/// whatever the interleaving, a directory holding an untracked file does not end up with the
/// time of the commit whose list it no longer has.
///
/// Each round runs syncs over 400 directories while a thread adds and removes untracked
/// files and directories in them. Removing the last stray makes a directory clean again, and
/// the next sync stamps it while the thread may be adding the next one.
#[test]
fn entries_added_during_syncs_never_leave_a_directory_its_commit_time() {
    const DIRECTORIES: usize = 400;
    let origin = Repo::new();
    let directories: Vec<String> = (0..DIRECTORIES)
        .map(|i| format!("d{}/e{i:03}", i % 9))
        .collect();
    for dir in &directories {
        origin
            .write(format!("{dir}/a.txt"), "a")
            .write(format!("{dir}/b.txt"), "b");
    }
    // One commit: every directory's list dates from it.
    origin.at(EPOCH).commit("all");
    let repo = origin.clone_to("clone", &[]);
    let stray = |dir: &str, n: u64| repo.path(format!("{dir}/stray{}", n % 3));

    let mut changed_during_sync = 0;
    let mut stamped = 0;
    for round in 0..4u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let changer = {
            let stop = Arc::clone(&stop);
            let strays: Vec<PathBuf> = (0..DIRECTORIES as u64 * 3)
                .map(|n| stray(&directories[n as usize % DIRECTORIES], n))
                .collect();
            std::thread::spawn(move || {
                let mut rng = Rng::new(round);
                while !stop.load(Ordering::Relaxed) {
                    let path = rng.pick(&strays);
                    if path.exists() {
                        let _ = std::fs::remove_dir(path).or_else(|_| std::fs::remove_file(path));
                    } else if rng.chance(20) {
                        let _ = std::fs::create_dir(path);
                    } else {
                        let _ = std::fs::write(path, "stray");
                    }
                    std::thread::sleep(Duration::from_micros(30));
                }
            })
        };
        for _ in 0..SYNCS_PER_ROUND {
            let (json, stderr) = sync_under_changes(&repo);
            assert_eq!(json["directories"]["failed"], 0, "{stderr}");
            changed_during_sync += json["directories"]["changed_during_sync"].as_u64().unwrap();
            stamped += json["directories"]["updated"].as_u64().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        changer.join().unwrap();

        let mut hidden = Vec::new();
        for dir in &directories {
            let strays = (0..3).filter(|n| stray(dir, *n).exists()).count();
            let (seconds, _) = mtime_of(&repo.path(dir)).unwrap();
            if strays > 0 && seconds == EPOCH {
                hidden.push(format!(
                    "{dir}: holds {strays} untracked entries, but has its commit time"
                ));
            }
        }
        assert!(hidden.is_empty(), "round {round}:\n{}", hidden.join("\n"));
    }
    eprintln!(
        "4 rounds of {SYNCS_PER_ROUND} syncs over {DIRECTORIES} directories: {stamped} directory stamps, \
         {changed_during_sync} directories reported changed under a sync"
    );
    assert!(stamped > 0, "no directory became clean during the rounds");

    // Once the strays are gone, every directory gets its commit time again.
    for dir in &directories {
        for n in 0..3 {
            let path = stray(dir, n);
            let _ = std::fs::remove_dir(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
    repo.sync(["-q"]);
    for dir in &directories {
        assert_eq!(mtime_of(&repo.path(dir)).unwrap().0, EPOCH, "{dir}");
    }
}

/// The read-back of a stamped directory: a file created while the sync lists a directory, and
/// so missed by the listing, must not leave the directory with its commit time.
///
/// A directory of 20,000 entries takes milliseconds to list, and the file system hands them
/// out in hash order, so a file created meanwhile is missed about half the time. Each attempt
/// makes the directory clean with a fresh mtime, starts a sync, and creates one untracked file
/// at a moment inside the sync's directory phase, found from the trace of a first run.
#[test]
fn a_file_created_while_a_directory_is_listed_is_caught_by_the_read_back() {
    const ENTRIES: usize = 20_000;
    let origin = Repo::new();
    for i in 0..ENTRIES {
        origin.write(format!("big/f{i:05}"), "");
    }
    origin.at(EPOCH).commit("big");
    let repo = origin.clone_to("clone", &[]);
    let stray = repo.path("big/stray");
    let refresh = || {
        // Clean again, with the current time: the next sync lists and stamps it.
        let _ = std::fs::remove_file(&stray);
        std::fs::write(repo.path("big/.touch"), "").unwrap();
        std::fs::remove_file(repo.path("big/.touch")).unwrap();
    };
    // The first sync walks history and stores its answers; the attempts below are warm.
    repo.sync(["-q", "--", "big"]);
    refresh();
    // Where the directory phase lies in a warm sync, from its trace.
    let traced = repo
        .tool()
        .args(["--json", "--", "big"])
        .env("GIT_MTIMESTAMP_TRACE", "1")
        .run();
    let at = |phase: &str| -> f64 {
        let line = traced.stderr();
        let line = line
            .lines()
            .find(|l| l.contains(&format!("trace: {phase} done at")))
            .unwrap_or_else(|| panic!("no {phase} in the trace:\n{}", traced.stderr()));
        let (_, time) = line.split_once(" done at ").unwrap();
        time.split_whitespace().next().unwrap().parse().unwrap()
    };
    // Directories are stamped beside the files, once the files are classified.
    let (start, end) = (at("classified"), at("stamping"));

    let mut rng = Rng::new(7);
    let (mut caught, mut seen_first, mut hidden) = (0, 0, Vec::new());
    for attempt in 0..40 {
        refresh();
        let began = std::time::Instant::now();
        let child = repo
            .tool()
            .args(["--json", "-v", "--", "big"])
            .spawn_piped();
        // A moment inside the directory phase of a run like the traced one.
        let at = start + (end - start) * rng.below(1000) as f64 / 1000.0;
        let delay = Duration::from_secs_f64(at).saturating_sub(began.elapsed());
        std::thread::sleep(delay);
        std::fs::write(&stray, "stray").unwrap();
        let output = child.wait_with_output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let outcome = json["directories"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == "big")
            .unwrap()["outcome"]
            .clone();
        let (seconds, _) = mtime_of(&repo.path("big")).unwrap();
        if seconds == EPOCH {
            hidden.push(format!("attempt {attempt}: outcome {outcome}, and big/ holds big/stray with its commit time"));
        }
        caught += usize::from(outcome == "changed");
        seen_first += usize::from(outcome == "skipped");
    }
    eprintln!(
        "40 attempts, the directory phase traced at {start:.3}..{end:.3} s: {caught} caught by \
         the read-back, {seen_first} seen by the first listing"
    );
    assert!(hidden.is_empty(), "{}", hidden.join("\n"));
}

/// Two syncs started together on one work tree (an editor's `cargo xtask build` and a
/// terminal's): the second waits for the first and finds everything done, so neither
/// reports a change nobody made, and no clean file ends up with the current time.
#[test]
fn two_syncs_at_once_take_turns() {
    let origin = Repo::new();
    let paths: Vec<String> = (0..FILES)
        .map(|i| format!("d{}/f{i:04}.txt", i % 13))
        .collect();
    for path in &paths {
        origin.write(path, original(path));
    }
    origin.at(EPOCH).commit("all");
    for attempt in 0..3 {
        let repo = origin.clone_to(&format!("clone{attempt}"), &[]);
        let children: Vec<_> = (0..2)
            .map(|_| repo.tool().arg("--json").spawn_piped())
            .collect();
        let mut updated = 0;
        for child in children {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{stderr}");
            assert!(!stderr.contains("changed while"), "{stderr}");
            let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(json["changed_during_sync"], 0, "{json}");
            assert_eq!(json["skipped"], serde_json::json!({}), "{json}");
            let files =
                json["updated"].as_u64().unwrap() + json["already_correct"].as_u64().unwrap();
            assert_eq!(files, FILES as u64, "{json}");
            updated += json["updated"].as_u64().unwrap();
        }
        // One of them did the work; the other found it done.
        assert_eq!(updated, FILES as u64, "attempt {attempt}");
        repo.assert_synced();
        assert_eq!(repo.git(["status", "--porcelain"]), "");
    }
}

/// A sync that has waited a second for another one says so, then does its work.
#[test]
fn a_sync_that_waits_says_so() {
    let repo = Repo::new();
    repo.at(EPOCH).write("a.txt", "a").commit("a");
    let lock = repo.path(".git/mtimestamp.lock");
    // Held by another process for two seconds, as a running sync would hold it.
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "2"])
        .spawn()
        .expect("flock(1) from util-linux");
    while !lock.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let began = std::time::Instant::now();
    let run = repo.sync(["-q"]);
    let waited = began.elapsed();
    holder.wait().unwrap();
    run.stderr_has("waiting for another sync of this work tree to finish")
        .stderr_has("mtimestamp.lock");
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert_eq!(repo.mtime("a.txt"), repo.expected_mtime("a.txt"));

    // A dry run writes nothing, and never waits.
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "3"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let began = std::time::Instant::now();
    let run = repo.sync(["-n", "-q"]);
    assert!(began.elapsed() < Duration::from_secs(2), "a dry run waited");
    assert!(!run.stderr().contains("waiting"), "{}", run.stderr());
    holder.kill().unwrap();
    holder.wait().unwrap();
}
