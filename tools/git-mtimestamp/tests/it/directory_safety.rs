//! Directories are stamped only when they hold exactly what HEAD's tree says they hold.
//!
//! A directory's mtime is what tools that watch or cache directories (Dagger's and BuildKit's
//! uploads, git's own untracked cache) compare to learn whether its list of entries changed,
//! so a directory that holds anything HEAD's tree does not (an untracked or ignored entry, an
//! entry of another kind, a `.git`) or lacks something must keep its mtime. Each test builds
//! one such state and asserts that the directory is left exactly as it was (its mtime and its
//! entries), that the tool says why, in its verbose lines, its summary and its JSON, and that
//! every other tracked directory *is* stamped, so that a sync that stamps no directory at all
//! cannot pass. Where a symlink leads out of the work tree, what it leads to must not change
//! either.
//!
//! The options (`-n`, `--no-directories`, pathspecs, `--whole-seconds`) come next, and the
//! last tests check git's untracked cache: after syncs between which untracked and ignored
//! files come and go, `git status` with the cache says what it says without it.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::repo::{EPOCH, PathState, Repo, path_state};
use crate::support::run::{Run, shown_dir};

// --- The fixture -----------------------------------------------------------------------------

/// Every tracked directory of [`repo`], the root as `.`.
const DIRS: [&str; 7] = [".", "a", "a/inner", "b", "b/inner", "clean", "clean/sub"];

/// A repository whose directories got their entries at different times, and whose work tree
/// was written now, so that no directory has its commit time yet:
///
/// - at [`EPOCH`]: `top.txt`, `a/f.txt`, `a/g.txt`, `a/inner/h.txt`, `clean/x.txt`,
///   `clean/sub/y.txt`;
/// - at `EPOCH + 100`: `b/k.txt`, the symlink `b/link` (to `k.txt`), `b/inner/h.txt` (the
///   same list of entries as `a/inner`, so that a sync that follows a symlink from `a/inner`
///   to `b/inner` would find it clean), and `clean/sub/z.txt`;
/// - at `EPOCH + 200`: new content for `a/f.txt`, which changes no directory's list.
///
/// `clean/` and `clean/sub/` are never disturbed by a test: they are the witnesses.
fn repo() -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write("top.txt", "top\n")
        .write("a/f.txt", "f\n")
        .write("a/g.txt", "g\n")
        .write("a/inner/h.txt", "h\n")
        .write("clean/x.txt", "x\n")
        .write("clean/sub/y.txt", "y\n")
        .commit("base");
    repo.at(EPOCH + 100)
        .write("b/k.txt", "k\n")
        .symlink("b/link", "k.txt")
        .write("b/inner/h.txt", "h\n")
        .write("clean/sub/z.txt", "z\n")
        .commit("more");
    repo.at(EPOCH + 200)
        .write("a/f.txt", "f, edited\n")
        .commit("edit");
    assert_eq!(repo.head_dirs(), DIRS, "the fixture's directories");
    let seconds = repo.expected_dir_seconds();
    assert_eq!(seconds["."], EPOCH + 100);
    assert_eq!(seconds["a"], EPOCH);
    assert_eq!(seconds["b/inner"], EPOCH + 100);
    assert_eq!(seconds["clean"], EPOCH);
    assert_eq!(seconds["clean/sub"], EPOCH + 100);
    repo
}

// --- What the tool says about directories ---------------------------------------------------

/// What a run said about one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    /// `updated TIME dir/`, with TIME as printed (`SECONDS.NANOS`).
    Updated(String),
    /// `correct TIME dir/`.
    Correct(String),
    /// `skipped REASON dir/`.
    Skipped(String),
    /// `changed dir/`.
    Changed,
    /// `failed dir/: MESSAGE`.
    Failed(String),
    /// `would-update TIME dir/`, in a dry run.
    WouldUpdate(String),
}

/// The directory a verbose line names (`a/b/` is `a/b`, `./` is `.`), and what it says; None
/// for a file's line or the summary.
fn parse_dir_line(line: &str) -> Option<(String, Said)> {
    let dir_of = |shown: &str| shown.strip_suffix('/').map(str::to_owned);
    let (verb, rest) = line.split_once(' ')?;
    match verb {
        "updated" | "would-update" | "correct" | "skipped" => {
            let (field, shown) = rest.split_once(' ')?;
            let dir = dir_of(shown)?;
            let field = field.to_owned();
            let said = match verb {
                "updated" => Said::Updated(field),
                "would-update" => Said::WouldUpdate(field),
                "correct" => Said::Correct(field),
                _ => Said::Skipped(field),
            };
            Some((dir, said))
        }
        "changed" => Some((dir_of(rest)?, Said::Changed)),
        "failed" => {
            let (shown, message) = rest.split_once(": ")?;
            Some((dir_of(shown)?, Said::Failed(message.to_owned())))
        }
        _ => None,
    }
}

/// Every directory the verbose output names, with what it says. Asserts that no directory is
/// named twice and that the directories' lines come after every file's line, just before the
/// summary.
fn dir_lines(run: &Run) -> BTreeMap<String, Said> {
    let stdout = run.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    let mut dirs = BTreeMap::new();
    let mut first_dir_line = None;
    for (i, line) in lines.iter().enumerate() {
        match parse_dir_line(line) {
            Some((dir, said)) => {
                first_dir_line.get_or_insert(i);
                assert!(
                    dirs.insert(dir.clone(), said).is_none(),
                    "two lines for the directory {dir}:\n{stdout}"
                );
            }
            None => {
                let is_summary = i + 1 == lines.len();
                assert!(
                    first_dir_line.is_none() || is_summary,
                    "a line that is no directory's after the directories' lines: {line:?}\n{stdout}"
                );
            }
        }
    }
    dirs
}

