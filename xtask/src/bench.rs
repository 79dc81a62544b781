//! `cargo xtask bench`: how fast git-mtimestamp is, as ratios against git itself and against
//! git-restore-mtime, measured in the same run on the same repository.
//!
//! Targets (see the README): cold sync at most 0.75x a full `git log --raw` walk and at least
//! 20x faster than git-restore-mtime; warm sync at most 1.0x `git status --porcelain`;
//! incremental sync after 10 new commits at most 2x warm; the first `git status` after a cold
//! sync as fast as one before; peak memory at most the `git log` walk's. Machines are shared
//! and noisy, so every figure is a median of several runs taken in turns, and nothing here is
//! a test that fails on a number.

mod measure;
mod synthetic;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use measure::{Sample, median};
use synthetic::Shape;

#[derive(Debug, clap::Args)]
pub struct BenchFlags {
    /// Benchmark these repositories instead of the synthetic ones (each is cloned first, so
    /// it is never changed)
    #[arg(long = "repo", value_name = "PATH")]
    repos: Vec<PathBuf>,

    /// Runs per measurement; the median is reported
    #[arg(long, default_value_t = 5)]
    runs: usize,

    /// Only the smaller synthetic repository
    #[arg(long)]
    quick: bool,

    /// Skip git-restore-mtime (it takes minutes on long histories)
    #[arg(long)]
    no_restore_mtime: bool,
}

const SMALL: Shape = Shape {
    files: 5_000,
    commits: 20_000,
    seed: 1,
};
const LARGE: Shape = Shape {
    files: 20_000,
    commits: 50_000,
    seed: 2,
};

impl BenchFlags {
    pub fn run(self, sh: &Shell, root: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(self.runs >= 1, "--runs must be at least 1");
        cmd!(sh, "cargo build --quiet --release -p git-mtimestamp")
            .run()
            .context("building git-mtimestamp in release mode")?;
        let tool = root.join("target/release/git-mtimestamp");
        let restore_mtime = if self.no_restore_mtime {
            None
        } else {
            Some(find_restore_mtime()?)
        };
        let work = root.join("target/bench");
        std::fs::create_dir_all(&work)?;

        let mut repos = Vec::new();
        if self.repos.is_empty() {
            let shapes: &[Shape] = if self.quick {
                &[SMALL]
            } else {
                &[SMALL, LARGE]
            };
            for shape in shapes {
                let dir = work.join(shape.name());
                if !dir.join(".git").exists() {
                    eprintln!("generating {} (once; kept in target/bench)", shape.name());
                    let _ = std::fs::remove_dir_all(&dir);
                    let start = std::time::Instant::now();
                    synthetic::generate(&dir, *shape)?;
                    eprintln!(
                        "generated {} in {:.1} s",
                        shape.name(),
                        start.elapsed().as_secs_f64()
                    );
                }
                repos.push((shape.name(), dir));
            }
        } else {
            for (i, source) in self.repos.iter().enumerate() {
                let name = repository_name(source).unwrap_or_else(|| format!("repo{i}"));
                // Numbered, so that two sources of one name never share a clone.
                let dir = work.join(format!("clone-{i}-{name}"));
                let _ = std::fs::remove_dir_all(&dir);
                eprintln!("cloning {} into {}", source.display(), dir.display());
                clone_what_exists(sh, source, &dir)?;
                repos.push((name, dir));
            }
        }

        for (name, dir) in repos {
            let bench = Bench {
                dir: &dir,
                tool: &tool,
                runs: self.runs,
            };
            let results = bench.measure(restore_mtime.as_deref())?;
            print!("{}", results.table(&name, &bench.describe()?));
        }
        Ok(())
    }
}

