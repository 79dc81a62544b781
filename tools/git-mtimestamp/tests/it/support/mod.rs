//! Real git repositories for the integration tests, built with the real `git` command line
//! and checked against git's own answers.
//!
//! Every git command runs isolated from the host (no system or global config, `HOME` inside
//! the test's temporary directory) and with author and committer dates taken from a clock the
//! test controls, so that histories and their times are reproducible. `git` is the oracle:
//! the time a file should get is what `git log -1 --format=%ct -- PATH` prints.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::rc::Rc;

use tempfile::TempDir;

/// The committer time of the first commit of every fixture: 2020-09-13.
pub const EPOCH: i64 = 1_600_000_000;
/// How far the clock moves after each commit, unless a test sets it.
pub const STEP: i64 = 60;

/// The path of the binary under test.
pub const TOOL: &str = env!("CARGO_BIN_EXE_git-mtimestamp");

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

/// Turns bytes (a `&str`, `b"..."` or a `Vec<u8>`) into the path or argument they name;
/// git paths need not be UTF-8.
pub fn os(bytes: impl AsRef<[u8]>) -> OsString {
    OsStr::from_bytes(bytes.as_ref()).to_owned()
}

/// The modification time of `path` as (seconds, nanoseconds), of the link itself for a
/// symlink; `None` when nothing is there.
pub fn mtime_of(path: &Path) -> Option<(i64, u32)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.mtime(), meta.mtime_nsec() as u32))
}

/// The sub-second fingerprint of a blob id: its first four bytes as a big-endian number,
/// modulo 10⁹.
pub fn fingerprint(blob_id: &str) -> u32 {
    let first = u32::from_str_radix(&blob_id[..8], 16).expect("a hex object id");
    first % 1_000_000_000
}

