//! An edit made while a sync runs is never hidden: whatever the interleaving, a file whose
//! content differs from HEAD does not end up with its commit time, which a cache keyed by
//! size and mtime would take for the committed content.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::{EPOCH, Repo, Rng, fingerprint, mtime_of};

const FILES: usize = 300;
const ROUNDS: u64 = 5;
const SYNCS_PER_ROUND: usize = 3;

/// The committed content of file `i`. Edits replace `original` with `edit` and four digits,
/// so an edited file keeps its size and never equals HEAD.
fn original(path: &str) -> String {
    format!("{path} original {}\n", "x".repeat(60))
}

fn edited(path: &str, n: usize) -> String {
    original(path).replace("original", &format!("edit{:04}", n % 10_000))
}

#[test]
fn edits_during_a_sync_never_keep_the_commit_time() {
    let origin = Repo::new();
    let paths: Vec<String> = (0..FILES)
        .map(|i| format!("d{}/e{}/f{i:03}.txt", i % 3, i % 5))
        .collect();
    for (batch, chunk) in paths.chunks(30).enumerate() {
        for path in chunk {
            origin.write(path, original(path));
        }
        origin.at(EPOCH + 1000 * batch as i64).commit("batch");
    }
    let repo = origin.clone_to("clone", &[]);
    let blobs = repo.head_blobs();
    let committed: Vec<(i64, u32)> = paths
        .iter()
        .map(|p| (repo.oracle_time(p), fingerprint(&blobs[p.as_bytes()])))
        .collect();

    let mut changed_during_sync = 0;
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let editor = {
            let (stop, root, paths) = (Arc::clone(&stop), repo.root().to_owned(), paths.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(round);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = rng.pick(&paths);
                    let content = if rng.chance(40) {
                        original(path)
                    } else {
                        n += 1;
                        edited(path, n)
                    };
                    std::fs::write(root.join(path), content).unwrap();
                    std::thread::sleep(Duration::from_micros(50));
                }
            })
        };
        for _ in 0..SYNCS_PER_ROUND {
            let json = repo.sync(["--json"]).json();
            changed_during_sync += json["changed_during_sync"].as_u64().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        editor.join().unwrap();

        let mut stale = Vec::new();
        for (path, commit_time) in paths.iter().zip(&committed) {
            let content = std::fs::read(repo.path(path)).unwrap();
            let mtime = mtime_of(&repo.path(path)).unwrap();
            if content != original(path).as_bytes() && mtime == *commit_time {
                stale.push(format!("{path}: edited, but has its commit time {mtime:?}"));
            }
        }
        assert!(stale.is_empty(), "round {round}:\n{}", stale.join("\n"));
    }
    eprintln!("{changed_during_sync} files were reported as changed during a sync");

    // Once the edits are undone, everything is synced again.
    for path in &paths {
        repo.write(path, original(path));
    }
    repo.sync(["-q"]);
    repo.assert_synced();
}
