//! `cargo xtask doctor` on stand-in machines: stand-in `go`, `dagger`, `docker` and `podman`
//! executables that answer like the real ones, real sockets for the runner host, real ssh
//! directories, real shallow clones and a real answer cache. The last test runs `build` on
//! the same machines and holds the doctor's exit status to the build's.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::harness::{DAGGER_PIN, Project, Run};

const GO_PIN: &str = "1.26.8";

/// What a private key file holds here: it must never show.
const KEY_CONTENTS: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAkeyXq7\n";

/// Made of letters and digits only, so that no quoting could disguise it.
const TOKEN: &str = "Zq9xK7vW3pL2mN8rT4yH6";

/// How long a check of something that does not answer may take, generously: a hang guard, not
/// a benchmark. dagger itself would wait ten minutes.
const HANG_GUARD: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daemon {
    Answers,
    Down,
    Hangs,
}

/// A machine to examine: the fixture project, a HOME with `~/.ssh` (known_hosts and a key), and
/// a PATH of only the stand-ins and git.
struct Machine {
    project: Project,
    dir: TempDir,
    env: BTreeMap<String, OsString>,
    git: bool,
}

impl Machine {
    /// A developer machine where everything is right: Go and Dagger of the pinned versions,
    /// docker answering, `~/.ssh` with known_hosts and a key.
    fn new() -> Machine {
        let project = Project::new().home_ssh();
        std::fs::write(project.home().join(".ssh/id_ed25519"), KEY_CONTENTS).unwrap();
        std::fs::write(
            project.home().join(".ssh/id_ed25519.pub"),
            "ssh-ed25519 AAAA me\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for sub in ["bin", "tools", "modcache"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::os::unix::fs::symlink(on_path("git"), dir.path().join("tools/git")).unwrap();
        let mut env = BTreeMap::new();
        env.insert("HOME".to_owned(), project.home().into_os_string());
        env.insert(
            "GOMODCACHE".to_owned(),
            dir.path().join("modcache").into_os_string(),
        );
        let machine = Machine {
            project,
            dir,
            env,
            git: true,
        };
        machine
            .go(GO_PIN)
            .dagger(DAGGER_PIN)
            .docker(Daemon::Answers)
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.dir.path().join("bin").join(name)
    }

    fn install(self, name: &str, script: &str) -> Machine {
        let path = self.bin(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    fn remove(self, name: &str) -> Machine {
        let _ = std::fs::remove_file(self.bin(name));
        self
    }

    fn go(self, version: &str) -> Machine {
        let script = go_stand_in(version);
        self.install("go", &script)
    }

    fn dagger(self, version: &str) -> Machine {
        let script = dagger_stand_in(version);
        self.install("dagger", &script)
    }

    fn docker(self, daemon: Daemon) -> Machine {
        let script = runtime_stand_in("docker", daemon);
        self.install("docker", &script)
    }

    fn podman(self, daemon: Daemon) -> Machine {
        let script = runtime_stand_in("podman", daemon);
        self.install("podman", &script)
    }

    /// golang.org/dl's `go1.26.8` wrapper, before or after `go1.26.8 download`.
    fn go_wrapper(self, downloaded: bool) -> Machine {
        let name = format!("go{GO_PIN}");
        let script = if downloaded {
            format!("#!/bin/sh\necho \"go version {name} linux/amd64\"\n")
        } else {
            format!(
                "#!/bin/sh\necho \"{name}: not downloaded. Run '{name} download' to install to $HOME/sdk/{name}\" >&2\nexit 1\n"
            )
        };
        self.install(&name, &script)
    }

    /// The pinned toolchain in the module cache, as `GOTOOLCHAIN=go1.26.8 go version` leaves
    /// it.
    fn downloaded_toolchain(self, present: bool) -> Machine {
        let cache = self.dir.path().join("modcache");
        let version = format!("v0.0.1-go{GO_PIN}.linux-amd64");
        let dir = cache.join(format!("golang.org/toolchain@{version}"));
        let download = cache.join("cache/download/golang.org/toolchain/@v");
        if present {
            std::fs::create_dir_all(dir.join("bin")).unwrap();
            std::fs::create_dir_all(&download).unwrap();
            std::fs::write(download.join(format!("{version}.ziphash")), "h1:x=\n").unwrap();
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        self
    }

    fn without_git(mut self) -> Machine {
        self.git = false;
        self
    }

    fn env(mut self, name: &str, value: impl Into<OsString>) -> Machine {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    fn env_remove(mut self, name: &str) -> Machine {
        self.env.remove(name);
        self
    }

    fn ci(self) -> Machine {
        self.env("CI", "true")
    }

    fn ssh_dir(&self) -> PathBuf {
        self.project.home().join(".ssh")
    }

    /// `cargo xtask doctor ARGS` at the project root.
    fn doctor(&self, args: &[&str]) -> Run {
        self.xtask_at(&self.project.root(), "doctor", args)
    }

    /// `cargo xtask build ARGS` at the project root, on the same machine.
    fn build(&self, args: &[&str]) -> Run {
        self.xtask_at(&self.project.root(), "build", args)
    }

    fn xtask_at(&self, dir: &Path, command: &str, args: &[&str]) -> Run {
        let mut path = vec![self.dir.path().join("bin")];
        if self.git {
            path.push(self.dir.path().join("tools"));
        }
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg(command)
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(&self.env)
            .env("PATH", std::env::join_paths(path).unwrap())
            .process_group(0)
            .output()
            .unwrap();
        Run {
            status: output.status,
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

/// The first `name` on the test's own PATH.
fn on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// Go `version`: `go version`, `go env` and, for build and test, cmd/go's choice of toolchain
/// under the `GOTOOLCHAIN=go<pin>` that xtask sets: itself, a `go<pin>` on PATH, the module
/// cache, else a download (which fails here: there is no network). A Go older than 1.21 knows
/// no GOTOOLCHAIN and builds with itself.
fn go_stand_in(version: &str) -> String {
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    let switches = minor >= 21;
    let gotoolchain = if switches {
        r#"echo "${GOTOOLCHAIN:-auto}""#
    } else {
        "echo"
    };
    let ignore = if switches { "" } else { "exit 0" };
    format!(
        r#"#!/bin/sh
modcache=${{GOMODCACHE:-$HOME/go/pkg/mod}}
case "$1" in
version) echo "go version go{version} linux/amd64" ;;
env)
    shift
    for name in "$@"; do
        case "$name" in
        GOTOOLCHAIN) {gotoolchain} ;;
        GOMODCACHE) echo "$modcache" ;;
        GOPROXY) echo "${{GOPROXY:-https://proxy.golang.org,direct}}" ;;
        *) echo ;;
        esac
    done ;;
build|test)
    {ignore}
    want=${{GOTOOLCHAIN:-local}}
    case "$want" in local|auto|path|go{version}) exit 0 ;; esac
    if command -v "$want" >/dev/null 2>&1; then exec "$want" "$@"; fi
    if [ -d "$modcache/golang.org/toolchain@v0.0.1-$want.linux-amd64" ]; then exit 0; fi
    if [ "${{GOPROXY-}}" = off ]; then
        echo "go: download $want: golang.org/toolchain@v0.0.1-$want.linux-amd64: module lookup disabled by GOPROXY=off" >&2
    else
        echo "go: download $want: golang.org/toolchain@v0.0.1-$want.linux-amd64: dial tcp: lookup proxy.golang.org: no such host" >&2
    fi
    exit 1 ;;
*) echo "go: unknown command $1" >&2; exit 2 ;;
esac
"#
    )
}

