//! The git command line, for the few answers where libgit2 and git disagree (ignore rules,
//! attributes): git itself is asked, once per sync, about every path at once.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `git <args>` for the work tree at `root` of the repository at `git_dir`, with `input`
/// on its standard input, and returns what it printed and how it exited; None when git
/// cannot be run.
pub(crate) fn git_with_input(
    git_dir: &Path,
    root: &Path,
    args: &[&str],
    input: Vec<u8>,
) -> Option<Output> {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .arg("--work-tree")
        .arg(root)
        .args(args)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    // Written on a thread of its own: git answers path by path, and a long list would
    // otherwise fill both pipes at once.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    Some(output)
}
