//! Syncs that reuse earlier answers (the cache in `.git/mtimestamp`) must give exactly what a
//! cold sync gives, whatever happened to history in between: new commits (changes, reverts to
//! earlier content, deletions, re-additions, mode changes), merges, branch switches, rebases,
//! resets and amends, and objects moving from loose files into packs. Most steps of a random
//! sequence are followed by a warm sync, checked against git, and by a cold sync (cache
//! removed) that must change nothing; the steps in between make the history a sync must
//! catch up with longer, merges included. Some sequences sync with `--first-parent`.

use crate::support::history::Rng;
use crate::support::repo::{EPOCH, Repo};

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
    /// Syncs that had to catch up with more than one new commit.
    long_catch_ups: usize,
}

/// One to four commits, as a `git pull` brings: each changes a file, puts back content the
/// file had before, deletes a file, adds it back, or flips its executable bit.
fn new_commits(repo: &Repo, rng: &mut Rng, version: usize) {
    for _ in 0..1 + rng.below(4) {
        let file = *rng.pick(&FILES);
        let present = repo.path(file).exists();
        match rng.below(5) {
            0 if present => {
                repo.remove(file);
            }
            1 => {
                repo.write(file, format!("{file} 0\n"));
            }
            2 if present => {
                let executable = repo.git(["ls-files", "-s", file]).starts_with("100755");
                repo.chmod(file, if executable { 0o644 } else { 0o755 });
            }
            _ => {
                repo.write(file, format!("{file} {version}\n"));
            }
        }
        repo.git(["add", "-A"]);
        repo.git(["commit", "-q", "--allow-empty", "-m", "new"]);
        repo.tick(60);
    }
}

fn run_sequence(seed: u64, exercised: &mut Exercised) {
    // Every third sequence follows first parents only.
    let first_parent = seed % 3 == 2;
    let sync_args: &[&str] = if first_parent {
        &["-q", "--first-parent"]
    } else {
        &["-q"]
    };
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
    let mut synced_at = repo.git(["rev-parse", "HEAD"]).trim().to_owned();
    for step in 0..14 {
        version += 1;
        let file = *rng.pick(&FILES);
        let op = rng.below(8);
        log.push(op);
        let head_before = repo.git(["rev-parse", "HEAD"]);
        match op {
            // New commits, as after `git pull`.
            0 | 1 => new_commits(&repo, &mut rng, version),
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
            // A topic branch merged with a merge commit, as a pull of merged pull requests
            // brings: files changed only on the topic keep the topic's times.
            7 => {
                let branch = current_branch(&repo);
                repo.git(["checkout", "-q", "-b", "topic"]);
                new_commits(&repo, &mut rng, version);
                repo.checkout(&branch);
                if rng.below(2) == 0 {
                    new_commits(&repo, &mut rng, version + 1000);
                }
                if !repo.merge(["--no-ff", "-X", "ours", "topic"]) {
                    let _ = repo.git_output(["merge", "--abort"]);
                }
                repo.git(["branch", "-q", "-D", "topic"]);
            }
            // Reset to an earlier commit of this branch.
            5 => {
                let depth = repo
                    .git(["rev-list", "--count", "--first-parent", "HEAD"])
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
                3 | 7 => exercised.merges += 1,
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
        // Now and then, let history grow by more than one step before the next sync.
        if step < 13 && rng.below(3) == 0 {
            continue;
        }
        let head = repo.git(["rev-parse", "HEAD"]).trim().to_owned();
        let new_commits = repo.git(["rev-list", "--count", &format!("{synced_at}..{head}")]);
        if new_commits.trim().parse::<usize>().unwrap() > 1 {
            exercised.long_catch_ups += 1;
        }
        synced_at = head;
        repo.sync(sync_args).success();
        let wrong = repo.wrong_mtimes(first_parent);
        assert!(
            wrong.is_empty(),
            "seed {seed}, step {step}, operations {log:?}: warm sync is wrong:\n{}",
            wrong.join("\n")
        );
        let warm = repo.current_mtimes();
        std::fs::remove_dir_all(repo.path(".git/mtimestamp")).unwrap();
        repo.sync(sync_args).success();
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
    assert!(
        exercised.long_catch_ups > 10,
        "{} syncs caught up with more than one commit",
        exercised.long_catch_ups
    );
    eprintln!(
        "exercised {} rebases, {} resets, {} merges, {} repacks, {} syncs after several commits",
        exercised.rebases,
        exercised.resets,
        exercised.merges,
        exercised.repacks,
        exercised.long_catch_ups
    );
}
