//! Damaged, partial and half-finished repositories. Whatever state a repository is in, the
//! sync does not panic, says what is wrong and what to do, and leaves alone every file whose
//! answer it cannot know.

use std::collections::BTreeMap;

use crate::support::repo::{EPOCH, Repo};

/// A history of three commits touching files in two directories.
fn origin() -> Repo {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write("a", "a")
        .write("dir/b", "b")
        .write("dir/sub/c", "c")
        .commit("base");
    origin.at(EPOCH + 100).commit_file("dir/b", "b2");
    origin.at(EPOCH + 200).commit_file("a", "a2");
    origin
}

/// The mtime of every tracked file, read before the repository is damaged (git itself may
/// not be able to list them afterwards).
fn mtimes(repo: &Repo, paths: &[Vec<u8>]) -> BTreeMap<Vec<u8>, (i64, u32)> {
    paths.iter().map(|p| (p.clone(), repo.mtime(p))).collect()
}

#[test]
fn with_no_commit_yet_every_file_is_left_alone() {
    let repo = Repo::new();
    // No index at all.
    repo.write("untracked", "u");
    let run = repo.tool().arg("--json").run();
    run.success().stderr_has("HEAD has no commit yet");
    assert_eq!(run.json()["updated"], 0);

    repo.write("a", "a").write("dir/b", "b");
    repo.git(["add", "a", "dir/b"]);
    let before = repo.snapshot(["a", "dir/b", "untracked"]);
    let run = repo.tool().args(["--json"]).run();
    run.success()
        .stderr_has("HEAD has no commit yet, so no file has a commit time and none was changed");
    let json = run.json();
    assert_eq!(json["no_commit_yet"], true);
    assert_eq!(json["skipped"]["staged"], 2);
    assert_eq!(json["index"]["state"], "unchanged");
    assert_eq!(repo.snapshot(["a", "dir/b", "untracked"]), before);
    assert!(
        !repo.path(".git/mtimestamp").exists(),
        "nothing to remember"
    );
}

#[test]
fn on_an_unborn_branch_every_file_is_left_alone() {
    let repo = origin().clone_to("clone", &[]);
    repo.git(["checkout", "-q", "--orphan", "fresh"]);
    let paths = ["a", "dir/b", "dir/sub/c"];
    let before = repo.snapshot(paths);
    repo.tool()
        .arg("-v")
        .run()
        .success()
        .stdout_has("skipped staged dir/sub/c")
        .stderr_has("no commit yet");
    assert_eq!(repo.snapshot(paths), before);

    // Back on a branch, the same files are synced.
    repo.checkout("main");
    repo.sync(["-q"]);
    repo.assert_synced();
}

