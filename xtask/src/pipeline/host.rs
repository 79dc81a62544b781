//! What xtask reads from its environment, read once, so that decisions about engines and
//! credentials are plain functions of a value that tests can build.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The variable that holds the GitHub token. xtask reads only whether it is set; Dagger gets
/// the variable's name, never its value.
pub const TOKEN_VAR: &str = "GITHUB_TOKEN";

#[derive(Debug, Clone)]
pub struct Host {
    /// The directory xtask was started in; relative paths on the command line start here.
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    /// `CI` is set and not empty, as on every common CI service.
    pub ci: bool,
    /// Whether `GITHUB_TOKEN` holds something. The value itself is never read.
    pub github_token_set: bool,
    pub dagger: Option<PathBuf>,
    pub stderr_is_terminal: bool,
    /// `GOPRIVATE`, when set and not empty: module patterns, not a secret.
    pub goprivate: Option<OsString>,
}

impl Host {
    pub fn from_process() -> anyhow::Result<Host> {
        let non_empty = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        Ok(Host {
            cwd: std::env::current_dir().context("reading the current directory")?,
            home: std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(PathBuf::from),
            ci: non_empty("CI"),
            github_token_set: non_empty(TOKEN_VAR),
            dagger: find_executable(std::env::var_os("PATH").as_deref(), "dagger"),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            goprivate: std::env::var_os("GOPRIVATE").filter(|value| !value.is_empty()),
        })
    }

    /// `path` from the command line as an absolute path, without resolving symlinks.
    pub fn absolute(&self, path: &Path) -> PathBuf {
        self.cwd.join(path)
    }
}

/// The first executable file called `name` in the directories of `path`, as a shell finds it.
fn find_executable(path: Option<&OsStr>, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_executable_files() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, exe, sub) = (
            dir.path().join("plain"),
            dir.path().join("exe"),
            dir.path().join("sub"),
        );
        std::fs::create_dir_all(sub.join("dagger")).unwrap();
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("dagger"), "").unwrap();
        std::fs::create_dir(&exe).unwrap();
        std::fs::write(exe.join("dagger"), "").unwrap();
        std::fs::set_permissions(exe.join("dagger"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let path = std::env::join_paths([&sub, &plain, &exe]).unwrap();
        assert_eq!(
            find_executable(Some(&path), "dagger"),
            Some(exe.join("dagger"))
        );
        let path = std::env::join_paths([&sub, &plain]).unwrap();
        assert_eq!(find_executable(Some(&path), "dagger"), None);
        assert_eq!(find_executable(None, "dagger"), None);
    }
}
