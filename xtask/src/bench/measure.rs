//! Running a command and measuring its wall time and peak memory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One run of a command.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    /// Peak resident memory of the process, in KiB.
    pub max_rss_kib: u64,
}

/// Runs `program args` in `dir` with output discarded, and measures it. A failing command is an
/// error: a benchmark of a failure measures nothing.
pub fn run(dir: &Path, program: &Path, args: &[&str]) -> anyhow::Result<Sample> {
    // stderr goes to a file: a pipe nobody reads while waiting could fill up and block.
    let stderr_path =
        std::env::temp_dir().join(format!("xtask-bench-{}.stderr", std::process::id()));
    let stderr_file = std::fs::File::create(&stderr_path)
        .with_context(|| format!("creating {}", stderr_path.display()))?;
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we started and reaped here.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if waited != pid {
        bail!("waiting for {} failed", program.display());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        bail!(
            "{} {} failed in {}:\n{stderr}",
            program.display(),
            args.join(" "),
            dir.display()
        );
    }
    drop(child);
    Ok(Sample {
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
    })
}

/// The median of the samples' wall times and of their peak memory.
pub fn median(samples: &[Sample]) -> Sample {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let mut rss: Vec<u64> = samples.iter().map(|s| s.max_rss_kib).collect();
    walls.sort();
    rss.sort();
    Sample {
        wall: walls[walls.len() / 2],
        max_rss_kib: rss[rss.len() / 2],
    }
}
