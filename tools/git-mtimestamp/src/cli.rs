//! The command line of `git-mtimestamp`: [`Cli`], whose [`command`] `cargo xtask` also turns
//! into the manual page and shell completions, and [`SyncArgs`], shared with `cargo xtask sync`.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::report::{Outcome, Report, quote_directory, quote_path};
use crate::{Error, HistoryMode, Options, Progress, WorkTree};

/// Set each clean tracked file's mtime to the time of its last commit.
///
/// Files whose content differs from HEAD (modified, staged, untracked, conflicted, ...) are
/// never touched. The sub-second part of each mtime is a fingerprint of the file's content,
/// so two versions of a file never share a size and an mtime. Each clean tracked directory
/// gets the time of the last commit that changed its list of entries.
#[derive(Debug, clap::Parser)]
#[command(name = "git-mtimestamp", version, after_help = EXIT_STATUS)]
pub struct Cli {
    /// Run as if started in DIR
    #[arg(short = 'C', value_name = "DIR")]
    pub directory: Option<PathBuf>,

    #[command(flatten)]
    pub sync: SyncArgs,
}

/// The exit codes, at the end of `--help`.
const EXIT_STATUS: &str = "Exit status:
  0  every path in scope was handled (also when there was nothing to stamp)
  1  some file's or directory's time could not be set (reported; the rest was synced)
  2  the sync could not run (not a repository, a damaged index, missing objects, ...)";

/// The definition of `git-mtimestamp`'s command line, from which its `--help`, manual page and
/// shell completions all come.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// What a sync does and prints.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SyncArgs {
    /// Decide and report everything, change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Print each path with its new time or the reason it was skipped
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print nothing but warnings and errors
    #[arg(short, long)]
    pub quiet: bool,

    /// Print a JSON summary on stdout (with --verbose: every path too)
    #[arg(long)]
    pub json: bool,

    /// Use the time at which a file's content arrived on the first-parent line
    #[arg(long)]
    pub first_parent: bool,

    /// Leave the sub-second part of mtimes zero instead of a fingerprint of the content
    #[arg(long)]
    pub whole_seconds: bool,

    /// Leave directories alone (by default each clean tracked directory gets the time of the
    /// last commit that changed its list of entries)
    #[arg(long)]
    pub no_directories: bool,

    /// Limit the sync to these paths (git pathspecs, relative to the current directory)
    #[arg(value_name = "PATHSPEC")]
    pub pathspecs: Vec<OsString>,
}

impl SyncArgs {
    /// The library options, with pathspecs made relative to the work-tree root. `cwd` is
    /// the directory the pathspecs were given in.
    pub fn options(&self, root: &Path, cwd: &Path) -> Result<Options, Error> {
        let pathspecs = self
            .pathspecs
            .iter()
            .map(|spec| resolve_pathspec(spec, root, cwd))
            .collect::<Result<_, _>>()?;
        Ok(Options {
            pathspecs,
            history: if self.first_parent {
                HistoryMode::FirstParent
            } else {
                HistoryMode::Simplified
            },
            whole_seconds: self.whole_seconds,
            no_directories: self.no_directories,
            dry_run: self.dry_run,
            progress: None,
            on_wait: Some(say_waiting),
        })
    }

    /// Runs the sync and prints what `self` asks for. Returns whether every file could be
    /// handled (false when a time could not be set).
    pub fn run(&self, work_tree: &WorkTree, cwd: &Path) -> Result<bool, Error> {
        let mut options = self.options(work_tree.root(), cwd)?;
        let bar = (!self.quiet && std::io::stderr().is_terminal()).then(ProgressBar::start);
        options.progress = bar.as_ref().map(|bar| Arc::clone(&bar.progress));
        let report = work_tree.sync(&options);
        drop(bar);
        let report = report?;
        self.print(&report);
        Ok(!report.has_failures())
    }

    fn print(&self, report: &Report) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        // A closed pipe (`git mtimestamp -v | head`) is not an error worth reporting.
        let _ = if self.json {
            writeln!(out, "{}", json_report(report, self.verbose))
        } else {
            self.print_text(&mut out, report)
        };
        let _ = out.flush();
        print_warnings(report);
    }

    fn print_text(&self, out: &mut impl Write, report: &Report) -> std::io::Result<()> {
        if self.verbose {
            let files = report.files.iter().map(|f| (f, quote_path(&f.path)));
            let directories = report.directories.iter().flatten();
            let directories = directories.map(|d| (d, quote_directory(&d.path)));
            // A dry run says what it would do, as its summary does.
            let updated = if report.dry_run {
                "would-update"
            } else {
                "updated"
            };
            for (file, path) in files.chain(directories) {
                match &file.outcome {
                    Outcome::Updated { time } => writeln!(out, "{updated} {time} {path}")?,
                    Outcome::AlreadyCorrect { time } => writeln!(out, "correct {time} {path}")?,
                    Outcome::Skipped(reason) => writeln!(out, "skipped {reason} {path}")?,
                    Outcome::ChangedDuringSync => writeln!(out, "changed {path}")?,
                    Outcome::Failed { message } => writeln!(out, "failed {path}: {message}")?,
                }
            }
        }
        if !self.quiet {
            writeln!(out, "{}", report.summary_line())?;
        }
        Ok(())
    }
}

/// Says on stderr that the sync waits for another one (an editor's, a terminal's) to finish.
pub fn say_waiting(lock: &Path) {
    eprintln!(
        "git-mtimestamp: waiting for another sync of this work tree to finish (it holds {})",
        lock.display()
    );
}