#[test]
fn a_detached_head_is_synced_to_its_own_history() {
    let origin = origin();
    let repo = origin.clone_to("clone", &[]);
    repo.git(["checkout", "-q", "--detach", "HEAD~1"]);
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime("a").0, EPOCH, "a's change is after HEAD~1");
    assert_eq!(
        repo.git(["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "HEAD"
    );
}

#[test]
fn a_rebase_stopped_by_a_conflict_leaves_its_files_alone() {
    let repo = origin().clone_to("clone", &[]);
    repo.branch("topic");
    repo.at(EPOCH + 300).commit_file("a", "main's a");
    repo.checkout("topic");
    repo.at(EPOCH + 400)
        .write("a", "topic's a")
        .write("dir/sub/c", "topic's c")
        .commit("topic");
    repo.at(EPOCH + 500).commit_file("dir/new", "n");
    let rebase = repo.git_output(["rebase", "main"]);
    assert!(!rebase.status.success(), "the rebase should stop");
    assert!(repo.path(".git/rebase-merge").is_dir());
    let paths = ["a", "dir/sub/c"];
    let before = repo.snapshot(paths);
    let run = repo.tool().arg("-v").run();
    run.success()
        .stdout_has("skipped conflicted a")
        .stdout_has("skipped staged dir/sub/c");
    assert_eq!(repo.snapshot(paths), before, "{}", run.stderr());
    // Files the rebase has not touched have their times in the history of the detached HEAD
    // the rebase is building on.
    assert_eq!(repo.mtime("dir/b").0, repo.oracle_time("dir/b"));
    assert!(
        repo.path(".git/rebase-merge").is_dir(),
        "the rebase goes on"
    );

    repo.git(["rebase", "--abort"]);
    repo.sync(["-q"]);
    repo.assert_synced();
}

#[test]
fn a_damaged_index_is_refused_and_nothing_changes() {
    let repo = origin().clone_to("clone", &[]);
    // A cached tree (TREE extension) after the entries, as most indexes have.
    repo.git(["write-tree"]);
    let paths = repo.tracked_files();
    let good = std::fs::read(repo.path(".git/index")).unwrap();
    let entries_end = good.len() - 20 - 8; // inside the last extension
    let mut damages: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("header only", good[..12].to_vec()),
        ("cut in the first entry", good[..40].to_vec()),
        ("cut in an extension", good[..entries_end].to_vec()),
        ("without its checksum", good[..good.len() - 20].to_vec()),
    ];
    for at in [20, 60, 80, good.len() - 30, good.len() - 1] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x10;
        damages.push(("one bit flipped", flipped));
    }
    for (what, damaged) in damages {
        // Fresh checkout times: every file would be stamped if the sync ran.
        let before = mtimes(&repo, &paths);
        std::fs::write(repo.path(".git/index"), &damaged).unwrap();
        let run = repo.tool().run();
        run.code(2)
            .stderr_has("cannot read the index")
            .stderr_has(".git/index")
            .stderr_has("no file was changed")
            .stderr_has("git reset");
        assert_eq!(mtimes(&repo, &paths), before, "{what}\n{}", run.stderr());
        assert_eq!(
            std::fs::read(repo.path(".git/index")).unwrap(),
            damaged,
            "{what}: the index itself is left for git to judge"
        );
        assert!(!repo.path(".git/index.lock").exists(), "{what}");
        // The advice to rebuild the index, which drops what is staged, holds: git agrees
        // that the index is damaged.
        let fsck = repo.git_output(["fsck", "--no-progress"]);
        assert!(!fsck.status.success(), "{what}: git fsck accepts the index");
        std::fs::write(repo.path(".git/index"), &good).unwrap();
    }
    repo.sync(["-q"]);
    repo.assert_synced();
}

/// Each way the stored answers can be damaged. None is trusted: the sync gives git's answers
/// and stores a sound file again, byte for byte the one a first sync writes.
#[test]
fn a_damaged_answer_cache_is_ignored_and_rebuilt() {
    let origin = origin();
    let repo = origin.clone_to("clone", &[]);
    // Answers for an older commit too, so that one answer file's bytes can stand in for another's.
    repo.git(["checkout", "-q", "--detach", "HEAD~2"]);
    repo.sync(["-q"]);
    repo.checkout("main");
    repo.sync(["-q"]);
    let dir = repo.path(".git/mtimestamp");
    let head = repo.git(["rev-parse", "HEAD"]).trim().to_owned();
    let older = repo.git(["rev-parse", "HEAD~2"]).trim().to_owned();
    let head_file = dir.join(format!("simplified-{head}"));
    let sound = std::fs::read(&head_file).unwrap();
    let older_bytes = std::fs::read(dir.join(format!("simplified-{older}"))).unwrap();

    let mut damages: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("cut in half", sound[..sound.len() / 2].to_vec()),
        ("one byte short", sound[..sound.len() - 1].to_vec()),
        ("another commit's answers", older_bytes),
        (
            "garbage",
            b"git-mtimestamp answers\n\xff\xff\xff\xffgarbage".to_vec(),
        ),
    ];
    for at in [0, 30, sound.len() / 2, sound.len() - 1] {
        let mut flipped = sound.clone();
        flipped[at] ^= 0x01;
        damages.push(("one bit flipped", flipped));
    }
    for (what, damaged) in damages {
        std::fs::write(&head_file, &damaged).unwrap();
        // Wrong times everywhere, so that every answer is used.
        for path in repo.tracked_files() {
            repo.tick(1);
            repo.touch(&path);
        }
        repo.sync(["-q"]);
        repo.assert_synced();
        assert_eq!(std::fs::read(&head_file).unwrap(), sound, "{what}");
    }

    // A directory where the answers should be: ignored, and left for the user.
    std::fs::remove_file(&head_file).unwrap();
    std::fs::create_dir(&head_file).unwrap();
    repo.touch("a");
    repo.sync(["-q"]);
    repo.assert_synced();
}