/// A small deterministic PRNG (xorshift64*), so randomized histories replay from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Spread small seeds over the state and avoid the all-zero state.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

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

    fn sibling_git<S: AsRef<OsStr>>(&self, args: &[S]) {
        let output = self
            .git_command_in(self.sandbox())
            .args(args)
            .output()
            .unwrap();
        assert_success(&output, "git in the sandbox");
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

    // --- History ---------------------------------------------------------------------------

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

    /// The commit time of the commit that last changed `path`, as `git log` shows it.
    pub fn oracle_time(&self, path: impl AsRef<[u8]>) -> i64 {
        self.log_time(&[], path)
    }

    /// The same on the first-parent line: `git log --first-parent -1 -- PATH`.
    pub fn oracle_time_first_parent(&self, path: impl AsRef<[u8]>) -> i64 {
        self.log_time(&["--first-parent"], path)
    }

    fn log_time(&self, options: &[&str], path: impl AsRef<[u8]>) -> i64 {
        let mut command = self.git_command();
        command
            .env("GIT_LITERAL_PATHSPECS", "1")
            .args(["log", "-1", "--format=%ct"])
            .args(options)
            .arg("--")
            .arg(os(&path));
        let output = command.output().unwrap();
        assert_success(&output, "git log");
        let text = String::from_utf8(output.stdout).unwrap();
        text.trim().parse().unwrap_or_else(|_| {
            panic!(
                "git log printed no time for {}: {text:?}",
                String::from_utf8_lossy(path.as_ref())
            )
        })
    }

    /// The id of the blob HEAD holds at `path`, as `git rev-parse HEAD:PATH` prints it.
    pub fn blob_id(&self, path: impl AsRef<[u8]>) -> String {
        let mut spec = b"HEAD:".to_vec();
        spec.extend_from_slice(path.as_ref());
        self.git([OsString::from("rev-parse"), os(spec)])
            .trim()
            .to_owned()
    }

    /// The mtime a synced file must have: the oracle's seconds and the blob's fingerprint.
    pub fn expected_mtime(&self, path: impl AsRef<[u8]>) -> (i64, u32) {
        (self.oracle_time(&path), fingerprint(&self.blob_id(&path)))
    }

    /// Every file and symlink of HEAD's tree with its blob id (`git ls-tree -r HEAD`);
    /// submodules are left out.
    pub fn head_blobs(&self) -> BTreeMap<Vec<u8>, String> {
        let out = self.git_bytes(["ls-tree", "-r", "-z", "HEAD"]);
        out.split(|&b| b == 0)
            .filter(|line| !line.is_empty())
            .filter_map(|line| {
                let tab = line.iter().position(|&b| b == b'\t').unwrap();
                let meta: Vec<&str> = std::str::from_utf8(&line[..tab])
                    .unwrap()
                    .split(' ')
                    .collect();
                (meta[1] == "blob").then(|| (line[tab + 1..].to_vec(), meta[2].to_owned()))
            })
            .collect()
    }

    /// The mtime every file of HEAD must have after a sync: seconds from
    /// `git log [--first-parent] -1 -- PATH`, nanoseconds the fingerprint of `HEAD:PATH`.
    pub fn expected_mtimes(&self, first_parent: bool) -> BTreeMap<Vec<u8>, (i64, u32)> {
        self.head_blobs()
            .into_iter()
            .map(|(path, blob)| {
                let seconds = if first_parent {
                    self.oracle_time_first_parent(&path)
                } else {
                    self.oracle_time(&path)
                };
                (path, (seconds, fingerprint(&blob)))
            })
            .collect()
    }

    /// Every file whose mtime differs from `expected`, one line each.
    pub fn mtimes_differing_from(&self, expected: &BTreeMap<Vec<u8>, (i64, u32)>) -> Vec<String> {
        let mut wrong = Vec::new();
        for (path, &(seconds, nanos)) in expected {
            let actual = mtime_of(&self.path(path));
            if actual != Some((seconds, nanos)) {
                wrong.push(format!(
                    "{:?}: expected {seconds}.{nanos:09}, found {}",
                    String::from_utf8_lossy(path),
                    actual.map_or("nothing".to_owned(), |(s, n)| format!("{s}.{n:09}"))
                ));
            }
        }
        wrong
    }

    /// Every file of a clean checkout whose mtime is not what git says it should be.
    pub fn wrong_mtimes(&self, first_parent: bool) -> Vec<String> {
        self.mtimes_differing_from(&self.expected_mtimes(first_parent))
    }

    /// Asserts that every file has the time git says it should have.
    pub fn assert_synced(&self) {
        let wrong = self.wrong_mtimes(false);
        assert!(wrong.is_empty(), "wrong mtimes:\n{}", wrong.join("\n"));
    }

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

    /// A git command in the work tree with the isolated environment and the clock's dates.
    pub fn git_command(&self) -> Command {
        self.git_command_in(&self.root)
    }

    fn git_command_in(&self, dir: &Path) -> Command {
        let mut command = Command::new("git");
        isolate(&mut command, self.sandbox());
        let date = format!("@{} +0000", self.clock.get());
        command
            .current_dir(dir)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .envs(self.env.borrow().iter())
            .args(GIT_CONFIG);
        command
    }

    /// Runs git, asserts success and returns stdout.
    pub fn git<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> String {
        String::from_utf8_lossy(&self.git_bytes(args)).into_owned()
    }

    /// Runs git, asserts success and returns stdout as bytes.
    pub fn git_bytes<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Vec<u8> {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let output = self.git_command().args(&args).output().unwrap();
        assert_success(&output, &format!("git {args:?}"));
        output.stdout
    }

    /// Runs git and returns whatever happened.
    pub fn git_output<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Output {
        self.git_command().args(args).output().unwrap()
    }

    // --- Running the tool ------------------------------------------------------------------

    /// The tool, started in the work-tree root with the isolated environment.
    pub fn tool(&self) -> Tool {
        let mut command = Command::new(TOOL);
        isolate(&mut command, self.sandbox());
        command
            .current_dir(&self.root)
            .envs(self.env.borrow().iter());
        Tool { command }
    }

    /// Runs the tool with `args` and asserts that it succeeded.
    pub fn sync<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Run {
        let run = self.tool().args(args).run();
        run.success();
        run
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

/// Keeps a command away from the host's git configuration and repositories.
fn isolate(command: &mut Command, sandbox: &Path) {
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
        .env("LC_ALL", "C");
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
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
        let mut command = Command::new(program);
        command
            .args(args)
            .arg(self.command.get_program())
            .args(self.command.get_args());
        for (key, value) in self.command.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = self.command.get_current_dir() {
            command.current_dir(dir);
        }
        Tool { command }
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

// --- Directories -----------------------------------------------------------------------------

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
    fn of_mode(mode: &str) -> Kind {
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

/// How a directory of the work tree is named in the tool's verbose lines: its path and a
/// slash, the root `./`. `dir` is a path relative to the root, `.` for the root.
pub fn shown_dir(dir: &str) -> String {
    if dir == "." {
        "./".to_owned()
    } else {
        format!("{dir}/")
    }
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

    /// Every directory of `commit`'s tree (the root as `.`), each with its entries and their
    /// kinds, from one `git ls-tree -r -t`. Submodules are entries, never directories here.
    pub fn tree_listings(&self, commit: &str) -> BTreeMap<Vec<u8>, Listing> {
        let out = self.git_bytes(["ls-tree", "-r", "-t", "-z", commit]);
        let mut listings: BTreeMap<Vec<u8>, Listing> = BTreeMap::new();
        listings.insert(b".".to_vec(), Vec::new());
        for line in out.split(|&b| b == 0).filter(|line| !line.is_empty()) {
            let tab = line.iter().position(|&b| b == b'\t').unwrap();
            let mode = std::str::from_utf8(&line[..tab])
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            let kind = Kind::of_mode(mode);
            let path = &line[tab + 1..];
            if mode == "040000" {
                listings.entry(path.to_vec()).or_default();
            }
            let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(slash) => (path[..slash].to_vec(), path[slash + 1..].to_vec()),
                None => (b".".to_vec(), path.to_vec()),
            };
            listings.entry(parent).or_default().push((name, kind));
        }
        for listing in listings.values_mut() {
            listing.sort();
        }
        listings
    }

    /// Every tracked directory of HEAD's tree, the root as `.`; submodules are not among them.
    pub fn head_dirs(&self) -> Vec<String> {
        self.tree_listings("HEAD")
            .into_keys()
            .map(|dir| String::from_utf8(dir).unwrap())
            .collect()
    }

    /// The time every tracked directory of HEAD must get, in whole seconds: the committer time
    /// of the last commit that changed the directory's list of entries (names and kinds, not
    /// contents), found by comparing each commit of HEAD's first-parent line with its first
    /// parent. On a linear history, which is what these tests build, that is the answer
    /// under any history simplification.
    pub fn expected_dir_seconds(&self) -> BTreeMap<String, i64> {
        let log = self.git(["log", "--first-parent", "--format=%H %ct"]);
        let commits: Vec<(String, i64)> = log
            .lines()
            .map(|line| {
                let (id, time) = line.split_once(' ').unwrap();
                (id.to_owned(), time.parse().unwrap())
            })
            .collect();
        let head = self.tree_listings("HEAD");
        let mut expected = BTreeMap::new();
        let mut newer = head.clone();
        for (i, (_, time)) in commits.iter().enumerate() {
            let older = match commits.get(i + 1) {
                Some((parent, _)) => self.tree_listings(parent),
                None => BTreeMap::new(),
            };
            for dir in head.keys() {
                if !expected.contains_key(dir) && newer.get(dir) != older.get(dir) {
                    expected.insert(dir.clone(), *time);
                }
            }
            if expected.len() == head.len() {
                break;
            }
            newer = older;
        }
        expected
            .into_iter()
            .map(|(dir, time)| (String::from_utf8(dir).unwrap(), time))
            .collect()
    }
}