/// A line on stderr that shows how far a sync is, drawn only once it has taken a second:
/// short syncs print nothing extra.
struct ProgressBar {
    progress: Arc<Progress>,
    done: Arc<AtomicBool>,
    drawer: Option<std::thread::JoinHandle<()>>,
}

impl ProgressBar {
    fn start() -> ProgressBar {
        let progress = Arc::new(Progress::default());
        let done = Arc::new(AtomicBool::new(false));
        let drawer = {
            let (progress, done) = (Arc::clone(&progress), Arc::clone(&done));
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut drawn = false;
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if start.elapsed() >= Duration::from_secs(1) && !done.load(Ordering::Relaxed) {
                        eprint!("\r\x1b[K{}", progress.describe());
                        drawn = true;
                    }
                }
                if drawn {
                    eprint!("\r\x1b[K");
                }
            })
        };
        ProgressBar {
            progress,
            done,
            drawer: Some(drawer),
        }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
    }
}

/// Warnings go to stderr whatever the output format: they ask the user to act.
fn print_warnings(report: &Report) {
    for problem in report.problems() {
        eprintln!("warning: {problem}");
    }
}

fn json_report(report: &Report, with_files: bool) -> serde_json::Value {
    let counts = report.counts();
    let mut value = serde_json::json!({
        "updated": counts.updated,
        "already_correct": counts.already_correct,
        "skipped": counts.skipped,
        "changed_during_sync": counts.changed_during_sync,
        "failed": counts.failed,
        "approximate": report.approximate,
        "dry_run": report.dry_run,
        "no_commit_yet": report.no_commit_yet,
        "index": report.index,
    });
    if with_files {
        let files = report.files.iter().map(|file| {
            json_path(
                String::from_utf8_lossy(&file.path).into_owned(),
                file,
                report.dry_run,
            )
        });
        value["files"] = serde_json::Value::Array(files.collect());
    }
    if let (Some(directories), Some(counts)) = (&report.directories, report.directory_counts()) {
        let mut object = serde_json::json!({
            "updated": counts.updated,
            "already_correct": counts.already_correct,
            "skipped": counts.skipped,
            "changed_during_sync": counts.changed_during_sync,
            "failed": counts.failed,
        });
        if with_files {
            let paths = directories.iter().map(|directory| {
                let path = match directory.path.as_slice() {
                    b"" => ".".to_owned(),
                    path => String::from_utf8_lossy(path).into_owned(),
                };
                json_path(path, directory, report.dry_run)
            });
            object["paths"] = serde_json::Value::Array(paths.collect());
        }
        value["directories"] = object;
    }
    value
}

fn json_path(path: String, file: &crate::FileReport, dry_run: bool) -> serde_json::Value {
    match &file.outcome {
        Outcome::Updated { time } => serde_json::json!({
            "path": path,
            "outcome": if dry_run { "would-update" } else { "updated" },
            "mtime": time.to_string()
        }),
        Outcome::AlreadyCorrect { time } => serde_json::json!({
            "path": path, "outcome": "correct", "mtime": time.to_string()
        }),
        Outcome::Skipped(reason) => serde_json::json!({
            "path": path, "outcome": "skipped", "reason": reason
        }),
        Outcome::ChangedDuringSync => serde_json::json!({
            "path": path, "outcome": "changed"
        }),
        Outcome::Failed { message } => serde_json::json!({
            "path": path, "outcome": "failed", "message": message
        }),
    }
}

/// Makes a pathspec given in `cwd` relative to the work-tree root, as git does. `:/path` is
/// already relative to the root. Glob characters pass through untouched.
fn resolve_pathspec(spec: &OsString, root: &Path, cwd: &Path) -> Result<OsString, Error> {
    let bytes = spec.as_bytes();
    if let Some(from_top) = bytes.strip_prefix(b":/") {
        return Ok(OsString::from_vec(from_top.to_vec()));
    }
    let outside = || Error::Pathspec {
        spec: spec.to_string_lossy().into_owned(),
        message: format!("it is outside the work tree {}", root.display()),
    };
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let joined = cwd.join(spec);
    let mut normal = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    let relative = normal.strip_prefix(&root).map_err(|_| outside())?;
    let mut resolved = relative.as_os_str().to_owned();
    // `dir/` and `dir` select the same files; keep the slash so that git's rule "a trailing
    // slash matches only directories" still holds.
    if bytes.ends_with(b"/") && !resolved.is_empty() {
        resolved.push("/");
    }
    if resolved.is_empty() {
        // The root itself: everything.
        resolved.push(".");
        return Ok(OsString::from("*"));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    #[test]
    fn pathspecs_resolve_against_the_current_directory() {
        let root = Path::new("/nonexistent/repo");
        let cwd = root.join("sub");
        let resolve = |s: &str| resolve_pathspec(&OsString::from(s), root, &cwd).unwrap();
        assert_eq!(resolve("a.txt"), "sub/a.txt");
        assert_eq!(resolve("../top.txt"), "top.txt");
        assert_eq!(resolve(":/x/y"), "x/y");
        assert_eq!(resolve("dir/"), "sub/dir/");
        assert_eq!(resolve("*.go"), "sub/*.go");
        assert_eq!(resolve(".."), "*");
        assert!(resolve_pathspec(&OsString::from("../../x"), root, &cwd).is_err());
    }
}
