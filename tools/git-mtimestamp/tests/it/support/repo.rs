//! A real git repository with a work tree in a temporary directory, built with the real `git`
//! command line.
//!
//! Every git command runs isolated from the host (no system or global config, `HOME` inside
//! the test's temporary directory) and with author and committer dates taken from a clock the
//! test controls, so that histories and their times are reproducible.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::rc::Rc;

use tempfile::TempDir;

use super::{mtime_of, os};

/// The committer time of the first commit of every fixture: 2020-09-13.
pub const EPOCH: i64 = 1_600_000_000;
/// How far the clock moves after each commit, unless a test sets it.
pub const STEP: i64 = 60;

/// Git's configuration for every command of a fixture, on top of the repository's own.
const GIT_CONFIG: [&str; 12] = [
    "-c",
    // Tests that run the tool as another user give it the repository.
    "safe.directory=*",
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@e",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "protocol.file.allow=always",
];

/// A git repository with a work tree in a temporary directory (the "sandbox", which also
/// holds `HOME` and whatever else a test wants next to the repository).
pub struct Repo {
    sandbox: Rc<TempDir>,
    root: PathBuf,
    clock: Rc<Cell<i64>>,
    /// Variables set for every git command and every run of the tool in this repository
    /// (see [`Repo::set_env`]).
    env: RefCell<BTreeMap<OsString, OsString>>,
}

impl Repo {
    /// A fresh repository in `<sandbox>/repo`, branch `main`, no commits.
    pub fn new() -> Repo {
        let sandbox = tempfile::Builder::new()
            .prefix("mtimestamp-test")
            .tempdir()
            .expect("creating a temporary directory");
        std::fs::create_dir(sandbox.path().join("home")).unwrap();
        let repo = Repo {
            root: sandbox.path().join("repo"),
            sandbox: Rc::new(sandbox),
            clock: Rc::new(Cell::new(EPOCH)),
            env: RefCell::default(),
        };
        repo.sibling_git(&["init", "-q", "repo"]);
        // Explicit, although it is git's default on Linux: the mode-changed tests rely on it.
        repo.git(["config", "core.filemode", "true"]);
        repo
    }

    /// Another repository (a clone, a linked worktree, ...) at `root` in the same sandbox,
    /// sharing this one's clock.
    pub fn other(&self, root: impl AsRef<Path>) -> Repo {
        Repo {
            sandbox: Rc::clone(&self.sandbox),
            root: self.sandbox().join(root),
            clock: Rc::clone(&self.clock),
            env: RefCell::default(),
        }
    }

    /// Another fresh repository in the same sandbox.
    pub fn init_sibling(&self, name: &str) -> Repo {
        self.sibling_git(&["init", "-q", name]);
        self.other(name)
    }

    /// `git clone <this repo> <sandbox>/<name>` plus `extra` options: a fresh checkout, so
    /// every file has the current time.
    pub fn clone_to(&self, name: &str, extra: &[&str]) -> Repo {
        let mut args: Vec<OsString> = vec!["clone".into(), "-q".into()];
        args.extend(extra.iter().map(OsString::from));
        args.push(self.root.clone().into());
        args.push(name.into());
        self.sibling_git(&args);
        self.other(name)
    }

    /// `git clone --depth DEPTH file://<this repo> <sandbox>/<name>`: a shallow clone (git
    /// ignores --depth for plain local paths).
    pub fn shallow_clone_to(&self, name: &str, depth: u32) -> Repo {
        let mut url = OsString::from("file://");
        url.push(&self.root);
        let depth = depth.to_string();
        let args: Vec<&OsStr> = vec![
            "clone".as_ref(),
            "-q".as_ref(),
            "--depth".as_ref(),
            depth.as_ref(),
            &url,
            name.as_ref(),
        ];
        self.sibling_git(&args);
        self.other(name)
    }

