//! `git-mtimestamp`: set each clean tracked file's mtime to the time of its last commit.
//! Installed on PATH it also runs as `git mtimestamp`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use git_mtimestamp::WorkTree;
use git_mtimestamp::cli::SyncArgs;

/// Set each clean tracked file's mtime to the time of its last commit.
///
/// Files whose content differs from HEAD (modified, staged, untracked, conflicted, ...) are
/// never touched. The sub-second part of each mtime is a fingerprint of the file's content,
/// so two versions of a file never share a size and an mtime.
#[derive(Debug, Parser)]
#[command(name = "git-mtimestamp", version)]
struct Cli {
    /// Run as if started in DIR
    #[arg(short = 'C', value_name = "DIR")]
    directory: Option<PathBuf>,

    #[command(flatten)]
    sync: SyncArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("git-mtimestamp: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<bool> {
    use anyhow::Context;
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir)
            .with_context(|| format!("cannot change to {}", dir.display()))?;
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let work_tree = WorkTree::open_from_env()?;
    Ok(cli.sync.run(&work_tree, &cwd)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
