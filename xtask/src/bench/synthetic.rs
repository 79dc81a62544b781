//! Deterministic synthetic repositories for benchmarks, written through `git fast-import`.
//!
//! The shape follows what makes a timestamp sync expensive: many files in deep directories,
//! long history, about one commit in ten a merge of a side branch that forked up to a few
//! hundred commits earlier (some merges change or add files themselves, as conflict
//! resolutions and evil merges do), a few renames, and files that have not changed since the
//! first commit (so a walk must reach the root). Three subtree imports bring in other
//! projects' histories under `third_party/`, as monorepos do.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Bumped whenever the generated history changes.
const GENERATOR: u32 = 5;

/// The size of a synthetic repository.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub files: usize,
    pub commits: usize,
    pub seed: u64,
}

impl Shape {
    /// The name, which changes with the generator's version so that a repository made by an
    /// older generator is not reused.
    pub fn name(&self) -> String {
        format!(
            "synthetic-v{GENERATOR}-{}k-files-{}k-commits",
            self.files / 1000,
            self.commits / 1000
        )
    }
}

/// xorshift64*: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Creates the repository at `dir` (which must not exist) with branch `main` checked out.
pub fn generate(dir: &Path, shape: Shape) -> anyhow::Result<()> {
    let status = Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .arg(dir)
        .status()
        .context("running git init")?;
    if !status.success() {
        bail!("git init {} failed", dir.display());
    }
    let mut import = Command::new("git")
        .args(["fast-import", "--quiet", "--done"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .context("starting git fast-import")?;
    let stdin = import.stdin.take().expect("piped");
    write_history(BufWriter::new(stdin), shape).context("writing the history")?;
    if !import.wait()?.success() {
        bail!("git fast-import failed in {}", dir.display());
    }
    let status = Command::new("git")
        .args(["checkout", "-q", "main"])
        .current_dir(dir)
        .status()?;
    if !status.success() {
        bail!("git checkout main failed in {}", dir.display());
    }
    Ok(())
}

struct Writer<W: Write> {
    out: W,
    rng: Rng,
    mark: usize,
    time: i64,
    version: usize,
}

impl<W: Write> Writer<W> {
    fn content(&mut self, path: &str) -> Vec<u8> {
        self.version += 1;
        let lines = 5 + self.rng.below(60);
        let mut text = format!("// {path} version {}\n", self.version);
        for line in 0..lines {
            text.push_str(&format!("line {line} {:016x}\n", self.rng.next()));
        }
        text.into_bytes()
    }

    fn commit(
        &mut self,
        branch: &str,
        from: Option<usize>,
        merge: Option<usize>,
        changes: &BTreeMap<String, Vec<u8>>,
        deletes: &[String],
    ) -> std::io::Result<usize> {
        self.mark += 1;
        // Mostly minutes apart, sometimes within the same second, as rebases make them.
        self.time += [0, 1, 60, 600, 3600][self.rng.below(5)];
        let out = &mut self.out;
        writeln!(out, "commit refs/heads/{branch}")?;
        writeln!(out, "mark :{}", self.mark)?;
        writeln!(
            out,
            "committer Bench <bench@example.com> {} +0000",
            self.time
        )?;
        writeln!(out, "data 6\ncommit")?;
        if let Some(from) = from {
            writeln!(out, "from :{from}")?;
        }
        if let Some(merge) = merge {
            writeln!(out, "merge :{merge}")?;
        }
        for path in deletes {
            writeln!(out, "D {path}")?;
        }
        for (path, data) in changes {
            writeln!(out, "M 100644 inline {path}\ndata {}", data.len())?;
            out.write_all(data)?;
            writeln!(out)?;
        }
        Ok(self.mark)
    }

    /// `count` changed files. As in real projects, most changes go to a few hot files (four in
    /// five to the first tenth of the files) and most files are rarely touched.
    fn changes(&mut self, live: &[String], count: usize) -> BTreeMap<String, Vec<u8>> {
        let mut changes = BTreeMap::new();
        let hot = (live.len() / 10).max(1);
        for _ in 0..count {
            let pick = if self.rng.chance(80) {
                self.rng.below(hot)
            } else {
                self.rng.below(live.len())
            };
            let path = live[pick].clone();
            let content = self.content(&path);
            changes.insert(path, content);
        }
        changes
    }
}

fn write_history(out: impl Write, shape: Shape) -> std::io::Result<()> {
    let mut writer = Writer {
        out,
        rng: Rng(shape.seed | 1),
        mark: 0,
        time: 1_500_000_000,
        version: 0,
    };
    let mut directories = vec![String::new()];
    for i in 0..shape.files / 20 {
        let parent = directories[writer.rng.below(directories.len())].clone();
        if parent.matches('/').count() < 6 {
            directories.push(format!("{parent}d{i}/"));
        }
    }
    let mut live: Vec<String> = (0..shape.files)
        .map(|i| {
            format!(
                "{}f{i}.go",
                directories[writer.rng.below(directories.len())]
            )
        })
        .collect();
    let initial: BTreeMap<String, Vec<u8>> = live
        .clone()
        .into_iter()
        .map(|path| {
            let content = writer.content(&path);
            (path, content)
        })
        .collect();
    let mut main = writer.commit("main", None, None, &initial, &[])?;
    let mut main_line = vec![main];
    let mut commits = 1;
    let mut imports = 0;
    while commits < shape.commits {
        if imports < 3 && commits >= shape.commits * (imports + 1) / 4 {
            // A subtree import: another project's history, merged in under a prefix. Its
            // files exist at these paths only from the merge on, as with `git subtree add`.
            imports += 1;
            let mut foreign = BTreeMap::new();
            let mut placed = BTreeMap::new();
            for i in 0..shape.files / 10 {
                let path = format!("src/m{}/f{i}.go", i % 17);
                let content = writer.content(&path);
                placed.insert(
                    format!("third_party/import{imports}/{path}"),
                    content.clone(),
                );
                foreign.insert(path, content);
            }
            let root = writer.commit(&format!("import{imports}"), None, None, &foreign, &[])?;
            main = writer.commit("main", Some(main), Some(root), &placed, &[])?;
            main_line.push(main);
            live.extend(placed.into_keys());
            commits += 2;
            continue;
        }
        if writer.rng.chance(10) {
            // A side branch that forked from main up to a few hundred commits ago, as feature
            // branches do, one more commit on main, and the merge: the merge differs from its
            // second parent by everything main did since the fork.
            let back = writer.rng.below(main_line.len().min(400));
            let mut side = main_line[main_line.len() - 1 - back];
            let mut side_changes = BTreeMap::new();
            for _ in 0..1 + writer.rng.below(4) {
                let changes = writer.changes(&live, 3);
                side = writer.commit("side", Some(side), None, &changes, &[])?;
                side_changes.extend(changes);
                commits += 1;
            }
            let changes = writer.changes(&live, 2);
            main = writer.commit("main", Some(main), None, &changes, &[])?;
            main_line.push(main);
            // Some merges change files themselves, as conflict resolutions and evil merges
            // do, and some add files: those changes exist in no ordinary commit.
            let mut merge_changes = side_changes;
            if writer.rng.chance(20) {
                merge_changes.extend(writer.changes(&live, 1));
            }
            if writer.rng.chance(40) {
                let new = format!(
                    "{}m{}.go",
                    directories[writer.rng.below(directories.len())],
                    writer.version
                );
                merge_changes.insert(new.clone(), writer.content(&new));
                live.push(new);
            }
            main = writer.commit("main", Some(main), Some(side), &merge_changes, &[])?;
            main_line.push(main);
            commits += 2;
        } else {
            let mut deletes = Vec::new();
            let mut changes = BTreeMap::new();
            if writer.rng.chance(2) {
                // A rename: the old path goes, a new one comes with new content.
                let old = live.swap_remove(writer.rng.below(live.len()));
                let new = format!(
                    "{}r{}.go",
                    directories[writer.rng.below(directories.len())],
                    writer.version
                );
                changes.insert(new.clone(), writer.content(&new));
                live.push(new);
                deletes.push(old);
            }
            let count = 1 + writer.rng.below(4);
            changes.extend(writer.changes(&live, count));
            main = writer.commit("main", Some(main), None, &changes, &deletes)?;
            main_line.push(main);
            commits += 1;
        }
    }
    writeln!(writer.out, "done")?;
    writer.out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// A small repository has the promised shape, and the same seed gives the same history.
    #[test]
    fn generated_histories_have_their_shape_and_repeat() {
        let shape = Shape {
            files: 100,
            commits: 300,
            seed: 7,
        };
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        generate(&first, shape).unwrap();
        generate(&second, shape).unwrap();
        assert_eq!(
            git(&first, &["rev-parse", "HEAD"]),
            git(&second, &["rev-parse", "HEAD"]),
            "the same seed must give the same history"
        );
        let commits: usize = git(&first, &["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .unwrap();
        assert!(commits >= shape.commits, "{commits} commits");
        let merges = git(&first, &["rev-list", "--merges", "HEAD"])
            .lines()
            .count();
        assert!(merges >= 10, "{merges} merges");
        let files = git(&first, &["ls-files"]);
        assert!(files.lines().count() >= shape.files);
        for import in 1..=3 {
            assert!(
                files.contains(&format!("third_party/import{import}/")),
                "subtree import {import} is missing"
            );
        }
        assert_eq!(git(&first, &["status", "--porcelain"]), "");
    }
}
