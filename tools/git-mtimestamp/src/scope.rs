//! Which tracked paths a sync covers.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::{Pathspec, PathspecFlags};

use crate::error::Error;

/// Git pathspecs relative to the work-tree root, or everything.
pub(crate) struct Scope {
    pathspec: Option<Pathspec>,
    /// With pathspecs: whether one of them selects the whole tree (`*`, `.`, or empty).
    whole_tree: Option<bool>,
}

impl Scope {
    pub fn new(specs: &[OsString]) -> Result<Scope, Error> {
        if specs.is_empty() {
            return Ok(Scope {
                pathspec: None,
                whole_tree: None,
            });
        }
        for spec in specs {
            if spec.as_bytes().contains(&0) {
                return Err(Error::Pathspec {
                    spec: spec.to_string_lossy().into_owned(),
                    message: "a path cannot hold a NUL byte".into(),
                });
            }
        }
        let pathspec = Pathspec::new(specs.iter()).map_err(|e| Error::Pathspec {
            spec: specs
                .iter()
                .map(|s| s.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            message: e.message().to_owned(),
        })?;
        let whole_tree = specs
            .iter()
            .any(|spec| matches!(spec.as_bytes(), b"" | b"*" | b"." | b"./"));
        Ok(Scope {
            pathspec: Some(pathspec),
            whole_tree: Some(whole_tree),
        })
    }

    /// True when the tracked directory `path` (the root when empty) is covered: the root only
    /// without pathspecs or with one that selects the whole tree, any other directory as a
    /// file of that path would be.
    pub fn contains_directory(&self, path: &[u8]) -> bool {
        if !path.is_empty() {
            return self.contains(path);
        }
        match &self.whole_tree {
            None => true,
            Some(whole) => *whole,
        }
    }

    pub fn contains(&self, path: &[u8]) -> bool {
        match &self.pathspec {
            None => true,
            Some(pathspec) => pathspec.matches_path(
                Path::new(std::ffi::OsStr::from_bytes(path)),
                PathspecFlags::DEFAULT,
            ),
        }
    }
}
