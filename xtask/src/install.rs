//! `cargo xtask install-man` and `cargo xtask install-completions`: git-mtimestamp's manual
//! page and shell completions, generated from its command-line definition
//! (`git_mtimestamp::cli::command`) and written where `man` and the shells look for them.
//! `git mtimestamp --help` is git's `git help mtimestamp`, which shows the manual page: without
//! it git says "No manual entry for git-mtimestamp".

mod completions;
mod man_page;
mod user_dirs;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use self::completions::CompletionShell;
use self::user_dirs::UserDirs;

#[derive(Debug, clap::Subcommand)]
pub enum InstallCommand {
    /// Install git-mtimestamp's manual page, which `git mtimestamp --help` shows.
    InstallMan(InstallManFlags),
    /// Install git-mtimestamp's completions for a shell, `git mtimestamp <TAB>` included.
    InstallCompletions(InstallCompletionsFlags),
}

#[derive(Debug, clap::Args)]
pub struct InstallManFlags {
    /// Where to write git-mtimestamp.1 [default: ~/.local/share/man/man1, which man searches
    /// when ~/.local/bin is on PATH]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct InstallCompletionsFlags {
    shell: CompletionShell,

    /// Where to write the script [default: bash:
    /// ~/.local/share/bash-completion/completions, zsh: ~/.local/share/zsh/site-functions,
    /// fish: ~/.config/fish/completions, following XDG_DATA_HOME, XDG_CONFIG_HOME and
    /// BASH_COMPLETION_USER_DIR]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl InstallCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let dirs = UserDirs::from_process();
        match self {
            InstallCommand::InstallMan(flags) => {
                let dir = match flags.dir {
                    Some(dir) => dir,
                    None => dirs.man_dir()?,
                };
                let path = install_file(&dir, man_page::FILE_NAME, &man_page::render())?;
                eprintln!("installed {}", path.display());
                check_that_man_finds(&path);
            }
            InstallCommand::InstallCompletions(flags) => {
                let shell = flags.shell;
                let dir = match flags.dir {
                    Some(dir) => dir,
                    None => shell.default_dir(&dirs)?,
                };
                let path = install_file(&dir, shell.file_name(), &shell.script())?;
                eprintln!("installed {}", path.display());
                if shell == CompletionShell::Zsh {
                    let dir = path.parent().unwrap_or(&dir).display();
                    eprintln!(
                        "note: zsh finds it when {dir} is in fpath before compinit runs: \
                         `fpath=({dir} $fpath)` in ~/.zshrc"
                    );
                }
            }
        }
        Ok(())
    }
}

/// Writes `contents` to `dir/name`, creating `dir`, through a temporary file in `dir` renamed
/// over the old file: `man` or a starting shell sees the old file or the new one, never half
/// of one. Returns the absolute path written.
fn install_file(dir: &Path, name: &str, contents: &[u8]) -> anyhow::Result<PathBuf> {
    let dir = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    temp.write_all(contents)
        .and_then(|()| {
            // A temporary file is private (0600); documentation is for everyone to read.
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("writing {}", temp.path().display()))?;
    temp.persist(&path)
        .with_context(|| format!("renaming a temporary file to {}", path.display()))?;
    Ok(path)
}

/// Asks `man` where it finds git-mtimestamp's page, as `git help` will, and says what to do
/// when that is not the page just installed. Only notes: the page is installed either way.
fn check_that_man_finds(installed: &Path) {
    let output = match Command::new("man").args(["-w", "git-mtimestamp"]).output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "note: man is not installed, and `git mtimestamp --help` needs it \
                 (Debian and Ubuntu: apt-get install man-db)"
            );
            return;
        }
        Err(err) => {
            eprintln!("note: could not run `man -w git-mtimestamp` to check: {err}");
            return;
        }
    };
    let found = String::from_utf8_lossy(&output.stdout);
    let found = Path::new(found.trim());
    if output.status.success() && same_file(found, installed) {
        return;
    }
    if output.status.success() {
        eprintln!(
            "note: man finds {} before the page just installed; remove it, or put the \
             installed one's directory first in MANPATH",
            found.display()
        );
        return;
    }
    let section_dir = installed.parent().unwrap_or(installed);
    if section_dir.file_name().is_none_or(|name| name != "man1") {
        eprintln!(
            "note: man finds section 1 pages only in directories named man1, and {} is not \
             one; choose a --dir that ends in man1",
            section_dir.display()
        );
        return;
    }
    let man_dir = section_dir.parent().unwrap_or(section_dir);
    let mut note = format!(
        "note: man does not search {}; add `export MANPATH=\"{}:\"` to your shell's profile \
         (the trailing colon keeps the usual directories)",
        man_dir.display(),
        man_dir.display()
    );
    // man-db also searches DIR/../share/man for each DIR on PATH.
    if let Some(prefix) = man_dir
        .parent()
        .and_then(Path::parent)
        .filter(|_| man_dir.ends_with("share/man"))
    {
        note.push_str(&format!(
            ", or put {} on PATH",
            prefix.join("bin").display()
        ));
    }
    eprintln!("{note}");
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_readable_files_and_replaces_old_ones() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("new/man1");
        let path = install_file(&dir, "page.1", b"old").unwrap();
        assert_eq!(path, dir.join("page.1"));
        install_file(&dir, "page.1", b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["page.1"]);
    }

    #[test]
    fn a_directory_in_the_way_is_an_error_that_names_it() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir(temp.path().join("page.1")).unwrap();
        let err = install_file(temp.path(), "page.1", b"x").unwrap_err();
        assert!(format!("{err:#}").contains("page.1"), "{err:#}");
    }
}
