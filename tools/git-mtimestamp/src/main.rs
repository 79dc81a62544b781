//! `git-mtimestamp`: set each clean tracked file's mtime to the time of its last commit.
//! Installed on PATH it also runs as `git mtimestamp`. The command line is defined in the
//! library ([`git_mtimestamp::cli::Cli`]), where `cargo xtask` finds it for the manual page.

use std::process::ExitCode;

use clap::Parser;
use git_mtimestamp::cli::Cli;
use git_mtimestamp::{Error, WorkTree};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("git-mtimestamp: {}", message(&e));
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

/// The error with its causes, and what to do about it in terms of this command's options,
/// which the library does not know.
fn message(error: &anyhow::Error) -> String {
    let advice = match error.downcast_ref::<Error>() {
        Some(Error::NotARepository { .. }) => {
            "\n  run this in a clone, or point at one with -C DIR"
        }
        _ => "",
    };
    format!("{error:#}{advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_repository_the_advice_names_the_option() {
        let error = anyhow::Error::from(Error::NotARepository {
            path: "/somewhere".into(),
        });
        assert_eq!(
            message(&error),
            "/somewhere is not inside a git work tree\n  run this in a clone, or point at one with -C DIR"
        );
    }
}