/// The Dagger CLI `version`. `dagger version` answers without an engine, as the real one does;
/// anything else first needs an engine, as the real one does: the runner host when set (a TCP
/// connection here, where the real CLI retries for ten minutes), else the first container
/// runtime on PATH, which must answer.
fn dagger_stand_in(version: &str) -> String {
    format!(
        r#"#!/bin/bash
if [ "$1" = version ]; then
    echo "dagger v{version} (${{_EXPERIMENTAL_DAGGER_RUNNER_HOST:-image://registry.dagger.io/engine:v{version}}}) linux/amd64"
    exit 0
fi
host=${{_EXPERIMENTAL_DAGGER_RUNNER_HOST-}}
case "$host" in
tcp://*)
    address=${{host#tcp://}}
    if ! (exec 3<>"/dev/tcp/${{address%:*}}/${{address##*:}}") 2>/dev/null; then
        echo "Error: failed to connect to engine at $host" >&2
        exit 1
    fi ;;
"")
    for runtime in docker container podman finch nerdctl; do
        command -v "$runtime" >/dev/null 2>&1 || continue
        if [ "$runtime" = container ]; then probe="system status"; else probe=version; fi
        if "$runtime" $probe >/dev/null 2>&1; then exit 0; fi
        echo "Error: $runtime is not available" >&2
        exit 1
    done
    echo 'Error: driver for scheme "image" was not available' >&2
    exit 1 ;;
esac
exit 0
"#
    )
}

/// A docker-compatible CLI whose daemon answers, is down, or hangs.
fn runtime_stand_in(program: &str, daemon: Daemon) -> String {
    let server = match daemon {
        Daemon::Answers => {
            "printf 'Server:\\n Engine:\\n  Version: 27.3.1\\n'\n    exit 0".to_owned()
        }
        Daemon::Down => format!(
            "echo 'Cannot connect to the {program} daemon at unix:///var/run/{program}.sock. \
             Is the {program} daemon running?' >&2\n    exit 1"
        ),
        Daemon::Hangs => format!("exec {} 60", on_path("sleep").display()),
    };
    format!(
        r#"#!/bin/sh
case "$1" in
version|info)
    printf 'Client:\n Version: 27.3.1\n API version: 1.47\n'
    {server} ;;
*) echo "{program}: unknown command $1" >&2; exit 1 ;;
esac
"#
    )
}