#[test]
fn a_missing_tree_object_fails_and_changes_nothing() {
    let repo = origin().clone_to("clone", &["--no-local"]);
    unpack_objects(&repo);
    let paths = repo.tracked_files();
    let before = mtimes(&repo, &paths);
    delete_object(&repo, "HEAD~1:dir");
    repo.tool()
        .run()
        .code(2)
        .stderr_has("cannot read tree")
        .stderr_has("git fsck");
    assert_eq!(mtimes(&repo, &paths), before);
}

/// `a`, `e` and the top directory (which gained `e`) are answered at HEAD, before the walk
/// meets the missing tree three commits back: whether they were stamped meanwhile (and given
/// their old times back) or not yet, every time is as it was. The test below makes sure of
/// the stamps.
#[test]
fn a_tree_missing_deep_in_history_fails_and_changes_no_time() {
    let origin = origin();
    origin
        .at(EPOCH + 300)
        .write("a", "a3")
        .write("e", "e")
        .commit("a and e");
    let repo = origin.clone_to("clone", &["--no-local"]);
    unpack_objects(&repo);
    let paths = repo.tracked_files();
    let directories = [&b""[..], b"dir", b"dir/sub"].map(<[u8]>::to_vec);
    let before = (mtimes(&repo, &paths), mtimes(&repo, &directories));
    assert_ne!(
        before.0[&b"a".to_vec()],
        repo.expected_mtime("a"),
        "a starts out wrong"
    );
    delete_object(&repo, "HEAD~3:dir");
    repo.tool()
        .run()
        .code(2)
        .stderr_has("cannot read tree")
        .stderr_has("git fsck");
    let after = (mtimes(&repo, &paths), mtimes(&repo, &directories));
    assert_eq!(after, before);
    assert_eq!(repo.git(["status", "--porcelain"]), "");
}

/// Files and directories are stamped while history is still being walked, as soon as their
/// answers are final: here the early files and the directory `early`, long before the walk
/// fails 20,000 commits back. The failed sync gives them their old times back, and says so.
/// The missing object is a grafted parent that does not exist.
#[test]
fn a_walk_that_fails_late_undoes_the_stamps_made_meanwhile() {
    let repo = Repo::new();
    repo.long_history(20_000, 50);
    let second = repo.git(["rev-list", "--reverse", "main"]);
    let second = second.lines().nth(1).unwrap();
    let nowhere = "1234567890123456789012345678901234567890";
    std::fs::write(
        repo.path(".git/info/grafts"),
        format!("{second} {nowhere}\n"),
    )
    .unwrap();
    let paths = repo.tracked_files();
    let directories = [&b""[..], b"early"].map(<[u8]>::to_vec);
    // Times no answer gives, so that every path would be stamped.
    for path in &paths {
        repo.set_mtime(path, (EPOCH + 100_000, 0));
    }
    let before = (mtimes(&repo, &paths), mtimes(&repo, &directories));
    repo.tool()
        .run()
        .code(2)
        .stderr_has(&format!("cannot read commit {nowhere}"))
        .stderr_has("git fsck")
        .stderr_has("have their times from before the sync back");
    let after = (mtimes(&repo, &paths), mtimes(&repo, &directories));
    assert_eq!(after, before);
}

/// A clean file's content is checked by hashing the file, never by reading its blob, so a
/// missing blob (as in a clone that left large files out) changes nothing.
#[test]
fn a_missing_blob_is_not_needed() {
    let repo = origin().clone_to("clone", &["--no-local"]);
    unpack_objects(&repo);
    delete_object(&repo, "HEAD:dir/b");
    delete_object(&repo, "HEAD~1:a");
    repo.sync(["-q"]);
    repo.assert_synced();
}

#[test]
fn a_partial_clone_without_old_blobs_is_synced() {
    let repo = origin().partial_clone_to("partial", "blob:none");
    repo.sync(["-q"]);
    repo.assert_synced();
}

/// `--filter=tree:0` leaves out the trees of history, which the sync cannot do without and
/// libgit2 cannot fetch.
#[test]
fn a_partial_clone_without_old_trees_fails_and_says_why() {
    let repo = origin().partial_clone_to("partial", "tree:0");
    let paths = ["a", "dir/b", "dir/sub/c"].map(|p| p.as_bytes().to_vec());
    let before = mtimes(&repo, &paths);
    repo.tool()
        .run()
        .code(2)
        .stderr_has("this is a partial clone")
        .stderr_has("--filter=blob:none");
    assert_eq!(mtimes(&repo, &paths), before);
}