/// Clones `source` into `dir` and checks out every file of HEAD whose content the source
/// has. A snapshot may lack a few large blobs (the dagger/dagger one lacks four), and a plain
/// clone then fails its checkout; those files are left out through a sparse checkout, so that
/// the work tree is clean and git, like the sync, sees them as not checked out.
fn clone_what_exists(sh: &Shell, source: &Path, dir: &Path) -> anyhow::Result<()> {
    cmd!(
        sh,
        "git clone --quiet --no-checkout --no-hardlinks {source} {dir}"
    )
    .run()?;
    let sh = sh.clone();
    sh.change_dir(dir);
    let tree = cmd!(sh, "git ls-tree -r -z --full-tree HEAD").read()?;
    let mut blobs = String::new();
    let mut paths = Vec::new();
    for entry in tree.split('\0').filter(|entry| !entry.is_empty()) {
        let (meta, path) = entry
            .split_once('\t')
            .with_context(|| format!("unexpected `git ls-tree` line {entry:?}"))?;
        if let [_, "blob", id] = meta.split(' ').collect::<Vec<_>>()[..] {
            blobs.push_str(id);
            blobs.push('\n');
            paths.push(path);
        }
    }
    let answers = cmd!(sh, "git cat-file --batch-check=%(objectname)")
        .stdin(&blobs)
        .read()?;
    // Answers come in the order asked: `<id> missing` for each blob the snapshot lacks.
    let missing: Vec<&str> = answers
        .lines()
        .zip(&paths)
        .filter(|(answer, _)| answer.ends_with(" missing"))
        .map(|(_, path)| *path)
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "{} lacks {} blob(s) of HEAD; leaving out of the checkout: {}",
            source.display(),
            missing.len(),
            missing.join(", ")
        );
        let mut patterns = String::from("/*\n");
        for path in &missing {
            // Sparse patterns are gitignore patterns: escape what would read as a wildcard.
            let escaped: String = path
                .chars()
                .flat_map(|c| match c {
                    '*' | '?' | '[' | '\\' | '!' | '#' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            patterns.push_str(&format!("!/{escaped}\n"));
        }
        let git_dir = cmd!(sh, "git rev-parse --absolute-git-dir").read()?;
        let info = Path::new(&git_dir).join("info");
        std::fs::create_dir_all(&info)?;
        std::fs::write(info.join("sparse-checkout"), patterns)?;
        cmd!(sh, "git config core.sparseCheckout true").run()?;
    }
    cmd!(sh, "git checkout --quiet HEAD").run()?;
    Ok(())
}

/// What a repository at `source` is called: its folder's name, or its parent's when the
/// folder is only a git directory (`repo`, `.git`, `name.git`), as in `owner+name/repo`.
fn repository_name(source: &Path) -> Option<String> {
    let generic = |name: &str| matches!(name, "repo" | ".git" | "");
    let mut components = source.components().rev().filter_map(|c| match c {
        std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
        _ => None,
    });
    let last = components.next()?;
    let last = last.strip_suffix(".git").unwrap_or(&last).to_owned();
    if !generic(&last) {
        return Some(last);
    }
    components.next()
}

/// git-restore-mtime from Debian's package, installed when missing. Debian puts it among
/// git's own commands (`git --exec-path`), so it runs as `git restore-mtime`.
fn find_restore_mtime() -> anyhow::Result<PathBuf> {
    let locate = || -> Option<PathBuf> {
        let output = Command::new("git").arg("--exec-path").output().ok()?;
        let exec_path = String::from_utf8(output.stdout).ok()?;
        let path = Path::new(exec_path.trim()).join("git-restore-mtime");
        path.exists().then_some(path)
    };
    if let Some(path) = locate() {
        return Ok(path);
    }
    eprintln!("installing git-restore-mtime (Debian package git-restore-mtime)");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-q", "git-restore-mtime"])
        .status();
    locate().context(
        "git-restore-mtime is missing and could not be installed\n  run `apt-get update && apt-get install git-restore-mtime` as root, or pass --no-restore-mtime",
    )
}

struct Bench<'a> {
    dir: &'a Path,
    tool: &'a Path,
    runs: usize,
}

#[derive(Default)]
struct Results {
    git_log: Vec<Sample>,
    git_status: Vec<Sample>,
    first_status_after_cold: Vec<Sample>,
    cold: Vec<Sample>,
    warm: Vec<Sample>,
    incremental: Vec<Sample>,
    restore_mtime: Vec<Sample>,
}

