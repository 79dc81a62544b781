//! A throwaway project and a stand-in `dagger` for driving the real xtask binary:
//!
//! ```ignore
//! let project = Project::new().env("GITHUB_TOKEN", "s3cret");
//! project.run(["build", "--github-token"]).success();
//! assert_eq!(project.dagger_calls()[0].argv, [...]);
//! ```
//!
//! Each project is a git repository with a small Go app, a dagger.json and a `.dagger/`,
//! committed at [`COMMIT_TIME`]. xtask runs with a cleared environment: PATH (the stand-in
//! first), a private HOME, and Go's caches from the real environment so builds stay quick.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;

use tempfile::TempDir;

/// 2020-01-02T03:04:05Z, the author and committer time of the fixture's only commit.
pub const COMMIT_TIME: i64 = 1_577_934_245;
const COMMIT_DATE: &str = "2020-01-02T03:04:05Z";

pub const DAGGER_PIN: &str = "0.21.8";

pub const VERSIONS_TOML: &str = "\
# Toolchain versions. Edit with `cargo xtask bump <tool> <version>`.
[tools]
go = \"1.26.8\"      # the Go toolchain
dagger = \"0.21.8\"  # the Dagger CLI and engine
actionlint = \"1.7.12\"  # the workflow linter
";

const FIXTURE: &[(&str, &str)] = &[
    ("Cargo.toml", "[workspace]\n"),
    (".gitignore", "/bin\n"),
    ("versions.toml", VERSIONS_TOML),
    (
        "dagger.json",
        "{\n  \"name\": \"ci\",\n  \"engineVersion\": \"v0.21.8\",\n  \"sdk\": {\n    \"source\": \"go\"\n  },\n  \"source\": \".dagger\"\n}\n",
    ),
    (".dagger/go.mod", "module dagger/ci\n\ngo 1.26.0\n"),
    (
        ".dagger/main.go",
        "package main\n\n// The pipeline module; the stand-in dagger never loads it.\ntype Ci struct{}\n",
    ),
    (
        "app/go.mod",
        "module example.com/app\n\ngo 1.26.0\n\ntoolchain go1.26.8\n",
    ),
    (
        "app/greet/greet.go",
        "package greet\n\n// Hello greets name.\nfunc Hello(name string) string { return \"hello, \" + name }\n",
    ),
    (
        "app/greet/greet_test.go",
        "package greet\n\nimport (\n\t\"os\"\n\t\"strings\"\n\t\"testing\"\n)\n\nfunc TestHello(t *testing.T) {\n\tname, err := os.ReadFile(\"testdata/name.txt\")\n\tif err != nil {\n\t\tt.Fatal(err)\n\t}\n\tif got := Hello(strings.TrimSpace(string(name))); got != \"hello, gopher\" {\n\t\tt.Fatalf(\"got %q\", got)\n\t}\n}\n",
    ),
    ("app/greet/testdata/name.txt", "gopher\n"),
    (
        "app/cmd/hello/main.go",
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/app/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello(\"world\")) }\n",
    ),
    (
        "app/cmd/bye/main.go",
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"bye\") }\n",
    ),
];

/// Answers `dagger version` like the real 0.x CLI; for anything else records its argv (NUL
/// separated), working directory, environment, and the size, mtime and hash of every
/// pipeline file at that moment, then exits as told.
const STAND_IN: &str = r#"#!/bin/sh
set -eu
n=$(ls "$STANDIN_RECORDS" | wc -l)
call="$STANDIN_RECORDS/$(printf '%03d' "$n")"
mkdir "$call"
printf '%s\0' "$@" > "$call/argv"
if [ "${1-}" = version ]; then
    if [ "${2-}" = -q ]; then
        echo "v$STANDIN_VERSION"
    elif [ "${STANDIN_FORMAT-}" = multi-line ]; then
        printf 'Client:\n  Version: v%s\nEngine:\n  Version: v%s\n' "$STANDIN_VERSION" "$STANDIN_VERSION"
    else
        echo "dagger v$STANDIN_VERSION (image://registry.dagger.io/engine:v$STANDIN_VERSION) linux/amd64"
    fi
    exit 0
fi
pwd > "$call/cwd"
env -0 > "$call/env"
find app .dagger dagger.json -type f -exec stat -c '%n	%s	%.9Y' {} + | sort > "$call/files"
find app .dagger dagger.json -type f -exec sha256sum {} + | sort -k 2 > "$call/hashes"
case "${STANDIN_ACTION-}" in
    kill) kill -9 $$ ;;
    interrupt)
        # Ctrl-C reaches the whole foreground process group: xtask and this "dagger".
        trap 'echo interrupted > "$call/interrupted"; exit 2' INT
        kill -INT 0
        ;;