/// How long a sync of these small repositories may take before it counts as hanging.
const HANG: std::time::Duration = std::time::Duration::from_secs(30);

/// A pack entry git never writes: a delta whose base is the object itself. git's own
/// `cat-file` and libgit2 follow its chain of bases forever, their memory growing, while `git
/// fsck` reports the damage. The sync stops at once, names the object and `git fsck`, and
/// changes nothing.
#[test]
fn a_delta_that_is_its_own_base_fails_instead_of_hanging() {
    let repo = origin().clone_to("clone", &["--no-local"]);
    unpack_objects(&repo);
    let paths = repo.tracked_files();
    let before = mtimes(&repo, &paths);
    let tree = repo.git(["rev-parse", "HEAD:dir"]).trim().to_owned();
    delete_object(&repo, "HEAD:dir");
    write_pack(&repo, &[ref_delta(&tree, &tree)]);
    repo.tool()
        .run_within(HANG)
        .code(2)
        .stderr_has(&format!("cannot read tree {tree}"))
        .stderr_has("a delta whose chain of bases leads back to itself")
        .stderr_has("git fsck");
    assert_eq!(mtimes(&repo, &paths), before);
}

/// Two deltas that are each other's base, one of them a tree only the history walk reads.
#[test]
fn two_deltas_that_are_each_others_base_fail_instead_of_hanging() {
    let repo = origin().clone_to("clone", &["--no-local"]);
    unpack_objects(&repo);
    let paths = repo.tracked_files();
    let before = mtimes(&repo, &paths);
    let [now, old] = ["HEAD:dir", "HEAD~2:dir"].map(|spec| {
        let id = repo.git(["rev-parse", spec]).trim().to_owned();
        delete_object(&repo, spec);
        id
    });
    assert_ne!(now, old);
    write_pack(&repo, &[ref_delta(&now, &old), ref_delta(&old, &now)]);
    repo.tool()
        .run_within(HANG)
        .code(2)
        .stderr_has(&format!("cannot read tree {now}"))
        .stderr_has("leads back to itself")
        .stderr_has("git fsck");
    assert_eq!(mtimes(&repo, &paths), before);
}

/// A pack entry that stores object `id` as a delta on object `base` (a REF_DELTA). Any delta
/// will do, as the chain is never resolved: this one copies ten bytes of its base.
fn ref_delta(id: &str, base: &str) -> (String, Vec<u8>) {
    let delta = [10u8, 10, 0x90, 10];
    // Type 7 and the delta's size, which fits the first byte's four bits.
    let mut entry = vec![(7 << 4) | delta.len() as u8];
    entry.extend(raw_id(base));
    let mut encoder = flate2::write::ZlibEncoder::new(entry, flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &delta).unwrap();
    (id.to_owned(), encoder.finish().unwrap())
}

/// Adds a pack holding `entries` (each an object id, as the index lists it, and the bytes of
/// its entry) to the repository, with its version 2 index, both written here rather than by
/// `git index-pack`, which refuses entries that cannot be resolved.
fn write_pack(repo: &Repo, entries: &[(String, Vec<u8>)]) {
    use sha1::Digest;
    let mut pack = b"PACK".to_vec();
    pack.extend(2u32.to_be_bytes());
    pack.extend((entries.len() as u32).to_be_bytes());
    let mut listed: Vec<(Vec<u8>, u32, u32)> = Vec::new();
    for (id, bytes) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        listed.push((raw_id(id), crc.sum(), pack.len() as u32));
        pack.extend(bytes);
    }
    let checksum = sha1::Sha1::digest(&pack).to_vec();
    pack.extend(&checksum);
    listed.sort();
    let mut index = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
    for first in 0..=255u8 {
        let count = listed.iter().filter(|(id, _, _)| id[0] <= first).count();
        index.extend((count as u32).to_be_bytes());
    }
    listed.iter().for_each(|(id, _, _)| index.extend(id));
    listed
        .iter()
        .for_each(|(_, crc, _)| index.extend(crc.to_be_bytes()));
    listed
        .iter()
        .for_each(|(_, _, at)| index.extend(at.to_be_bytes()));
    index.extend(&checksum);
    index.extend(sha1::Sha1::digest(&index));
    let name: String = checksum.iter().map(|b| format!("{b:02x}")).collect();
    let stem = repo.path(format!(".git/objects/pack/pack-{name}"));
    std::fs::write(stem.with_extension("pack"), pack).unwrap();
    std::fs::write(stem.with_extension("idx"), index).unwrap();
}