/// The report's line for `check` (the first, if there are several), checked for its status
/// and for each of `needles`.
#[track_caller]
fn line(run: &Run, check: &str, status: &str, needles: &[&str]) -> String {
    let found = run
        .stdout
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(check));
    let Some(found) = found else {
        panic!("no {check} line\n{run}");
    };
    assert_eq!(
        found.split_whitespace().next(),
        Some(status),
        "{check} is not {status}\n{run}"
    );
    for needle in needles {
        assert!(
            found.contains(needle),
            "{check} line lacks {needle:?}\n{run}"
        );
    }
    found.to_owned()
}

#[track_caller]
fn no_line(run: &Run, check: &str) {
    assert!(
        !run.stdout
            .lines()
            .any(|line| line.split_whitespace().nth(1) == Some(check)),
        "unexpected {check} line\n{run}"
    );
}

const INSTALL_DAGGER: &str = "curl -fsSL https://dl.dagger.io/dagger/install.sh | DAGGER_VERSION=0.21.8 BIN_DIR=$HOME/.local/bin sh";

#[test]
fn a_machine_that_matches_the_pins_is_all_ok() {
    let machine = Machine::new();
    let run = machine.doctor(&[]).success();
    line(&run, "versions", "ok", &["go 1.26.8, dagger 0.21.8"]);
    line(&run, "git", "ok", &["git version "]);
    line(
        &run,
        "go",
        "ok",
        &["go1.26.8, the pin: --engine local runs it as it is"],
    );
    line(
        &run,
        "GOTOOLCHAIN",
        "ok",
        &["GOTOOLCHAIN=auto", "runs go1.26.8, the pin"],
    );
    line(&run, "dagger", "ok", &["0.21.8, the pin"]);
    line(&run, "engine", "ok", &["`docker version` answers"]);
    line(
        &run,
        "ssh",
        "ok",
        &["known_hosts and 1 private key (id_ed25519)"],
    );
    line(&run, "token", "ok", &["not needed outside CI"]);
    line(&run, "history", "ok", &["complete"]);
    line(&run, "cache", "ok", &["no answers yet"]);
    assert!(
        run.stdout
            .lines()
            .all(|line| line.starts_with("ok ") || line.starts_with('`')),
        "{run}"
    );
    assert!(
        run.stdout
            .ends_with("`cargo xtask build` can run here, on Dagger (no warnings)\n")
    );
    assert!(!run.stdout.contains("BEGIN OPENSSH") && !run.stdout.contains("keyXq7"));
    assert!(!run.stderr.contains("BEGIN OPENSSH") && !run.stderr.contains("keyXq7"));
}

/// The real Go, read as it answers `go version` and `go env`.
#[test]
fn the_real_go_is_read_as_it_answers() {
    let goroot = Command::new("go").args(["env", "GOROOT"]).output().unwrap();
    let real_go = Path::new(String::from_utf8(goroot.stdout).unwrap().trim()).join("bin/go");
    let version = Command::new(&real_go)
        .args(["env", "GOVERSION"])
        .output()
        .unwrap();
    let version = String::from_utf8(version.stdout).unwrap().trim().to_owned();
    let machine = Machine::new().remove("go");
    std::os::unix::fs::symlink(&real_go, machine.bin("go")).unwrap();
    let run = machine.doctor(&["--engine", "local"]);
    if version == format!("go{GO_PIN}") {
        line(&run, "go", "ok", &["go1.26.8, the pin"]);
    } else {
        let found = format!("{version}, pin {GO_PIN}");
        assert!(run.stdout.contains(&found), "{found:?} missing\n{run}");
    }
    // Whatever the real Go's go.env says, cmd/go's answer to `go env GOTOOLCHAIN` is read.
    let setting = Command::new(&real_go)
        .args(["env", "GOTOOLCHAIN"])
        .env_clear()
        .env("HOME", machine.project.home())
        .output()
        .unwrap();
    let setting = String::from_utf8(setting.stdout).unwrap();
    let said = format!("GOTOOLCHAIN={}: plain `go` in app/ runs ", setting.trim());
    assert!(run.stdout.contains(&said), "{said:?} missing\n{run}");
}

