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
        "HEAD has no commit yet: there is no history to take times from\n  commit first, then sync"
    )]
    UnbornHead,

    #[error(
        "cannot read {what} from the repository: {source}\n  the repository may be corrupt or incomplete; `git fsck` shows what is missing"
    )]
    Corrupt {
        what: String,
        #[source]
        source: git2::Error,
    },

    #[error("cannot read the index {}: {source}\n  `git status` shows whether git can read it", .path.display())]
    Index {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error("invalid pathspec {spec:?}: {message}")]
    Pathspec { spec: String, message: String },

    #[error("{context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },

    #[error("{context} {}: {source}", .path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let context = context.into();
        move |source| Error::Git { context, source }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let what = what.into();
        move |source| Error::Corrupt { what, source }
    }
}
