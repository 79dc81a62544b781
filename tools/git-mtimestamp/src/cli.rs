//! The command line of `git-mtimestamp`: [`Cli`], whose [`command`] `cargo xtask` also turns
//! into the manual page and shell completions, and [`SyncArgs`], shared with `cargo xtask sync`.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::report::{Failure, Outcome, Report, quote_directory, quote_path};
use crate::scope::pathspec::{self, Globals};
use crate::{Error, FileReport, HistoryMode, Options, Progress, SkipReason, Timestamp, WorkTree};

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

    /// Limit the sync to these paths (git pathspecs, relative to the current directory, with
    /// git's magic: `:/path`, `:!path`, `:(glob)`, `:(icase)`, `:(literal)`, ...)
    #[arg(value_name = "PATHSPEC")]
    pub pathspecs: Vec<OsString>,

    /// Let a pathspec that matches no tracked file select nothing instead of failing, as
    /// `cargo xtask sync` does for the pipeline's paths, which a project may lack. Not an
    /// option of the command line, where such a pathspec is an error, as in `git add`.
    #[arg(skip)]
    pub allow_unmatched_pathspecs: bool,
}

impl SyncArgs {
    /// The library options, with pathspecs made relative to the work-tree root. `cwd` is
    /// the directory the pathspecs were given in.
    pub fn options(&self, root: &Path, cwd: &Path) -> Result<Options, Error> {
        let pathspecs = if self.pathspecs.is_empty() {
            Vec::new()
        } else {
            let globals = Globals::from_env().map_err(|message| Error::Pathspec {
                spec: self
                    .pathspecs
                    .iter()
                    .map(|s| s.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                message,
            })?;
            self.pathspecs
                .iter()
                .map(|spec| resolve_pathspec(spec, root, cwd, globals))
                .collect::<Result<_, _>>()?
        };
        Ok(Options {
            pathspecs,
            allow_unmatched_pathspecs: self.allow_unmatched_pathspecs,
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
        let report = report.map_err(|e| self.as_given(e))?;
        self.print(&report);
        Ok(!report.has_failures())
    }

    /// Names the pathspecs of an error as they were given, not as they were resolved.
    fn as_given(&self, error: Error) -> Error {
        match error {
            Error::PathspecUnmatched { pathspecs } => Error::PathspecUnmatched {
                pathspecs: pathspecs
                    .into_iter()
                    .map(|(position, resolved)| {
                        let given = self.pathspecs.get(position);
                        let spec = given.map_or(resolved, |s| s.to_string_lossy().into_owned());
                        (position, spec)
                    })
                    .collect(),
            },
            error => error,
        }
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
                    Outcome::Failed(failure) => writeln!(out, "failed {path}: {failure}")?,
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
    let records = |paths: &[FileReport]| {
        let records: Vec<PathRecord<'_>> = paths
            .iter()
            .map(|path| PathRecord::new(path, report.dry_run))
            .collect();
        serde_json::to_value(records).expect("path records serialize")
    };
    if with_files {
        value["files"] = records(&report.files);
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
            object["paths"] = records(directories);
        }
        value["directories"] = object;
    }
    value
}

/// One path of `--json -v`. Paths are bytes: one that is UTF-8 is written as its text;
/// another is written quoted as git quotes it (`"bad\377name"`, for people), with its exact
/// bytes in `path_base64` (standard base64, with padding), for programs.
#[derive(Debug, serde::Serialize)]
struct PathRecord<'a> {
    /// The top of the work tree is `.`.
    path: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_base64: Option<String>,
    #[serde(flatten)]
    outcome: OutcomeRecord<'a>,
}

/// What happened to a path, with what belongs to that outcome.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
enum OutcomeRecord<'a> {
    Updated {
        #[serde(serialize_with = "as_text")]
        mtime: Timestamp,
    },
    WouldUpdate {
        #[serde(serialize_with = "as_text")]
        mtime: Timestamp,
    },
    Correct {
        #[serde(serialize_with = "as_text")]
        mtime: Timestamp,
    },
    Skipped {
        reason: SkipReason,
    },
    Changed,
    Failed {
        #[serde(serialize_with = "as_text")]
        message: &'a Failure,
    },
}

impl<'a> PathRecord<'a> {
    fn new(file: &'a FileReport, dry_run: bool) -> PathRecord<'a> {
        let (path, path_base64) = match std::str::from_utf8(&file.path) {
            Ok("") => (Cow::Borrowed("."), None),
            Ok(text) => (Cow::Borrowed(text), None),
            Err(_) => (Cow::Owned(quote_path(&file.path)), Some(base64(&file.path))),
        };
        let outcome = match &file.outcome {
            Outcome::Updated { time } if dry_run => OutcomeRecord::WouldUpdate { mtime: *time },
            Outcome::Updated { time } => OutcomeRecord::Updated { mtime: *time },
            Outcome::AlreadyCorrect { time } => OutcomeRecord::Correct { mtime: *time },
            Outcome::Skipped(reason) => OutcomeRecord::Skipped { reason: *reason },
            Outcome::ChangedDuringSync => OutcomeRecord::Changed,
            Outcome::Failed(failure) => OutcomeRecord::Failed { message: failure },
        };
        PathRecord {
            path,
            path_base64,
            outcome,
        }
    }
}

/// As the verbose lines print it: a time as `SECONDS.NANOSECONDS`, a failure as its message.
fn as_text<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Standard base64 (RFC 4648, section 4) with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let bits = chunk
            .iter()
            .fold(0u32, |bits, &byte| (bits << 8) | u32::from(byte))
            << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((bits >> (18 - 6 * i)) & 63) as usize]));
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

