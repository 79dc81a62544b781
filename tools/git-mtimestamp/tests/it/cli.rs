//! The command line: what it prints, where it runs, and how it fails.

use serde_json::json;

use crate::support::mtime_of;
use crate::support::repo::{EPOCH, Repo};

/// A fresh clone of a small history: `a` and `dir/b` clean, `modified` modified and
/// `staged` staged.
fn clone_with_changes() -> Repo {
    let origin = Repo::new();
    origin.at(EPOCH).write("a", "a").write("dir/b", "b");
    origin
        .write("modified", "m")
        .write("staged", "s")
        .commit("base");
    origin.at(EPOCH + 100).commit_file("dir/b", "b2");
    let clone = origin.clone_to("clone", &[]);
    clone
        .write("modified", "M!")
        .write("staged", "S!")
        .git(["add", "staged"]);
    clone
}

/// The verbose line for a stamped file: `VERB SECONDS.NANOS PATH`.
fn stamped(repo: &Repo, verb: &str, path: &str) -> String {
    let (seconds, nanos) = repo.expected_mtime(path);
    format!("{verb} {seconds}.{nanos:09} {path}\n")
}

/// The verbose line for a stamped directory of [`clone_with_changes`], whose lists of entries
/// all date from its first commit: `VERB SECONDS.NANOS DIR/`, the root as `./`. The
/// fingerprint is read off the disk here; the directory oracle tests check its value.
fn stamped_directory(repo: &Repo, verb: &str, dir: &str) -> String {
    let (seconds, nanos) = mtime_of(&repo.path(dir)).expect("the directory exists");
    assert_eq!(seconds, EPOCH, "{dir}");
    let shown = if dir.is_empty() { "./" } else { dir };
    let slash = if dir.is_empty() { "" } else { "/" };
    format!("{verb} {seconds}.{nanos:09} {shown}{slash}\n")
}

/// A tree's files and mtimes, to show that nothing changed.
fn mtimes(repo: &Repo, paths: &[&str]) -> Vec<Option<(i64, u32)>> {
    paths.iter().map(|p| mtime_of(&repo.path(p))).collect()
}

#[test]
fn the_summary_counts_updates_and_skips() {
    let repo = clone_with_changes();
    repo.tool()
        .run()
        .success()
        .stdout_is("updated 2, already correct 0, skipped 2 (modified 1, staged 1); directories: updated 2, already correct 0, skipped 0\n");
}

#[test]
fn directories_can_be_left_alone() {
    let repo = clone_with_changes();
    let before = mtime_of(&repo.path("dir"));
    repo.tool()
        .arg("--no-directories")
        .run()
        .success()
        .stdout_is("updated 2, already correct 0, skipped 2 (modified 1, staged 1)\n");
    assert_eq!(mtime_of(&repo.path("dir")), before);
    let json = repo.sync(["--json", "--no-directories"]).json();
    assert!(json.get("directories").is_none(), "{json}");
}

#[test]
fn a_second_run_finds_everything_correct_and_changes_nothing() {
    let repo = clone_with_changes();
    repo.sync(["-q"]);
    let before = repo.snapshot(["a", "dir/b", "modified", "staged"]);
    repo.tool()
        .run()
        .success()
        .stdout_is("updated 0, already correct 2, skipped 2 (modified 1, staged 1); directories: updated 0, already correct 2, skipped 0\n");
    assert_eq!(repo.snapshot(["a", "dir/b", "modified", "staged"]), before);
}

#[test]
fn quiet_prints_nothing() {
    let repo = clone_with_changes();
    let run = repo.tool().arg("-q").run();
    run.success().stdout_is("");
    assert_eq!(run.stderr(), "");
    assert_eq!(repo.mtime("a"), repo.expected_mtime("a"));
}

#[test]
fn verbose_prints_one_line_per_path_then_the_summary() {
    let repo = clone_with_changes();
    let run = repo.tool().arg("-v").run();
    let expected = [
        stamped(&repo, "updated", "a"),
        stamped(&repo, "updated", "dir/b"),
        "skipped modified modified\n".to_owned(),
        "skipped staged staged\n".to_owned(),
        stamped_directory(&repo, "updated", ""),
        stamped_directory(&repo, "updated", "dir"),
        "updated 2, already correct 0, skipped 2 (modified 1, staged 1); directories: updated 2, already correct 0, skipped 0\n".to_owned(),
    ];
    run.success().stdout_is(&expected.concat());

    let again = [
        stamped(&repo, "correct", "a"),
        stamped(&repo, "correct", "dir/b"),
    ];
    let run = repo.tool().arg("-v").run();
    assert!(
        run.stdout().starts_with(&again.concat()),
        "{}",
        run.stdout()
    );
}

