//! Opening a repository with a work tree, as git does: discovery from a directory, git's
//! environment (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`), a second handle for another
//! thread, and recognising a partial clone, whose missing objects libgit2 cannot fetch.

use std::path::{Path, PathBuf};

use git2::{ErrorCode, Repository};

use crate::error::Error;
use crate::odb::{Environment, open_despite_grafts, reopen_despite_grafts};

/// A repository with a work tree, opened for syncing.
pub struct WorkTree {
    pub(crate) repo: Repository,
    pub(crate) root: PathBuf,
    pub(crate) index_path: PathBuf,
}

impl WorkTree {
    /// Opens the repository whose work tree contains `path`, searching upward like `git -C`,
    /// whatever `GIT_DIR` and the other variables that name a repository say.
    pub fn open(path: &Path) -> Result<WorkTree, Error> {
        let repo = Repository::discover(path)
            .or_else(|e| open_despite_grafts(e, path, Environment::Ignored))
            .map_err(|e| open_error(e, path))?;
        WorkTree::from_repository(repo, None)
    }

    /// Opens the repository the way the git command line does from the current directory:
    /// `GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, `GIT_CEILING_DIRECTORIES` and
    /// `GIT_OBJECT_DIRECTORY` are honoured.
    pub fn open_from_env() -> Result<WorkTree, Error> {
        let cwd = std::env::current_dir().map_err(|cause| Error::Io {
            context: "cannot read the current directory",
            path: PathBuf::from("."),
            cause,
        })?;
        let work_tree_var = std::env::var_os("GIT_WORK_TREE").filter(|v| !v.is_empty());
        let git_dir_var = std::env::var_os("GIT_DIR").filter(|v| !v.is_empty());
        // libgit2 refuses GIT_WORK_TREE in its environment mode, so that case opens the
        // repository first and sets the work tree itself.
        let repo = match (&git_dir_var, &work_tree_var) {
            (_, None) => Repository::open_from_env(),
            (Some(git_dir), Some(_)) => Repository::open(git_dir),
            (None, Some(_)) => Repository::discover(&cwd),
        }
        .or_else(|e| open_despite_grafts(e, &cwd, Environment::Honoured))
        .map_err(|e| open_error(e, &cwd))?;
        if let Some(work_tree) = work_tree_var {
            repo.set_workdir(&cwd.join(work_tree), false)
                .map_err(Error::git("cannot use GIT_WORK_TREE"))?;
        } else if git_dir_var.is_some() && !repo.is_bare() && !has_core_worktree(&repo) {
            // git's rule: GIT_DIR without GIT_WORK_TREE or core.worktree makes the current
            // directory the top of the work tree.
            repo.set_workdir(&cwd, false)
                .map_err(Error::git("cannot use the current directory as work tree"))?;
        }
        let index_file = std::env::var_os("GIT_INDEX_FILE")
            .filter(|v| !v.is_empty())
            .map(|v| cwd.join(v));
        WorkTree::from_repository(repo, index_file)
    }

    fn from_repository(repo: Repository, index_file: Option<PathBuf>) -> Result<WorkTree, Error> {
        configure_libgit2();
        let Some(root) = repo.workdir().map(Path::to_path_buf) else {
            return Err(Error::BareRepository {
                git_dir: repo.path().to_path_buf(),
            });
        };
        let index_path = index_file.unwrap_or_else(|| repo.path().join("index"));
        Ok(WorkTree {
            repo,
            root,
            index_path,
        })
    }

    /// The top directory of the work tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }
}

/// libgit2 re-hashes every object it reads to check its id, which git itself does not do;
/// the walk reads every commit and many trees, and the check alone cost a fifth of its time.
/// Its object cache is off too: it grew to hundreds of megabytes during a long walk, while
/// the walk keeps the few trees and commits it needs itself. Object contents are still
/// checked by zlib and the packs' own checksums.
fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_hash_verification(false);
        git2::opts::enable_caching(false);
    });
}

/// A second handle on a repository, for another thread.
pub(crate) fn open_again(git_dir: &Path, root: &Path) -> Result<Repository, Error> {
    let repo =
        reopen_despite_grafts(git_dir).map_err(Error::git("cannot open the repository again"))?;
    repo.set_workdir(root, false)
        .map_err(Error::git("cannot set the work tree"))?;
    Ok(repo)
}

/// A clone made with `--filter`: objects it left out are fetched by git on demand, which
/// libgit2 cannot do.
pub(crate) fn is_partial_clone(repo: &Repository) -> bool {
    let Ok(config) = repo.config() else {
        return false;
    };
    let Ok(mut promisors) = config.entries(Some(r"remote\..*\.promisor")) else {
        return false;
    };
    let mut any = false;
    while let Some(Ok(entry)) = promisors.next() {
        any |= matches!(entry.value(), Ok("true"));
    }
    any || config.get_string("extensions.partialclone").is_ok()
}

fn open_error(error: git2::Error, path: &Path) -> Error {
    match error.code() {
        ErrorCode::NotFound => Error::NotARepository {
            path: path.to_path_buf(),
        },
        _ => Error::Git {
            context: format!("cannot open the repository at {}", path.display()),
            cause: error,
        },
    }
}

fn has_core_worktree(repo: &Repository) -> bool {
    repo.config()
        .and_then(|c| c.get_path("core.worktree"))
        .is_ok()
}
