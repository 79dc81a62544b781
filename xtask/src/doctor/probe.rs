//! Running a program to see whether and how it answers, within a deadline: a container runtime
//! whose daemon hangs must cost the doctor seconds, not the minutes it costs `dagger`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// For a tool's own version (`git --version`, `go version`, `dagger version`): no network,
/// so anything slower is broken.
pub const TOOL_DEADLINE: Duration = Duration::from_secs(10);

/// For a container runtime's `version`, which asks its daemon.
pub const RUNTIME_DEADLINE: Duration = Duration::from_secs(5);

/// How a probe ended.
#[derive(Debug)]
pub enum Probe {
    /// No such program on PATH.
    NotFound,
    /// It exited within the deadline.
    Answered(Answer),
    /// Still running at the deadline; it was killed, with everything it started.
    TimedOut,
    /// Found but could not be started (not executable, a bad interpreter line, ...).
    CannotRun(std::io::Error),
}

#[derive(Debug)]
pub struct Answer {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Answer {
    /// The first line of stderr that says something, else of stdout: what a failed command
    /// has to say for itself, on one line.
    pub fn complaint(&self) -> &str {
        [&self.stderr, &self.stdout]
            .into_iter()
            .flat_map(|text| text.lines())
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("no output")
    }
}

/// Runs `program` with `args` and `env` on top of this process's environment, stdin closed,
/// and waits at most `deadline`. The program gets a process group of its own, so that on
/// timeout it and whatever it started are killed together.
pub fn run(program: &str, args: &[&str], env: &[(&str, &str)], deadline: Duration) -> Probe {
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Probe::NotFound,
        Err(err) => return Probe::CannotRun(err),
    };
    let stdout = read_to_end(child.stdout.take());
    let stderr = read_to_end(child.stderr.take());
    let end = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                // The child is not reaped yet, so its id still names its group and nobody
                // else's.
                let group = -(child.id() as libc::pid_t);
                // SAFETY: kill(2) with a negative pid signals that process group only.
                unsafe { libc::kill(group, libc::SIGKILL) };
                let _ = child.wait();
                return Probe::TimedOut;
            }
            Err(err) => return Probe::CannotRun(err),
        }
    };
    // Something the program started may still hold its pipes; its output is not worth
    // waiting past the deadline for.
    let collect = |output: mpsc::Receiver<Vec<u8>>| {
        let left = end
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        String::from_utf8_lossy(&output.recv_timeout(left).unwrap_or_default()).into_owned()
    };
    Probe::Answered(Answer {
        success: status.success(),
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn read_to_end(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = send.send(bytes);
        });
    }
    receive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_not_found_and_timeouts() {
        let answer = match run(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            &[],
            TOOL_DEADLINE,
        ) {
            Probe::Answered(answer) => answer,
            other => panic!("{other:?}"),
        };
        assert!(!answer.success);
        assert_eq!(
            (answer.stdout.as_str(), answer.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert_eq!(answer.complaint(), "err");

        assert!(matches!(
            run("no-such-program-xtask-doctor", &[], &[], TOOL_DEADLINE),
            Probe::NotFound
        ));

        // A child that starts a grandchild and hangs: both go at the deadline.
        let started = Instant::now();
        let probe = run(
            "sh",
            &["-c", "sleep 30 & sleep 30"],
            &[],
            Duration::from_millis(300),
        );
        assert!(matches!(probe, Probe::TimedOut), "{probe:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn environment_reaches_the_program() {
        let Probe::Answered(answer) = run(
            "sh",
            &["-c", "echo \"$DOCTOR_PROBE\""],
            &[("DOCTOR_PROBE", "seen")],
            TOOL_DEADLINE,
        ) else {
            panic!("sh did not answer");
        };
        assert_eq!(answer.stdout, "seen\n");
    }
}
