//! The errors that stop a sync as a whole. Problems with single files are not errors: they are
//! reported per file in [`crate::Report`] and the run goes on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{} is not inside a git work tree\n  run this in a clone, or point at one with -C DIR",
        .path.display()
    )]
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

    #[error(
        "cannot read the index {}: {reason}\n  no file was changed; `git fsck` checks the index too; to rebuild it from HEAD, run `rm {} && git reset` (this drops staged changes; files in the work tree stay as they are)",
        .path.display(),
        .path.display()
    )]
    Index { path: PathBuf, reason: String },

    #[error("invalid pathspec {spec:?}: {message}")]
    Pathspec { spec: String, message: String },

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
    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let context = context.into();
        move |cause| Error::Git { context, cause }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let what = what.into();
        move |cause| Error::Corrupt { what, cause }
    }
}