    /// `git clone --filter=FILTER file://<this repo> <sandbox>/<name>`: a partial clone,
    /// whose missing objects git would fetch from this repository on demand.
    pub fn partial_clone_to(&self, name: &str, filter: &str) -> Repo {
        self.git(["config", "uploadpack.allowFilter", "true"]);
        let mut url = OsString::from("file://");
        url.push(&self.root);
        let filter = format!("--filter={filter}");
        let args: Vec<&OsStr> = vec![
            "clone".as_ref(),
            "-q".as_ref(),
            filter.as_ref(),
            &url,
            name.as_ref(),
        ];
        self.sibling_git(&args);
        self.other(name)
    }

    /// Runs git in the sandbox, next to the work tree, and asserts success.
    fn sibling_git<S: AsRef<OsStr>>(&self, args: &[S]) {
        self.git_bytes_in(self.sandbox(), args);
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sandbox(&self) -> &Path {
        self.sandbox.path()
    }

    /// The absolute path of `path` (relative to the work-tree root).
    pub fn path(&self, path: impl AsRef<[u8]>) -> PathBuf {
        self.root.join(os(path))
    }

    /// Sets `key` for every later git command (the oracle's among them) and every later run
    /// of the tool in this repository, so that both see the same settings
    /// (`GIT_NO_REPLACE_OBJECTS`, ...).
    pub fn set_env(&self, key: &str, value: impl AsRef<OsStr>) -> &Self {
        let value = value.as_ref().to_owned();
        self.env.borrow_mut().insert(key.into(), value);
        self
    }

    /// Undoes [`Repo::set_env`].
    pub fn remove_env(&self, key: &str) -> &Self {
        self.env.borrow_mut().remove(OsStr::new(key));
        self
    }

    // --- The clock -------------------------------------------------------------------------

    /// Sets the time of the next commit (and of every git command until then).
    pub fn at(&self, seconds: i64) -> &Self {
        self.clock.set(seconds);
        self
    }

    /// Moves the clock by `seconds` (negative: a committer whose clock runs behind).
    pub fn tick(&self, seconds: i64) -> &Self {
        self.clock.set(self.clock.get() + seconds);
        self
    }

    // --- The work tree ---------------------------------------------------------------------

    /// Writes `content` to `path`, creating leading directories (and replacing a symlink).
    pub fn write(&self, path: impl AsRef<[u8]>, content: impl AsRef<[u8]>) -> &Self {
        let full = self.path(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        if full.is_symlink() {
            std::fs::remove_file(&full).unwrap();
        }
        std::fs::write(&full, content).unwrap();
        self
    }

    /// Makes `path` a symlink to `target`, replacing whatever is there.
    pub fn symlink(&self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> &Self {
        let full = self.path(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&full).unwrap(),
            Ok(_) => std::fs::remove_file(&full).unwrap(),
            Err(_) => {}
        }
        std::os::unix::fs::symlink(os(target), &full).unwrap();
        self
    }

    /// Removes a file, symlink or directory tree.
    pub fn remove(&self, path: impl AsRef<[u8]>) -> &Self {
        let full = self.path(path);
        let meta = std::fs::symlink_metadata(&full).unwrap();
        if meta.is_dir() {
            std::fs::remove_dir_all(&full).unwrap();
        } else {
            std::fs::remove_file(&full).unwrap();
        }
        self
    }

    /// Sets the permission bits of `path`.
    pub fn chmod(&self, path: impl AsRef<[u8]>, mode: u32) -> &Self {
        std::fs::set_permissions(self.path(path), std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Sets the mtime of `path` (relative to the work-tree root, `.git/...` included) without
    /// changing its content, as an editor or `cp -p` might.
    pub fn set_mtime(&self, path: impl AsRef<[u8]>, (seconds, nanos): (i64, u32)) -> &Self {
        let time =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(seconds as u64, nanos);
        std::fs::File::options()
            .write(true)
            .open(self.path(path))
            .unwrap()
            .set_modified(time)
            .unwrap();
        self
    }

    /// Sets the mtime of `path` to the clock's time (and a few nanoseconds, so that it is no
    /// stamp), as a checkout would, without changing its content.
    pub fn touch(&self, path: impl AsRef<[u8]>) -> &Self {
        self.set_mtime(path, (self.clock.get(), 123))
    }

    pub fn read(&self, path: impl AsRef<[u8]>) -> Vec<u8> {
        std::fs::read(self.path(path)).unwrap()
    }

    /// The file's mtime as (seconds, nanoseconds); a symlink's own time.
    pub fn mtime(&self, path: impl AsRef<[u8]>) -> (i64, u32) {
        let full = self.path(path);
        mtime_of(&full).unwrap_or_else(|| panic!("{} does not exist", full.display()))
    }

    // --- Commits and branches --------------------------------------------------------------

    /// `git add -A` and a commit at the clock's time; the clock then moves on by [`STEP`].
    /// During a merge this concludes the merge.
    pub fn commit(&self, message: &str) -> &Self {
        self.git(["add", "-A"]);
        self.git([
            "commit",
            "-q",
            "--allow-empty",
            "--no-verify",
            "-m",
            message,
        ]);
        self.tick(STEP)
    }

    /// Writes one file and commits it.
    pub fn commit_file(&self, path: impl AsRef<[u8]>, content: impl AsRef<[u8]>) -> &Self {
        self.write(path, content).commit("change a file")
    }

    pub fn branch(&self, name: &str) -> &Self {
        self.git(["branch", name]);
        self
    }

    pub fn checkout(&self, name: &str) -> &Self {
        self.git(["checkout", "-q", name]);
        self
    }

    /// `git merge --no-edit ARGS...` at the clock's time. Returns whether it succeeded
    /// (false: a conflict is waiting to be resolved and committed with [`Repo::commit`]).
    pub fn merge<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> bool {
        let mut command = self.git_command();
        command.args(["merge", "-q", "--no-edit"]).args(args);
        let ok = command.output().unwrap().status.success();
        // A merge stopped by --no-commit is concluded by a commit at the same time.
        if ok && !self.root.join(".git/MERGE_HEAD").exists() {
            self.tick(STEP);
        }
        ok
    }

    // --- The index -------------------------------------------------------------------------

    /// Every tracked path with its mtime now.
    pub fn current_mtimes(&self) -> BTreeMap<Vec<u8>, (i64, u32)> {
        self.tracked_files()
            .into_iter()
            .map(|path| {
                let mtime = self.mtime(&path);
                (path, mtime)
            })
            .collect()
    }

    /// A long history, checked out: a root commit with `late` and `early/f0`..`early/f{N}`,
    /// `commits` commits in all (a second apart from [`EPOCH`]) each changing `churn`, and the
    /// last one changing every early file too and adding `early/added`. A walk answers the
    /// early files and the directory `early` at once, and `late` only at the root. Built by `git fast-import`: committing 20,000 times through
    /// git would take minutes.
    pub fn long_history(&self, commits: usize, early: usize) -> &Self {
        let mut script = String::new();
        for at in 0..commits {
            script += &format!(
                "commit refs/heads/main\ncommitter T <t@example.com> {} +0000\ndata 0\n",
                EPOCH + at as i64
            );
            if at == 0 {
                script += "M 100644 inline late\ndata 5\nlate\n\n";
                for file in 0..early {
                    script += &format!("M 100644 inline early/f{file}\ndata 2\nv\n\n");
                }
            }
            let churn = at.to_string();
            script += &format!(
                "M 100644 inline churn\ndata {}\n{churn}\n\n",
                churn.len() + 1
            );
        }
        for file in 0..early {
            script += &format!("M 100644 inline early/f{file}\ndata 3\nv2\n\n");
        }
        script += "M 100644 inline early/added\ndata 6\nadded\n\n";
        let mut import = self
            .git_command()
            .args(["fast-import", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut import.stdin.take().unwrap(), script.as_bytes()).unwrap();
        assert!(import.wait().unwrap().success(), "git fast-import failed");
        self.git(["reset", "-q", "--hard", "main"]);
        self
    }

    /// The mtime seconds the index records per path (`git ls-files --debug`).
    pub fn index_mtime_seconds(&self) -> std::collections::HashMap<String, i64> {
        let debug = self.git(["ls-files", "--debug"]);
        let mut recorded = std::collections::HashMap::new();
        let mut path = None;
        for line in debug.lines() {
            if !line.starts_with(' ') {
                path = Some(line.to_owned());
            } else if let Some(value) = line.trim().strip_prefix("mtime: ") {
                let seconds = value.split(':').next().unwrap().parse().unwrap();
                recorded.insert(path.clone().unwrap(), seconds);
            }
        }
        recorded
    }

    /// Every path in the index (`git ls-files`).
    pub fn tracked_files(&self) -> Vec<Vec<u8>> {
        self.git_bytes(["ls-files", "-z"])
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// The shared index (`sharedindex.<id>`) of a split index, in the git directory.
    pub fn shared_index(&self) -> PathBuf {
        std::fs::read_dir(self.path(".git"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                name.starts_with("sharedindex.")
            })
            .expect("a shared index")
    }

    // --- Running git -----------------------------------------------------------------------

    /// `program`, started in the work-tree root, kept away from the host's git configuration
    /// and repositories (no system or global configuration, `HOME` in the sandbox, none of the
    /// `GIT_*` variables the tests run with), with this repository's variables (see
    /// [`Repo::set_env`]). Git and the tool are both started this way, so that they see the
    /// same settings.
    pub(super) fn isolated_command(&self, program: impl AsRef<OsStr>) -> Command {
        let sandbox = self.sandbox();
        let mut command = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.as_bytes().starts_with(b"GIT_") {
                command.env_remove(key);
            }
        }
        command
            .env("HOME", sandbox.join("home"))
            .env("XDG_CONFIG_HOME", sandbox.join("home/.config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CEILING_DIRECTORIES", sandbox)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .current_dir(&self.root)
            .envs(self.env.borrow().iter());
        command
    }

    /// A git command in the work tree with the isolated environment and the clock's dates.
    pub fn git_command(&self) -> Command {
        let mut command = self.isolated_command("git");
        let date = format!("@{} +0000", self.clock.get());
        command
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(GIT_CONFIG);
        command
    }

    /// Runs git, asserts success and returns stdout.
    pub fn git<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> String {
        String::from_utf8_lossy(&self.git_bytes(args)).into_owned()
    }

    /// Runs git, asserts success and returns stdout as bytes.
    pub fn git_bytes<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Vec<u8> {
        self.git_bytes_in(&self.root, args)
    }

    /// Runs git in `dir`, asserts success and returns stdout as bytes.
    fn git_bytes_in<S: AsRef<OsStr>>(
        &self,
        dir: &Path,
        args: impl IntoIterator<Item = S>,
    ) -> Vec<u8> {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let output = self
            .git_command()
            .current_dir(dir)
            .args(&args)
            .output()
            .unwrap();
        assert_success(&output, &format!("git {args:?}"));
        output.stdout
    }

    /// Runs git and returns whatever happened.
    pub fn git_output<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Output {
        self.git_command().args(args).output().unwrap()
    }

    // --- Snapshots -------------------------------------------------------------------------

    /// Everything a sync must not change about `paths` and the index.
    pub fn snapshot<P: AsRef<[u8]>>(&self, paths: impl IntoIterator<Item = P>) -> Snapshot {
        let files = paths
            .into_iter()
            .map(|p| {
                let full = self.path(&p);
                let content = match std::fs::symlink_metadata(&full) {
                    Ok(meta) if meta.is_symlink() => Some(
                        std::fs::read_link(&full)
                            .unwrap()
                            .into_os_string()
                            .into_vec(),
                    ),
                    Ok(meta) if meta.is_file() => Some(std::fs::read(&full).unwrap()),
                    _ => None,
                };
                let state = FileState {
                    mtime: mtime_of(&full),
                    content,
                };
                (p.as_ref().to_vec(), state)
            })
            .collect();
        Snapshot {
            files,
            staged: self.git(["ls-files", "-s", "-v"]),
            cached_diff: self.git(["diff", "--cached", "--no-ext-diff"]),
            status: self.git(["status", "--porcelain", "--untracked-files=all"]),
        }
    }
}

/// A file's mtime and content (a symlink's target), `None` where nothing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub mtime: Option<(i64, u32)>,
    pub content: Option<Vec<u8>>,
}

/// Files, the staged state and `git status` at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub files: BTreeMap<Vec<u8>, FileState>,
    pub staged: String,
    pub cached_diff: String,
    pub status: String,
}

/// Fails the test with everything `what` printed unless it succeeded.
pub(super) fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// --- Paths and their states ------------------------------------------------------------------

/// What an entry of a directory is, on disk or in a tree. A submodule (gitlink) entry of a
/// tree is a directory on disk, so it is a [`Kind::Directory`] too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    File,
    Symlink,
    Directory,
}

impl Kind {
    /// The kind of a tree entry's mode as `git ls-tree` prints it.
    pub(super) fn of_mode(mode: &str) -> Kind {
        match mode {
            "100644" | "100755" => Kind::File,
            "120000" => Kind::Symlink,
            "040000" | "160000" => Kind::Directory,
            other => panic!("unexpected tree entry mode {other}"),
        }
    }

    fn of_file_type(file_type: std::fs::FileType) -> Kind {
        if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_dir() {
            Kind::Directory
        } else {
            Kind::File
        }
    }
}

/// The entries of one directory, by name, with their kinds, sorted by name.
pub type Listing = Vec<(Vec<u8>, Kind)>;

/// Everything about a path that a sync must leave alone when it refuses to touch it: its own
/// mtime (`lstat`), what it is, and its content (a directory's entries and their kinds, a
/// symlink's target, a file's bytes). None of it depends on the ctime, which setting an mtime
/// always changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathState {
    pub mtime: Option<(i64, u32)>,
    pub kind: Option<Kind>,
    pub entries: Option<Listing>,
    pub content: Option<Vec<u8>>,
}

/// The state of `full` (an absolute path, inside the work tree or not) now. Leading
/// directories are followed as the system follows them; the last component is not.
pub fn path_state(full: &Path) -> PathState {
    let Ok(meta) = std::fs::symlink_metadata(full) else {
        return PathState {
            mtime: None,
            kind: None,
            entries: None,
            content: None,
        };
    };
    let kind = Kind::of_file_type(meta.file_type());
    let (entries, content) = match kind {
        Kind::Directory => (disk_listing(full), None),
        Kind::Symlink => (
            None,
            Some(
                std::fs::read_link(full)
                    .unwrap()
                    .into_os_string()
                    .into_vec(),
            ),
        ),
        Kind::File => (None, Some(std::fs::read(full).unwrap())),
    };
    PathState {
        mtime: Some((meta.mtime(), meta.mtime_nsec() as u32)),
        kind: Some(kind),
        entries,
        content,
    }
}

/// The entries of the directory `full` on disk, `.git` included, none of them followed;
/// `None` when it is no directory one can read.
pub fn disk_listing(full: &Path) -> Option<Listing> {
    let mut listing: Listing = std::fs::read_dir(full)
        .ok()?
        .map(|entry| {
            let entry = entry.unwrap();
            let kind = Kind::of_file_type(entry.file_type().unwrap());
            (entry.file_name().into_vec(), kind)
        })
        .collect();
    listing.sort();
    Some(listing)
}

impl Repo {
    /// The states of `paths` (relative to the work-tree root, `.` for the root itself).
    pub fn path_states<P: AsRef<[u8]>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> BTreeMap<Vec<u8>, PathState> {
        paths
            .into_iter()
            .map(|p| (p.as_ref().to_vec(), path_state(&self.path(&p))))
            .collect()
    }
}
