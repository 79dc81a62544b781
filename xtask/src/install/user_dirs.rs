//! Where a user's manual pages and shell completions go: the directories man and the shells
//! search, from the environment.

use std::path::{Path, PathBuf};

/// The user's directories that man and the shells search, from the environment.
#[derive(Debug, Clone, Default)]
pub struct UserDirs {
    pub home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub bash_completion_user_dir: Option<PathBuf>,
}

impl UserDirs {
    pub fn from_process() -> UserDirs {
        // Unset and empty mean the same to every shell and to bash-completion.
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        UserDirs {
            home: var("HOME"),
            xdg_data_home: var("XDG_DATA_HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            // bash-completion reads a list, separated by colons; the first is the user's own.
            bash_completion_user_dir: var("BASH_COMPLETION_USER_DIR").and_then(|list| {
                std::env::split_paths(&list).find(|dir| !dir.as_os_str().is_empty())
            }),
        }
    }

    /// `~/.local/share/man/man1`, whatever XDG_DATA_HOME says: man-db finds it as the
    /// `../share/man` of `~/.local/bin` on PATH, and reads no XDG variable.
    pub fn man_dir(&self) -> anyhow::Result<PathBuf> {
        Ok(self
            .home("the manual directory")?
            .join(".local/share/man/man1"))
    }

    pub fn home(&self, what: &str) -> anyhow::Result<&Path> {
        self.home
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("HOME is not set, so {what} is unknown; give --dir"))
    }

    /// `$XDG_DATA_HOME`, or `~/.local/share`.
    pub fn data_home(&self) -> anyhow::Result<PathBuf> {
        match &self.xdg_data_home {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.home("the data directory")?.join(".local/share")),
        }
    }
}
