//! The errors that stop a sync as a whole. Problems with single files are not errors: they are
//! reported per file in [`crate::Report`] and the run goes on.

use std::path::PathBuf;

use crate::index_file::IndexFileError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line adds how to point at one (`-C DIR`).
    #[error("{} is not inside a git work tree", .path.display())]
    NotARepository { path: PathBuf },

    #[error(
        "{} is a bare repository: it has no work tree whose files could be stamped\n  run this in a clone with a work tree, or set GIT_WORK_TREE",
        .git_dir.display()
    )]
    BareRepository { git_dir: PathBuf },

    #[error(
        "cannot read {what} from the repository: {}\n  the repository may be corrupt or incomplete; `git fsck` shows what is missing",
        .cause.message()
    )]
    Corrupt { what: String, cause: git2::Error },

    #[error(
        "cannot read {what} from the repository: {}\n  this is a partial clone, and git-mtimestamp cannot fetch the objects it left out; it needs the trees of history (never old blobs): clone with --filter=blob:none, or without a filter",
        .cause.message()
    )]
    PartialClone { what: String, cause: git2::Error },

    /// The index (or a split index's shared index) is damaged, as far as this tool can tell.
    /// `git fsck` checks the index as thoroughly (checksums included, which `git status` does
    /// not check); only if it finds the index damaged too is rebuilding it, which loses what is
    /// staged, the way out. The cause is part of the message, not a `#[source]` (see the
    /// comment above `Git`).
    #[error(
        "cannot read the index {}: {cause}\n  no file was changed; `git fsck` checks the index too: if it finds it damaged as well, `rm {} && git reset` rebuilds it from HEAD (this drops staged changes; files in the work tree stay as they are)",
        .path.display(),
        .path.display()
    )]
    Index {
        path: PathBuf,
        cause: IndexFileError,
    },

    /// The index could not be read for a reason that is no damage: nothing staged is at risk.
    #[error(
        "cannot read the index {}: {cause}\n  no file was changed, and nothing says the index is damaged; {}",
        .path.display(),
        remedy(.cause)
    )]
    IndexUnreadable {
        path: PathBuf,
        cause: IndexFileError,
    },

    #[error("invalid pathspec {spec:?}: {message}")]
    Pathspec { spec: String, message: String },

    /// Pathspecs that match no tracked file, refused as `git add` refuses them (unless
    /// [`crate::Options::allow_unmatched_pathspecs`]): each with its place among the
    /// pathspecs given, as given.
    #[error(
        "{}\n  no file that git tracks matches {}; pathspecs are relative to the current directory (`:/path` to the top), and `git ls-files` lists the tracked files",
        .pathspecs.iter().map(|(_, spec)| format!("pathspec '{spec}' did not match any files")).collect::<Vec<_>>().join("\n"),
        if .pathspecs.len() == 1 { "it" } else { "them" }
    )]
    PathspecUnmatched { pathspecs: Vec<(usize, String)> },

    /// The history walk failed after files and directories it had answered were stamped
    /// (each with its right time): they have their times from before the sync back.
    #[error(
        "{cause}\n  the {files} files and {directories} directories stamped before this was found have their times from before the sync back"
    )]
    Undone {
        cause: Box<Error>,
        files: usize,
        directories: usize,
    },

    /// A signal (Ctrl-C) arrived while history was still being walked for files that were
    /// waiting for their times.
    #[error(
        "interrupted: every file stamped so far has its right time and is in the index; run again to finish"
    )]
    Interrupted,

    // The causes below are part of each message rather than `#[source]`s, so that a chain of
    // errors (`{:#}`) does not print them twice.
    #[error("{context}: {}", .cause.message())]
    Git { context: String, cause: git2::Error },

    #[error("{context} {}: {cause}", .path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl Error {
    /// The error for an index at `path` that could not be read: damaged, or not.
    pub(crate) fn index(path: PathBuf, cause: IndexFileError) -> Error {
        if cause.is_damage() {
            Error::Index { path, cause }
        } else {
            Error::IndexUnreadable { path, cause }
        }
    }

    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let context = context.into();
        move |cause| Error::Git { context, cause }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let what = what.into();
        move |cause| Error::Corrupt { what, cause }
    }
}

/// What to do about an index that could not be read for a reason that is no damage.
fn remedy(cause: &IndexFileError) -> &'static str {
    match cause {
        IndexFileError::Shared { cause, .. } => remedy(cause),
        IndexFileError::Version(_) => {
            "it was written by a newer git; `git update-index --index-version 4` rewrites it in a version this tool reads, keeping everything staged"
        }
        _ => "fix what keeps the file from being read (its permissions, say), and run this again",
    }
}