/// `SECONDS.NANOS` as the tool prints a time.
fn parse_time(text: &str) -> (i64, u32) {
    let (seconds, nanos) = text
        .split_once('.')
        .unwrap_or_else(|| panic!("not a time: {text:?}"));
    assert_eq!(nanos.len(), 9, "not a time: {text:?}");
    (seconds.parse().unwrap(), nanos.parse().unwrap())
}

fn format_time((seconds, nanos): (i64, u32)) -> String {
    format!("{seconds}.{nanos:09}")
}

/// The counts after `; directories: ` in the summary line (the last line of stdout):
/// `updated`, `already correct` and `skipped`, and each skip reason's count; None when the
/// summary has no directories part.
type DirSummary = (BTreeMap<String, usize>, BTreeMap<String, usize>);

fn dir_summary(run: &Run) -> Option<DirSummary> {
    let stdout = run.stdout();
    let last = stdout.lines().last()?;
    let (_, part) = last.split_once("; directories: ")?;
    let (counts, reasons) = match part.split_once(" (") {
        Some((counts, reasons)) => (
            counts,
            reasons
                .strip_suffix(')')
                .unwrap_or_else(|| panic!("unterminated reasons in {last:?}")),
        ),
        None => (part, ""),
    };
    let pairs = |text: &str| -> BTreeMap<String, usize> {
        text.split(", ")
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, n) = pair
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("not a count: {pair:?} in {last:?}"));
                let n = n
                    .parse()
                    .unwrap_or_else(|_| panic!("not a count: {pair:?} in {last:?}"));
                (name.to_owned(), n)
            })
            .collect()
    };
    Some((pairs(counts), pairs(reasons)))
}

/// The summary's directories part for these counts.
fn summary_of(updated: usize, correct: usize, skipped: &BTreeMap<String, usize>) -> DirSummary {
    let counts = [
        ("updated", updated),
        ("already correct", correct),
        ("skipped", skipped.values().sum()),
    ]
    .into_iter()
    .map(|(name, n)| (name.to_owned(), n))
    .collect();
    (counts, skipped.clone())
}

/// How many directories were skipped for each reason.
fn reason_counts(said: &BTreeMap<String, Said>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for outcome in said.values() {
        if let Said::Skipped(reason) = outcome {
            *counts.entry(reason.clone()).or_default() += 1;
        }
    }
    counts
}

/// The `directories` object of a JSON run, with its `paths` (if any) sorted by path.
fn json_dirs(run: &Run) -> Value {
    let json = run.json();
    let mut dirs = json
        .get("directories")
        .unwrap_or_else(|| panic!("no \"directories\" in {json}"))
        .clone();
    if let Some(Value::Array(paths)) = dirs.get_mut("paths") {
        paths.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    }
    dirs
}

/// A directory's ctime, which changes whenever its mtime is set.
fn ctime(repo: &Repo, dir: &str) -> (i64, i64) {
    let meta = std::fs::symlink_metadata(repo.path(dir)).unwrap();
    (meta.ctime(), meta.ctime_nsec())
}

// --- The check every refused state goes through ---------------------------------------------

/// A refused directory and the reasons the spec allows for it (one, unless the state is
/// described by two).
type Refused<'a> = (&'a str, &'a [&'a str]);

