//! `cargo xtask doctor`: this machine against versions.toml and against what
//! `cargo xtask build` needs, one line per finding.
//!
//! A line is a status (`ok`, `warn` or `fail`), the check, what was found, and for a problem
//! the one command or step that fixes it. `fail` is kept for what stops the build at hand, so
//! the doctor exits non-zero exactly when `build` with the same `--engine` and credential
//! options would fail here: a dagger of the wrong version is a `fail` when that build runs on
//! Dagger and a `warn` when it runs on the local Go. Every probe has a deadline of seconds: a
//! remote engine that does not answer makes `dagger` retry for ten minutes.

mod engine;
mod finding;
mod go;
mod probe;
mod repository;

use std::io::Write;

use anyhow::bail;
use xshell::Shell;

use self::finding::{Finding, Status, one_line};
use crate::pipeline::credential::{Credential, CredentialFlags};
use crate::pipeline::dagger;
use crate::pipeline::host::{Host, TOKEN_VAR};
use crate::pipeline::{Engine, EngineChoice};
use crate::version::Version;
use crate::versions::Versions;

/// `cargo xtask doctor`: takes `build`'s engine and credential options, so that its verdict is
/// that build's.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorFlags {
    #[command(flatten)]
    credential: CredentialFlags,
    /// The engine of the build to check for, as with `build --engine`.
    #[arg(long, value_enum, default_value_t)]
    engine: EngineChoice,
}

impl DoctorFlags {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let root = sh.current_dir();
        let host = Host::from_process()?;
        let engine = self.engine.engine_on(&host);
        // When dagger is missing where the build needs it, the build stops there; what it
        // would need next is still judged as needed.
        let dagger_needed = engine != Some(Engine::Local);
        let go_needed = engine == Some(Engine::Local);

        let mut report = Report::default();
        let versions = match Versions::load(&root) {
            Ok(versions) => {
                report.add(Finding::ok(
                    "versions",
                    format!(
                        "go {}, dagger {} (versions.toml)",
                        versions.go, versions.dagger
                    ),
                ));
                Some(versions)
            }
            Err(err) => {
                report.add(Finding::new(
                    Status::Fail,
                    "versions",
                    one_line(&format!("{err:#}")),
                ));
                None
            }
        };
        report.add(repository::git());
        for finding in go::check(&root, versions.map(|v| v.go), go_needed) {
            report.add(finding);
        }
        report.add(self.dagger(sh, &host, engine, versions.map(|v| v.dagger)));
        report.add(engine::check(dagger_needed));
        for finding in credentials(self.credential, &host, dagger_needed) {
            report.add(finding);
        }
        for finding in repository::checks(&root) {
            report.add(finding);
        }
        report.verdict(self.engine, engine)
    }

    /// The `dagger` line: on PATH or not, and what `build` makes of its version, found by the
    /// same check `build` runs.
    fn dagger(
        &self,
        sh: &Shell,
        host: &Host,
        engine: Option<Engine>,
        pin: Option<Version>,
    ) -> Finding {
        let install = pin.map_or_else(
            || "install Dagger: https://docs.dagger.io/install".to_owned(),
            dagger::install_command,
        );
        let Some(path) = &host.dagger else {
            return match engine {
                None => {
                    let why = if host.ci && self.engine == EngineChoice::Auto {
                        " (CI is set, so no fallback to the local Go)"
                    } else {
                        ""
                    };
                    Finding::new(Status::Fail, "dagger", format!("not on PATH{why}"))
                        .fix(format!("{install}   # or pass --engine local"))
                }
                Some(_) if self.engine == EngineChoice::Auto => Finding::warn(
                    "dagger",
                    "not on PATH: `build` falls back to the local Go (--engine auto, CI not set)",
                )
                .fix(install),
                Some(_) => Finding::ok("dagger", "not on PATH; not needed with --engine local"),
            };
        };
        let needed = engine == Some(Engine::Dagger);
        let unused = if needed {
            ""
        } else {
            " (not used with --engine local)"
        };
        let Some(pin) = pin else {
            let found = format!(
                "{}; no pin to compare: versions.toml did not load",
                path.display()
            );
            return Finding::warn("dagger", found);
        };
        // `dagger version` prints without asking an engine, but a CLI that hangs must not
        // hang the doctor, and the check below has no deadline.
        if let probe::Probe::TimedOut = probe::run(
            "dagger",
            &["version"],
            &[("DAGGER_NO_NAG", "1")],
            probe::TOOL_DEADLINE,
        ) {
            let found = format!(
                "`dagger version` did not answer within {} s{unused}",
                probe::TOOL_DEADLINE.as_secs()
            );
            return Finding::new(Status::problem(needed), "dagger", found).fix(install);
        }
        match dagger::check_cli(sh, pin) {
            Ok(()) => Finding::ok("dagger", format!("{} is {pin}, the pin", path.display())),
            // The message `build` stops with, which names the fix.
            Err(err) => Finding::new(
                Status::problem(needed),
                "dagger",
                format!("{}{unused}", one_line(&format!("{err:#}"))),
            ),
        }
    }
}

