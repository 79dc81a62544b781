//! `cargo xtask sync`, and the timestamp sync that runs before `build` and `test`.

use std::path::Path;

use anyhow::Context;
use git_mtimestamp::cli::SyncArgs;
use git_mtimestamp::{Error, Options, WorkTree};

/// What feeds Go and Dagger: these files, and the directories `app` and `.dagger` with every
/// tracked directory below them (Go's test cache keys a directory a test lists by its stat
/// data). The top of the repository is not in scope: `bin/` and `target/` live there. The
/// Rust workspace is left out on purpose: cargo decides freshness by comparing mtimes in
/// order, and an older mtime on a changed Rust file could make it skip a rebuild.
pub const PIPELINE_SCOPE: [&str; 3] = ["app", ".dagger", "dagger.json"];

/// `cargo xtask sync`: the git-mtimestamp command line, run at the project root. Without
/// pathspecs it covers [`PIPELINE_SCOPE`], of which a project may lack some (a project without
/// `.dagger/`); pathspecs given that match no tracked file are an error, as in `git add`.
#[derive(Debug, clap::Args)]
pub struct SyncFlags {
    #[command(flatten)]
    args: SyncArgs,
}

impl SyncFlags {
    /// Pathspecs are read as git reads them: relative to `cwd`, the directory xtask was
    /// started in.
    pub fn run(mut self, root: &Path, cwd: &Path) -> anyhow::Result<()> {
        if self.args.pathspecs.is_empty() {
            // `:/` makes them relative to the top, wherever xtask was started.
            self.args.pathspecs = PIPELINE_SCOPE
                .iter()
                .map(|path| format!(":/{path}").into())
                .collect();
            self.args.allow_unmatched_pathspecs = true;
        }
        let work_tree = open(root)?.with_context(|| not_a_work_tree(root))?;
        let all_handled = self.args.run(&work_tree, cwd)?;
        anyhow::ensure!(all_handled, "some files could not be stamped (see above)");
        Ok(())
    }
}

/// Syncs timestamps of [`PIPELINE_SCOPE`] below `root`, printing a one-line summary to
/// stderr, or a notice when `root` is not a git work tree. With `dry_run` nothing changes.
pub fn before_pipeline(root: &Path, dry_run: bool) -> anyhow::Result<()> {
    let Some(work_tree) = open(root)? else {
        eprintln!("note: {}; timestamps not synced", not_a_work_tree(root));
        return Ok(());
    };
    let options = Options {
        pathspecs: PIPELINE_SCOPE.iter().map(Into::into).collect(),
        // A project without `.dagger/` (or without any of them) still builds.
        allow_unmatched_pathspecs: true,
        dry_run,
        // An editor's build and a terminal's run one after the other, not over each other.
        on_wait: Some(git_mtimestamp::cli::say_waiting),
        ..Options::default()
    };
    let report = work_tree
        .sync(&options)
        .context("syncing file timestamps (skip with --no-sync)")?;
    eprintln!("timestamps: {}", report.summary_line());
    for problem in report.problems() {
        eprintln!("warning: {problem}");
    }
    Ok(())
}

/// The work tree at `root`, or None when `root` is not in one (a source tarball, say).
fn open(root: &Path) -> anyhow::Result<Option<WorkTree>> {
    match WorkTree::open(root) {
        Ok(work_tree) => Ok(Some(work_tree)),
        Err(Error::NotARepository { .. }) => Ok(None),
        Err(e) => Err(e).context("opening the git repository"),
    }
}

fn not_a_work_tree(root: &Path) -> String {
    format!("{} is not a git work tree", root.display())
}