/// Syncs `repo` twice, `-v` and then `--json -v`, and asserts:
///
/// - every directory of `refused`, and every path of `untouched` (relative to the root),
///   keeps its mtime, kind and entries (or content) through both runs, and so does every
///   absolute path of `outside` and the sandbox that holds the work tree;
/// - the verbose output names every tracked directory of HEAD once, after the files' lines:
///   each refused one `skipped` with one of its reasons, every other one `updated` with the
///   time it now has, whose seconds are the time of the last commit that changed its list of
///   entries;
/// - the summary line counts them, and the JSON of the second run says the same, with every
///   stamped directory now `correct` and not touched again (its ctime unchanged);
/// - the witness file `clean/x.txt` got its commit time, as the files always do.
///
/// Returns the first run.
fn assert_refused(
    repo: &Repo,
    refused: &[Refused],
    untouched: &[&str],
    outside: &[PathBuf],
) -> Run {
    let expected_seconds = repo.expected_dir_seconds();
    let mut outside: Vec<PathBuf> = outside.to_vec();
    outside.push(repo.sandbox().to_path_buf());
    let watched: Vec<&str> = refused
        .iter()
        .map(|(dir, _)| *dir)
        .chain(untouched.iter().copied())
        .collect();
    let states = |repo: &Repo| -> (BTreeMap<Vec<u8>, PathState>, Vec<PathState>) {
        (
            repo.path_states(&watched),
            outside.iter().map(|p| path_state(p)).collect(),
        )
    };
    let before = states(repo);

    let run = repo.sync(["-v"]);
    let stdout = run.stdout();
    assert_eq!(states(repo), before, "a refused path changed:\n{stdout}");
    let said = dir_lines(&run);
    let reported: Vec<&str> = said.keys().map(String::as_str).collect();
    let tracked: Vec<&str> = expected_seconds.keys().map(String::as_str).collect();
    assert_eq!(
        reported, tracked,
        "one line for every tracked directory:\n{stdout}"
    );
    let refused_dirs: BTreeSet<&str> = refused.iter().map(|(dir, _)| *dir).collect();
    for (dir, reasons) in refused {
        match &said[*dir] {
            Said::Skipped(reason) if reasons.contains(&reason.as_str()) => {}
            other => panic!(
                "{}: expected skipped {reasons:?}, got {other:?}:\n{stdout}",
                shown_dir(dir)
            ),
        }
    }
    let mut stamped = Vec::new();
    for (dir, seconds) in &expected_seconds {
        if refused_dirs.contains(dir.as_str()) {
            continue;
        }
        let Said::Updated(time) = &said[dir] else {
            panic!(
                "{}: expected updated, got {:?}:\n{stdout}",
                shown_dir(dir),
                said[dir]
            );
        };
        let mtime = parse_time(time);
        assert_eq!(mtime.0, *seconds, "{}: {stdout}", shown_dir(dir));
        assert_eq!(repo.mtime(dir), mtime, "{}: {stdout}", shown_dir(dir));
        stamped.push((dir.clone(), mtime, ctime(repo, dir)));
    }
    let reasons = reason_counts(&said);
    assert_eq!(
        dir_summary(&run),
        Some(summary_of(stamped.len(), 0, &reasons)),
        "{stdout}"
    );
    assert_eq!(
        repo.mtime("clean/x.txt"),
        repo.expected_mtime("clean/x.txt")
    );

    let again = repo.sync(["--json", "-v"]);
    assert_eq!(states(repo), before, "a refused path changed:\n{stdout}");
    let mut paths: Vec<Value> = said
        .iter()
        .map(|(dir, outcome)| match outcome {
            Said::Skipped(reason) => json!({"path": dir, "outcome": "skipped", "reason": reason}),
            _ => {
                let mtime = repo.mtime(dir);
                json!({"path": dir, "outcome": "correct", "mtime": format_time(mtime)})
            }
        })
        .collect();
    paths.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    assert_eq!(
        json_dirs(&again),
        json!({
            "updated": 0,
            "already_correct": stamped.len(),
            "skipped": reasons,
            "changed_during_sync": 0,
            "failed": 0,
            "paths": paths,
        }),
        "{}",
        again.stdout()
    );
    for (dir, mtime, ctime_then) in &stamped {
        assert_eq!(repo.mtime(dir), *mtime, "{}", shown_dir(dir));
        assert_eq!(
            ctime(repo, dir),
            *ctime_then,
            "{} was correct and must not be touched again",
            shown_dir(dir)
        );
    }
    run
}

// --- One test per refused state -------------------------------------------------------------

#[test]
fn a_clean_work_tree_gets_every_directory_stamped() {
    let repo = repo();
    assert_refused(&repo, &[], &[], &[]);
}

#[test]
fn an_untracked_file() {
    let repo = repo();
    repo.write("a/new.txt", "new\n");
    assert_refused(&repo, &[("a", &["untracked"])], &["a/new.txt"], &[]);
}

#[test]
fn an_untracked_file_at_the_top_leaves_the_root_alone_but_not_the_rest() {
    let repo = repo();
    repo.write("stray.txt", "stray\n");
    let run = assert_refused(&repo, &[(".", &["untracked"])], &["stray.txt"], &[]);
    assert!(
        run.stdout()
            .lines()
            .last()
            .unwrap()
            .ends_with("; directories: updated 6, already correct 0, skipped 1 (untracked 1)"),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("\nskipped untracked ./\n"));
}

/// An untracked directory is an entry of its parent like an untracked file; the untracked
/// directory itself is nothing the tool knows about.
#[test]
fn an_untracked_directory() {
    let repo = repo();
    repo.write("b/inner/new/deeper/n.txt", "n\n");
    assert_refused(
        &repo,
        &[("b/inner", &["untracked"])],
        &["b/inner/new", "b/inner/new/deeper"],
        &[],
    );
}

/// Ignored entries of every source git reads: the root's `.gitignore`, a pattern for
/// directories (`target/`), a `.gitignore` further down, `.git/info/exclude` and
/// `core.excludesFile`. A directory that holds an ignored and an untracked entry is
/// `untracked`.
#[test]
fn ignored_files() {
    let repo = repo();
    repo.at(EPOCH + 300)
        .write(".gitignore", "*.log\ntarget/\n")
        .write("b/.gitignore", "*.dat\n")
        .commit("ignore logs, targets and data");
    std::fs::write(repo.path(".git/info/exclude"), "*.tmp\n").unwrap();
    let excludes = repo.sandbox().join("excludes");
    std::fs::write(&excludes, "*.swp\n").unwrap();
    repo.git([
        std::ffi::OsStr::new("config"),
        "core.excludesFile".as_ref(),
        excludes.as_os_str(),
    ]);
    repo.write("a/build.log", "log\n")
        .write("a/.f.txt.swp", "swap\n")
        .write("a/inner/target/out.o", "object\n")
        .write("b/inner/x.dat", "data\n")
        .write("b/inner/scratch.tmp", "excluded\n")
        .write("debug.log", "ignored\n")
        .write("notes.txt", "untracked\n");
    let run = assert_refused(
        &repo,
        &[
            (".", &["untracked"]),
            ("a", &["ignored"]),
            ("a/inner", &["ignored"]),
            ("b/inner", &["ignored"]),
        ],
        &[
            "a/build.log",
            "a/.f.txt.swp",
            "a/inner/target",
            "b/inner/x.dat",
            "b/inner/scratch.tmp",
        ],
        &[],
    );
    let stdout = run.stdout();
    assert!(stdout.contains("\nskipped ignored a/\n"), "{stdout}");
    assert!(stdout.contains("\nskipped untracked ./\n"), "{stdout}");
    assert!(!stdout.contains("a/inner/target/"), "{stdout}");
}