#[test]
fn git_missing_is_a_warning() {
    let run = Machine::new().without_git().doctor(&[]).success();
    line(&run, "git", "warn", &["not on PATH", "fix: install git"]);
}

#[test]
fn versions_toml_that_does_not_load_fails_like_build() {
    let machine = Machine::new();
    let text = machine.project.read("versions.toml");
    let line_number = text.lines().position(|l| l.starts_with("go = ")).unwrap() + 1;
    machine
        .project
        .write("versions.toml", &text.replace("\"1.26.8\"", "\"1.26\""));
    let run = machine.doctor(&[]).code(1);
    let at = format!("versions.toml:{line_number}: go = \"1.26\"");
    line(&run, "versions", "fail", &[&at]);
    line(&run, "go", "warn", &["no pin to compare"]);
    line(&run, "dagger", "warn", &["no pin to compare"]);
    machine.build(&[]).code(1).stderr_has(&at);
}

#[test]
fn local_go_of_another_version_and_how_gotoolchain_reaches_the_pin() {
    let older = Machine::new().go("1.25.3").env("GOPROXY", "off");
    // Nothing can provide go1.26.8, and the build runs on the local Go.
    let run = older.doctor(&["--engine", "local"]).code(1);
    line(
        &run,
        "go",
        "fail",
        &[
            "go1.25.3, pin 1.26.8",
            "GOTOOLCHAIN=go1.26.8",
            "GOPROXY=off forbids it",
            "fix: install Go 1.26.8",
        ],
    );
    older
        .build(&["--engine", "local"])
        .code(1)
        .stderr_has("module lookup disabled by GOPROXY=off");
    // The same Go does not matter to a build on Dagger.
    let run = older.doctor(&[]).success();
    line(
        &run,
        "go",
        "warn",
        &["GOPROXY=off", "(not used: the build runs on Dagger)"],
    );

    // A download from before, in the module cache.
    let cached = older.downloaded_toolchain(true);
    let run = cached.doctor(&["--engine", "local"]).success();
    line(
        &run,
        "go",
        "ok",
        &[
            "runs the one downloaded before",
            "toolchain@v0.0.1-go1.26.8.linux-amd64",
        ],
    );
    let older = cached.downloaded_toolchain(false);

    // golang.org/dl's wrapper on PATH, before and after its download.
    let wrapper = older.go_wrapper(false);
    let run = wrapper.doctor(&["--engine", "local"]).code(1);
    line(
        &run,
        "go",
        "fail",
        &[
            "runs the go1.26.8 on PATH",
            "not downloaded",
            "fix: go1.26.8 download",
        ],
    );
    let wrapper = wrapper.go_wrapper(true);
    let run = wrapper.doctor(&["--engine", "local"]).success();
    line(&run, "go", "ok", &["runs the go1.26.8 on PATH"]);
    let older = wrapper.remove("go1.26.8");

    // With a proxy, a download that cannot be checked from here.
    let online = older.env_remove("GOPROXY");
    let run = online.doctor(&["--engine", "local"]).success();
    line(
        &run,
        "go",
        "warn",
        &[
            "downloads on the first build, through GOPROXY=https://proxy.golang.org,direct",
            "fix: GOTOOLCHAIN=go1.26.8 go version",
        ],
    );
}

#[test]
fn go_before_1_21_ignores_gotoolchain() {
    let machine = Machine::new().go("1.20.5");
    let run = machine.doctor(&["--engine", "local"]).code(1);
    line(
        &run,
        "go",
        "fail",
        &[
            "older than 1.21 ignores GOTOOLCHAIN",
            "fix: install Go 1.26.8",
        ],
    );
    no_line(&run, "GOTOOLCHAIN");
}

#[test]
fn go_missing_fails_only_when_the_build_needs_it() {
    let machine = Machine::new().remove("go");
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "go",
        "warn",
        &["not on PATH (not used: the build runs on Dagger)"],
    );
    // Without dagger the default build falls back to the local Go, which is missing too.
    let machine = machine.remove("dagger");
    let run = machine.doctor(&[]).code(1);
    line(
        &run,
        "go",
        "fail",
        &[
            "not on PATH",
            "fix: install Go 1.26.8 from https://go.dev/dl/",
        ],
    );
    line(
        &run,
        "dagger",
        "warn",
        &["falls back to the local Go", INSTALL_DAGGER],
    );
    machine.build(&[]).code(1).stderr_has("running go");
}

