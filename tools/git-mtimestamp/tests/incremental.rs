//! Syncs that reuse earlier answers (the cache in `.git/mtimestamp`) must give exactly what a
//! cold sync gives, whatever happened to history in between: new commits, merges, branch
//! switches, rebases, resets and amends, and objects moving from loose files into packs. Each step of a random sequence is followed by a warm
//! sync, checked against git, and by a cold sync (cache removed) that must change nothing.

mod support;

use support::{EPOCH, Repo, Rng};

const FILES: [&str; 8] = [
    "a.txt",
    "b.txt",
    "d/c.txt",
    "d/e/f.txt",
    "d/e/g.txt",
    "h/i.txt",
    "h/j.txt",
    "k.txt",
];

/// How often each kind of operation changed HEAD, so that the test can tell it really
/// exercised rebases and resets.
#[derive(Default)]
struct Exercised {
    rebases: usize,
    resets: usize,
    merges: usize,
    repacks: usize,
}

fn run_sequence(seed: u64, exercised: &mut Exercised) {
    let mut rng = Rng::new(seed);
    let repo = Repo::new();
    repo.at(EPOCH);
    for file in FILES {
        repo.write(file, format!("{file} 0\n"));
    }
    repo.commit("start");
    repo.branch("side");
    let mut version = 0;
    let mut log = Vec::new();
    for step in 0..14 {
        version += 1;
        let file = *rng.pick(&FILES);
        let op = rng.below(7);
        log.push(op);
        let head_before = repo.git(["rev-parse", "HEAD"]);
        match op {
            // New commits, as after `git pull`.
            0 | 1 => {
                repo.commit_file(file, format!("{file} {version}\n"));
            }
            // Work on the other branch and switch to it.
            2 => {
                let other = if current_branch(&repo) == "main" {
                    "side"
                } else {
                    "main"
                };
                repo.checkout(other);
                repo.commit_file(file, format!("{file} {version} on {other}\n"));
            }
            // Merge the other branch (conflicts are resolved by taking ours).
            3 => {
                let other = if current_branch(&repo) == "main" {
                    "side"
                } else {
                    "main"
                };
                if !repo.merge(["-X", "ours", other]) {
                    // A merge that stopped (or never started) leaves nothing to keep.
                    let _ = repo.git_output(["merge", "--abort"]);
                }
            }
            // Rebase the current branch onto the other one: every commit is rewritten.
            4 => {
                let other = if current_branch(&repo) == "main" {
                    "side"
                } else {
                    "main"
                };
                let rebased = repo
                    .git_output(["rebase", "-q", "-X", "theirs", other])
                    .status
                    .success();
                if !rebased {
                    let _ = repo.git_output(["rebase", "--abort"]);
                }
            }
            // Reset to an earlier commit of this branch.
            5 => {
                let depth = repo
                    .git(["rev-list", "--count", "HEAD"])
                    .trim()
                    .parse::<usize>()
                    .unwrap();
                let back = 1 + rng.below(depth.saturating_sub(1).max(1));
                if back < depth {
                    repo.git(["reset", "-q", "--hard", &format!("HEAD~{back}")]);
                }
            }
            // Amend the last commit with a change.
            _ => {
                repo.write(file, format!("{file} {version} amended\n"));
                repo.git(["add", "-A"]);
                repo.git(["commit", "-q", "--amend", "--no-edit", "--reset-author"]);
                repo.tick(60);
            }
        }
        if repo.git(["rev-parse", "HEAD"]) != head_before {
            match op {
                3 => exercised.merges += 1,
                4 => exercised.rebases += 1,
                5 => exercised.resets += 1,
                _ => {}
            }
        }
        // Now and then, pack what is loose (as `git gc` does): the answers must not depend on
        // where an object is stored, nor on which packs a cached answer was found in.
        if rng.below(3) == 0 {
            repo.git(["repack", "-adq"]);
            exercised.repacks += 1;
        }
        repo.sync(["-q"]).success();
        let wrong = repo.wrong_mtimes(false);
        assert!(
            wrong.is_empty(),
            "seed {seed}, step {step}, operations {log:?}: warm sync is wrong:\n{}",
            wrong.join("\n")
        );
        let warm = repo.current_mtimes();
        std::fs::remove_dir_all(repo.path(".git/mtimestamp")).unwrap();
        repo.sync(["-q"]).success();
        assert_eq!(
            warm,
            repo.current_mtimes(),
            "seed {seed}, step {step}, operations {log:?}: a cold sync disagrees with the warm one"
        );
    }
}

fn current_branch(repo: &Repo) -> String {
    repo.git(["rev-parse", "--abbrev-ref", "HEAD"])
        .trim()
        .to_owned()
}

#[test]
fn warm_syncs_equal_cold_syncs_through_random_history_changes() {
    let mut exercised = Exercised::default();
    for seed in 0..12 {
        run_sequence(seed, &mut exercised);
    }
    assert!(
        exercised.rebases > 0 && exercised.resets > 0 && exercised.merges > 0,
        "the sequences no longer rebase, reset and merge: {} {} {}",
        exercised.rebases,
        exercised.resets,
        exercised.merges
    );
    assert!(exercised.repacks > 10, "{} repacks", exercised.repacks);
    eprintln!(
        "exercised {} rebases, {} resets, {} merges, {} repacks",
        exercised.rebases, exercised.resets, exercised.merges, exercised.repacks
    );
}
