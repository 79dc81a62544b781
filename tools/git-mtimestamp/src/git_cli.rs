//! The git command line, for the few answers where libgit2 and git disagree (ignore rules,
//! attributes): git itself is asked, once per sync, about every path at once.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs `git <args>` for the work tree at `root` of the repository at `git_dir`, with `input`
/// on its standard input, and returns what it printed and how it exited; None when git
/// cannot be run.
pub(crate) fn git_with_input(
    git_dir: &Path,
    root: &Path,
    args: &[&str],
    input: Vec<u8>,
) -> Option<Output> {
    StartedGit::start(git_dir, root, args)?.finish(input)
}

/// A git command started before its input is known, so that git's own start (reading its
/// configuration, and for `check-attr` the attribute files at the top) overlaps other work.
/// Dropped unfinished, it gets an empty input and is waited for.
pub(crate) struct StartedGit {
    child: Option<Child>,
}

impl StartedGit {
    /// `git <args>` for the work tree at `root` of the repository at `git_dir`, reading its
    /// standard input; None when git cannot be run.
    pub fn start(git_dir: &Path, root: &Path, args: &[&str]) -> Option<StartedGit> {
        let child = Command::new("git")
            .arg("--git-dir")
            .arg(git_dir)
            .arg("--work-tree")
            .arg(root)
            .args(args)
            // With `--stdin`, git flushes its output after every path unless told not to: one
            // pipe write, and one wake-up of the reader, per path (15,665 of each for
            // `check-attr` on dagger/dagger's first sync). All input is given at once and
            // all output read at the end, so nothing waits on a flush.
            .env("GIT_FLUSH", "0")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(StartedGit { child: Some(child) })
    }

    /// Gives git `input`, and returns what it printed and how it exited.
    pub fn finish(mut self, input: Vec<u8>) -> Option<Output> {
        let mut child = self.child.take()?;
        let mut stdin = child.stdin.take()?;
        // Written on a thread of its own: git answers path by path, and a long list would
        // otherwise fill both pipes at once.
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().ok()?;
        writer.join().ok()?.ok()?;
        Some(output)
    }
}

impl StartedGit {
    /// Gives git `input`, and hands its output to `read` as it comes; None when git cannot be
    /// run, `read` gives up, or git fails.
    pub fn finish_reading<T>(
        mut self,
        input: Vec<u8>,
        read: impl FnOnce(&mut dyn BufRead) -> Option<T>,
    ) -> Option<T> {
        let mut child = self.child.take()?;
        let stdin = child.stdin.take()?;
        let stdout = child.stdout.take()?;
        // Written on a thread of its own, as in `finish`.
        let writer = std::thread::spawn(move || {
            let mut stdin = stdin;
            stdin.write_all(&input)
        });
        let result = read(&mut BufReader::with_capacity(64 * 1024, stdout));
        // The pipe closed with the reader: should `read` have given up early, git ends on a
        // broken pipe instead of waiting for its output to be read.
        let status = child.wait_with_output().ok()?.status;
        writer.join().ok()?.ok()?;
        status.success().then_some(result).flatten()
    }
}

impl Drop for StartedGit {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Its standard input closes here: git reads the end of its input and exits.
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}