fn raw_id(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

/// Moves every object out of packs, so that single objects can be deleted.
fn unpack_objects(repo: &Repo) {
    let packs = repo.path(".git/objects/pack");
    let moved = repo.sandbox().join("packs");
    std::fs::rename(&packs, &moved).unwrap();
    std::fs::create_dir(&packs).unwrap();
    for entry in std::fs::read_dir(&moved).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pack") {
            let pack = std::fs::File::open(&path).unwrap();
            let status = repo
                .git_command()
                .arg("unpack-objects")
                .arg("-q")
                .stdin(pack)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

fn delete_object(repo: &Repo, spec: &str) {
    let id = repo.git(["rev-parse", spec]);
    let id = id.trim();
    let file = repo
        .root()
        .join(".git/objects")
        .join(&id[..2])
        .join(&id[2..]);
    std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

/// A split index whose shared index is damaged or missing: `git fsck` finds the index damaged
/// too, so rebuilding it is the way out, and the message says so once git agrees.
#[test]
fn a_damaged_shared_index_is_refused_and_nothing_changes() {
    let repo = origin().clone_to("clone", &[]);
    let whole_index = std::fs::read(repo.path(".git/index")).unwrap();
    repo.git(["update-index", "--split-index"]);
    let shared = repo.shared_index();
    let shared_name = shared.file_name().unwrap().to_string_lossy().into_owned();
    let paths = repo.tracked_files();
    let index = std::fs::read(repo.path(".git/index")).unwrap();
    let good = std::fs::read(&shared).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    let damages = [
        ("one bit flipped", Some(flipped)),
        ("cut short", Some(good[..good.len() - 30].to_vec())),
        ("a sound index, but another one", Some(whole_index)),
        ("missing", None),
    ];
    for (what, damaged) in damages {
        match &damaged {
            Some(bytes) => std::fs::write(&shared, bytes).unwrap(),
            None => std::fs::remove_file(&shared).unwrap(),
        }
        // git's own verdict: `git status` checks no checksum, `git fsck` does.
        let fsck = repo.git_output(["fsck", "--no-progress"]);
        assert!(!fsck.status.success(), "{what}: git fsck accepts the index");
        let before = mtimes(&repo, &paths);
        let run = repo.tool().run();
        run.code(2)
            .stderr_has("cannot read the index")
            .stderr_has(&shared_name)
            .stderr_has("no file was changed")
            .stderr_has("`git fsck` checks the index too: if it finds it damaged as well")
            .stderr_has("git reset");
        assert_eq!(mtimes(&repo, &paths), before, "{what}\n{}", run.stderr());
        assert_eq!(std::fs::read(repo.path(".git/index")).unwrap(), index);
        assert!(!repo.path(".git/index.lock").exists(), "{what}");
        std::fs::write(&shared, &good).unwrap();
    }
    repo.sync(["-q"]);
    repo.assert_synced();
}

/// An index in a format version this tool does not read is no damage: the message offers git's
/// own conversion, which keeps what is staged, and never the rebuild that drops it.
#[test]
fn an_index_of_an_unknown_version_is_refused_without_advice_that_drops_staged_work() {
    use sha1::Digest;
    let repo = origin().clone_to("clone", &[]);
    repo.write("a", "staged").git(["add", "a"]);
    let paths = repo.tracked_files();
    let mut data = std::fs::read(repo.path(".git/index")).unwrap();
    data[4..8].copy_from_slice(&5u32.to_be_bytes());
    let body = data.len() - 20;
    let digest = sha1::Sha1::digest(&data[..body]);
    data[body..].copy_from_slice(&digest);
    std::fs::write(repo.path(".git/index"), &data).unwrap();
    let before = mtimes(&repo, &paths);
    let run = repo.tool().run();
    run.code(2)
        .stderr_has("index format version 5")
        .stderr_has("no file was changed, and nothing says the index is damaged")
        .stderr_has("git update-index --index-version 4");
    assert!(!run.stderr().contains("git reset"), "{}", run.stderr());
    assert_eq!(mtimes(&repo, &paths), before);
    assert_eq!(std::fs::read(repo.path(".git/index")).unwrap(), data);
}
