//! Deterministic synthetic repositories for benchmarks, written through `git fast-import`.
//!
//! The shape follows what makes a timestamp sync expensive: many files in deep directories,
//! long history, about one commit in ten a merge of a side branch that forked up to a few
//! hundred commits earlier (some merges change or add files themselves, as conflict
//! resolutions and evil merges do), a few renames, and files that have not changed since the
//! first commit (so a walk must reach the root). Three subtree imports bring in other
//! projects' histories under `third_party/`, as monorepos do.
//!
//! It also has what real repositories have and a sync must get right:
//!
//! - `.gitattributes` at the top, in each import, and in about one directory in twelve, with
//!   `text`, `eol` (some files are checked out with CRLF), `diff`, `linguist-*` and `filter`
//!   lines. Every text blob has LF line ends only, so each checkout converts back to its
//!   blob and the work tree is clean, as in a repository that normalized its line ends.
//! - `filter=bench-lfs` on media, archives and some binaries, as Git LFS has it, but with a
//!   driver that no repository configures, so that git ignores the attribute. It is not
//!   `lfs`: where git-lfs is installed, its required `filter.lfs` would clean these files
//!   into pointers that match none of their blobs. A driver configured for it must give the
//!   content back unchanged (`cat`, say); if it fails and is `required`, git fails too.
//! - Java-style trees under `services/` whose files are eight to ten directories deep.
//! - Binary files (images, fonts, archives; each with a NUL after its header) among the
//!   ordinary ones, changing ten times less often than code; executable shell scripts; and a
//!   few large binaries of 1 to 5 MB, written once, one of them once more.
//! - Symlinks, most to files, every third to a directory, one to a path that is never
//!   committed; some targets are renamed away later, leaving those links dangling.
//! - A submodule, `external/spec`, added early and bumped five times. Its commits exist in
//!   no repository: the checkout leaves an empty directory, as a clone without
//!   `--recurse-submodules` does.
//!
//! Attributes files are edited in a few commits (the top one once) and one is added late, a
//! symlink is retargeted in each of three commits, and the first large file is rewritten once.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

mod content;

use content::*;

/// Bumped whenever the generated history changes.
const GENERATOR: u32 = 8;

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

/// The generator's random choices, from a seeded generator (`fastrand`'s, which the property
/// tests and git-mtimestamp's random histories use too): the same seed gives the same
/// repository on every machine.
struct Rng(fastrand::Rng);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.u64(..)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.0.u64(..100) < percent
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

/// One entry of a commit's tree, as `git fast-import` takes it.
#[derive(Debug, Clone)]
enum Entry {
    File(Vec<u8>),
    Executable(Vec<u8>),
    /// A symlink, and the path it points to.
    Symlink(String),
    /// A submodule: the commit of another repository, which this one does not have.
    Submodule(String),
}