#[test]
fn gotoolchain_line_follows_cmd_go() {
    // GOTOOLCHAIN=local keeps plain `go` on the local Go; xtask's own GOTOOLCHAIN outranks it.
    let machine = Machine::new()
        .go("1.25.3")
        .downloaded_toolchain(true)
        .env("GOTOOLCHAIN", "local");
    let run = machine.doctor(&["--engine", "local"]).success();
    line(&run, "go", "ok", &["runs the one downloaded before"]);
    line(
        &run,
        "GOTOOLCHAIN",
        "warn",
        &[
            "GOTOOLCHAIN=local: plain `go` in app/ runs go1.25.3, not the pinned go1.26.8",
            "set GOTOOLCHAIN=auto in your environment",
        ],
    );
    let run = machine.env("GOTOOLCHAIN", "auto").doctor(&[]).success();
    line(
        &run,
        "GOTOOLCHAIN",
        "ok",
        &["GOTOOLCHAIN=auto: plain `go` in app/ runs go1.26.8, the pin"],
    );

    // A newer local Go stays: cmd/go never switches down.
    let newer = Machine::new().go("1.27.0").downloaded_toolchain(true);
    let run = newer.doctor(&[]).success();
    line(
        &run,
        "GOTOOLCHAIN",
        "warn",
        &["runs go1.27.0", "fix: run them as GOTOOLCHAIN=go1.26.8 go"],
    );
    let run = newer.env("GOTOOLCHAIN", "bash").doctor(&[]).success();
    line(
        &run,
        "GOTOOLCHAIN",
        "warn",
        &["not a valid setting", "fix: unset GOTOOLCHAIN"],
    );
}

#[test]
fn dagger_of_another_version_is_what_build_refuses() {
    let machine = Machine::new().dagger("0.20.1");
    let refusal = "dagger 0.20.1 is on PATH, but versions.toml pins dagger 0.21.8";
    let run = machine.doctor(&[]).code(1);
    line(&run, "dagger", "fail", &[refusal, INSTALL_DAGGER]);
    run.stderr_has("error: `cargo xtask build` would fail here: 1 check failed");
    machine.build(&[]).code(1).stderr_has(refusal);
    // Not a problem for a build on the local Go.
    let run = machine.doctor(&["--engine", "local"]).success();
    line(
        &run,
        "dagger",
        "warn",
        &[refusal, "(not used with --engine local)"],
    );
}

#[test]
fn dagger_missing_is_fatal_only_in_ci() {
    let machine = Machine::new().remove("dagger");
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "dagger",
        "warn",
        &[
            "not on PATH: `build` falls back to the local Go",
            INSTALL_DAGGER,
        ],
    );
    // docker does not answer, but the build does not need it.
    let run = machine.docker(Daemon::Down).doctor(&[]).success();
    line(
        &run,
        "engine",
        "warn",
        &["(not used: the build runs on the local Go)"],
    );
    run.stdout_has("`cargo xtask build` can run here, on the local Go");

    let ci = Machine::new()
        .remove("dagger")
        .ci()
        .env("GITHUB_TOKEN", TOKEN);
    let run = ci.doctor(&[]).code(1);
    line(
        &run,
        "dagger",
        "fail",
        &[
            "not on PATH (CI is set, so no fallback to the local Go)",
            "or pass --engine local",
        ],
    );
    ci.doctor(&["--engine", "local"]).success();
    let run = Machine::new()
        .remove("dagger")
        .doctor(&["--engine", "dagger"])
        .code(1);
    line(&run, "dagger", "fail", &["not on PATH", INSTALL_DAGGER]);
}

#[test]
fn container_runtime_is_the_one_dagger_would_use() {
    let run = Machine::new().docker(Daemon::Down).doctor(&[]).code(1);
    line(
        &run,
        "engine",
        "fail",
        &[
            "`docker version` fails: Cannot connect to the docker daemon",
            "fix: start Docker",
        ],
    );

    // Only podman: Dagger uses it.
    let podman = Machine::new().remove("docker").podman(Daemon::Answers);
    let run = podman.doctor(&[]).success();
    line(&run, "engine", "ok", &["`podman version` answers"]);
    // docker first on the list, even with podman answering: Dagger stops at docker.
    let run = podman.docker(Daemon::Down).doctor(&[]).code(1);
    line(
        &run,
        "engine",
        "fail",
        &["`docker version` fails", "stops at this one"],
    );

    let none = Machine::new().remove("docker");
    let run = none.doctor(&[]).code(1);
    line(
        &run,
        "engine",
        "fail",
        &[
            "no container runtime on PATH (docker, container, podman, finch, nerdctl)",
            "_EXPERIMENTAL_DAGGER_RUNNER_HOST=tcp://HOST:PORT",
        ],
    );
    none.doctor(&["--engine", "local"]).success();
}

