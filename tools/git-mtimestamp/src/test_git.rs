//! The real `git` CLI for unit tests: isolated from the machine's configuration and from any
//! repository named in the environment, with a fixed identity so that commits work anywhere.

use std::path::Path;
use std::process::Command;

/// `git` to run in `dir`, isolated: no system or global configuration, a fixed identity, and
/// none of the `GIT_*` variables of the environment it was started from. `cargo test` run
/// from a git hook, or from a shell that exported `GIT_DIR`, would otherwise send every
/// `git init` and `git commit` of the tests into that repository.
pub(crate) fn command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GIT_") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "A")
        .env("GIT_AUTHOR_EMAIL", "a@example.com")
        .env("GIT_COMMITTER_NAME", "A")
        .env("GIT_COMMITTER_EMAIL", "a@example.com");
    command
}

/// Runs `git args` in `dir` (see [`command`]) and returns its standard output; panics with
/// git's standard error when it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = command(dir).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Writes each `(path, content)` of `files` below `dir` (making its directories), stages
/// everything and commits it with `time` (seconds since the epoch) as both dates.
pub(crate) fn commit_files_at(
    dir: &Path,
    time: i64,
    files: &[(impl AsRef<Path>, impl AsRef<[u8]>)],
) {
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    git(dir, &["add", "-A"]);
    let date = format!("@{time} +0000");
    let status = command(dir)
        .args(["commit", "-q", "-m", "c"])
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_AUTHOR_DATE", &date)
        .status()
        .unwrap();
    assert!(status.success());
}
