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
