//! Pathspecs, git's magic included, select exactly what git selects. git is the oracle: for
//! files, `git ls-files --error-unmatch -- <pathspecs>` run in the same directory with the
//! same environment (its failure means the sync must fail too); for directories, the same
//! question asked of an index that holds one submodule entry per tracked directory, since git
//! matches a submodule as it matches a directory (`dir/` selects it).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

use crate::support::repo::{EPOCH, Repo};

/// The files of the repository the pathspecs are tried on: names with glob characters, with
/// either case, a file beside a directory of a similar name, a colon at the start.
const FILES: &[&str] = &[
    "README",
    "readme/notes.txt",
    "a/one.txt",
    "a/x.md",
    "a/b/two.txt",
    "a/b/x",
    "x",
    "sub/x",
    "sub/x.txt",
    "sub/X.TXT",
    "sub/deeper/y.txt",
    "SUB/x.txt",
    "f",
    "g/h.txt",
    "a*b",
    "axb",
    "a[b]c",
    "q?",
    "sp ace/z.md",
    ":!a",
    "docs.md",
    "top.txt",
];

/// A repository with [`FILES`] committed, and a submodule entry `sm` (no checkout).
fn repo() -> Repo {
    let repo = Repo::new();
    repo.at(EPOCH);
    for (i, path) in FILES.iter().enumerate() {
        repo.write(path, format!("{i}\n"));
    }
    repo.commit("files");
    let head = repo.git(["rev-parse", "HEAD"]).trim().to_owned();
    repo.git([
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},sm"),
    ]);
    repo.git(["commit", "-q", "-m", "a submodule"]);
    repo
}

/// One try: pathspecs given in a directory, with environment variables set, and whether the
/// top of the work tree must be in scope (which no git command can answer).
struct Case {
    cwd: &'static str,
    env: &'static [(&'static str, &'static str)],
    specs: &'static [&'static str],
    top: bool,
}