#[test]
fn json_summary() {
    let repo = clone_with_changes();
    let json = repo.sync(["--json"]).json();
    assert_eq!(
        json,
        json!({
            "updated": 2,
            "already_correct": 0,
            "skipped": {"modified": 1, "staged": 1},
            "changed_during_sync": 0,
            "failed": 0,
            "approximate": 0,
            "dry_run": false,
            "no_commit_yet": false,
            "index": {"state": "refreshed", "entries": 2},
            "directories": {
                "updated": 2,
                "already_correct": 0,
                "skipped": {},
                "changed_during_sync": 0,
                "failed": 0,
            },
        })
    );
    let again = repo.sync(["--json"]).json();
    assert_eq!(again["already_correct"], 2);
    assert_eq!(again["directories"]["already_correct"], 2);
    assert_eq!(again["index"], json!({"state": "unchanged"}));
}

#[test]
fn json_verbose_lists_every_path() {
    let repo = clone_with_changes();
    let time = |path| {
        let (seconds, nanos) = repo.expected_mtime(path);
        format!("{seconds}.{nanos:09}")
    };
    let json = repo.sync(["--json", "-v"]).json();
    assert_eq!(
        json["files"],
        json!([
            {"path": "a", "outcome": "updated", "mtime": time("a")},
            {"path": "dir/b", "outcome": "updated", "mtime": time("dir/b")},
            {"path": "modified", "outcome": "skipped", "reason": "modified"},
            {"path": "staged", "outcome": "skipped", "reason": "staged"},
        ])
    );
    let directory_time = |dir: &str| {
        let (seconds, nanos) = mtime_of(&repo.path(dir)).unwrap();
        format!("{seconds}.{nanos:09}")
    };
    assert_eq!(
        json["directories"]["paths"],
        json!([
            {"path": ".", "outcome": "updated", "mtime": directory_time("")},
            {"path": "dir", "outcome": "updated", "mtime": directory_time("dir")},
        ])
    );
    let again = repo.sync(["--json", "-v"]).json();
    assert_eq!(
        again["files"][0],
        json!({"path": "a", "outcome": "correct", "mtime": time("a")})
    );
    assert_eq!(
        again["directories"]["paths"][1],
        json!({"path": "dir", "outcome": "correct", "mtime": directory_time("dir")})
    );
}

#[test]
fn a_dry_run_reports_and_changes_nothing() {
    let repo = clone_with_changes();
    let paths = ["a", "dir/b", "modified", "staged"];
    let index = std::fs::read(repo.root().join(".git/index")).unwrap();
    let before = repo.snapshot(paths);
    repo.tool()
        .arg("--dry-run")
        .run()
        .success()
        .stdout_is("would update 2, already correct 0, skipped 2 (modified 1, staged 1); directories: would update 2, already correct 0, skipped 0\n");
    let json = repo.sync(["-n", "--json"]).json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["updated"], 2);
    // Each path says what the summary says: that it would be updated.
    let verbose = repo.sync(["-n", "-v"]);
    verbose
        .stdout_has(&stamped(&repo, "would-update", "a"))
        .stdout_has(&stamped(&repo, "would-update", "dir/b"));
    assert!(
        !verbose.stdout().contains("\nupdated "),
        "{}",
        verbose.stdout()
    );
    let json = repo.sync(["-n", "--json", "-v"]).json();
    assert_eq!(json["files"][0]["outcome"], "would-update");
    assert_eq!(json["directories"]["paths"][0]["outcome"], "would-update");
    assert_eq!(json["index"], json!({"state": "dry-run"}));
    assert_eq!(repo.snapshot(paths), before);
    assert_eq!(
        std::fs::read(repo.root().join(".git/index")).unwrap(),
        index
    );
}

#[test]
fn dash_c_runs_in_another_directory() {
    let repo = clone_with_changes();
    repo.tool()
        .cwd(repo.sandbox())
        .args(["-C", "clone", "-q"])
        .run()
        .success();
    assert_eq!(repo.mtime("dir/b"), repo.expected_mtime("dir/b"));
}

/// Files `top.txt`, `sub/top.txt`, `sub/x.go`, `sub/deeper/y.go` and `other/z.go`, freshly
/// cloned.
fn nested_clone() -> Repo {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write("top.txt", "t")
        .write("sub/top.txt", "st");
    origin.write("sub/x.go", "x").write("sub/deeper/y.go", "y");
    origin.write("other/z.go", "z").commit("base");
    origin.clone_to("clone", &[])
}

