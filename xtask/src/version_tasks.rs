//! `cargo xtask versions` and `cargo xtask bump`: the commands that read and change
//! versions.toml (see [`crate::versions`]) and keep the files that repeat its pins (see
//! [`crate::derived`]) in step with it.

use anyhow::Context;
use xshell::Shell;

use crate::derived::{self, Mode};
use crate::version::Version;
use crate::versions::{FILE, Tool, Versions, edit_in_place, read};
use crate::write_files::{self, FileWrite};

/// `cargo xtask versions`: prints the pinned versions, or checks or regenerates the files
/// derived from them.
#[derive(Debug, clap::Args)]
pub struct VersionsFlags {
    /// Fail, listing every derived file that does not match versions.toml.
    #[arg(long, conflicts_with = "write")]
    check: bool,
    /// Regenerate every derived file from versions.toml.
    #[arg(long)]
    write: bool,
}

impl VersionsFlags {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let root = sh.current_dir();
        let versions = Versions::load(&root)?;
        let mode = match (self.check, self.write) {
            (true, _) => Mode::Check,
            (_, true) => Mode::Write,
            (false, false) => {
                for tool in Tool::ALL {
                    println!("{} {}", tool.key(), versions.get(tool));
                }
                return Ok(());
            }
        };
        derived::update(&root, &versions, mode)
    }
}

/// `cargo xtask bump <tool> <version>`: pins a new version in versions.toml and regenerates
/// every derived file, all or nothing.
#[derive(Debug, clap::Args)]
pub struct BumpFlags {
    #[arg(value_enum)]
    tool: Tool,
    version: Version,
}

impl BumpFlags {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let root = sh.current_dir();
        let text = read(&root)?;
        let mut versions = Versions::parse(&text)?;
        let old = versions.get(self.tool);
        versions.set(self.tool, self.version);

        let new_text = edit_in_place(&text, self.tool, self.version)?;
        let reparsed = Versions::parse(&new_text).context("re-reading the edited versions.toml")?;
        anyhow::ensure!(
            reparsed == versions,
            "editing versions.toml changed more than {}",
            self.tool.key()
        );

        // Every new content is computed before the first write, so an error in any derived
        // file leaves all files as they were.
        let mut writes = derived::writes(&root, &versions)?;
        if new_text != text {
            writes.insert(
                0,
                FileWrite {
                    path: root.join(FILE),
                    contents: new_text,
                },
            );
        }
        write_files::replace_all(&writes)?;

        eprintln!("{} {old} -> {}", self.tool.key(), self.version);
        write_files::print_updated(&root, &writes);
        Ok(())
    }
}
