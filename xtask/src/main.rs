//! `cargo xtask`: the project's chores in Rust, the same on every machine and in CI.
//!
//! `build` and `test` run the Go pipeline (the Dagger module in `.dagger/`, or the local Go)
//! after giving clean files their commit times, which keeps Dagger's uploads and Go's test
//! cache warm. `versions` and `bump` keep versions.toml, the one place tool versions are
//! written, and the files that repeat them in step. `sync` runs the timestamp sync alone, and
//! `bench` measures it.

mod bench;
mod derived;
mod doctor;
mod exec;
mod install;
mod pipeline;
mod quote;
mod sync;
mod version;
mod version_tasks;
mod versions;
mod write_files;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xshell::Shell;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, test and version chores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the Go binaries, in Dagger or with the local Go.
    Build(pipeline::BuildFlags),
    /// Run the Go tests, in Dagger or with the local Go.
    Test(pipeline::TestFlags),
    /// Print the pinned tool versions, or check or regenerate the files that repeat them.
    Versions(version_tasks::VersionsFlags),
    /// Pin a new tool version and update every file that repeats it.
    Bump(version_tasks::BumpFlags),
    /// Give clean files in app/, .dagger/ and dagger.json their last commit's time.
    Sync(sync::SyncFlags),
    /// Measure git-mtimestamp against git and git-restore-mtime.
    Bench(bench::BenchFlags),
    /// Check this machine against versions.toml and what `build` needs, and say what to fix.
    Doctor(doctor::DoctorFlags),
    // `install-man` and `install-completions`, for git-mtimestamp, as commands of their own.
    #[command(flatten)]
    Install(install::InstallCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // A failed child's own exit code is ours, as if the user had run it directly.
            let failed = err
                .chain()
                .find_map(|cause| cause.downcast_ref::<exec::CommandFailed>());
            ExitCode::from(failed.map_or(1, exec::CommandFailed::exit_code))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_root(&sh.current_dir())?);
    match cli.command {
        Command::Build(flags) => flags.run(&sh),
        Command::Test(flags) => flags.run(&sh),
        Command::Versions(flags) => flags.run(&sh),
        Command::Bump(flags) => flags.run(&sh),
        Command::Sync(flags) => flags.run(&sh.current_dir(), &std::env::current_dir()?),
        Command::Bench(flags) => flags.run(&sh, &sh.current_dir()),
        Command::Doctor(flags) => flags.run(&sh),
        Command::Install(command) => command.run(),
    }
}

/// The nearest directory at or above `start` with versions.toml and Cargo.toml. It is found at
/// run time, not compiled in, so the same binary works in any clone.
fn project_root(start: &Path) -> anyhow::Result<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(versions::FILE).is_file() && dir.join("Cargo.toml").is_file())
        .map(Path::to_owned)
        .with_context(|| {
            format!(
                "no directory at or above {} has versions.toml and Cargo.toml",
                start.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
