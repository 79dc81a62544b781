//! Commands decided before anything runs, so that `--dry-run` prints exactly what a real run
//! executes; and running one the way a wrapper should: its exit status becomes ours, and
//! Ctrl-C is left to it.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;

use anyhow::Context;
use git_mtimestamp::DeferSignals;
use xshell::Shell;

use crate::quote::{quote, quote_bytes};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCommand {
    pub program: &'static str,
    pub args: Vec<OsString>,
    pub dir: PathBuf,
    /// Set on top of xtask's own environment, which passes through.
    pub env: Vec<(&'static str, String)>,
}

impl fmt::Display for PlannedCommand {
    /// As [`PlannedCommand::shell_line`], for messages: exact when every path and argument
    /// is UTF-8, lossy otherwise. A dry run prints the bytes ([`PlannedCommand::print`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.shell_line()))
    }
}

impl PlannedCommand {
    /// As one line of POSIX shell, byte for byte: a directory or argument that is not UTF-8
    /// is quoted as the bytes it is, so that the line pastes back into a shell and runs
    /// exactly this command.
    pub fn shell_line(&self) -> Vec<u8> {
        let mut line = b"cd ".to_vec();
        line.extend_from_slice(&quote_bytes(self.dir.as_os_str().as_bytes()));
        line.extend_from_slice(b" &&");
        for (name, value) in &self.env {
            line.extend_from_slice(format!(" {name}={}", quote(value)).as_bytes());
        }
        line.push(b' ');
        line.extend_from_slice(quote(self.program).as_bytes());
        for arg in &self.args {
            line.push(b' ');
            line.extend_from_slice(&quote_bytes(arg.as_bytes()));
        }
        line
    }

    /// Prints [`PlannedCommand::shell_line`] on stdout, as a dry run shows the command.
    pub fn print(&self) -> anyhow::Result<()> {
        let mut line = self.shell_line();
        line.push(b'\n');
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&line)
            .and_then(|()| stdout.flush())
            .context("printing the command")
    }

    /// Runs the command with inherited stdin, stdout and stderr; fails with [`CommandFailed`]
    /// unless it exits with 0.
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        let _dir = sh.push_dir(&self.dir);
        let cmd = sh
            .cmd(self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut command = std::process::Command::from(cmd);
        // The terminal sends Ctrl-C to the whole foreground process group, so the child gets
        // its own SIGINT; xtask must outlive it to report how it ended.
        let interrupts = DeferSignals::while_child_runs();
        let status = command
            .spawn()
            .and_then(|mut child| child.wait())
            .with_context(|| format!("running {}", self.program))?;
        let interrupted = interrupts.finish().is_some();
        match CommandFailed::from_status(self.program, status, interrupted) {
            None => Ok(()),
            Some(failed) => Err(failed.into()),
        }
    }
}

/// How a command ended when it did not succeed; `main` turns it into xtask's exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandFailed {
    #[error("{program} exited with status {code}")]
    Exit { program: &'static str, code: i32 },
    #[error("{program} was killed by signal {signal}")]
    Signal { program: &'static str, signal: i32 },
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
}

impl CommandFailed {
    fn from_status(
        program: &'static str,
        status: ExitStatus,
        interrupted: bool,
    ) -> Option<CommandFailed> {
        match (status.code(), status.signal()) {
            (Some(0), _) if interrupted => Some(CommandFailed::Interrupted),
            (Some(0), _) => None,
            (Some(code), _) => Some(CommandFailed::Exit { program, code }),
            (None, Some(signal)) => Some(CommandFailed::Signal { program, signal }),
            (None, None) => Some(CommandFailed::Exit { program, code: 1 }),
        }
    }

    /// The exit code a shell would report: the child's own, or 128 + the signal number.
    pub fn exit_code(&self) -> u8 {
        let code = match *self {
            CommandFailed::Exit { code, .. } => code,
            CommandFailed::Signal { signal, .. } => 128 + signal,
            CommandFailed::Interrupted => 128 + libc::SIGINT,
        };
        u8::try_from(code)
            .ok()
            .filter(|&code| code != 0)
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(raw: i32) -> ExitStatus {
        ExitStatus::from_raw(raw)
    }

    #[test]
    fn exit_codes_follow_the_child() {
        assert_eq!(CommandFailed::from_status("dagger", status(0), false), None);
        let failed = |raw, interrupted| {
            CommandFailed::from_status("dagger", status(raw), interrupted).unwrap()
        };
        assert_eq!(failed(1 << 8, false).exit_code(), 1);
        assert_eq!(failed(2 << 8, true).exit_code(), 2);
        assert_eq!(failed(9, false).exit_code(), 137);
        assert_eq!(
            failed(9, false).to_string(),
            "dagger was killed by signal 9"
        );
        assert_eq!(failed(0, true), CommandFailed::Interrupted);
        assert_eq!(failed(0, true).exit_code(), 130);
    }

    #[test]
    fn displays_as_shell() {
        let command = PlannedCommand {
            program: "go",
            args: vec!["build".into(), "-o".into(), "/out dir/".into()],
            dir: "/work/it's/app".into(),
            env: vec![("GOTOOLCHAIN", "go1.26.8".into())],
        };
        assert_eq!(
            command.to_string(),
            r"cd '/work/it'\''s/app' && GOTOOLCHAIN=go1.26.8 go build -o '/out dir/'"
        );
    }

    /// A directory and an argument that are not UTF-8 are printed as their bytes, and a shell
    /// reads the line back into exactly the command's words.
    #[test]
    fn a_shell_reads_back_bytes_that_are_not_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let sandbox = tempfile::tempdir().unwrap();
        let dir = sandbox
            .path()
            .join(OsString::from_vec(b"it's \xff".to_vec()));
        std::fs::create_dir(&dir).unwrap();
        let out = OsString::from_vec(b"/out\xfe dir/".to_vec());
        let command = PlannedCommand {
            program: "go",
            args: vec!["build".into(), "-o".into(), out.clone()],
            dir: dir.clone(),
            env: vec![("GOTOOLCHAIN", "go1.26.8".into())],
        };
        let line = command.shell_line();
        assert!(
            line.ends_with(b" go build -o '/out\xfe dir/'"),
            "{}",
            String::from_utf8_lossy(&line)
        );
        // `go` becomes printf, which prints each argument; `pwd` the directory `cd` reached.
        let go = line.windows(4).position(|w| w == b" go ").unwrap();
        let mut script = b"set -e; ".to_vec();
        script.extend_from_slice(&line[..go]);
        script.extend_from_slice(b" pwd && printf '%s\\0' ");
        script.extend_from_slice(&line[go + 4..]);
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&script))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let (pwd, args) = output
            .stdout
            .split_at(output.stdout.iter().position(|&b| b == b'\n').unwrap());
        assert_eq!(pwd, dir.as_os_str().as_bytes());
        let words: Vec<&[u8]> = args[1..].split(|&b| b == 0).collect();
        assert_eq!(words, [&b"build"[..], b"-o", out.as_bytes(), b""]);
    }
}