/// A negated pattern in a `.gitignore` further down re-includes a name that the root's
/// `.gitignore` ignores: git calls the file untracked (`git check-ignore` finds no match),
/// and so must the reason. (libgit2's `git_ignore_path_is_ignored` gets this wrong:
/// libgit2/libgit2#7284.) The directory is left alone either way.
#[test]
fn a_name_re_included_by_a_nested_gitignore_is_untracked() {
    let repo = repo();
    repo.at(EPOCH + 300)
        .write(".gitignore", "*.log\n")
        .write("b/.gitignore", "!keep.log\n")
        .commit("ignore logs, but keep one");
    repo.write("b/keep.log", "re-included\n")
        .write("a/other.log", "ignored\n");
    let check = repo.git_output(["check-ignore", "b/keep.log"]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "git does not ignore b/keep.log"
    );
    assert_refused(
        &repo,
        &[("a", &["ignored"]), ("b", &["untracked"])],
        &["b/keep.log"],
        &[],
    );
}

/// A file added to the index but not committed is an entry HEAD's tree lacks.
#[test]
fn a_staged_new_file() {
    let repo = repo();
    repo.write("a/new.txt", "new\n").git(["add", "a/new.txt"]);
    assert_refused(&repo, &[("a", &["untracked"])], &["a/new.txt"], &[]);
}

#[test]
fn a_deleted_file() {
    let repo = repo();
    repo.remove("a/g.txt");
    // b/inner's only file: an empty tracked directory is missing its entry too.
    repo.remove("b/inner/h.txt");
    assert_refused(
        &repo,
        &[("a", &["missing"]), ("b/inner", &["missing"])],
        &[],
        &[],
    );
    assert!(!repo.path("a/g.txt").exists());
}

#[test]
fn a_file_replaced_by_a_directory_of_the_same_name() {
    let repo = repo();
    repo.remove("a/g.txt")
        .write("a/g.txt/inside.txt", "inside\n");
    let run = assert_refused(&repo, &[("a", &["type-changed"])], &["a/g.txt"], &[]);
    assert!(
        !run.stdout().contains(" a/g.txt/\n"),
        "a directory HEAD does not have is not reported:\n{}",
        run.stdout()
    );
}

#[test]
fn a_directory_replaced_by_a_file() {
    let repo = repo();
    repo.remove("a/inner").write("a/inner", "now a file\n");
    assert_refused(
        &repo,
        &[("a", &["type-changed"]), ("a/inner", &["type-changed"])],
        &[],
        &[],
    );
}

/// A file that became a symlink, and a symlink that became a file.
#[test]
fn a_file_replaced_by_a_symlink_and_a_symlink_by_a_file() {
    let repo = repo();
    repo.symlink("a/f.txt", "g.txt");
    repo.remove("b/link").write("b/link", "k\n");
    assert_refused(
        &repo,
        &[("a", &["type-changed"]), ("b", &["type-changed"])],
        &["a/f.txt", "b/link"],
        &[],
    );
}

/// `a` becomes a symlink to a directory outside the work tree that holds the same entries as
/// `a` did, so that a sync that followed it would find a clean directory. Neither it nor
/// anything in it may change, and the root, which now holds a symlink where HEAD has a
/// directory, is left alone too.
#[test]
fn a_directory_replaced_by_a_symlink_to_an_outside_directory() {
    let repo = repo();
    let outside = repo.sandbox().join("outside");
    std::fs::create_dir_all(outside.join("inner")).unwrap();
    std::fs::write(outside.join("f.txt"), "f, edited\n").unwrap();
    std::fs::write(outside.join("g.txt"), "g\n").unwrap();
    std::fs::write(outside.join("inner/h.txt"), "h\n").unwrap();
    let away = repo.sandbox().join("a.away");
    std::fs::rename(repo.path("a"), &away).unwrap();
    repo.symlink("a", outside.as_os_str().as_bytes());
    assert_refused(
        &repo,
        &[
            (".", &["type-changed"]),
            ("a", &["type-changed"]),
            ("a/inner", &["beyond-symlink", "deleted"]),
        ],
        &[],
        &[
            outside.clone(),
            outside.join("inner"),
            outside.join("f.txt"),
            outside.join("inner/h.txt"),
            away.clone(),
            away.join("inner"),
        ],
    );
    assert!(repo.path("a").is_symlink());
}

/// `a/inner` becomes a symlink to `b/inner`, which holds the same entries: `b/inner` is
/// stamped once, with its own time (`EPOCH + 100`, not `a/inner`'s `EPOCH`), and
/// `a/inner` is left alone.
#[test]
fn a_nested_directory_replaced_by_a_symlink_into_the_work_tree() {
    let repo = repo();
    repo.symlink("a/inner", "../b/inner");
    let run = assert_refused(
        &repo,
        &[("a", &["type-changed"]), ("a/inner", &["type-changed"])],
        &[],
        &[],
    );
    assert_eq!(repo.mtime("b/inner").0, EPOCH + 100, "{}", run.stdout());
}