impl Bench<'_> {
    fn git(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.dir)
            .output()
            .context("running git")?;
        if !output.status.success() {
            bail!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    fn describe(&self) -> anyhow::Result<String> {
        let commits = self.git(&["rev-list", "--count", "HEAD"])?;
        let files = self.git(&["ls-files"])?.lines().count();
        Ok(format!("{files} files, {commits} commits"))
    }

    fn timed(&self, program: &Path, args: &[&str]) -> anyhow::Result<Sample> {
        measure::run(self.dir, program, args)
    }

    fn sync(&self) -> anyhow::Result<Sample> {
        self.timed(self.tool, &["-q"])
    }

    /// Makes the work tree look freshly checked out: every file's and every tracked
    /// directory's mtime is now, the index agrees, and no answers are cached.
    fn make_cold(&self) -> anyhow::Result<()> {
        let git_dir = PathBuf::from(self.git(&["rev-parse", "--absolute-git-dir"])?);
        let _ = std::fs::remove_dir_all(git_dir.join("mtimestamp"));
        let now = filetime::FileTime::now();
        for path in self.git(&["ls-files", "-z"])?.split('\0') {
            if !path.is_empty() {
                let _ = filetime::set_symlink_file_times(self.dir.join(path), now, now);
            }
        }
        // Directories too, the top included: a checkout writes them all, and the sync stamps
        // them. Deepest first would not matter here: setting a directory's time changes no
        // other directory.
        let directories = self.git(&["ls-tree", "-r", "-d", "-z", "--name-only", "HEAD"])?;
        for path in directories.split('\0').chain([""]) {
            let _ = filetime::set_file_times(self.dir.join(path), now, now);
        }
        self.git(&["update-index", "-q", "--refresh"])?;
        Ok(())
    }

    fn measure(&self, restore_mtime: Option<&Path>) -> anyhow::Result<Results> {
        let git = Path::new("git");
        let main = self.git(&["rev-parse", "HEAD"])?;
        let next = self.prepare_new_commits(&main)?;
        let mut results = Results::default();
        for run in 0..self.runs {
            eprintln!("run {}/{}", run + 1, self.runs);
            results.git_log.push(self.timed(
                git,
                &[
                    "log",
                    "--raw",
                    "--no-renames",
                    "--format=%ct",
                    "--no-abbrev",
                ],
            )?);

            self.make_cold()?;
            results.cold.push(self.sync()?);
            results
                .first_status_after_cold
                .push(self.timed(git, &["status", "--porcelain"])?);
            results
                .git_status
                .push(self.timed(git, &["status", "--porcelain"])?);
            results.warm.push(self.sync()?);

            // As after `git pull`: ten new commits on top of a synced HEAD.
            self.git(&["reset", "-q", "--hard", &main])?;
            self.sync()?;
            self.forget_answers(&next)?;
            self.git(&["merge", "-q", "--ff-only", &next])?;
            results.incremental.push(self.sync()?);
            self.git(&["reset", "-q", "--hard", &main])?;
        }
        // After all the other runs, not between them: git-restore-mtime rewrites every file's
        // times for minutes, and the status and warm-sync runs that followed it came out up
        // to twice as slow (the file system still settling, by the look of it).
        if let Some(restore_mtime) = restore_mtime {
            for run in 0..self.runs.min(3) {
                eprintln!("git-restore-mtime run {}/{}", run + 1, self.runs.min(3));
                self.make_cold()?;
                results
                    .restore_mtime
                    .push(self.timed(restore_mtime, &["--quiet", "--commit-time"])?);
            }
        }
        self.git(&["reset", "-q", "--hard", &main])?;
        Ok(results)
    }

    /// A branch `bench-next` with ten commits on top of `base`, each changing a few files.
    fn prepare_new_commits(&self, base: &str) -> anyhow::Result<String> {
        if let Ok(existing) = self.git(&["rev-parse", "--verify", "-q", "bench-next"])
            && self.git(&["rev-parse", "bench-next~10"]).ok().as_deref() == Some(base)
        {
            return Ok(existing);
        }
        let files: Vec<String> = self
            .git(&["ls-files"])?
            .lines()
            .step_by(97)
            // Regular files on disk only: not a symlink's target, nor a file that a sparse
            // checkout left out, nor git's own configuration (`.gitattributes`, `.gitmodules`,
            // `.gitignore`), where an appended line would be read as an attribute, a broken
            // submodule entry or an ignore pattern.
            .filter(|path| {
                let name = path.rsplit('/').next().unwrap_or(path);
                !name.starts_with(".git")
                    && std::fs::symlink_metadata(self.dir.join(path)).is_ok_and(|m| m.is_file())
            })
            .map(str::to_owned)
            .collect();
        self.git(&["checkout", "-q", "-B", "bench-next", base])?;
        for i in 0..10 {
            for path in files.iter().skip(i).step_by(10).take(3) {
                let full = self.dir.join(path);
                // Bytes, not a string: a binary file keeps its content and gets a line more.
                let mut content = std::fs::read(&full)?;
                content.extend_from_slice(format!("bench change {i}\n").as_bytes());
                std::fs::write(&full, content)?;
                self.git(&["add", "--", path])?;
            }
            // Plumbing, not `git commit`: a tree that names a blob the snapshot lacks can be
            // written only with --missing-ok.
            let tree = self.git(&["write-tree", "--missing-ok"])?;
            let commit = self.git(&[
                "-c",
                "user.name=Bench",
                "-c",
                "user.email=bench@example.com",
                "commit-tree",
                &tree,
                "-p",
                "HEAD",
                "-m",
                &format!("bench change {i}"),
            ])?;
            self.git(&["update-ref", "HEAD", &commit])?;
        }
        let next = self.git(&["rev-parse", "HEAD"])?;
        self.git(&["checkout", "-q", "--detach", base])?;
        Ok(next)
    }

    fn forget_answers(&self, commit: &str) -> anyhow::Result<()> {
        let common = PathBuf::from(self.git(&["rev-parse", "--git-common-dir"])?);
        let common = if common.is_absolute() {
            common
        } else {
            self.dir.join(common)
        };
        let _ = std::fs::remove_file(common.join(format!("mtimestamp/simplified-{commit}")));
        Ok(())
    }
}