const fn at(cwd: &'static str, specs: &'static [&'static str]) -> Case {
    Case {
        cwd,
        env: &[],
        specs,
        top: false,
    }
}

const fn with_top(cwd: &'static str, specs: &'static [&'static str]) -> Case {
    Case {
        cwd,
        env: &[],
        specs,
        top: true,
    }
}

const fn with_env(
    env: &'static [(&'static str, &'static str)],
    specs: &'static [&'static str],
) -> Case {
    Case {
        cwd: "",
        env,
        specs,
        top: false,
    }
}

const CASES: &[Case] = &[
    // Plain paths, directories with and without a slash, a file with a slash.
    at("", &["README"]),
    at("", &["a"]),
    at("", &["a/"]),
    at("", &["a/b"]),
    at("", &["f"]),
    at("", &["f/"]),
    at("", &["g/"]),
    at("", &["sm/"]),
    at("", &["sp ace"]),
    at("", &["a/b/.."]),
    at("", &["./a/../f"]),
    at("", &["x/."]),
    at("", &["nope"]),
    at("", &["a", "nope"]),
    with_top("", &["."]),
    // Wildcards: `*` crosses slashes unless glob magic says otherwise.
    with_top("", &["*"]),
    at("", &["*.txt"]),
    at("", &["*.md"]),
    at("", &["sub/*"]),
    at("", &["a*b"]),
    at("", &["a\\*b"]),
    at("", &["a[*]b"]),
    at("", &["a[b]c"]),
    at("", &["q?"]),
    at("", &["?"]),
    at("", &["[[:upper:]]*"]),
    at("", &[":(glob)**/x"]),
    at("", &[":(glob)a/*"]),
    at("", &[":(glob)a/**"]),
    at("", &[":(glob)*.txt"]),
    at("", &[":(glob)**/*.txt"]),
    at("", &[":(glob)*"]),
    with_top("", &[":(glob)**"]),
    at("", &[":(literal)a*b"]),
    at("", &[":(literal)a[b]c"]),
    // Exclusions, alone (then from the whole tree) or with what they take from.
    with_top("", &[":!a"]),
    with_top("", &[":^a"]),
    with_top("", &[":(exclude)*.md"]),
    with_top("", &[":(exclude,glob)*.md"]),
    at("", &[":!*"]),
    at("", &["a", ":!a/b"]),
    at("", &["a", ":(exclude,glob)a/*"]),
    at("", &["a/b", ":(exclude)a"]),
    at("", &["*.txt", ":!sub", ":!nope"]),
    // Case.
    at("", &[":(icase)README"]),
    at("", &[":(icase)sub/x.txt"]),
    at("", &[":(glob,icase)SUB/*.TXT"]),
    // Top magic.
    with_top("", &[":/"]),
    with_top("", &[":(top)"]),
    at("", &[":(top,glob)**/*.txt"]),
    at("", &[":/:!a"]),
    with_top("", &[":/!a"]),
    with_top("sub", &[":/!a"]),
    at("sub", &[":/!a", ":/g"]),
    // From a subdirectory: relative to it, except with top magic.
    at("sub", &["x.txt"]),
    at("sub", &["x"]),
    at("sub", &["."]),
    with_top("sub", &[".."]),
    at("sub", &["../a"]),
    at("sub", &["deeper/.."]),
    at("sub", &["*.txt"]),
    at("sub", &[":(glob)*"]),
    at("sub", &[":(top)x"]),
    at("sub", &[":/x"]),
    at("sub", &[":/a", ":!b"]),
    at("sub", &[":(icase)x.txt"]),
    with_top("sub", &[":!x.txt"]),
    at("sub", &["../../x"]),
    at("a/b", &["x", "../one.txt"]),
    at("a/b", &[":(top)x", "../../sub"]),
    // The environment's magic.
    with_env(&[("GIT_GLOB_PATHSPECS", "1")], &["*.txt"]),
    with_env(&[("GIT_GLOB_PATHSPECS", "true")], &["a/*"]),
    with_env(&[("GIT_GLOB_PATHSPECS", "1")], &[":(literal)a*b"]),
    with_env(&[("GIT_NOGLOB_PATHSPECS", "1")], &["a*b"]),
    with_env(&[("GIT_NOGLOB_PATHSPECS", "1")], &[":(glob)*.md"]),
    with_env(&[("GIT_ICASE_PATHSPECS", "1")], &["readme"]),
    with_env(&[("GIT_ICASE_PATHSPECS", "yes")], &["sub/x.txt"]),
    with_env(&[("GIT_LITERAL_PATHSPECS", "1")], &[":!a"]),
    with_env(&[("GIT_LITERAL_PATHSPECS", "1")], &["a*b"]),
    with_env(&[("GIT_LITERAL_PATHSPECS", "0")], &["a*b"]),
    with_env(
        &[("GIT_GLOB_PATHSPECS", "1"), ("GIT_NOGLOB_PATHSPECS", "1")],
        &["a"],
    ),
    with_env(
        &[("GIT_LITERAL_PATHSPECS", "1"), ("GIT_ICASE_PATHSPECS", "1")],
        &["a"],
    ),
    // What git refuses.
    at("", &[""]),
    at("", &[":(nonsense)a"]),
    at("", &[":(glob"]),
    at("", &[":#a"]),
    at("", &[":(literal,glob)a"]),
];

/// Whether every pathspec of `specs` is an exclusion (git's `:!`, `:^` or exclude magic).
fn only_exclusions(specs: &[&str], env: &[(&str, &str)]) -> bool {
    let literal = env
        .iter()
        .any(|(k, v)| *k == "GIT_LITERAL_PATHSPECS" && *v != "0");
    !literal
        && specs.iter().all(|spec| match spec.strip_prefix(':') {
            Some(long) if long.starts_with('(') => long.contains("exclude"),
            Some(short) => short
                .chars()
                .take_while(|c| "/!^".contains(*c))
                .any(|c| c != '/'),
            None => false,
        })
}

/// What `git ls-files --full-name` lists for `case`, or None when git refuses it: when
/// `--error-unmatch` (about the real index) fails. The list comes from a run without it,
/// since git before 2.42 stops matching a pathspec with a wildcard after it matched a path
/// literally when it also reports unmatched ones (fixed in git's ec727e189c). With
/// exclusions alone a sync covers the whole tree minus them, as `git add`, `git status` and
/// `git log` read them; `git ls-files` alone starts from the current directory then, so it is
/// told `:/` too.
fn git_lists(repo: &Repo, case: &Case, index: Option<&std::path::Path>) -> Option<Vec<String>> {
    let ls_files = |error_unmatch: bool| {
        let mut command = repo.git_command();
        command.current_dir(repo.root().join(case.cwd));
        command.envs(case.env.iter().copied());
        if let Some(index) = index {
            command.env("GIT_INDEX_FILE", index);
        }
        command.args(["ls-files", "-z", "--full-name"]);
        if error_unmatch {
            command.arg("--error-unmatch");
        }
        command.arg("--");
        if only_exclusions(case.specs, case.env) && !case.cwd.is_empty() {
            command.arg(":/");
        }
        command.args(case.specs);
        command.output().unwrap()
    };
    if index.is_none() && !ls_files(true).status.success() {
        return None;
    }
    let output = ls_files(false);
    if !output.status.success() {
        return None;
    }
    let mut paths: Vec<String> = output
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .collect();
    paths.sort();
    paths.dedup();
    Some(paths)
}

/// An index holding a submodule entry at each directory of `dirs` (none of them inside
/// another), written to `path`.
fn index_of_directories(repo: &Repo, dirs: &[&String], path: &std::path::Path) {
    let head = repo.git(["rev-parse", "HEAD"]).trim().to_owned();
    let mut child = repo
        .git_command()
        .env("GIT_INDEX_FILE", path)
        .args(["update-index", "--add", "--index-info"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for dir in dirs {
        writeln!(stdin, "160000 {head}\t{dir}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// The tracked directories below the top that git would select for `case`: each directory
/// is asked about as a submodule entry, one index per depth (so that no entry is inside
/// another).
fn git_lists_directories(repo: &Repo, case: &Case, dirs: &[String]) -> Option<Vec<String>> {
    let scratch = tempfile::tempdir().unwrap();
    let mut selected = Vec::new();
    let depth = |dir: &String| dir.matches('/').count();
    let deepest = dirs.iter().map(depth).max().unwrap_or(0);
    for level in 0..=deepest {
        let at_level: Vec<&String> = dirs.iter().filter(|d| depth(d) == level).collect();
        let index = scratch.path().join(format!("index-{level}"));
        index_of_directories(repo, &at_level, &index);
        selected.extend(git_lists(repo, case, Some(&index))?);
    }
    selected.sort();
    Some(selected)
}

/// What a dry run of the tool selects for `case`: its files, and its directories with the
/// top as `.`; None when it fails, which must be with exit status 2.
fn tool_lists(repo: &Repo, case: &Case) -> Option<(Vec<String>, Vec<String>)> {
    let mut tool = repo.tool().cwd(case.cwd);
    for (key, value) in case.env {
        tool = tool.env(key, value);
    }
    let run = tool
        .args(["--json", "-v", "-n", "--"])
        .args(case.specs)
        .run();
    if !run.output.status.success() {
        run.code(2);
        run.stderr_has("git-mtimestamp: ");
        return None;
    }
    let json = run.json();
    let paths = |list: &serde_json::Value| -> Vec<String> {
        let mut paths: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["path"].as_str().unwrap().to_owned())
            .collect();
        paths.sort();
        paths
    };
    Some((paths(&json["files"]), paths(&json["directories"]["paths"])))
}

#[test]
fn pathspecs_select_what_git_selects() {
    let repo = repo();
    let dirs: Vec<String> = repo
        .head_dirs()
        .into_iter()
        .filter(|dir| dir != ".")
        .collect();
    let mut differences = Vec::new();
    let mut compared = 0;
    for case in CASES {
        let what = format!(
            "{:?} in {:?} with {:?}",
            case.specs,
            if case.cwd.is_empty() { "." } else { case.cwd },
            case.env
        );
        let git = git_lists(&repo, case, None);
        let ours = tool_lists(&repo, case);
        let (git, (files, directories)) = match (git, ours) {
            (None, None) => continue,
            (Some(git), Some(ours)) => (git, ours),
            (git, ours) => {
                differences.push(format!("{what}: git lists {git:?}, the sync {ours:?}"));
                continue;
            }
        };
        compared += 1;
        if files != git {
            differences.push(format!("{what}: git lists {git:?}, the sync {files:?}"));
        }
        let mut expected = git_lists_directories(&repo, case, &dirs).unwrap();
        if case.top {
            expected.insert(0, ".".to_owned());
        }
        let mut directories = directories;
        directories.sort();
        expected.sort();
        if directories != expected {
            differences.push(format!(
                "{what}: directories {expected:?} expected, the sync has {directories:?}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // Most cases select files; the rest are refused by both.
    assert!(compared >= CASES.len() * 3 / 4, "only {compared} compared");
}

/// Which files of `repo` have their commit times.
fn stamped(repo: &Repo) -> BTreeSet<String> {
    repo.tracked_files()
        .into_iter()
        .filter(|path| path != b"sm")
        .filter(|path| repo.mtime(path) == repo.expected_mtime(path))
        .map(|path| String::from_utf8(path).unwrap())
        .collect()
}

/// A pathspec that matches no tracked file stops the sync before anything is touched, as
/// `git add` does, naming it as it was given; an exclusion that matches nothing is fine.
#[test]
fn a_pathspec_that_matches_no_tracked_file_is_an_error() {
    let origin = repo();
    let repo = origin.clone_to("clone", &[]);
    let before = repo.snapshot(FILES);
    let run = repo.tool().args(["--", "a", "nope", "README"]).run();
    run.code(2)
        .stdout_is("")
        .stderr_has("pathspec 'nope' did not match any files\n");
    assert_eq!(repo.snapshot(FILES), before, "{}", run.stderr());

    // From a subdirectory, named as given, every one of them.
    let run = repo
        .tool()
        .cwd("sub")
        .args(["--", "nope", "x.txt", ":(glob)*.none"])
        .run();
    run.code(2)
        .stderr_has("git-mtimestamp: pathspec 'nope' did not match any files\n")
        .stderr_has("\npathspec ':(glob)*.none' did not match any files\n")
        .stderr_has("git ls-files");
    assert_eq!(repo.snapshot(FILES), before);

    repo.sync(["-q", "--", "a", ":!nope"]);
    assert_eq!(
        stamped(&repo),
        ["a/b/two.txt", "a/b/x", "a/one.txt", "a/x.md"]
            .map(String::from)
            .into()
    );
}

/// Magic this tool does not answer is refused by name, with exit status 2.
#[test]
fn attr_magic_is_refused_by_name() {
    let repo = repo();
    let run = repo.tool().args(["--", ":(attr:text)a"]).run();
    run.code(2)
        .stderr_has("'attr' magic is not supported")
        .stderr_has("GIT_LITERAL_PATHSPECS=1 xargs -0 -r git-mtimestamp --");
}

/// A real sync with an exclusion: the excluded files and directories keep their times.
#[test]
fn an_exclusion_leaves_its_files_and_directories_alone() {
    let origin = repo();
    let repo = origin.clone_to("clone", &[]);
    let a_dirs = repo.path_states(["a", "a/b"]);
    repo.tool()
        .cwd("sub")
        .args(["-q", "--", ":!../a", ":(exclude)../*.md"])
        .run()
        .success();
    let expected: BTreeSet<String> = FILES
        .iter()
        .filter(|path| !path.starts_with("a/") && !path.ends_with(".md"))
        .map(|path| path.to_string())
        .collect();
    assert_eq!(stamped(&repo), expected);
    assert_eq!(repo.path_states(["a", "a/b"]), a_dirs);
    // Every other directory, the top included, has its commit time.
    let seconds = repo.expected_dir_seconds();
    for dir in [".", "sub", "sub/deeper", "SUB", "readme", "g", "sp ace"] {
        assert_eq!(repo.mtime(dir).0, seconds[dir], "{dir}");
    }
}

/// `cargo xtask`'s library call: pathspecs a repository may lack select nothing.
#[test]
fn the_library_can_allow_unmatched_pathspecs() {
    let origin = repo();
    let repo = origin.clone_to("clone", &[]);
    let work_tree = git_mtimestamp::WorkTree::open(repo.root()).unwrap();
    let mut options = git_mtimestamp::Options {
        pathspecs: [".dagger", "g"].map(Into::into).to_vec(),
        dry_run: true,
        ..git_mtimestamp::Options::default()
    };
    let error = work_tree.sync(&options).unwrap_err();
    assert!(
        matches!(&error, git_mtimestamp::Error::PathspecUnmatched { pathspecs } if pathspecs == &[(0, ".dagger".to_owned())]),
        "{error}"
    );
    options.allow_unmatched_pathspecs = true;
    let report = work_tree.sync(&options).unwrap();
    let files: Vec<&[u8]> = report.files.iter().map(|f| f.path.as_slice()).collect();
    assert_eq!(files, [b"g/h.txt"]);
}