#[test]
fn a_directory_deleted_entirely() {
    let repo = repo();
    repo.remove("a");
    assert_refused(
        &repo,
        &[
            (".", &["missing"]),
            ("a", &["deleted"]),
            ("a/inner", &["deleted"]),
        ],
        &[],
        &[],
    );
    assert!(
        !repo.path("a").exists(),
        "a deleted directory stays deleted"
    );
}

/// `git init` inside a tracked directory makes it another repository's work tree: it is
/// `submodule`, whatever it holds, and its `.git` is not touched. Its parent holds exactly
/// its entries and is stamped.
#[test]
fn a_nested_git_repository_in_a_tracked_directory() {
    let repo = repo();
    repo.git(["init", "-q", "a/inner"]);
    assert!(repo.path("a/inner/.git").is_dir());
    assert_refused(
        &repo,
        &[("a/inner", &["submodule"])],
        &["a/inner/.git", "a/inner/.git/refs"],
        &[],
    );
}

/// A submodule (gitlink) at `libs/sub`: its checkout is a directory of another repository,
/// not one of this one's tracked directories, so neither it nor anything in it is stamped or
/// named as a directory. Its parent, which holds a directory where HEAD has the gitlink, is
/// clean and stamped.
#[test]
fn a_submodule_in_a_directory() {
    let repo = repo();
    let library = repo.init_sibling("library");
    library
        .write("lib.txt", "lib\n")
        .write("src/deep.txt", "deep\n")
        .commit("library");
    repo.at(EPOCH + 300).write("libs/readme.txt", "libs\n");
    repo.git([
        std::ffi::OsStr::new("submodule"),
        "add".as_ref(),
        "-q".as_ref(),
        library.root().as_os_str(),
        "libs/sub".as_ref(),
    ]);
    repo.commit("add a submodule");
    assert!(!repo.head_dirs().contains(&"libs/sub".to_owned()));
    let run = assert_refused(&repo, &[], &["libs/sub", "libs/sub/src"], &[]);
    let said = dir_lines(&run);
    assert!(
        matches!(said.get("libs"), Some(Said::Updated(_))),
        "{}",
        run.stdout()
    );
    assert!(!said.contains_key("libs/sub"), "{}", run.stdout());
    assert!(!said.contains_key("libs/sub/src"), "{}", run.stdout());
}

/// In a linked worktree the root holds a `.git` file, which is set aside as the main work
/// tree's `.git` directory is: its directories are stamped, and the main work tree's are not
/// touched.
#[test]
fn a_linked_worktree() {
    let repo = repo();
    repo.sync(["-q"]);
    let main_dirs = repo.path_states(DIRS);
    repo.git(["worktree", "add", "-q", "--detach", "../linked"]);
    let linked = repo.other("linked");
    assert!(linked.path(".git").is_file());
    linked.write("b/new.txt", "untracked\n");
    assert_refused(&linked, &[("b", &["untracked"])], &[], &[]);
    assert_eq!(repo.path_states(DIRS), main_dirs);
}

// --- Options ---------------------------------------------------------------------------------

/// `-n` reports every directory it would stamp as `would-update`, with the time it would get,
/// and changes no directory (and no file).
#[test]
fn a_dry_run_changes_no_directory() {
    let repo = repo();
    repo.write("a/new.txt", "untracked\n");
    let expected_seconds = repo.expected_dir_seconds();
    let before_dirs = repo.path_states(DIRS);
    let before_files = repo.snapshot(repo.tracked_files());

    let run = repo.sync(["-n", "-v"]);
    let said = dir_lines(&run);
    assert_eq!(said.len(), DIRS.len(), "{}", run.stdout());
    for dir in DIRS {
        match &said[dir] {
            Said::Skipped(reason) if dir == "a" => assert_eq!(reason, "untracked"),
            Said::WouldUpdate(time) if dir != "a" => {
                assert_eq!(parse_time(time).0, expected_seconds[dir], "{dir}");
            }
            other => panic!("{}: {other:?}\n{}", shown_dir(dir), run.stdout()),
        }
    }
    let json = json_dirs(&repo.sync(["-n", "--json"]));
    assert_eq!(json["updated"], DIRS.len() - 1, "{json}");
    assert_eq!(json["already_correct"], 0, "{json}");
    assert_eq!(json["skipped"], json!({"untracked": 1}), "{json}");

    assert_eq!(repo.path_states(DIRS), before_dirs);
    assert_eq!(repo.snapshot(repo.tracked_files()), before_files);
}

/// `--no-directories`: files are stamped, directories are neither touched nor mentioned.
#[test]
fn no_directories() {
    let repo = repo();
    let before = repo.path_states(DIRS);
    let run = repo.sync(["-v", "--no-directories"]);
    assert!(dir_lines(&run).is_empty(), "{}", run.stdout());
    assert!(!run.stdout().contains("directories"), "{}", run.stdout());
    assert_eq!(repo.path_states(DIRS), before);
    repo.assert_synced();

    let json = repo.sync(["--json", "-v", "--no-directories"]).json();
    assert!(json.get("directories").is_none(), "{json}");
    let json = repo.sync(["--json", "--no-directories"]).json();
    assert!(json.get("directories").is_none(), "{json}");
    assert_eq!(repo.path_states(DIRS), before);
}