esac
exit "${STANDIN_EXIT:-0}"
"#;

pub struct Project {
    dir: TempDir,
    env: BTreeMap<OsString, OsString>,
    dagger: bool,
}

impl Project {
    /// A committed fixture project, a stand-in `dagger` of the pinned version on PATH, an
    /// empty HOME and no CI.
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["repo", "home", "standin", "records"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let standin = dir.path().join("standin/dagger");
        std::fs::write(&standin, STAND_IN).unwrap();
        std::fs::set_permissions(&standin, std::fs::Permissions::from_mode(0o755)).unwrap();

        let mut project = Project {
            dir,
            env: BTreeMap::new(),
            dagger: true,
        };
        for (path, contents) in FIXTURE {
            project.write(path, contents);
        }
        project.git(&["init", "-q", "-b", "main"]);
        project.git(&["add", "-A"]);
        project.git(&["commit", "-q", "-m", "fixture"]);

        let (home, records) = (project.home(), project.records_dir());
        project = project.env("HOME", home).env("STANDIN_RECORDS", records);
        for (name, value) in go_env() {
            project = project.env(name, value);
        }
        project.dagger_version(DAGGER_PIN)
    }

    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Project {
        self.env
            .insert(name.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    /// Leaves `name` out of xtask's environment.
    pub fn env_remove(mut self, name: impl AsRef<OsStr>) -> Project {
        self.env.remove(name.as_ref());
        self
    }

    pub fn ci(self) -> Project {
        self.env("CI", "true")
    }

    /// What the stand-in answers to `dagger version`.
    pub fn dagger_version(self, version: &str) -> Project {
        self.env("STANDIN_VERSION", version)
    }

    /// The stand-in's exit code for pipeline calls.
    pub fn dagger_exit(self, code: i32) -> Project {
        self.env("STANDIN_EXIT", code.to_string())
    }

    /// `kill` or `interrupt` instead of exiting.
    pub fn dagger_action(self, action: &str) -> Project {
        self.env("STANDIN_ACTION", action)
    }

    /// No `dagger` on PATH.
    pub fn without_dagger(mut self) -> Project {
        self.dagger = false;
        self
    }

    /// `~/.ssh` with a known_hosts file.
    pub fn home_ssh(self) -> Project {
        let ssh = self.home().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        std::fs::write(ssh.join("known_hosts"), "github.com ssh-ed25519 AAAA\n").unwrap();
        self
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn records_dir(&self) -> PathBuf {
        self.dir.path().join("records")
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap()
    }

    /// Every file of the project (outside .git), for byte-for-byte comparisons.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.ends_with(".git") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.insert(
                        path.strip_prefix(root).unwrap().to_owned(),
                        std::fs::read(&path).unwrap(),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.root(), &self.root(), &mut out);
        out
    }

    /// A fresh clone of the project at `dest`, replacing whatever was there: every file
    /// gets the current time, as on a new CI machine.
    pub fn clone_to(&self, dest: &Path) {
        let _ = std::fs::remove_dir_all(dest);
        let (source, dest) = (self.root(), dest.to_owned());
        self.git(&[
            "clone",
            "-q",
            source.to_str().unwrap(),
            dest.to_str().unwrap(),
        ]);
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_at(COMMIT_DATE, args)
    }

    /// git in the project, with `date` as the author and committer date of any commit.
    pub fn git_at(&self, date: &str, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Fixture")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
            .env("GIT_COMMITTER_NAME", "Fixture")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs xtask at the project root.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_in(".", args)
    }

    /// Runs xtask in a directory of the project. It gets a process group of its own, as a
    /// shell's foreground job does, so that the stand-in can "press Ctrl-C".
    pub fn run_in<I, S>(&self, dir: &str, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_at(&self.root().join(dir), args)
    }

    /// Runs xtask in any directory, with this project's environment and stand-in.
    pub fn run_at<I, S>(&self, dir: &Path, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.output_at(dir, args);
        Run {
            status: output.status,
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs xtask as [`Project::run_at`] does, its output kept as bytes (a path that is not
    /// UTF-8 is printed as its bytes).
    pub fn output_at<I, S>(&self, dir: &Path, args: I) -> std::process::Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut path = Vec::new();
        if self.dagger {
            path.push(self.dir.path().join("standin"));
        }
        path.extend(tool_dirs());
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(&self.env)
            .env("PATH", std::env::join_paths(path).unwrap())
            .process_group(0)
            .output()
            .unwrap()
    }

    /// Every time the stand-in ran, `dagger version` included.
    pub fn all_dagger_calls(&self) -> Vec<DaggerCall> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.records_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        dirs.iter().map(|dir| DaggerCall::read(dir)).collect()
    }

    /// The pipeline calls: all but `dagger version`.
    pub fn dagger_calls(&self) -> Vec<DaggerCall> {
        self.all_dagger_calls()
            .into_iter()
            .filter(|call| call.argv.first().map(String::as_str) != Some("version"))
            .collect()
    }

    /// The only pipeline call.
    pub fn dagger_call(&self) -> DaggerCall {
        let mut calls = self.dagger_calls();
        assert_eq!(calls.len(), 1, "expected one dagger call, got {calls:#?}");
        calls.pop().unwrap()
    }
}

/// What the stand-in saw.
#[derive(Debug)]
pub struct DaggerCall {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Path -> (size, mtime as `seconds.nanoseconds`).
    pub files: BTreeMap<String, (u64, String)>,
    /// Path -> sha256.
    pub hashes: BTreeMap<String, String>,
    /// The stand-in got SIGINT.
    pub interrupted: bool,
}

impl DaggerCall {
    fn read(dir: &Path) -> DaggerCall {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let argv = read("argv");
        let argv = argv
            .strip_suffix('\0')
            .map_or(Vec::new(), |a| a.split('\0').map(str::to_owned).collect());
        let env = read("env")
            .split('\0')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let files = read("files")
            .lines()
            .map(|line| {
                let mut fields = line.split('\t');
                let (path, size, mtime) = (
                    fields.next().unwrap(),
                    fields.next().unwrap(),
                    fields.next().unwrap(),
                );
                (path.to_owned(), (size.parse().unwrap(), mtime.to_owned()))
            })
            .collect();
        let hashes = read("hashes")
            .lines()
            .map(|line| {
                let (hash, path) = line.split_once("  ").unwrap();
                (path.to_owned(), hash.to_owned())
            })
            .collect();
        DaggerCall {
            argv,
            cwd: read("cwd").trim_end().into(),
            env,
            files,
            hashes,
            interrupted: dir.join("interrupted").exists(),
        }
    }

    /// The whole seconds of a file's mtime when dagger was called.
    pub fn mtime_seconds(&self, path: &str) -> i64 {
        let (_, mtime) = &self.files[path];
        mtime.split('.').next().unwrap().parse().unwrap()
    }
}

pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert!(
            self.status.success(),
            "expected success, got {:?}\n{self}",
            self.status
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.status.code(),
            Some(code),
            "unexpected status {:?}\n{self}",
            self.status
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- stdout\n{}--- stderr\n{}---",
            self.stdout, self.stderr
        )
    }
}

