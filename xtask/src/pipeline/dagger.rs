//! The `dagger` command line: which CLI version is installed, and the `dagger call` that runs
//! the pipeline module in `.dagger/`.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use super::credential::Credential;
use super::host::TOKEN_VAR;
use super::job::Job;
use crate::exec::PlannedCommand;
use crate::version::Version;
use crate::versions::Versions;

#[cfg(test)]
mod contract;

/// Set for every `dagger` run: no "try Dagger Cloud" banners in logs.
const QUIET_ENV: (&str, &str) = ("DAGGER_NO_NAG", "1");

/// The official installer, for the pinned version.
pub fn install_command(version: Version) -> String {
    format!(
        "curl -fsSL https://dl.dagger.io/dagger/install.sh | DAGGER_VERSION={version} BIN_DIR=$HOME/.local/bin sh"
    )
}

/// Fails unless the `dagger` on PATH is the pinned version. A CLI of another version starts
/// an engine of its own version and removes the others together with their caches, so a
/// mismatch costs far more than this check.
pub fn check_cli(sh: &Shell, pinned: Version) -> anyhow::Result<()> {
    let install = || {
        format!(
            "install the pinned version with:\n  {}",
            install_command(pinned)
        )
    };
    let output = cmd!(sh, "dagger version")
        .env(QUIET_ENV.0, QUIET_ENV.1)
        .quiet()
        .read();
    let output = output.with_context(|| format!("running `dagger version`; {}", install()))?;
    let installed = match version_from_output(&output) {
        Some(version) => version,
        // The 1.0 betas print several lines; `-q` prints only the version there.
        None => {
            let quiet = cmd!(sh, "dagger version -q")
                .env(QUIET_ENV.0, QUIET_ENV.1)
                .quiet()
                .read();
            let quiet =
                quiet.with_context(|| format!("running `dagger version -q`; {}", install()))?;
            match quiet.trim().strip_prefix('v').and_then(|v| v.parse().ok()) {
                Some(version) => version,
                None => bail!(
                    "cannot read a version from `dagger version` ({output:?}); {}",
                    install()
                ),
            }
        }
    };
    if installed != pinned {
        bail!(
            "dagger {installed} is on PATH, but versions.toml pins dagger {pinned}; {}",
            install()
        );
    }
    Ok(())
}

/// The version in `dagger v0.21.8 (image://registry.dagger.io/engine:v0.21.8) linux/amd64`.
fn version_from_output(output: &str) -> Option<Version> {
    let mut lines = output.lines();
    let (line, None) = (lines.next()?, lines.next()) else {
        return None;
    };
    let mut words = line.split_whitespace();
    if words.next()? != "dagger" {
        return None;
    }
    words.next()?.strip_prefix('v')?.parse().ok()
}

/// How a secret argument refers to an environment variable on `dagger`'s version: `env:` works
/// everywhere, `env://` from 0.15.4, and since 0.18.6 a secret's value is part of cache keys
/// unless `cacheKey` names a stable stand-in (CI tokens change every job).
pub fn env_secret_reference(var: &str, dagger: Version) -> String {
    if dagger < Version::new(0, 15, 4) {
        format!("env:{var}")
    } else if dagger < Version::new(0, 18, 6) {
        format!("env://{var}")
    } else {
        format!("env://{var}?cacheKey={var}")
    }
}

/// What a constructor argument holds; the module's Go parameter must have the matching type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Directory,
    Secret,
    String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstructorArg {
    /// The kebab-case flag, without `--`.
    pub flag: &'static str,
    pub kind: ArgKind,
    pub value: OsString,
}

/// One `dagger call` of the pipeline module:
/// `dagger [--progress plain] call <constructor flags> <functions...> [export --path=DIR]`.
#[derive(Debug, Clone)]
pub struct DaggerInvocation<'a> {
    pub job: &'a Job,
    pub credential: &'a Credential,
    pub versions: Versions,
    /// Line-by-line logs instead of the interactive display, for logs that are not a terminal.
    pub plain_progress: bool,
    /// GOPRIVATE from the environment, so that private modules skip the public proxy inside
    /// the container as they do on the host.
    pub goprivate: Option<OsString>,
}

