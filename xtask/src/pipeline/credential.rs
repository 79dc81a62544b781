//! How the pipeline reaches private Go modules: an ssh directory or a GitHub token.
//!
//! The token is passed to Dagger as a reference to the `GITHUB_TOKEN` variable, never as its
//! value, so it appears in no argument list, output or error. xtask itself only checks that
//! the variable is not empty.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::host::{Host, TOKEN_VAR};

/// The credential options of `build` and `test`, as typed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CredentialFlags {
    /// Pass this directory (ssh keys and known_hosts) to the pipeline for private modules.
    /// Default outside CI: ~/.ssh.
    #[arg(long, value_name = "DIR", conflicts_with = "github_token")]
    pub ssh_dir: Option<PathBuf>,
    /// Let the pipeline use the token in the GITHUB_TOKEN environment variable (only the
    /// variable's name is passed on). Default in CI.
    #[arg(long)]
    pub github_token: bool,
}

/// The credential the Dagger pipeline gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An absolute path to an existing directory.
    SshDir(PathBuf),
    /// The token in [`TOKEN_VAR`], known to be set.
    GithubToken,
}

impl CredentialFlags {
    pub fn resolve(self, host: &Host) -> anyhow::Result<Credential> {
        match (self.ssh_dir, self.github_token) {
            (Some(dir), _) => ssh_dir(host.absolute(&dir)),
            (None, true) => github_token(host),
            (None, false) if host.ci => {
                github_token(host).context("CI is set, so the token is the default credential")
            }
            (None, false) => match host
                .home
                .as_ref()
                .map(|home| home.join(".ssh"))
                .filter(|dir| dir.is_dir())
            {
                Some(dir) => ssh_dir(dir),
                None => bail!(
                    "no credential for private Go modules: pass --ssh-dir DIR, or --github-token \
                     with {TOKEN_VAR} set (~/.ssh, the default, does not exist)"
                ),
            },
        }
    }
}

fn ssh_dir(dir: PathBuf) -> anyhow::Result<Credential> {
    if !dir.is_dir() {
        bail!("--ssh-dir {}: not a directory", dir.display());
    }
    if !dir.join("known_hosts").is_file() {
        eprintln!(
            "warning: {} has no known_hosts; ssh in the pipeline cannot verify the git host",
            dir.display()
        );
    }
    Ok(Credential::SshDir(dir))
}

fn github_token(host: &Host) -> anyhow::Result<Credential> {
    if !host.github_token_set {
        bail!("{TOKEN_VAR} is not set or empty; set it, or pass --ssh-dir DIR");
    }
    Ok(Credential::GithubToken)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn host(home: Option<PathBuf>, ci: bool, github_token_set: bool) -> Host {
        Host {
            cwd: PathBuf::from("/work"),
            home,
            ci,
            github_token_set,
            dagger: None,
            stderr_is_terminal: false,
            goprivate: None,
        }
    }

    fn flags(args: &[&str]) -> Result<CredentialFlags, clap::Error> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: CredentialFlags,
        }
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).map(|cli| cli.flags)
    }

    #[test]
    fn both_options_are_a_usage_error() {
        let err = flags(&["--ssh-dir", "/tmp", "--github-token"])
            .err()
            .unwrap();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn explicit_choices_win() {
        let dir = tempfile::tempdir().unwrap();
        let ssh = flags(&["--ssh-dir", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(
            ssh.resolve(&host(None, true, true)).unwrap(),
            Credential::SshDir(dir.path().into())
        );
        let token = flags(&["--github-token"]).unwrap();
        assert_eq!(
            token
                .resolve(&host(Some(dir.path().into()), false, true))
                .unwrap(),
            Credential::GithubToken
        );
    }

    #[test]
    fn relative_ssh_dir_starts_at_the_current_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        let mut host = host(None, false, false);
        host.cwd = dir.path().into();
        let resolved = flags(&["--ssh-dir", "keys"])
            .unwrap()
            .resolve(&host)
            .unwrap();
        assert_eq!(resolved, Credential::SshDir(dir.path().join("keys")));
    }

    #[test]
    fn ssh_dir_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        for path in [file, dir.path().join("missing")] {
            let err = flags(&["--ssh-dir", path.to_str().unwrap()])
                .unwrap()
                .resolve(&host(None, false, false));
            assert!(err.unwrap_err().to_string().ends_with("not a directory"));
        }
    }

    #[test]
    fn token_must_be_set() {
        let err = flags(&["--github-token"])
            .unwrap()
            .resolve(&host(None, false, false))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "GITHUB_TOKEN is not set or empty; set it, or pass --ssh-dir DIR"
        );
    }

    #[test]
    fn defaults() {
        let home = tempfile::tempdir().unwrap();
        let none = CredentialFlags::default;
        // In CI: the token, and nothing else.
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        assert_eq!(
            none()
                .resolve(&host(Some(home.path().into()), true, true))
                .unwrap(),
            Credential::GithubToken
        );
        let err = none()
            .resolve(&host(Some(home.path().into()), true, false))
            .unwrap_err();
        assert!(
            format!("{err:#}")
                .starts_with("CI is set, so the token is the default credential: GITHUB_TOKEN")
        );
        // Elsewhere: ~/.ssh, even when a token is set.
        let ssh = Credential::SshDir(home.path().join(".ssh"));
        assert_eq!(
            none()
                .resolve(&host(Some(home.path().into()), false, true))
                .unwrap(),
            ssh
        );
        // Neither: an error naming both options.
        let err = none()
            .resolve(&host(Some(home.path().join("nowhere")), false, true))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--ssh-dir DIR") && err.contains("--github-token"),
            "{err}"
        );
        assert!(none().resolve(&host(None, false, true)).is_err());
    }
}