/// Changes made at fixed points of the history, in the first ordinary commit on main at or
/// after each point.
#[derive(Debug, Clone, Copy)]
enum Event {
    AddSubmodule,
    BumpSubmodule,
    EditAttributes,
    AddAttributes,
    RetargetSymlink,
    RewriteLargeFile,
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
        if let Some(header) = binary_header(path) {
            let len = 512 + self.rng.below(8 * 1024);
            return self.binary(header, len);
        }
        let lines = 5 + self.rng.below(60);
        let version = self.version;
        let (mut text, comment) = if path.ends_with(".sh") {
            (format!("#!/bin/sh\n# {path} version {version}\n"), "echo")
        } else if path.ends_with(".bat") || path.ends_with(".cmd") {
            (format!("@echo off\nREM {path} version {version}\n"), "echo")
        } else if path.ends_with(".md") {
            (format!("# {path} version {version}\n\n"), "-")
        } else if path.ends_with(".json") || path.ends_with(".yaml") {
            (format!("# {path} version {version}\n"), "#")
        } else if path.ends_with(".properties") {
            (format!("# {path} version {version}\n"), "key")
        } else {
            (format!("// {path} version {version}\n"), "line")
        };
        for line in 0..lines {
            text.push_str(&format!("{comment} {line} {:016x}\n", self.rng.next()));
        }
        text.into_bytes()
    }

    /// `len` bytes: `header`, a NUL, and random bytes (which compress as little as images
    /// and archives do).
    fn binary(&mut self, header: &[u8], len: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(len + 8);
        data.extend_from_slice(header);
        data.push(0);
        while data.len() < len {
            data.extend_from_slice(&self.rng.next().to_le_bytes());
        }
        data
    }

    /// A new version of the file at `path`; shell scripts are executable.
    fn entry(&mut self, path: &str) -> Entry {
        let content = self.content(path);
        if path.ends_with(".sh") {
            Entry::Executable(content)
        } else {
            Entry::File(content)
        }
    }

    /// A made-up commit id, for the submodule.
    fn commit_id(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.rng.next(),
            self.rng.next(),
            self.rng.next() as u32
        )
    }

    /// The end of a new file's name: mostly Go, some documentation, data, scripts and
    /// binaries; in a Java-style tree mostly Java.
    fn extension(&mut self, java: bool) -> &'static str {
        let roll = self.rng.below(1000);
        if java {
            return match roll {
                0..800 => "java",
                800..900 => "properties",
                900..950 => "bin",
                950..980 => "png",
                _ => "json",
            };
        }
        match roll {
            0..780 => "go",
            780..820 => "pb.go",
            820..870 => "md",
            870..900 => "json",
            900..920 => "txt",
            920..930 => "sh",
            930..935 => "bat",
            935..940 => "cmd",
            940..955 => "png",
            955..962 => "jpg",
            962..966 => "gif",
            966..969 => "ico",
            969..974 => "pdf",
            974..978 => "woff2",
            978..984 => "zip",
            984..992 => "bin",
            _ => "yaml",
        }
    }

    fn commit(
        &mut self,
        branch: &str,
        from: Option<usize>,
        merge: Option<usize>,
        changes: &BTreeMap<String, Entry>,
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
        for (path, entry) in changes {
            let (mode, data) = match entry {
                Entry::File(data) => ("100644", data.as_slice()),
                Entry::Executable(data) => ("100755", data.as_slice()),
                Entry::Symlink(target) => ("120000", target.as_bytes()),
                Entry::Submodule(commit) => {
                    writeln!(out, "M 160000 {commit} {path}")?;
                    continue;
                }
            };
            writeln!(out, "M {mode} inline {path}\ndata {}", data.len())?;
            out.write_all(data)?;
            writeln!(out)?;
        }
        Ok(self.mark)
    }

    /// `count` changed files. As in real projects, most changes go to a few hot files (four in
    /// five to the first tenth of the files) and most files are rarely touched. Binary files
    /// (images, fonts, archives) change ten times less often than the others.
    fn changes(&mut self, live: &[String], count: usize) -> BTreeMap<String, Entry> {
        let mut changes = BTreeMap::new();
        let hot = (live.len() / 10).max(1);
        for _ in 0..count {
            let path = loop {
                let pick = if self.rng.chance(80) {
                    self.rng.below(hot)
                } else {
                    self.rng.below(live.len())
                };
                let path = &live[pick];
                if binary_header(path).is_none() || self.rng.chance(10) {
                    break path.clone();
                }
            };
            let entry = self.entry(&path);
            changes.insert(path, entry);
        }
        changes
    }
}