/// A pathspec covers the directory it names and everything below it, not the root or any
/// other directory; one that names a file covers no directory.
#[test]
fn a_pathspec_limits_directories() {
    let repo = repo();
    let expected_seconds = repo.expected_dir_seconds();
    let others = [".", "b", "b/inner", "clean", "clean/sub"];
    let before = repo.path_states(others);

    let run = repo.sync(["-v", "--", "a"]);
    let said = dir_lines(&run);
    assert_eq!(
        said.keys().collect::<Vec<_>>(),
        ["a", "a/inner"],
        "{}",
        run.stdout()
    );
    for dir in ["a", "a/inner"] {
        assert_eq!(repo.mtime(dir).0, expected_seconds[dir], "{}", run.stdout());
    }
    assert_eq!(repo.path_states(others), before, "{}", run.stdout());
    assert_eq!(
        dir_summary(&run),
        Some(summary_of(2, 0, &BTreeMap::new())),
        "{}",
        run.stdout()
    );

    let run = repo.sync(["-v", "--", "top.txt"]);
    assert!(dir_lines(&run).is_empty(), "{}", run.stdout());
    assert_eq!(repo.path_states(others), before, "{}", run.stdout());

    // From a subdirectory, with a pathspec relative to the top.
    let rest = [".", "b", "b/inner", "clean"];
    let before = repo.path_states(rest);
    let run = repo.tool().cwd("b").args(["-v", "--", ":/clean/sub"]).run();
    run.success();
    let said = dir_lines(&run);
    assert_eq!(
        said.keys().collect::<Vec<_>>(),
        ["clean/sub"],
        "{}",
        run.stdout()
    );
    assert_eq!(repo.mtime("clean/sub").0, expected_seconds["clean/sub"]);
    assert_eq!(repo.path_states(rest), before, "{}", run.stdout());
}

/// The nanoseconds are a fingerprint of the list of names and kinds: the same list gives the
/// same nanoseconds, and a list changed by a commit in the same second (a new name, or only
/// a kind) gives another mtime. `--whole-seconds` leaves them at zero.
#[test]
fn the_nanoseconds_fingerprint_the_list() {
    let repo = repo();
    repo.sync(["-q"]);
    let nanos = |dir: &str| repo.mtime(dir).1;
    assert_eq!(nanos("a/inner"), nanos("b/inner"), "the same list");
    assert_ne!(repo.mtime("a/inner"), repo.mtime("b/inner"));
    assert_ne!(nanos("clean"), nanos("clean/sub"));

    let sub = repo.mtime("clean/sub");
    repo.at(sub.0)
        .write("clean/sub/w.txt", "w\n")
        .commit("a new name, in the same second");
    let b = repo.mtime("b");
    repo.at(b.0)
        .remove("b/link")
        .write("b/link", "k\n")
        .commit("a symlink becomes a file, in the same second");
    repo.sync(["-q"]);
    assert_eq!(repo.mtime("clean/sub").0, sub.0);
    assert_ne!(repo.mtime("clean/sub"), sub, "a new name");
    assert_eq!(repo.mtime("b").0, b.0);
    assert_ne!(repo.mtime("b"), b, "a changed kind");

    repo.sync(["-q", "--whole-seconds"]);
    let expected_seconds = repo.expected_dir_seconds();
    for dir in DIRS {
        assert_eq!(
            repo.mtime(dir),
            (expected_seconds[dir], 0),
            "{}",
            shown_dir(dir)
        );
    }
}

// --- git's untracked cache -------------------------------------------------------------------

/// The tracked directories of [`uc_repo`], the root as `.`.
const UC_DIRS: [&str; 7] = [".", "docs", "lib", "lib/x", "src", "src/a", "src/a/deep"];

/// A repository with `core.untrackedCache` on, untracked and ignored files in several
/// directories, and the cache populated by `git status`.
fn uc_repo(trust_ctime: bool, show_untracked: &str) -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH)
        .write(".gitignore", "*.log\nbuild/\n")
        .write("src/main.txt", "main\n")
        .write("src/a/f.txt", "f\n")
        .write("src/a/deep/g.txt", "g\n")
        .write("docs/readme.txt", "readme\n")
        .write("lib/y.txt", "y\n")
        .write("lib/x/h.txt", "h\n")
        .commit("base");
    repo.at(EPOCH + 100)
        .write("src/a/deep/g2.txt", "g2\n")
        .commit("more");
    assert_eq!(repo.head_dirs(), UC_DIRS);
    repo.write("src/notes.txt", "untracked\n")
        .write("lib/x/tmp/scratch.txt", "untracked\n")
        .write("src/a/out.log", "ignored\n")
        .write("build/obj.o", "ignored\n");
    repo.git(["config", "core.untrackedCache", "true"]);
    repo.git(["config", "core.trustctime", &trust_ctime.to_string()]);
    repo.git(["config", "status.showUntrackedFiles", show_untracked]);
    repo.git(["update-index", "--untracked-cache"]);
    repo.git(["status", "--porcelain"]);
    repo.git(["status", "--porcelain"]);
    repo
}

/// The untracked and ignored files a test expects, to check that git (without its cache)
/// sees what the test thinks it made.
#[derive(Default)]
struct Model {
    untracked: BTreeSet<&'static str>,
    ignored: BTreeSet<&'static str>,
}

impl Model {
    fn status(&self) -> String {
        self.untracked.iter().map(|p| format!("?? {p}\n")).collect()
    }

