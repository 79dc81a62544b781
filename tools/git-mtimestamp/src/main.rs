//! `git-mtimestamp`: set each clean tracked file's mtime to the time of its last commit.
//! Installed on PATH it also runs as `git mtimestamp`. The command line is defined in the
//! library ([`git_mtimestamp::cli::Cli`]), where `cargo xtask` finds it for the manual page.

use std::process::ExitCode;

use clap::Parser;
use git_mtimestamp::WorkTree;
use git_mtimestamp::cli::Cli;

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
