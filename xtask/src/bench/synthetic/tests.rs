//! The generator, checked with git on a small repository: every feature a real repository
//! has is there, and a checkout is clean.

use super::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        // Never a repository the caller's environment names (a git hook sets GIT_DIR).
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `git args` with `input` on its standard input.
fn git_with_input(dir: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new("git")
        // Never a repository the caller's environment names (a git hook sets GIT_DIR).
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Gives every tracked file (symlinks themselves, not their targets) a new mtime and
/// refreshes the index, as `cargo xtask bench` does before a cold sync: git compares
/// every file's content with its blob again, through the attributes' conversions.
fn rewrite_times_and_refresh(dir: &Path, seconds_later: i64) {
    let now = filetime::FileTime::now();
    let later = filetime::FileTime::from_unix_time(now.unix_seconds() + seconds_later, 0);
    for path in git(dir, &["ls-files", "-z"]).split('\0') {
        if !path.is_empty() {
            filetime::set_symlink_file_times(dir.join(path), later, later).unwrap();
        }
    }
    git(dir, &["update-index", "-q", "--refresh"]);
}

/// A small repository has what real ones have, and each of those things changes in its
/// history. Its work tree is clean after the checkout, after every file's time changed
/// (so that git compares contents), and with the filter driver configured too.
#[test]
fn generated_repositories_have_what_real_ones_have() {
    let shape = Shape {
        files: 600,
        commits: 400,
        seed: 3,
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    generate(&repo, shape).unwrap();
    let staged = git(&repo, &["ls-files", "-s"]);
    let entries: Vec<(&str, &str)> = staged
        .lines()
        .map(|line| {
            let (meta, path) = line.split_once('\t').unwrap();
            (meta.split(' ').next().unwrap(), path)
        })
        .collect();
    let with_mode = |mode: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|(m, _)| *m == mode)
            .map(|(_, path)| *path)
            .collect()
    };

    // Symlinks to files, to directories and to nothing, checked out as symlinks.
    let links = with_mode("120000");
    assert!(links.len() >= 4, "{links:?}");
    let mut targets = Vec::new();
    for link in &links {
        let meta = std::fs::symlink_metadata(repo.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link}");
        targets.push(std::fs::metadata(repo.join(link)).map(|m| m.is_dir()).ok());
    }
    assert!(targets.contains(&Some(false)), "no symlink to a file");
    assert!(targets.contains(&Some(true)), "no symlink to a directory");
    assert!(targets.contains(&None), "no dangling symlink");

    // A submodule that is not checked out: an empty directory, named in .gitmodules.
    assert_eq!(with_mode("160000"), [SUBMODULE]);
    assert_eq!(
        std::fs::read_dir(repo.join(SUBMODULE)).unwrap().count(),
        0,
        "the submodule's directory is empty"
    );
    assert_eq!(
        git(
            &repo,
            &["config", "-f", ".gitmodules", "submodule.spec.path"]
        )
        .trim(),
        SUBMODULE
    );

    assert!(!with_mode("100755").is_empty(), "no executable");
    let deepest = entries
        .iter()
        .map(|(_, path)| path.matches('/').count())
        .max()
        .unwrap();
    assert!(deepest >= 9, "files at most {deepest} directories deep");

    // A file of more than a megabyte, and binary files (with a NUL) in the work tree.
    let tree = git(&repo, &["ls-tree", "-r", "-l", "HEAD"]);
    let largest = tree
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3)?.parse::<u64>().ok())
        .max()
        .unwrap();
    assert!(
        largest > 1024 * 1024,
        "the largest blob has {largest} bytes"
    );
    let binaries = with_mode("100644")
        .into_iter()
        .filter(|path| path.ends_with(".png") || path.ends_with(".bin"))
        .filter(|path| std::fs::read(repo.join(path)).unwrap().contains(&0))
        .count();
    assert!(binaries >= 2, "{binaries} binary files with a NUL");

    // Nested .gitattributes files give attributes that the top one does not: a filter,
    // CRLF line ends, a diff driver and linguist attributes.
    let nested = entries
        .iter()
        .filter(|(_, path)| path.ends_with("/.gitattributes"))
        .count();
    assert!(nested >= 3, "{nested} nested .gitattributes");
    let top = std::fs::read_to_string(repo.join(".gitattributes")).unwrap();
    for absent in [
        "*.bin",
        "*.properties",
        "*.java",
        "linguist-generated",
        "linguist-language",
    ] {
        assert!(!top.contains(absent), "the top .gitattributes has {absent}");
    }
    let paths: String = entries
        .iter()
        .map(|(_, path)| format!("{path}\n"))
        .collect();
    let attributes = git_with_input(&repo, &["check-attr", "-a", "--stdin"], &paths);
    let has = |end: &str, attribute: &str| {
        attributes.lines().any(|line| {
            line.split(": ").next().unwrap().ends_with(end) && line.ends_with(attribute)
        })
    };
    assert!(has(".bin", ": filter: bench-lfs"));
    assert!(has(".properties", ": eol: crlf"));
    assert!(has(".java", ": diff: java"));
    assert!(has(".java", ": linguist-language: Java"));
    // Checked out with CRLF, from blobs with LF.
    assert!(
        git(&repo, &["ls-files", "--eol"])
            .lines()
            .any(|line| line.starts_with("i/lf    w/crlf")),
        "no file checked out with CRLF"
    );

    // Changes over history: attributes edited, the submodule bumped, a symlink retargeted.
    let commits_touching = |pathspec: &str| {
        git(&repo, &["log", "--format=%H", "--", pathspec])
            .lines()
            .count()
    };
    assert!(commits_touching(":(glob)**/.gitattributes") >= 5);
    assert!(
        commits_touching(".gitattributes") >= 2,
        "the top file never changed"
    );
    assert!(
        commits_touching(SUBMODULE) >= 4,
        "the submodule was not bumped"
    );
    let raw = git(&repo, &["log", "--raw", "--no-renames", "--format="]);
    assert!(
        raw.lines().any(|line| line.starts_with(":120000 120000 ")),
        "no symlink was retargeted"
    );

    // Clean after the checkout, after every file's time changed, and with the filter
    // driver configured (as `cat`, required: a failure would be an error).
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    rewrite_times_and_refresh(&repo, 10);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    for (key, value) in [("clean", "cat"), ("smudge", "cat"), ("required", "true")] {
        git(
            &repo,
            &["config", &format!("filter.bench-lfs.{key}"), value],
        );
    }
    rewrite_times_and_refresh(&repo, 20);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

/// A small repository has the promised shape, and the same seed gives the same history.
#[test]
fn generated_histories_have_their_shape_and_repeat() {
    let shape = Shape {
        files: 100,
        commits: 300,
        seed: 7,
    };
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    generate(&first, shape).unwrap();
    generate(&second, shape).unwrap();
    assert_eq!(
        git(&first, &["rev-parse", "HEAD"]),
        git(&second, &["rev-parse", "HEAD"]),
        "the same seed must give the same history"
    );
    let commits: usize = git(&first, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap();
    assert!(commits >= shape.commits, "{commits} commits");
    let merges = git(&first, &["rev-list", "--merges", "HEAD"])
        .lines()
        .count();
    assert!(merges >= 10, "{merges} merges");
    let files = git(&first, &["ls-files"]);
    assert!(files.lines().count() >= shape.files);
    for import in 1..=3 {
        assert!(
            files.contains(&format!("third_party/import{import}/")),
            "subtree import {import} is missing"
        );
    }
    assert_eq!(git(&first, &["status", "--porcelain"]), "");
}