    fn status_ignored(&self) -> String {
        let ignored: String = self.ignored.iter().map(|p| format!("!! {p}\n")).collect();
        self.status() + &ignored
    }
}

/// `git status` with the cache, as a user runs it (it also updates the cache).
fn cached_status(repo: &Repo, args: &[&str]) -> String {
    let mut all = vec!["status", "--porcelain"];
    all.extend_from_slice(args);
    repo.git(all)
}

/// `git status` without the cache, and without writing the index (which would drop the
/// cache from it): the truth.
fn true_status(repo: &Repo, args: &[&str]) -> String {
    let mut all = vec![
        "--no-optional-locks",
        "-c",
        "core.untrackedCache=false",
        "status",
        "--porcelain",
    ];
    all.extend_from_slice(args);
    repo.git(all)
}

/// How many directories `git status` opened, from its trace2 statistics: fewer than the
/// work tree has means the untracked cache answered for the others.
fn opened_dirs(repo: &Repo) -> usize {
    let trace = repo.sandbox().join("trace2.perf");
    let _ = std::fs::remove_file(&trace);
    let output = repo
        .git_command()
        .env("GIT_TRACE2_PERF", &trace)
        .args(["status", "--porcelain"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = std::fs::read_to_string(&trace).unwrap();
    text.lines()
        .find_map(|line| line.split("opendir:").nth(1))
        .unwrap_or_else(|| panic!("no opendir statistics in the trace:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Syncs, asserts what became of each directory (`refused` with their reasons, every other
/// one stamped with its commit time) and that `git status`, with the untracked cache, says
/// exactly what it says without it and what the model says. Returns how many directories
/// `git status` had to open.
fn uc_step(repo: &Repo, step: &str, model: &Model, refused: &[(&str, &str)]) -> usize {
    let expected_seconds = repo.expected_dir_seconds();
    let run = repo.sync(["-v"]);
    let said = dir_lines(&run);
    let context = || format!("step {step:?}:\n{}", run.stdout());
    for dir in UC_DIRS {
        match refused.iter().find(|(refused, _)| *refused == dir) {
            Some((_, reason)) => assert_eq!(
                said.get(dir),
                Some(&Said::Skipped(reason.to_string())),
                "{}: {}",
                shown_dir(dir),
                context()
            ),
            None => {
                let time = match said.get(dir) {
                    Some(Said::Updated(time) | Said::Correct(time)) => parse_time(time),
                    other => panic!("{}: {other:?}, {}", shown_dir(dir), context()),
                };
                assert_eq!(
                    time.0,
                    expected_seconds[dir],
                    "{}: {}",
                    shown_dir(dir),
                    context()
                );
                assert_eq!(repo.mtime(dir), time, "{}: {}", shown_dir(dir), context());
            }
        }
    }

    let truth = true_status(repo, &[]);
    let truth_all = true_status(repo, &["--untracked-files=all"]);
    assert_eq!(truth_all, model.status(), "the test's model: {}", context());
    assert_eq!(
        true_status(repo, &["--ignored", "--untracked-files=all"]),
        model.status_ignored(),
        "the test's model: {}",
        context()
    );
    // Twice: the first run updates the cache, the second reads what the first wrote.
    for round in 1..=2 {
        assert_eq!(
            cached_status(repo, &[]),
            truth,
            "round {round}: {}",
            context()
        );
        assert_eq!(
            cached_status(repo, &["--untracked-files=all"]),
            truth_all,
            "round {round}: {}",
            context()
        );
        assert_eq!(
            cached_status(repo, &["--ignored", "--untracked-files=all"]),
            model.status_ignored(),
            "round {round}: {}",
            context()
        );
    }
    opened_dirs(repo)
}

/// Untracked files come and go between syncs, and directories become clean again and are
/// stamped back to their commit times, the same times git's cache may have recorded for them
/// while they were clean before.
fn untracked_cache_stays_right(trust_ctime: bool, show_untracked: &str) {
    let repo = uc_repo(trust_ctime, show_untracked);
    let mut model = Model::default();
    model
        .untracked
        .extend(["lib/x/tmp/scratch.txt", "src/notes.txt"]);
    model.ignored.extend(["build/obj.o", "src/a/out.log"]);
    let mut opened = Vec::new();
    let mut step = |name: &str, model: &Model, refused: &[(&str, &str)]| {
        opened.push(uc_step(&repo, name, model, refused));
    };

    step(
        "1: the initial state",
        &model,
        &[
            (".", "ignored"),
            ("lib/x", "untracked"),
            ("src", "untracked"),
            ("src/a", "ignored"),
        ],
    );

    // A clean directory, stamped and cached as clean, gets an untracked file.
    repo.write("src/a/deep/new.txt", "new\n");
    model.untracked.insert("src/a/deep/new.txt");
    step(
        "2: an untracked file in a stamped directory",
        &model,
        &[
            (".", "ignored"),
            ("lib/x", "untracked"),
            ("src", "untracked"),
            ("src/a", "ignored"),
            ("src/a/deep", "untracked"),
        ],
    );

    // ... and loses it again: clean, and stamped back to the time it had in step 1.
    repo.remove("src/a/deep/new.txt");
    model.untracked.remove("src/a/deep/new.txt");
    let clean_again = [
        (".", "ignored"),
        ("lib/x", "untracked"),
        ("src", "untracked"),
        ("src/a", "ignored"),
    ];
    step("3: the untracked file deleted", &model, &clean_again);

    // A file that comes and goes while git status caches the directory with it.
    repo.write("docs/draft.txt", "draft\n");
    model.untracked.insert("docs/draft.txt");
    assert_eq!(
        cached_status(&repo, &["--untracked-files=all"]),
        model.status()
    );
    cached_status(&repo, &[]);
    repo.remove("docs/draft.txt");
    model.untracked.remove("docs/draft.txt");
    step(
        "4: a file cached by git status, then deleted",
        &model,
        &clean_again,
    );

    // An untracked file moves from one directory into a stamped one.
    std::fs::rename(
        repo.path("src/notes.txt"),
        repo.path("src/a/deep/notes.txt"),
    )
    .unwrap();
    model.untracked.remove("src/notes.txt");
    model.untracked.insert("src/a/deep/notes.txt");
    step(
        "5: an untracked file moved into a stamped directory",
        &model,
        &[
            (".", "ignored"),
            ("lib/x", "untracked"),
            ("src/a", "ignored"),
            ("src/a/deep", "untracked"),
        ],
    );

    // An ignored file renamed to an untracked name.
    std::fs::rename(repo.path("src/a/out.log"), repo.path("src/a/out.txt")).unwrap();
    model.ignored.remove("src/a/out.log");
    model.untracked.insert("src/a/out.txt");
    step(
        "6: an ignored file renamed to an untracked one",
        &model,
        &[
            (".", "ignored"),
            ("lib/x", "untracked"),
            ("src/a", "untracked"),
            ("src/a/deep", "untracked"),
        ],
    );

    repo.remove("src/a/out.txt");
    model.untracked.remove("src/a/out.txt");
    step(
        "7: the renamed file deleted",
        &model,
        &[
            (".", "ignored"),
            ("lib/x", "untracked"),
            ("src/a/deep", "untracked"),
        ],
    );

    // An untracked directory removed whole.
    repo.remove("lib/x/tmp");
    model.untracked.remove("lib/x/tmp/scratch.txt");
    step(
        "8: an untracked directory removed",
        &model,
        &[(".", "ignored"), ("src/a/deep", "untracked")],
    );

    // An empty untracked directory, which git status does not list but which is an entry.
    std::fs::create_dir(repo.path("lib/x/empty")).unwrap();
    step(
        "9: an empty untracked directory",
        &model,
        &[
            (".", "ignored"),
            ("lib/x", "untracked"),
            ("src/a/deep", "untracked"),
        ],
    );

    repo.write("lib/x/empty/file.txt", "file\n");
    model.untracked.insert("lib/x/empty/file.txt");
    step(
        "10: a file in the empty directory",
        &model,
        &[
            (".", "ignored"),
            ("lib/x", "untracked"),
            ("src/a/deep", "untracked"),
        ],
    );

    repo.remove("lib/x/empty");
    model.untracked.remove("lib/x/empty/file.txt");
    step(
        "11: the directory removed again",
        &model,
        &[(".", "ignored"), ("src/a/deep", "untracked")],
    );

    // An untracked file replaced by an untracked directory of the same name.
    repo.remove("src/a/deep/notes.txt")
        .write("src/a/deep/notes.txt/inner.txt", "inner\n");
    model.untracked.remove("src/a/deep/notes.txt");
    model.untracked.insert("src/a/deep/notes.txt/inner.txt");
    step(
        "12: an untracked file replaced by a directory",
        &model,
        &[(".", "ignored"), ("src/a/deep", "untracked")],
    );

    repo.remove("src/a/deep/notes.txt");
    model.untracked.remove("src/a/deep/notes.txt/inner.txt");
    step(
        "13: the untracked directory removed",
        &model,
        &[(".", "ignored")],
    );

    // A tracked file deleted and checked out again: the directory is clean, with a new mtime.
    repo.remove("docs/readme.txt");
    repo.git(["checkout", "--", "docs/readme.txt"]);
    step(
        "14: a tracked file deleted and restored",
        &model,
        &[(".", "ignored")],
    );

    // The ignored directory at the top removed: the root is clean at last.
    repo.remove("build");
    model.ignored.remove("build/obj.o");
    step("15: the ignored directory removed", &model, &[]);

    // An untracked file at the top, which the root's cached entry must show.
    repo.write("stray.txt", "stray\n");
    model.untracked.insert("stray.txt");
    step(
        "16: an untracked file at the top",
        &model,
        &[(".", "untracked")],
    );

    // Created and deleted between two syncs: clean again, stamped back.
    repo.remove("stray.txt");
    model.untracked.remove("stray.txt");
    repo.write("src/a/blip.txt", "blip\n")
        .remove("src/a/blip.txt");
    step("17: files that came and went", &model, &[]);

    // The cache was in use: in some step git status did not open every directory.
    let dirs_on_disk = UC_DIRS.len();
    assert!(
        opened.iter().any(|&n| n < dirs_on_disk),
        "git status opened every directory in every step ({opened:?}): the untracked cache was never used"
    );
}

#[test]
fn the_untracked_cache_stays_right() {
    untracked_cache_stays_right(true, "normal");
}

#[test]
fn the_untracked_cache_stays_right_without_trusting_ctime() {
    untracked_cache_stays_right(false, "normal");
}

/// With `status.showUntrackedFiles=all`, `git status --untracked-files=all` uses the cache
/// too (with another setting it bypasses it).
#[test]
fn the_untracked_cache_stays_right_showing_all_untracked_files() {
    untracked_cache_stays_right(false, "all");
}