/// Which of `nested_clone`'s files have their commit time.
fn synced_files(repo: &Repo) -> Vec<&'static str> {
    [
        "top.txt",
        "sub/top.txt",
        "sub/x.go",
        "sub/deeper/y.go",
        "other/z.go",
    ]
    .into_iter()
    .filter(|p| repo.mtime(p) == repo.expected_mtime(p))
    .collect()
}

#[test]
fn a_directory_pathspec_limits_the_sync() {
    let repo = nested_clone();
    repo.sync(["-q", "--", "sub/"]);
    assert_eq!(
        synced_files(&repo),
        ["sub/top.txt", "sub/x.go", "sub/deeper/y.go"]
    );
}

#[test]
fn pathspecs_are_relative_to_the_current_directory() {
    let repo = nested_clone();
    repo.tool()
        .cwd("sub")
        .args(["-q", "--", "top.txt", "deeper"])
        .run()
        .success();
    assert_eq!(synced_files(&repo), ["sub/top.txt", "sub/deeper/y.go"]);
    repo.tool()
        .cwd("sub/deeper")
        .args(["-q", "--", "../../top.txt"])
        .run()
        .success();
    assert_eq!(
        synced_files(&repo),
        ["top.txt", "sub/top.txt", "sub/deeper/y.go"]
    );
}

#[test]
fn glob_pathspecs_match_like_git() {
    let repo = nested_clone();
    repo.sync(["-q", "--", "*.go"]);
    assert_eq!(
        synced_files(&repo),
        ["sub/x.go", "sub/deeper/y.go", "other/z.go"]
    );
}

#[test]
fn without_pathspecs_a_subdirectory_syncs_the_whole_work_tree() {
    let repo = nested_clone();
    repo.tool().cwd("sub/deeper").arg("-q").run().success();
    assert_eq!(synced_files(&repo).len(), 5);
}

#[test]
fn a_linked_worktree_syncs_its_own_files() {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("a", "a")
        .write("b", "b")
        .commit("base");
    repo.git(["worktree", "add", "-q", "-b", "feature", "../wt"]);
    let worktree = repo.other("wt");
    worktree.at(EPOCH + 100).commit_file("b", "feature");
    let main_files = mtimes(&repo, &["a", "b"]);

    worktree.tool().arg("-q").run().success();
    worktree.assert_synced();
    assert_eq!(worktree.mtime("b").0, EPOCH + 100);
    assert_eq!(mtimes(&repo, &["a", "b"]), main_files, "the main worktree");
    assert_eq!(worktree.git(["status", "--porcelain"]), "");
}

#[test]
fn git_dir_and_git_work_tree_from_the_environment() {
    let repo = clone_with_changes();
    repo.tool()
        .cwd(repo.sandbox())
        .env("GIT_DIR", repo.root().join(".git"))
        .env("GIT_WORK_TREE", repo.root())
        .run()
        .success()
        .stdout_is("updated 2, already correct 0, skipped 2 (modified 1, staged 1); directories: updated 2, already correct 0, skipped 0\n");
    repo.tool()
        .env("GIT_DIR", repo.root().join(".git"))
        .run()
        .success()
        .stdout_is("updated 0, already correct 2, skipped 2 (modified 1, staged 1); directories: updated 0, already correct 2, skipped 0\n");
}

/// 150 nested directories, 3,754 bytes of path: deeper than most tools expect, and within
/// git's PATH_MAX. Files are opened one directory at a time, so depth costs nothing.
#[test]
fn very_deep_paths_are_synced() {
    let origin = Repo::new();
    let deep: String = (0..150)
        .map(|i| format!("level-{i:03}-of-a-deep-tree/"))
        .collect();
    let (shallow_file, deep_file) = (format!("{}f", &deep[..25 * 75]), format!("{deep}file"));
    assert_eq!(deep_file.len(), 3754);
    origin.at(EPOCH).commit_file(&deep_file, "deep");
    origin
        .at(EPOCH + 100)
        .commit_file(&shallow_file, "half way");
    let repo = origin.clone_to("clone", &[]);
    repo.sync(["-q"]);
    repo.assert_synced();
    assert_eq!(repo.mtime(&deep_file).0, EPOCH);
    repo.write(&deep_file, "edited");
    repo.tool()
        .arg("-v")
        .run()
        .success()
        .stdout_has(&format!("skipped modified {deep_file}"));
}

