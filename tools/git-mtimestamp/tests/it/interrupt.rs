//! Ctrl-C at any moment of a sync leaves every file either as it was or stamped with its
//! right time, git's index sound and unlocked, and no half-written answer behind; the next
//! sync finishes the job.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::support::repo::{EPOCH, Repo};

const FILES: usize = 600;

/// A repository whose files all have fresh mtimes and no cached answers, as after a clone.
fn make_cold(repo: &Repo) -> BTreeMap<Vec<u8>, (i64, u32)> {
    let _ = std::fs::remove_dir_all(repo.path(".git/mtimestamp"));
    for path in repo.tracked_files() {
        let file = std::fs::File::options()
            .write(true)
            .open(repo.path(&path))
            .unwrap();
        file.set_modified(std::time::SystemTime::now()).unwrap();
    }
    repo.git(["update-index", "-q", "--refresh"]);
    repo.current_mtimes()
}

#[test]
fn an_interrupted_sync_leaves_everything_consistent() {
    let repo = Repo::new();
    repo.at(EPOCH);
    for i in 0..FILES {
        repo.write(format!("d{}/f{i}.txt", i % 37), format!("file {i}\n"));
    }
    repo.commit("many files");
    for round in 0..5 {
        repo.commit_file(
            format!("d{round}/f{round}.txt"),
            format!("changed {round}\n"),
        );
    }
    let expected = repo.expected_mtimes(false);
    let (mut interrupted, mut all_stamped, mut none_stamped) = (0, 0, 0);
    for delay_ms in (0..60).step_by(3) {
        let before = make_cold(&repo);
        let mut child = repo.tool().arg("-q").spawn();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: kill(2) on the child we started and have not yet waited for.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let status = child.wait().unwrap();
        if status.signal() == Some(libc::SIGINT) {
            interrupted += 1;
        }

        assert!(
            !repo.path(".git/index.lock").exists(),
            "a {delay_ms} ms interrupt left index.lock behind"
        );
        assert_eq!(
            repo.git(["status", "--porcelain"]),
            "",
            "after {delay_ms} ms"
        );
        let mut stamped = 0;
        for (path, mtime) in repo.current_mtimes() {
            if mtime == expected[&path] {
                stamped += 1;
            } else {
                assert_eq!(
                    mtime,
                    before[&path],
                    "after {delay_ms} ms, {} is neither untouched nor stamped",
                    String::from_utf8_lossy(&path)
                );
            }
        }
        match stamped {
            0 => none_stamped += 1,
            n if n == expected.len() => all_stamped += 1,
            _ => {}
        }
        let leftovers: Vec<_> = std::fs::read_dir(repo.path(".git/mtimestamp"))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "half-written answers: {leftovers:?}");

        // Whatever the interrupt left, the next sync completes it.
        repo.sync(["-q"]).success();
        assert!(
            repo.mtimes_differing_from(&expected).is_empty(),
            "after {delay_ms} ms"
        );
    }
    eprintln!(
        "{interrupted} runs ended by the interrupt; {none_stamped} left every file untouched, {all_stamped} had stamped every file"
    );
    assert!(
        interrupted > 0,
        "no run was interrupted: the test exercised nothing"
    );
}

/// Ctrl-C during a long history walk stops the walk: the files answered early are already
/// stamped, verified and refreshed in the index, and the file whose answer lies 20,000
/// commits back is left as it was. The process still ends by the signal.
#[test]
fn an_interrupt_during_the_history_walk_stops_it() {
    const COMMITS: usize = 20_000;
    const EARLY: usize = 50;
    let repo = Repo::new();
    repo.long_history(COMMITS, EARLY);
    let expected = repo.expected_mtimes(false);

    let mut walks_stopped = 0;
    for _attempt in 0..5 {
        let before = make_cold(&repo);
        let mut child = repo.tool().arg("-q").spawn();
        // As soon as the first early file has its time, while the walk goes on towards
        // `late`'s commit.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while repo.mtime("early/f0") != expected[&b"early/f0".to_vec()] {
            assert!(
                std::time::Instant::now() < deadline,
                "early/f0 was never stamped"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        // SAFETY: kill(2) on the child we started and have not yet waited for.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGINT), "ended by the signal");
        assert!(!repo.path(".git/index.lock").exists());
        // Read before `git status`, which would refresh the index itself.
        let recorded = repo.index_mtime_seconds();
        for early in 0..EARLY {
            let path = format!("early/f{early}");
            let mtime = repo.mtime(&path);
            assert_eq!(mtime, expected[path.as_bytes()], "{path} is stamped");
            assert_eq!(
                recorded[&path], mtime.0,
                "{path}'s index entry is refreshed"
            );
        }
        assert_eq!(repo.git(["status", "--porcelain"]), "");
        if repo.mtime("late") == before[&b"late".to_vec()] {
            walks_stopped += 1;
        } else {
            // The walk ended before the signal came: nothing was left to stop.
            assert_eq!(repo.mtime("late"), expected[&b"late".to_vec()]);
        }
    }
    assert!(
        walks_stopped > 0,
        "every walk ended before the interrupt: the test exercised nothing"
    );
    // The next sync finishes the job.
    repo.sync(["-q"]).success();
    assert!(repo.mtimes_differing_from(&expected).is_empty());
}