/// Directories for the tools xtask and the stand-in need (go, sh, coreutils), without any
/// real `dagger`.
fn tool_dirs() -> Vec<PathBuf> {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let mut dirs = vec![PathBuf::from("/usr/bin"), PathBuf::from("/bin")];
        let go = Command::new("go")
            .args(["env", "GOROOT"])
            .output()
            .expect("go on PATH");
        let goroot = String::from_utf8(go.stdout).unwrap();
        dirs.insert(0, Path::new(goroot.trim()).join("bin"));
        dirs
    })
    .clone()
}

/// Go's caches from the real environment, so that local builds in a private HOME stay warm,
/// and no network.
fn go_env() -> Vec<(String, String)> {
    static ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let names = ["GOCACHE", "GOMODCACHE", "GOPATH"];
        let output = Command::new("go")
            .arg("env")
            .args(names)
            .output()
            .expect("go on PATH");
        let values = String::from_utf8(output.stdout).unwrap();
        let mut env: Vec<(String, String)> = names
            .iter()
            .zip(values.lines())
            .map(|(name, value)| (name.to_string(), value.to_owned()))
            .collect();
        env.push(("GOPROXY".into(), "off".into()));
        env.push(("GOFLAGS".into(), String::new()));
        env
    })
    .clone()
}