#[test]
fn odd_names_are_synced_and_quoted_like_git() {
    let names: [(&[u8], &str); 10] = [
        (b"with space.txt", "with space.txt"),
        (b"-leading-dash", "-leading-dash"),
        (b"--help", "--help"),
        (b"-C/-n", "-C/-n"),
        (b"new\nline", "\"new\\nline\""),
        (b"tab\there", "\"tab\\there\""),
        (b"bad\xffname", "\"bad\\377name\""),
        (b"q\"uote", "\"q\\\"uote\""),
        (b"back\\slash", "\"back\\\\slash\""),
        ("\u{fc}nicode".as_bytes(), "\u{fc}nicode"),
    ];
    let origin = Repo::new();
    for (i, (name, _)) in names.iter().enumerate() {
        origin.at(EPOCH + i as i64).commit_file(name, *name);
    }
    let repo = origin.clone_to("clone", &[]);
    let stdout = repo.sync(["-v"]).stdout();
    repo.assert_synced();
    for (name, quoted) in names {
        let (seconds, nanos) = repo.expected_mtime(name);
        let line = format!("updated {seconds}.{nanos:09} {quoted}\n");
        assert!(stdout.contains(&line), "no {line:?} in:\n{stdout}");
    }
}

#[test]
fn a_pathspec_with_a_leading_dash() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write("-n", "not an option")
        .write("other", "o")
        .commit("base");
    let repo = origin.clone_to("clone", &[]);
    repo.sync(["-q", "--", "-n"]);
    assert_eq!(repo.mtime("-n"), repo.expected_mtime("-n"));
    assert_ne!(repo.mtime("other"), repo.expected_mtime("other"));
}