impl Results {
    fn table(&self, name: &str, description: &str) -> String {
        let ms = |s: &Sample| format!("{:.0} ms", s.wall.as_secs_f64() * 1000.0);
        let ratio = |a: &Sample, b: &Sample| a.wall.as_secs_f64() / b.wall.as_secs_f64();
        // Each run's own ratio, both sides timed in that run: their range is the spread that
        // the medians alone would hide.
        let spread = |a: &[Sample], b: &[Sample], of: fn(&Sample) -> f64| {
            let ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| of(a) / of(b)).collect();
            let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if ratios.len() > 1 {
                format!(" (runs {low:.2}–{high:.2})")
            } else {
                String::new()
            }
        };
        let wall = |s: &Sample| s.wall.as_secs_f64();
        let rss = |s: &Sample| s.max_rss_kib as f64;
        let log = median(&self.git_log);
        let status = median(&self.git_status);
        let cold = median(&self.cold);
        let warm = median(&self.warm);
        let incremental = median(&self.incremental);
        let first_status = median(&self.first_status_after_cold);
        let mut rows = vec![
            (
                "`git log --raw` full walk".to_owned(),
                ms(&log),
                String::new(),
                String::new(),
            ),
            (
                "`git status --porcelain`".to_owned(),
                ms(&status),
                String::new(),
                String::new(),
            ),
            (
                "cold sync".to_owned(),
                ms(&cold),
                format!(
                    "{:.2}x git log{}",
                    ratio(&cold, &log),
                    spread(&self.cold, &self.git_log, wall)
                ),
                "<= 0.75x".to_owned(),
            ),
            (
                "warm sync".to_owned(),
                ms(&warm),
                format!(
                    "{:.2}x git status{}",
                    ratio(&warm, &status),
                    spread(&self.warm, &self.git_status, wall)
                ),
                "<= 1.0x".to_owned(),
            ),
            (
                "incremental sync, 10 new commits".to_owned(),
                ms(&incremental),
                format!(
                    "{:.2}x warm sync{}",
                    ratio(&incremental, &warm),
                    spread(&self.incremental, &self.warm, wall)
                ),
                "<= 2x".to_owned(),
            ),
            (
                "first `git status` after a cold sync".to_owned(),
                ms(&first_status),
                format!(
                    "{:.2}x git status{}",
                    ratio(&first_status, &status),
                    spread(&self.first_status_after_cold, &self.git_status, wall)
                ),
                "~1.0x".to_owned(),
            ),
            (
                "peak memory, cold sync".to_owned(),
                format!("{} MiB", cold.max_rss_kib / 1024),
                format!(
                    "{:.2}x git log ({} MiB){}",
                    cold.max_rss_kib as f64 / log.max_rss_kib as f64,
                    log.max_rss_kib / 1024,
                    spread(&self.cold, &self.git_log, rss)
                ),
                "<= 1.0x".to_owned(),
            ),
        ];
        if !self.restore_mtime.is_empty() {
            let restore = median(&self.restore_mtime);
            rows.push((
                "git-restore-mtime --commit-time".to_owned(),
                ms(&restore),
                format!("cold sync is {:.0}x faster", ratio(&restore, &cold)),
                ">= 20x".to_owned(),
            ));
        }
        let mut out = format!(
            "\n{name} ({description}), medians of {} runs\n\n| measurement | time | ratio | target |\n| --- | --- | --- | --- |\n",
            self.cold.len()
        );
        for (what, time, ratio, target) in rows {
            out.push_str(&format!("| {what} | {time} | {ratio} | {target} |\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::repository_name;
    use std::path::Path;

    #[test]
    fn repositories_are_named_after_their_folder_not_their_git_directory() {
        let name = |path: &str| repository_name(Path::new(path));
        assert_eq!(
            name("/work/.mirror/git+git/repo").as_deref(),
            Some("git+git")
        );
        assert_eq!(name("/src/cargo/.git").as_deref(), Some("cargo"));
        assert_eq!(name("/src/dagger.git").as_deref(), Some("dagger"));
        assert_eq!(name("../app").as_deref(), Some("app"));
    }
}
