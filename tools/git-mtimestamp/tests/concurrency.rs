//! An edit made while a sync runs is never hidden: whatever the interleaving, a file whose
//! content differs from HEAD does not end up with its commit time, which a cache keyed by
//! size and mtime would take for the committed content; and git's index never records stat
//! data that would make `git status` take an edited file for its staged content.
//!
//! Each round runs syncs over thousands of files while one thread rewrites random files (same
//! size, new content, sometimes the committed content again) and another stages random files
//! with `git add`, racing the sync for `index.lock`.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{EPOCH, Repo, Rng, fingerprint, mtime_of};

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
                    let mut add = clone_command(&git);
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
            // Exit code 1 is fine here: a file edited under the sync is a reported problem.
            let run = repo.tool().arg("--json").run();
            assert!(
                matches!(run.output.status.code(), Some(0 | 1)),
                "{}",
                run.stderr()
            );
            let json = run.json();
            assert_eq!(json["failed"], 0, "{}", run.stderr());
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
    let recorded = recorded_mtime_seconds(repo);
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

/// The mtime seconds the index records per path (`git ls-files --debug`).
fn recorded_mtime_seconds(repo: &Repo) -> std::collections::HashMap<String, i64> {
    let debug = repo.git(["ls-files", "--debug"]);
    let mut recorded = std::collections::HashMap::new();
    let mut path = None;
    for line in debug.lines() {
        if !line.starts_with(' ') {
            path = Some(line.to_owned());
        } else if let Some(value) = line.trim().strip_prefix("mtime: ") {
            let seconds = value.split(':').next().unwrap().parse().unwrap();
            recorded.insert(path.clone().unwrap(), seconds);
        }
    }
    recorded
}

/// A copy of `command` (program, arguments, environment and directory) to run again.
fn clone_command(command: &Command) -> Command {
    let mut copy = Command::new(command.get_program());
    copy.args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => copy.env(key, value),
            None => copy.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        copy.current_dir(PathBuf::from(dir));
    }
    copy
}