#[test]
fn a_hung_container_runtime_costs_seconds() {
    let machine = Machine::new().docker(Daemon::Hangs);
    let started = Instant::now();
    let run = machine.doctor(&[]).code(1);
    assert!(
        started.elapsed() < HANG_GUARD,
        "took {:?}",
        started.elapsed()
    );
    line(
        &run,
        "engine",
        "fail",
        &["`docker version` did not answer within 5 s"],
    );
}

#[test]
fn tcp_runner_host_that_answers_and_one_that_does_not() {
    // No container runtime: a remote engine does not need one.
    let machine = Machine::new().remove("docker");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("tcp://{}", listener.local_addr().unwrap());
    let run = machine
        .env("_EXPERIMENTAL_DAGGER_RUNNER_HOST", &host)
        .doctor(&[])
        .success();
    line(
        &run,
        "engine",
        "ok",
        &[
            &host,
            "accepts a connection",
            "not checked: whether a Dagger engine",
        ],
    );

    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp://{}", listener.local_addr().unwrap())
    };
    let machine = Machine::new()
        .remove("docker")
        .env("_EXPERIMENTAL_DAGGER_RUNNER_HOST", &closed);
    let started = Instant::now();
    let run = machine.doctor(&[]).code(1);
    assert!(
        started.elapsed() < HANG_GUARD,
        "took {:?}",
        started.elapsed()
    );
    line(
        &run,
        "engine",
        "fail",
        &[
            &closed,
            "does not answer",
            "retry it for up to 10 minutes",
            "unset _EXPERIMENTAL_DAGGER_RUNNER_HOST",
        ],
    );
    // The stand-in gives up at once, where the real CLI would retry for ten minutes.
    machine
        .build(&[])
        .code(1)
        .stderr_has("failed to connect to engine");
}

#[test]
fn other_runner_hosts_check_what_they_can() {
    let machine = Machine::new();
    let run_with = |host: &str| {
        Machine::new()
            .remove("docker")
            .env("_EXPERIMENTAL_DAGGER_RUNNER_HOST", host)
            .doctor(&[])
    };
    let socket = machine.dir.path().join("engine.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let host = format!("unix://{}", socket.display());
    line(
        &run_with(&host).success(),
        "engine",
        "ok",
        &["engine.sock accepts a connection"],
    );
    drop(listener);
    std::fs::remove_file(&socket).unwrap();
    line(
        &run_with(&host).code(1),
        "engine",
        "fail",
        &["does not answer", "engine.sock"],
    );

    // Schemes that go through a container runtime check the runtime, and say what they leave.
    let run = machine
        .env(
            "_EXPERIMENTAL_DAGGER_RUNNER_HOST",
            "docker-container://dagger-engine-v0.21.8",
        )
        .doctor(&[])
        .success();
    line(
        &run,
        "engine",
        "ok",
        &[
            "`docker version` answers",
            "engine container dagger-engine-v0.21.8 there (not checked)",
        ],
    );
    let run = run_with("image+podman://registry.dagger.io/engine:v0.21.8").code(1);
    line(&run, "engine", "fail", &["podman is not on PATH"]);
    let run = run_with("kube-pod://dagger-engine?namespace=ci").code(1);
    line(
        &run,
        "engine",
        "fail",
        &["kubectl, which is not on PATH", "fix: install kubectl"],
    );
    // What the pinned Dagger does not know is not judged.
    let run = run_with("podman-container://dagger-engine").success();
    line(
        &run,
        "engine",
        "warn",
        &["scheme podman-container not checked"],
    );
    let run = run_with("build-box:1234").code(1);
    line(
        &run,
        "engine",
        "fail",
        &["build-box:1234: not SCHEME://ADDRESS"],
    );
}

#[test]
fn ssh_directory_as_build_resolves_it() {
    let machine = Machine::new();
    std::fs::remove_file(machine.ssh_dir().join("known_hosts")).unwrap();
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "ssh",
        "warn",
        &["has no known_hosts", "fix: ssh-keyscan github.com >>"],
    );
    // `build` warns about the same, and goes on.
    machine
        .build(&[])
        .success()
        .stderr_has("has no known_hosts");

    std::fs::write(machine.ssh_dir().join("known_hosts"), "").unwrap();
    std::fs::remove_file(machine.ssh_dir().join("id_ed25519")).unwrap();
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "ssh",
        "warn",
        &["has no id_* private key", "fix: ssh-keygen -t ed25519"],
    );

    // An explicit directory, relative to where xtask starts.
    let keys = machine.project.path("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("known_hosts"), "").unwrap();
    std::fs::write(keys.join("id_rsa"), KEY_CONTENTS).unwrap();
    let run = machine.doctor(&["--ssh-dir", "keys"]).success();
    line(
        &run,
        "ssh",
        "ok",
        &[&format!(
            "{}: known_hosts and 1 private key (id_rsa)",
            keys.display()
        )],
    );
    assert!(!run.stdout.contains("keyXq7") && !run.stderr.contains("keyXq7"));

    let run = machine.doctor(&["--ssh-dir", "versions.toml"]).code(1);
    line(&run, "ssh", "fail", &["versions.toml: not a directory"]);

    // No ~/.ssh and no token: the build on Dagger has no credential.
    std::fs::remove_dir_all(machine.ssh_dir()).unwrap();
    let run = machine.doctor(&[]).code(1);
    line(
        &run,
        "ssh",
        "fail",
        &["no credential for private Go modules", "--github-token"],
    );
    machine
        .build(&[])
        .code(1)
        .stderr_has("no credential for private Go modules");
    let run = machine.doctor(&["--engine", "local"]).success();
    line(
        &run,
        "ssh",
        "warn",
        &["the local Go uses this machine's git credentials"],
    );
}

