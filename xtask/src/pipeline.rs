//! `cargo xtask build` and `cargo xtask test`: give clean files their commit times, then run
//! the Go pipeline in Dagger, or with the Go on this machine.
//!
//! This module picks the engine and runs the job. The modules below it, none of which uses
//! anything of this one: [`job`] (what a run produces), [`dagger`] (the `dagger` CLI and the
//! call of the module in `.dagger/`), [`local`] (the same job on this machine's Go),
//! [`credential`] (how Dagger reaches private Go modules) and [`host`] (what xtask reads from
//! its environment).

pub mod credential;
pub mod dagger;
pub mod host;
mod job;
mod local;

use std::path::PathBuf;

use anyhow::bail;
use xshell::Shell;

use self::credential::CredentialFlags;
use self::dagger::DaggerInvocation;
use self::host::Host;
use self::job::Job;
use crate::version::Version;
use crate::versions::Versions;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// Dagger when `dagger` is on PATH, else the local Go; in CI (CI set) always Dagger.
    #[default]
    Auto,
    /// The module in .dagger/, run by the pinned Dagger CLI.
    Dagger,
    /// The Go on this machine, told to use the pinned version (GOTOOLCHAIN).
    Local,
}

/// Where a build runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Dagger,
    Local,
}

impl EngineChoice {
    /// The engine this choice runs on `host`, or None when the build stops because dagger is
    /// missing. `build` and `doctor` both decide with this.
    pub(crate) fn engine_on(self, host: &Host) -> Option<Engine> {
        match self {
            EngineChoice::Local => Some(Engine::Local),
            EngineChoice::Dagger | EngineChoice::Auto if host.dagger.is_some() => {
                Some(Engine::Dagger)
            }
            EngineChoice::Auto if !host.ci => Some(Engine::Local),
            EngineChoice::Dagger | EngineChoice::Auto => None,
        }
    }

    fn resolve(self, host: &Host, pinned_dagger: Version) -> anyhow::Result<Engine> {
        match self.engine_on(host) {
            Some(Engine::Local) if self == EngineChoice::Auto => {
                eprintln!(
                    "note: dagger is not on PATH; using the local Go instead, as with --engine local"
                );
                Ok(Engine::Local)
            }
            Some(engine) => Ok(engine),
            None => {
                // A CI job that quietly used whatever Go the runner has would prove nothing
                // about the pinned pipeline.
                let why = if host.ci && self == EngineChoice::Auto {
                    " (CI is set, so no fallback to the local Go)"
                } else {
                    ""
                };
                bail!(
                    "dagger is not on PATH{why}; install the pinned version with:\n  {}\nor pass --engine local",
                    dagger::install_command(pinned_dagger)
                )
            }
        }
    }
}

/// The options `build` and `test` share.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineFlags {
    #[command(flatten)]
    credential: CredentialFlags,
    /// Where the pipeline runs.
    #[arg(long, value_enum, default_value_t)]
    engine: EngineChoice,
    /// Leave file timestamps as they are.
    #[arg(long)]
    no_sync: bool,
    /// Print the timestamp summary and the commands; run and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `cargo xtask build`: build the Go binaries.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildFlags {
    #[command(flatten)]
    pipeline: PipelineFlags,
    /// Directory for the binaries [default: bin/ in the project root]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl BuildFlags {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let host = Host::from_process()?;
        let out = match &self.out {
            Some(out) => host.absolute(out),
            None => sh.current_dir().join("bin"),
        };
        self.pipeline.run(sh, &host, Job::Build { out })
    }
}

/// `cargo xtask test`: run the Go tests.
#[derive(Debug, Clone, clap::Args)]
pub struct TestFlags {
    #[command(flatten)]
    pipeline: PipelineFlags,
}

impl TestFlags {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        self.pipeline.run(sh, &Host::from_process()?, Job::Test)
    }
}

impl PipelineFlags {
    fn run(self, sh: &Shell, host: &Host, job: Job) -> anyhow::Result<()> {
        let root = sh.current_dir();
        let versions = Versions::load(&root)?;
        let engine = self.engine.resolve(host, versions.dagger)?;
        let command = match engine {
            Engine::Dagger => {
                let credential = self.credential.resolve(host)?;
                let invocation = DaggerInvocation {
                    job: &job,
                    credential: &credential,
                    versions,
                    plain_progress: !host.stderr_is_terminal,
                    goprivate: host.goprivate.clone(),
                };
                // Before the sync, so that a wrong CLI fails before any file is touched. A dry
                // run runs nothing, not even `dagger version`.
                if !self.dry_run {
                    dagger::check_cli(sh, versions.dagger)?;
                }
                invocation.command(&root)
            }
            Engine::Local => {
                if self.credential.ssh_dir.is_some() || self.credential.github_token {
                    eprintln!(
                        "note: the local Go uses this machine's git credentials; --ssh-dir and --github-token are ignored"
                    );
                }
                local::local_command(&root, &job, versions.go)
            }
        };
        if !self.no_sync {
            crate::sync::before_pipeline(&root, self.dry_run)?;
        }
        if self.dry_run {
            // The bytes: a path that is not UTF-8 must paste back into a shell as it is.
            return command.print();
        }
        command.run(sh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(dagger: bool, ci: bool) -> Host {
        Host {
            cwd: "/w".into(),
            home: None,
            ci,
            github_token_set: false,
            dagger: dagger.then(|| "/usr/bin/dagger".into()),
            stderr_is_terminal: false,
            goprivate: None,
        }
    }

    #[test]
    fn engine_choice() {
        let pin = Version::new(0, 21, 8);
        let resolve =
            |choice: EngineChoice, dagger, ci| choice.resolve(&host(dagger, ci), pin).ok();
        assert_eq!(
            resolve(EngineChoice::Auto, true, false),
            Some(Engine::Dagger)
        );
        assert_eq!(
            resolve(EngineChoice::Auto, false, false),
            Some(Engine::Local)
        );
        assert_eq!(resolve(EngineChoice::Auto, false, true), None);
        assert_eq!(resolve(EngineChoice::Dagger, false, false), None);
        assert_eq!(
            resolve(EngineChoice::Local, true, true),
            Some(Engine::Local)
        );
        let err = EngineChoice::Auto
            .resolve(&host(false, true), pin)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CI is set") && err.contains("DAGGER_VERSION=0.21.8"),
            "{err}"
        );
    }
}