impl DaggerInvocation<'_> {
    /// The main object's constructor arguments. They are flags of `call` and must come before
    /// the first function.
    pub fn constructor_args(&self) -> Vec<ConstructorArg> {
        let credential = match self.credential {
            Credential::SshDir(dir) => ConstructorArg {
                flag: "ssh-dir",
                kind: ArgKind::Directory,
                value: dir.clone().into(),
            },
            Credential::GithubToken => ConstructorArg {
                flag: "github-token",
                kind: ArgKind::Secret,
                value: env_secret_reference(TOKEN_VAR, self.versions.dagger).into(),
            },
        };
        // The Go version is an argument so that a bump changes the call itself, and with it
        // every cache key.
        let go = ConstructorArg {
            flag: "go-version",
            kind: ArgKind::String,
            value: self.versions.go.to_string().into(),
        };
        let mut args = vec![credential, go];
        if let Some(patterns) = &self.goprivate {
            args.push(ConstructorArg {
                flag: "goprivate",
                kind: ArgKind::String,
                value: patterns.clone(),
            });
        }
        args
    }

    /// The module's functions, chained: each is called on the result of the one before.
    pub fn functions(&self) -> &'static [&'static str] {
        match self.job {
            Job::Build { .. } => &["build", "binaries"],
            Job::Test => &["test"],
        }
    }

    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if self.plain_progress {
            args.extend(["--progress".into(), "plain".into()]);
        }
        args.push("call".into());
        for arg in self.constructor_args() {
            let mut flag = OsString::from(format!("--{}=", arg.flag));
            flag.push(&arg.value);
            args.push(flag);
        }
        args.extend(self.functions().iter().map(OsString::from));
        if let Job::Build { out } = self.job {
            // `export` is a core function of the returned Directory.
            let mut path = OsString::from("--path=");
            path.push(out);
            args.extend(["export".into(), path]);
        }
        args
    }

    pub fn command(&self, root: &Path) -> PlannedCommand {
        PlannedCommand {
            program: "dagger",
            args: self.args(),
            dir: root.to_owned(),
            env: vec![(QUIET_ENV.0, QUIET_ENV.1.to_owned())],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn versions() -> Versions {
        Versions {
            go: Version::new(1, 26, 8),
            dagger: Version::new(0, 21, 8),
            actionlint: Version::new(1, 7, 12),
        }
    }

    fn args(job: &Job, credential: &Credential, plain_progress: bool) -> Vec<String> {
        let invocation = DaggerInvocation {
            job,
            credential,
            versions: versions(),
            plain_progress,
            goprivate: None,
        };
        invocation
            .args()
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    #[test]
    fn build_with_ssh_dir() {
        let job = Job::Build {
            out: PathBuf::from("/w/bin"),
        };
        let credential = Credential::SshDir(PathBuf::from("/home/u/.ssh"));
        assert_eq!(
            args(&job, &credential, true),
            [
                "--progress",
                "plain",
                "call",
                "--ssh-dir=/home/u/.ssh",
                "--go-version=1.26.8",
                "build",
                "binaries",
                "export",
                "--path=/w/bin"
            ]
        );
    }

    #[test]
    fn test_with_token() {
        assert_eq!(
            args(&Job::Test, &Credential::GithubToken, false),
            [
                "call",
                "--github-token=env://GITHUB_TOKEN?cacheKey=GITHUB_TOKEN",
                "--go-version=1.26.8",
                "test"
            ]
        );
    }

    #[test]
    fn secret_reference_follows_the_dagger_version() {
        let reference =
            |major, minor, patch| env_secret_reference("T", Version::new(major, minor, patch));
        assert_eq!(reference(0, 13, 0), "env:T");
        assert_eq!(reference(0, 15, 3), "env:T");
        assert_eq!(reference(0, 15, 4), "env://T");
        assert_eq!(reference(0, 18, 5), "env://T");
        assert_eq!(reference(0, 18, 6), "env://T?cacheKey=T");
        assert_eq!(reference(1, 0, 0), "env://T?cacheKey=T");
    }

    #[test]
    fn reads_the_version_line() {
        let line = "dagger v0.21.8 (image://registry.dagger.io/engine:v0.21.8) linux/amd64";
        assert_eq!(version_from_output(line), Some(Version::new(0, 21, 8)));
        assert_eq!(
            version_from_output(&format!("{line}\n")),
            Some(Version::new(0, 21, 8))
        );
        for other in [
            "",
            "dagger",
            "dagger 0.21.8",
            "docker v0.21.8",
            "dagger v1.0.0-beta.1 (x)",
            "dagger v1.0.0\nengine v1.0.0",
        ] {
            assert_eq!(version_from_output(other), None, "{other:?}");
        }
    }

    #[test]
    fn install_command_pins_the_version() {
        assert_eq!(
            install_command(Version::new(0, 21, 8)),
            "curl -fsSL https://dl.dagger.io/dagger/install.sh | DAGGER_VERSION=0.21.8 BIN_DIR=$HOME/.local/bin sh"
        );
    }
}