fn write_history(out: impl Write, shape: Shape) -> std::io::Result<()> {
    let mut writer = Writer {
        out,
        rng: Rng::seeded(shape.seed),
        mark: 0,
        time: 1_500_000_000,
        version: 0,
    };
    // A random tree of directories up to six deep, and Java-style trees eight to ten deep.
    let mut directories = vec![String::new()];
    for i in 0..shape.files / 20 {
        let parent = directories[writer.rng.below(directories.len())].clone();
        if parent.matches('/').count() < 6 {
            directories.push(format!("{parent}d{i}/"));
        }
    }
    let first_java = directories.len();
    let services = (shape.files / 5000).max(1);
    for service in 0..services {
        let top = directories.len();
        directories.push(format!(
            "services/s{service}/src/main/java/com/example/s{service}/"
        ));
        for i in 0..shape.files / 200 / services {
            let parent = directories[top + writer.rng.below(directories.len() - top)].clone();
            if parent.matches('/').count() < 10 {
                directories.push(format!("{parent}p{i}/"));
            }
        }
    }
    // Ordinary files, text and small binaries, which the history changes. Everything else
    // (attributes, symlinks, the submodule, large files) changes only at the events below.
    let mut live: Vec<String> = (0..shape.files)
        .map(|i| {
            let dir = writer.rng.below(directories.len());
            let extension = writer.extension(dir >= first_java);
            format!("{}f{i}.{extension}", directories[dir])
        })
        .collect();
    let mut initial: BTreeMap<String, Entry> = live
        .clone()
        .into_iter()
        .map(|path| {
            let entry = writer.entry(&path);
            (path, entry)
        })
        .collect();

    // `.gitattributes` at the top, in each service tree and in about one directory in twelve.
    let mut attributes = BTreeMap::new();
    attributes.insert(".gitattributes".to_owned(), ROOT_ATTRIBUTES.to_owned());
    for (i, dir) in directories.iter().enumerate().skip(1) {
        let path = format!("{dir}.gitattributes");
        if i >= first_java && dir.matches('/').count() == 8 {
            attributes.insert(path, SERVICE_ATTRIBUTES.to_owned());
        } else if writer.rng.below(12) == 0 {
            let mut text = String::new();
            for _ in 0..1 + writer.rng.below(3) {
                text.push_str(NESTED_ATTRIBUTES[writer.rng.below(NESTED_ATTRIBUTES.len())]);
                text.push('\n');
            }
            attributes.insert(path, text);
        }
    }
    for (path, text) in &attributes {
        initial.insert(path.clone(), Entry::File(text.clone().into_bytes()));
    }

    // A few large binaries of 1 to 5 MB: videos and archives through the filter, screenshots.
    let mut large = Vec::new();
    for k in 0..(shape.files / 5000).max(2) {
        let path = match k % 3 {
            0 => format!("assets/media/intro-{k}.mp4"),
            1 => format!("testdata/fixtures/corpus-{k}.tar.gz"),
            _ => format!("docs/images/screenshot-{k}.png"),
        };
        let len = (1 + k % 4) * 1024 * 1024 + writer.rng.below(1024 * 1024);
        let content = writer.binary(binary_header(&path).expect("a binary name"), len);
        initial.insert(path.clone(), Entry::File(content));
        large.push((path, len));
    }

    // Symlinks: most to files, every third to a directory, the first to a build output that
    // is never committed. Only those to files are retargeted later, to other files.
    let file_dirs: Vec<&str> = live
        .iter()
        .map(|path| parent(path))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut file_links = Vec::new();
    for i in 0..(shape.files / 200).max(6) {
        let dir = directories[writer.rng.below(directories.len())].clone();
        // Never a directory that holds the link: a loop for whoever follows links.
        let target_dir = (0..20)
            .map(|_| file_dirs[writer.rng.below(file_dirs.len())])
            .find(|target| !dir.starts_with(target));
        let target = match target_dir {
            _ if i == 0 => relative(&dir, "build/out/current"),
            Some(target_dir) if i % 3 == 1 => relative(&dir, target_dir),
            _ => relative(&dir, &live[writer.rng.below(live.len())]),
        };
        let path = format!("{dir}link{i}");
        initial.insert(path.clone(), Entry::Symlink(target));
        if i > 0 && i % 3 != 1 {
            file_links.push(path);
        }
    }

    let mut main = writer.commit("main", None, None, &initial, &[])?;
    let mut main_line = vec![main];

    let n = shape.commits;
    let mut events = vec![
        (n / 20, Event::AddSubmodule),
        (n * 9 / 20, Event::AddAttributes),
        (n * 3 / 5, Event::RewriteLargeFile),
    ];
    events.extend((1..=5).map(|k| (n * k / 6, Event::BumpSubmodule)));
    events.extend((0..5).map(|k| (n * (2 * k + 1) / 10, Event::EditAttributes)));
    events.extend((1..=3).map(|k| (n * (3 * k - 1) / 10, Event::RetargetSymlink)));
    events.sort_by_key(|(at, _)| *at);
    let mut events = events.into_iter().peekable();
    let mut root_edited = false;

    let mut commits = 1;
    let mut imports = 0;
    while commits < shape.commits {
        if imports < 3 && commits >= shape.commits * (imports + 1) / 4 {
            // A subtree import: another project's history, merged in under a prefix. Its
            // files exist at these paths only from the merge on, as with `git subtree add`.
            imports += 1;
            let mut foreign = BTreeMap::new();
            let mut placed = BTreeMap::new();
            let attributes = Entry::File(IMPORT_ATTRIBUTES.as_bytes().to_vec());
            foreign.insert(".gitattributes".to_owned(), attributes.clone());
            placed.insert(
                format!("third_party/import{imports}/.gitattributes"),
                attributes,
            );
            for i in 0..shape.files / 10 {
                let path = format!("src/m{}/f{i}.go", i % 17);
                let entry = writer.entry(&path);
                placed.insert(format!("third_party/import{imports}/{path}"), entry.clone());
                foreign.insert(path, entry);
            }
            let root = writer.commit(&format!("import{imports}"), None, None, &foreign, &[])?;
            main = writer.commit("main", Some(main), Some(root), &placed, &[])?;
            main_line.push(main);
            live.extend(
                placed
                    .into_keys()
                    .filter(|path| !path.ends_with("/.gitattributes")),
            );
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
                let entry = writer.entry(&new);
                merge_changes.insert(new.clone(), entry);
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
                let entry = writer.entry(&new);
                changes.insert(new.clone(), entry);
                live.push(new);
                deletes.push(old);
            }
            let count = 1 + writer.rng.below(4);
            changes.extend(writer.changes(&live, count));
            while let Some((_, event)) = events.next_if(|(at, _)| *at <= commits) {
                match event {
                    Event::AddSubmodule | Event::BumpSubmodule => {
                        if let Event::AddSubmodule = event {
                            let gitmodules = format!(
                                "[submodule \"spec\"]\n\tpath = {SUBMODULE}\n\turl = https://example.com/bench/spec.git\n"
                            );
                            changes.insert(
                                ".gitmodules".to_owned(),
                                Entry::File(gitmodules.into_bytes()),
                            );
                        }
                        let commit = writer.commit_id();
                        changes.insert(SUBMODULE.to_owned(), Entry::Submodule(commit));
                    }
                    Event::EditAttributes if !root_edited => {
                        // The top file once, with a line for a kind of file that is new.
                        root_edited = true;
                        let path = ".gitattributes".to_owned();
                        let text = attributes.get_mut(&path).expect("the top file");
                        text.push_str("*.svg text eol=lf\n");
                        changes.insert(path, Entry::File(text.clone().into_bytes()));
                    }
                    Event::EditAttributes => {
                        // A nested file: a line more.
                        let nested: Vec<&String> = attributes
                            .keys()
                            .filter(|path| *path != ".gitattributes")
                            .collect();
                        let path = nested[writer.rng.below(nested.len())].clone();
                        let text = attributes.get_mut(&path).expect("listed");
                        text.push_str(NESTED_ATTRIBUTES[writer.rng.below(NESTED_ATTRIBUTES.len())]);
                        text.push('\n');
                        changes.insert(path, Entry::File(text.clone().into_bytes()));
                    }
                    Event::AddAttributes => {
                        let dir = &directories[1 + writer.rng.below(directories.len() - 1)];
                        let path = format!("{dir}.gitattributes");
                        let text = attributes.entry(path.clone()).or_default();
                        text.push_str("*.txt text eol=crlf\n*.bin filter=bench-lfs -text\n");
                        changes.insert(path, Entry::File(text.clone().into_bytes()));
                    }
                    Event::RetargetSymlink => {
                        let link = file_links[writer.rng.below(file_links.len())].clone();
                        let target = relative(parent(&link), &live[writer.rng.below(live.len())]);
                        changes.insert(link, Entry::Symlink(target));
                    }
                    Event::RewriteLargeFile => {
                        let (path, len) = &large[0];
                        let header = binary_header(path).expect("a binary name");
                        changes.insert(path.clone(), Entry::File(writer.binary(header, *len)));
                    }
                }
            }
            main = writer.commit("main", Some(main), None, &changes, &deletes)?;
            main_line.push(main);
            commits += 1;
        }
    }
    writeln!(writer.out, "done")?;
    writer.out.flush()
}

#[cfg(test)]
mod tests;