/// The `ssh` and `token` lines: the credential `build` resolves, by the same code, and what is
/// in it. Only the presence of the token is looked at, never its value.
fn credentials(flags: CredentialFlags, host: &Host, needed: bool) -> Vec<Finding> {
    let unused = if needed {
        ""
    } else {
        " (not used: the local Go uses this machine's git credentials)"
    };
    let token_is_the_credential = flags.ssh_dir.is_none() && (flags.github_token || host.ci);
    let explicit_token = flags.github_token;
    let resolved = flags
        .resolve(host)
        .map_err(|err| format!("{}{unused}", one_line(&format!("{err:#}"))));
    let problem =
        |check, message: &String| Finding::new(Status::problem(needed), check, message.clone());
    let token_used = Finding::ok("ssh", "not used: the GitHub token is the credential");
    let ssh = match &resolved {
        Ok(Credential::SshDir(dir)) => ssh_dir(dir),
        Ok(Credential::GithubToken) => vec![token_used],
        Err(_) if token_is_the_credential => vec![token_used],
        Err(message) => vec![problem("ssh", message)],
    };
    let token = match &resolved {
        Ok(Credential::GithubToken) => {
            let why = if explicit_token {
                "--github-token"
            } else {
                "CI is set: the default credential"
            };
            let found = format!(
                "{TOKEN_VAR} is set ({why}); the pipeline gets a reference to it, \
                 its value is not shown"
            );
            Finding::ok("token", found)
        }
        Err(message) if token_is_the_credential => problem("token", message),
        _ if host.ci => Finding::ok("token", "not used: --ssh-dir is the credential"),
        _ => Finding::ok(
            "token",
            format!("{TOKEN_VAR} is not needed outside CI (--github-token uses it)"),
        ),
    };
    let mut findings = ssh;
    findings.push(token);
    findings
}

/// The `ssh` lines for the directory `build` passes: the module uploads only `known_hosts`
/// and `id_*` keys from it. Key files are listed by name, never read.
fn ssh_dir(dir: &std::path::Path) -> Vec<Finding> {
    let shown = dir.display();
    let quoted = crate::quote::quote(&dir.to_string_lossy()).into_owned();
    let keys = match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut keys: Vec<String> = entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with("id_") && !name.ends_with(".pub"))
                .collect();
            keys.sort();
            keys
        }
        Err(err) => return vec![Finding::warn("ssh", format!("cannot list {shown}: {err}"))],
    };
    let mut findings = Vec::new();
    if !dir.join("known_hosts").is_file() {
        let found =
            format!("{shown} has no known_hosts: ssh in the pipeline cannot verify the git host");
        let fix = format!(
            "ssh-keyscan github.com >> {quoted}/known_hosts   \
             # your git host; compare with its published fingerprints"
        );
        findings.push(Finding::warn("ssh", found).fix(fix));
    }
    if keys.is_empty() {
        let found = format!(
            "{shown} has no id_* private key: the pipeline cannot fetch private modules over ssh"
        );
        let fix = format!(
            "ssh-keygen -t ed25519 -f {quoted}/id_ed25519, then add id_ed25519.pub to your git host"
        );
        findings.push(Finding::warn("ssh", found).fix(fix));
    }
    if findings.is_empty() {
        let count = match keys.len() {
            1 => "1 private key".to_owned(),
            n => format!("{n} private keys"),
        };
        findings.push(Finding::ok(
            "ssh",
            format!("{shown}: known_hosts and {count} ({})", keys.join(", ")),
        ));
    }
    findings
}

/// The lines, printed as they come (the slow checks come last), and their count.
#[derive(Debug, Default)]
struct Report {
    fails: usize,
    warnings: usize,
}

impl Report {
    fn add(&mut self, finding: Finding) {
        match finding.status {
            Status::Ok => {}
            Status::Warn => self.warnings += 1,
            Status::Fail => self.fails += 1,
        }
        // A closed stdout (`doctor | head -3`) only ends the listing; the verdict still
        // becomes the exit status.
        let _ = writeln!(std::io::stdout(), "{finding}");
    }

    fn verdict(self, choice: EngineChoice, engine: Option<Engine>) -> anyhow::Result<()> {
        let build = match choice {
            EngineChoice::Auto => "cargo xtask build",
            EngineChoice::Dagger => "cargo xtask build --engine dagger",
            EngineChoice::Local => "cargo xtask build --engine local",
        };
        let checks = |n: usize| {
            if n == 1 {
                "1 check".to_owned()
            } else {
                format!("{n} checks")
            }
        };
        if self.fails > 0 {
            bail!(
                "`{build}` would fail here: {} failed (the `fail` lines above)",
                checks(self.fails)
            );
        }
        let on = match engine {
            Some(Engine::Dagger) => "Dagger",
            _ => "the local Go",
        };
        let warnings = match self.warnings {
            0 => "no warnings".to_owned(),
            1 => "1 warning".to_owned(),
            n => format!("{n} warnings"),
        };
        let _ = writeln!(
            std::io::stdout(),
            "`{build}` can run here, on {on} ({warnings})"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_dirs_are_judged_by_their_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let statuses = |dir| {
            ssh_dir(dir)
                .into_iter()
                .map(|finding| (finding.status, finding.found))
                .collect::<Vec<_>>()
        };
        let found = statuses(dir.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].1.contains("no known_hosts"), "{found:?}");
        assert!(found[1].1.contains("no id_* private key"), "{found:?}");

        std::fs::write(dir.path().join("known_hosts"), "").unwrap();
        std::fs::write(dir.path().join("id_rsa.pub"), "").unwrap();
        std::fs::create_dir(dir.path().join("config.d")).unwrap();
        let found = statuses(dir.path());
        assert_eq!(found.len(), 1);
        assert!(
            found[0].1.contains("no id_* private key"),
            "a .pub is no key"
        );

        std::fs::write(dir.path().join("id_rsa"), "").unwrap();
        std::fs::write(dir.path().join("id_ed25519"), "").unwrap();
        let found = statuses(dir.path());
        assert_eq!(found[0].0, Status::Ok);
        assert!(
            found[0]
                .1
                .ends_with("known_hosts and 2 private keys (id_ed25519, id_rsa)"),
            "{found:?}"
        );
    }
}
