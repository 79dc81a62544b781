//! Running the tool: [`Tool`] is a run being set up, [`Run`] a finished one, with assertions
//! that print everything it said on failure.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use super::repo::Repo;

/// The path of the binary under test.
pub const TOOL: &str = env!("CARGO_BIN_EXE_git-mtimestamp");

impl Repo {
    /// The tool, started in the work-tree root with the isolated environment.
    pub fn tool(&self) -> Tool {
        Tool {
            command: self.isolated_command(TOOL),
        }
    }

    /// Runs the tool with `args` and asserts that it succeeded.
    pub fn sync<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Run {
        let run = self.tool().args(args).run();
        run.success();
        run
    }
}

/// A run of the tool, being set up.
pub struct Tool {
    command: Command,
}

impl Tool {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Tool {
        self.command.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Tool {
        self.command.args(args);
        self
    }

    /// Starts the tool in `dir` (absolute, or relative to the work-tree root).
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Tool {
        let dir = match self.command.get_current_dir() {
            Some(root) => root.join(dir),
            None => dir.as_ref().to_path_buf(),
        };
        self.command.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Tool {
        self.command.env(key, value);
        self
    }

    /// Runs the tool as another user (the caller must be root).
    pub fn user(mut self, uid: u32, gid: u32) -> Tool {
        use std::os::unix::process::CommandExt;
        self.command.uid(uid).gid(gid);
        self
    }

    /// Runs the tool through `program args...`, which ends by running what follows it, as
    /// `unshare` or `env` do. Environment and directory stay as they were set.
    pub fn via(self, program: &str, args: &[&str]) -> Tool {
        let wrapper: Vec<&str> = [program].into_iter().chain(args.iter().copied()).collect();
        Tool {
            command: copy_command(&self.command, &wrapper),
        }
    }

    /// Starts the tool without waiting for it, its output discarded.
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting git-mtimestamp")
    }

    /// Starts the tool without waiting for it, its stdout and stderr kept for
    /// `wait_with_output`.
    pub fn spawn_piped(mut self) -> std::process::Child {
        self.command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting git-mtimestamp")
    }

    pub fn run(mut self) -> Run {
        let output = self.command.output().expect("running git-mtimestamp");
        Run {
            description: format!("{:?}", self.command),
            output,
        }
    }

    /// Runs the tool as [`Tool::run`] does, but kills it and fails the test if it is still
    /// running after `limit`: a hang is a failed test, not a test suite that never ends.
    pub fn run_within(mut self, limit: std::time::Duration) -> Run {
        use std::io::Read;
        let description = format!("{:?}", self.command);
        let mut child = self
            .command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting git-mtimestamp");
        // Read on threads of their own, so that a full pipe cannot stop the tool.
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("piped")));
        let stderr = drain(Box::new(child.stderr.take().expect("piped")));
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for git-mtimestamp") {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
                panic!(
                    "the tool was still running after {limit:?} and was killed: {description}\nstderr:\n{stderr}"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Run {
            description,
            output: Output {
                status,
                stdout: stdout.join().unwrap(),
                stderr: stderr.join().unwrap(),
            },
        }
    }
}

/// A finished run of the tool, with assertions that print everything it said on failure.
pub struct Run {
    description: String,
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn context(&self) -> String {
        format!(
            "{}\nexit: {}\nstdout:\n{}\nstderr:\n{}",
            self.description,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    pub fn success(&self) -> &Self {
        assert!(
            self.output.status.success(),
            "the tool failed: {}",
            self.context()
        );
        self
    }

    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.output.status.code(),
            Some(code),
            "unexpected exit code: {}",
            self.context()
        );
        self
    }

    pub fn failure(&self) -> &Self {
        assert!(
            !self.output.status.success(),
            "the tool should have failed: {}",
            self.context()
        );
        self
    }

    /// Stdout is exactly `expected`.
    pub fn stdout_is(&self, expected: &str) -> &Self {
        assert_eq!(
            self.stdout(),
            expected,
            "stdout differs: {}",
            self.context()
        );
        self
    }

    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}: {}",
            self.context()
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}: {}",
            self.context()
        );
        self
    }

    /// Stdout parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.context()))
    }
}

/// How a directory of the work tree is named in the tool's verbose lines: its path and a
/// slash, the root `./`. `dir` is a path relative to the root, `.` for the root.
pub fn shown_dir(dir: &str) -> String {
    if dir == "." {
        "./".to_owned()
    } else {
        format!("{dir}/")
    }
}

/// A new command that runs what `command` runs (its program and arguments, in its directory,
/// with its changes to the environment), through `wrapper` (a program and arguments that end
/// by running what follows them, as `unshare` or `env` do) unless that is empty. A `Command`
/// can be neither cloned nor given another program.
pub fn copy_command(command: &Command, wrapper: &[&str]) -> Command {
    let mut argv = wrapper
        .iter()
        .map(OsStr::new)
        .chain([command.get_program()])
        .chain(command.get_args());
    let mut copy = Command::new(argv.next().expect("a program"));
    copy.args(argv);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => copy.env(key, value),
            None => copy.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        copy.current_dir(dir);
    }
    copy
}