#[track_caller]
fn assert_token_hidden(run: &Run) {
    // Not the value, nor any four characters of it.
    for window in TOKEN.as_bytes().windows(4) {
        let piece = std::str::from_utf8(window).unwrap();
        assert!(
            !run.stdout.contains(piece) && !run.stderr.contains(piece),
            "{piece:?} of the token shows\n{run}"
        );
    }
}

#[test]
fn github_token_in_ci() {
    let machine = Machine::new().ci().env("GITHUB_TOKEN", TOKEN);
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "token",
        "ok",
        &[
            "GITHUB_TOKEN is set (CI is set: the default credential)",
            "its value is not shown",
        ],
    );
    line(
        &run,
        "ssh",
        "ok",
        &["not used: the GitHub token is the credential"],
    );
    assert_token_hidden(&run);
    for args in [
        &["--github-token"][..],
        &["--engine", "local"],
        &["--ssh-dir", "app"],
    ] {
        assert_token_hidden(&machine.doctor(args).success());
    }
    let run = machine.doctor(&["--ssh-dir", "app"]).success();
    line(
        &run,
        "token",
        "ok",
        &["not used: --ssh-dir is the credential"],
    );

    for unset in [
        Machine::new().ci(),
        Machine::new().ci().env("GITHUB_TOKEN", ""),
    ] {
        let run = unset.doctor(&[]).code(1);
        line(
            &run,
            "token",
            "fail",
            &[
                "CI is set, so the token is the default credential: GITHUB_TOKEN is not set or empty",
            ],
        );
        let run = unset.doctor(&["--engine", "local"]).success();
        line(&run, "token", "warn", &["GITHUB_TOKEN is not set or empty"]);
    }
    let run = Machine::new().doctor(&["--github-token"]).code(1);
    line(&run, "token", "fail", &["GITHUB_TOKEN is not set or empty"]);
}

#[test]
fn shallow_clone_is_a_warning() {
    let machine = Machine::new();
    machine
        .project
        .write("app/greet/testdata/name.txt", "gopher\ngordon\n");
    machine
        .project
        .git_at("2021-01-02T03:04:05Z", &["commit", "-qam", "second"]);
    let clone = machine.dir.path().join("shallow");
    let source = format!("file://{}", machine.project.root().display());
    machine.project.git(&[
        "clone",
        "-q",
        "--depth",
        "1",
        &source,
        clone.to_str().unwrap(),
    ]);
    let run = machine.xtask_at(&clone, "doctor", &[]).success();
    line(
        &run,
        "history",
        "warn",
        &[
            "a shallow clone",
            "approximate",
            "fix: git fetch --unshallow",
        ],
    );

    let full = machine.dir.path().join("full");
    machine
        .project
        .git(&["clone", "-q", &source, full.to_str().unwrap()]);
    let run = machine.xtask_at(&full, "doctor", &[]).success();
    line(
        &run,
        "history",
        "ok",
        &["complete: timestamps are exact commit times"],
    );
}

