//! Two different contents of one path never share a size and an mtime, even when their
//! commits fall in the same second: caches that compare only size and mtime (Dagger,
//! BuildKit, Go's test cache) must see a branch switch.

use std::os::unix::fs::MetadataExt;

use crate::support::fingerprint;
use crate::support::repo::{EPOCH, Repo};

/// Checks out `branch`, syncs, and returns the (size, mtime) that a cache would compare.
fn size_and_mtime(repo: &Repo, branch: &str, args: &[&str]) -> (u64, (i64, u32)) {
    repo.checkout(branch).sync(args);
    let size = std::fs::symlink_metadata(repo.path("config.txt"))
        .unwrap()
        .size();
    (size, repo.mtime("config.txt"))
}

/// Two branches whose `config.txt` differ in content only, committed in the same second.
fn same_size_same_second() -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH).commit_file("config.txt", "mode=fast\n");
    repo.branch("other");
    repo.at(EPOCH + 100)
        .commit_file("config.txt", "mode=slow\n");
    repo.checkout("other");
    repo.at(EPOCH + 100)
        .commit_file("config.txt", "mode=safe\n");
    repo
}

#[test]
fn same_size_same_second_versions_get_different_mtimes() {
    let repo = same_size_same_second();
    let main = size_and_mtime(&repo, "main", &["-q"]);
    let other = size_and_mtime(&repo, "other", &["-q"]);
    assert_eq!(main.0, other.0, "the sizes are meant to be equal");
    assert_eq!(main.1.0, other.1.0, "the seconds are meant to be equal");
    assert_ne!(main, other);
    assert_eq!(
        other.1,
        (EPOCH + 100, fingerprint(&repo.blob_id("config.txt")))
    );
    assert_eq!(
        size_and_mtime(&repo, "main", &["-q"]),
        main,
        "switching back is stable"
    );
}

#[test]
fn whole_seconds_gives_up_the_fingerprint() {
    let repo = same_size_same_second();
    let main = size_and_mtime(&repo, "main", &["-q", "--whole-seconds"]);
    let other = size_and_mtime(&repo, "other", &["-q", "--whole-seconds"]);
    assert_eq!(main.1, (EPOCH + 100, 0));
    assert_eq!(main, other, "the trade-off --whole-seconds makes");
}