/// Makes a pathspec given in `cwd` relative to the work-tree root as git does, keeping its
/// magic: the result is `:(MAGIC,...,prefix:N)PATH`, where the first N bytes of PATH name the
/// directory it was given in, which git matches literally and with its case whatever the
/// magic. Top magic (`:/path`, `:(top)path`) makes a pathspec relative to the top already;
/// `..` may climb to the top, not above it; an absolute path must lie inside the work tree.
/// Under `GIT_LITERAL_PATHSPECS`, where nothing is magic, the result is the plain path (`.`
/// for the whole tree).
fn resolve_pathspec(
    spec: &OsStr,
    root: &Path,
    cwd: &Path,
    globals: Globals,
) -> Result<OsString, Error> {
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let real_cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    // Outside the work tree (GIT_WORK_TREE elsewhere), git runs at the top.
    let mut prefix = match real_cwd.strip_prefix(&real_root) {
        Ok(inside) => inside.as_os_str().as_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    if !prefix.is_empty() {
        prefix.push(b'/');
    }
    let absolute = |path: &[u8]| {
        inside_work_tree(path, &[root, &real_root])
            .ok_or_else(|| format!("it is outside the work tree {}", root.display()))
    };
    let resolved =
        pathspec::resolve(spec.as_bytes(), &prefix, globals, absolute).map_err(|message| {
            Error::Pathspec {
                spec: spec.to_string_lossy().into_owned(),
                message,
            }
        })?;
    let item = resolved.item;
    if globals.literal {
        return Ok(match item.pattern() {
            b"" => OsString::from("."),
            pattern => OsStr::from_bytes(pattern).to_owned(),
        });
    }
    let mut magic = String::from(":(");
    for name in resolved.magic.long_names() {
        magic.push_str(name);
        magic.push(',');
    }
    magic.push_str(&format!("prefix:{})", item.prefix()));
    let mut resolved = magic.into_bytes();
    resolved.extend_from_slice(item.pattern());
    Ok(OsString::from_vec(resolved))
}

/// The absolute `path` relative to the first of `roots` (one work tree, as given and with
/// symlinks resolved) that holds it, a trailing slash kept; None when none does.
fn inside_work_tree(path: &[u8], roots: &[&Path]) -> Option<Vec<u8>> {
    let normal = pathspec::normalize(path, &mut 0)?;
    let slash = normal.ends_with(b"/");
    let real = Path::new(OsStr::from_bytes(&normal))
        .canonicalize()
        .ok()
        .map(|real| {
            let mut real = real.into_os_string().into_vec();
            if slash {
                real.push(b'/');
            }
            real
        });
    let candidates = std::iter::once(normal.clone()).chain(real);
    for candidate in candidates {
        for root in roots {
            let root = root.as_os_str().as_bytes();
            let root = root.strip_suffix(b"/").unwrap_or(root);
            match candidate.strip_prefix(root) {
                Some(b"" | b"/") => return Some(Vec::new()),
                Some(rest) if rest.starts_with(b"/") => return Some(rest[1..].to_vec()),
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    #[test]
    fn pathspecs_resolve_against_the_current_directory_keeping_their_magic() {
        let root = Path::new("/nonexistent/repo");
        let cwd = root.join("sub");
        let resolve_with = |s: &str, globals| {
            resolve_pathspec(OsStr::new(s), root, &cwd, globals).map(|r| r.into_vec())
        };
        let resolve =
            |s: &str| String::from_utf8(resolve_with(s, Globals::default()).unwrap()).unwrap();
        assert_eq!(resolve("a.txt"), ":(prefix:4)sub/a.txt");
        assert_eq!(resolve("../top.txt"), ":(prefix:0)top.txt");
        assert_eq!(resolve(":/x/y"), ":(prefix:0)x/y");
        assert_eq!(resolve(":(top)x"), ":(prefix:0)x");
        assert_eq!(resolve("dir/"), ":(prefix:4)sub/dir/");
        assert_eq!(resolve("dir/."), ":(prefix:4)sub/dir/");
        assert_eq!(resolve("*.go"), ":(prefix:4)sub/*.go");
        assert_eq!(resolve(".."), ":(prefix:0)");
        assert_eq!(resolve("."), ":(prefix:4)sub/");
        assert_eq!(resolve(":!x"), ":(exclude,prefix:4)sub/x");
        assert_eq!(resolve(":(icase,glob)X*"), ":(glob,icase,prefix:4)sub/X*");
        assert_eq!(resolve("/nonexistent/repo/sub/q"), ":(prefix:0)sub/q");
        assert_eq!(resolve("/nonexistent/repo/"), ":(prefix:0)");
        // A name that starts with a colon, reached without magic, stays a name.
        assert_eq!(resolve("./:x"), ":(prefix:4)sub/:x");
        for outside in ["../../x", "/elsewhere/x", "/nonexistent/repository"] {
            let error = resolve_with(outside, Globals::default()).unwrap_err();
            assert!(
                error.to_string().contains("outside the work tree"),
                "{error}"
            );
        }
        let refused = resolve_with("", Globals::default()).unwrap_err();
        assert!(refused.to_string().contains("use ."), "{refused}");
        let literal = Globals {
            literal: true,
            ..Globals::default()
        };
        assert_eq!(resolve_with(":!x", literal).unwrap(), b"sub/:!x");
        assert_eq!(resolve_with("..", literal).unwrap(), b".");
    }

    #[test]
    fn base64_is_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (bytes, encoded) in cases {
            assert_eq!(base64(bytes.as_bytes()), encoded);
        }
        assert_eq!(base64(b"\xff\xfe\x00"), "//4A");
    }
}