#[test]
fn answer_cache_before_and_after_a_sync() {
    let machine = Machine::new();
    let cache = machine.project.path(".git/mtimestamp");
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "cache",
        "ok",
        &[
            &format!("no answers yet ({})", cache.display()),
            "cold sync",
        ],
    );

    machine
        .xtask_at(&machine.project.root(), "sync", &["-q"])
        .success();
    let head = machine.project.git(&["rev-parse", "HEAD"]);
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "cache",
        "ok",
        &[
            "1 answer file in",
            &format!("one for HEAD ({})", &head[..12]),
            "reads no history",
        ],
    );

    machine.project.write("app/new.go", "package app\n");
    machine.project.git(&["add", "app/new.go"]);
    machine
        .project
        .git_at("2021-01-02T03:04:05Z", &["commit", "-qm", "new"]);
    let head = machine.project.git(&["rev-parse", "HEAD"]);
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "cache",
        "ok",
        &[
            &format!("none for HEAD ({})", &head[..12]),
            "reads the commits since a stored one",
        ],
    );

    // Outside git, build runs without a sync, and there is no cache to speak of.
    std::fs::remove_dir_all(machine.project.path(".git")).unwrap();
    let run = machine.doctor(&[]).success();
    line(
        &run,
        "history",
        "warn",
        &["is not a git work tree", "without the timestamp sync"],
    );
    no_line(&run, "cache");
}

/// The claim of the command: it exits non-zero exactly when the build with the same options
/// would fail. Both run on 216 machines (every engine option, CI or not, dagger pinned, wrong
/// or missing, docker answering, down or missing, and Go pinned, older with a downloaded
/// toolchain, older without a way to get one, or missing), with the credentials varying
/// across them.
#[test]
fn doctor_fails_exactly_when_build_fails() {
    let mut machine = Machine::new().env("GOPROXY", "off");
    let mut runs = 0;
    let mut failures = 0;
    let mut index = 0;
    for engine in ["auto", "dagger", "local"] {
        for ci in [false, true] {
            for dagger in [Some(DAGGER_PIN), Some("0.20.1"), None] {
                for docker in [Some(Daemon::Answers), Some(Daemon::Down), None] {
                    for go in ["pinned", "cached", "offline", "missing"] {
                        index += 1;
                        machine = match dagger {
                            Some(version) => machine.dagger(version),
                            None => machine.remove("dagger"),
                        };
                        machine = match docker {
                            Some(daemon) => machine.docker(daemon),
                            None => machine.remove("docker"),
                        };
                        machine = match go {
                            "pinned" => machine.go(GO_PIN).downloaded_toolchain(false),
                            "cached" => machine.go("1.25.3").downloaded_toolchain(true),
                            "offline" => machine.go("1.25.3").downloaded_toolchain(false),
                            _ => machine.remove("go"),
                        };
                        machine = if ci {
                            machine.ci()
                        } else {
                            machine.env_remove("CI")
                        };
                        // The credentials, varied across the machines.
                        machine = if index % 2 == 0 {
                            machine.env("GITHUB_TOKEN", TOKEN)
                        } else {
                            machine.env_remove("GITHUB_TOKEN")
                        };
                        let ssh = machine.ssh_dir();
                        if index % 4 < 2 {
                            std::fs::create_dir_all(&ssh).unwrap();
                        } else if ssh.exists() {
                            std::fs::remove_dir_all(&ssh).unwrap();
                        }

                        let args = ["--engine", engine];
                        let doctor = machine.doctor(&args);
                        let build = machine.build(&args);
                        let case = format!(
                            "--engine {engine}, CI {ci}, dagger {dagger:?}, docker {docker:?}, go {go}, \
                             token {}, ~/.ssh {}",
                            index % 2 == 0,
                            index % 4 < 2
                        );
                        assert_eq!(
                            doctor.status.success(),
                            build.status.success(),
                            "{case}\ndoctor:\n{doctor}\nbuild:\n{build}"
                        );
                        assert_token_hidden(&doctor);
                        runs += 1;
                        failures += usize::from(!build.status.success());
                    }
                }
            }
        }
    }
    assert_eq!(runs, 216);
    // Both outcomes are well represented, so the agreement means something.
    assert!(
        (40..=180).contains(&failures),
        "{failures} of {runs} builds failed"
    );
    eprintln!("doctor and build agreed on {runs} machines ({failures} failing)");
}