#[test]
fn outside_a_repository_it_fails_and_says_so() {
    let repo = Repo::new();
    let elsewhere = repo.sandbox().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let run = repo.tool().cwd(&elsewhere).run();
    run.failure().stdout_is("");
    assert!(
        run.stderr().contains("not") && run.stderr().contains("git"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_bare_repository_fails_and_says_so() {
    let repo = Repo::new();
    repo.commit_file("a", "a");
    repo.git(["clone", "-q", "--bare", ".", "../bare.git"]);
    repo.tool()
        .cwd(repo.sandbox().join("bare.git"))
        .run()
        .failure()
        .stderr_has("bare");
}

#[test]
fn a_shallow_clone_warns_once_and_uses_the_boundary_time() {
    let origin = Repo::new();
    for i in 1..=6 {
        origin.at(EPOCH + 100 * i).commit_file(format!("f{i}"), "x");
    }
    let repo = origin.shallow_clone_to("shallow", 3);
    let run = repo.tool().arg("--json").run();
    run.success();
    repo.assert_synced();
    assert_eq!(
        repo.mtime("f1").0,
        EPOCH + 400,
        "the boundary commit's time"
    );
    assert_eq!(repo.mtime("f6").0, EPOCH + 600);
    let stderr = run.stderr();
    assert!(stderr.contains("shallow"), "{stderr}");
    assert_eq!(
        stderr.matches("git fetch --unshallow").count(),
        1,
        "{stderr}"
    );
    // f1..f3 changed beyond the boundary; f4 changed in the boundary commit itself, which
    // the clone cannot tell from a change beyond it.
    let approximate = run.json()["approximate"].as_u64().unwrap();
    assert!((3..=4).contains(&approximate), "approximate: {approximate}");

    let quiet = repo.tool().arg("-q").run();
    quiet
        .success()
        .stdout_is("")
        .stderr_has("git fetch --unshallow");
}

/// Makes a file immutable (`chattr +i`) for as long as it lives, so that even root cannot
/// set its time.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(path: std::path::PathBuf) -> Option<Immutable> {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status();
        matches!(status, Ok(s) if s.success()).then_some(Immutable(path))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_file_whose_time_cannot_be_set_is_reported_and_the_run_goes_on() {
    let repo = clone_with_changes();
    let Some(_immutable) = Immutable::new(repo.path("a")) else {
        eprintln!("skipped: chattr +i is not supported here, so no file refuses a new time");
        return;
    };
    let run = repo.tool().arg("-v").run();
    run.code(1).stdout_has(", failed 1; directories:");
    let stdout = run.stdout();
    assert!(
        stdout.lines().any(|l| l.starts_with("failed a: ")),
        "{stdout}"
    );
    assert!(!run.stderr().is_empty(), "no warning");
    assert_eq!(repo.mtime("dir/b"), repo.expected_mtime("dir/b"));
    assert_ne!(repo.mtime("a").0, repo.expected_mtime("a").0);

    let run = repo.tool().args(["--json", "-v"]).run();
    run.code(1);
    let json = run.json();
    assert_eq!(json["failed"], 1);
    assert_eq!(json["files"][0]["path"], "a");
    assert_eq!(json["files"][0]["outcome"], "failed");
    assert!(json["files"][0]["message"].is_string(), "{json}");
}

/// Without an index (`git clone --no-checkout`) git sees no tracked file: the sync says so,
/// with what writes the index, instead of a silent "updated 0".
#[test]
fn a_missing_index_is_said() {
    let origin = Repo::new();
    origin.at(EPOCH).write("a", "a").commit("a");
    let clone = origin.clone_to("clone", &["--no-checkout"]);
    assert!(!clone.path(".git/index").exists());
    clone
        .tool()
        .run()
        .success()
        .stdout_has("updated 0, already correct 0, skipped 0")
        .stderr_has("there is no index (")
        .stderr_has("`git reset` writes the index from HEAD");
}

#[test]
fn help_and_version() {
    let repo = Repo::new();
    repo.tool()
        .arg("--help")
        .run()
        .success()
        .stdout_has("--dry-run")
        .stdout_has("--no-directories")
        .stdout_has("Exit status:\n  0  ")
        .stdout_has("\n  1  some file's or directory's time could not be set")
        .stdout_has("\n  2  the sync could not run");
    repo.tool()
        .arg("--version")
        .run()
        .success()
        .stdout_has("git-mtimestamp");
    let bad = repo.tool().arg("--no-such-option").run();
    bad.failure();
}

/// `base64 -d`, from coreutils: an implementation other than the tool's.
fn base64_decoded(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64 (coreutils) on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "base64 -d {text:?}");
    output.stdout
}

/// The path bytes a JSON record stands for: `path_base64` when there is one, which is
/// exactly when `path` (then quoted as git quotes it) is not the path itself.
fn record_bytes(record: &serde_json::Value) -> Vec<u8> {
    let path = record["path"].as_str().unwrap();
    match record.get("path_base64") {
        Some(encoded) => {
            let bytes = base64_decoded(encoded.as_str().unwrap());
            assert!(std::str::from_utf8(&bytes).is_err(), "{record}");
            assert_eq!(path, git_mtimestamp::quote_path(&bytes), "{record}");
            bytes
        }
        None => path.as_bytes().to_vec(),
    }
}

/// `--json -v` keeps every path's bytes: a name that is not UTF-8, of a file or a directory,
/// comes back byte for byte from `path_base64`, with `path` in git's quoting.
#[test]
fn json_paths_keep_bytes_that_are_not_utf8() {
    let origin = Repo::new();
    origin
        .at(EPOCH)
        .write(b"bad\xffname", "1")
        .write(b"d\xe9j\xe0/f\xfe", "2")
        .write(b"d\xe9j\xe0/ok", "3")
        .write("new\nline", "4")
        .write("\u{fc}nicode/plain", "5")
        .commit("odd names");
    let repo = origin.clone_to("clone", &[]);
    let json = repo.sync(["--json", "-v"]).json();

    let files: Vec<Vec<u8>> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(record_bytes)
        .collect();
    assert_eq!(files, repo.tracked_files(), "{json}");
    assert_eq!(json["files"][0]["path"], "\"bad\\377name\"");
    assert_eq!(json["files"][0]["path_base64"], "YmFk/25hbWU=");
    // A UTF-8 name is itself, control characters and all; JSON escapes them.
    let newline = json["files"].as_array().unwrap().iter();
    let newline: Vec<_> = newline.filter(|f| f["path"] == "new\nline").collect();
    assert_eq!(newline.len(), 1, "{json}");
    assert!(newline[0].get("path_base64").is_none());

    let directories: Vec<Vec<u8>> = json["directories"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(record_bytes)
        .collect();
    let mut expected: Vec<Vec<u8>> = repo.tree_listings("HEAD").into_keys().collect();
    expected.sort();
    let mut directories_sorted = directories.clone();
    directories_sorted.sort();
    assert_eq!(directories_sorted, expected, "{json}");
    assert!(directories.contains(&b"d\xe9j\xe0".to_vec()));
    for record in json["directories"]["paths"].as_array().unwrap() {
        assert_eq!(record["outcome"], "updated", "{record}");
    }
}
