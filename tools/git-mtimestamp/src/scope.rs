//! Which tracked paths a sync covers: git's pathspecs, magic included, matched as git
//! matches them (see [`pathspec`]).

pub(crate) mod pathspec;
pub(crate) mod wildmatch;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::Options;
use crate::error::Error;
use crate::index_file::IndexRecord;

use self::pathspec::{Globals, Item};

/// Git pathspecs relative to the work-tree root, or everything.
pub(crate) struct Scope {
    /// None: every path.
    pathspecs: Option<Pathspecs>,
    /// A pathspec that matches no tracked file is no error.
    allow_unmatched: bool,
}

struct Pathspecs {
    /// The pathspecs that select, each with its place among those given; None for the one
    /// git adds when every pathspec given is an exclusion, which selects everything.
    includes: Vec<(Option<usize>, Item)>,
    /// The pathspecs that take away from them.
    excludes: Vec<Item>,
    /// The pathspecs as given, for messages.
    given: Vec<OsString>,
}

impl Scope {
    /// The scope of `options.pathspecs`, which are relative to the top of the work tree.
    pub fn new(options: &Options) -> Result<Scope, Error> {
        let specs = &options.pathspecs;
        let allow_unmatched = options.allow_unmatched_pathspecs;
        if specs.is_empty() {
            return Ok(Scope {
                pathspecs: None,
                allow_unmatched,
            });
        }
        let globals = Globals::from_env().map_err(|message| Error::Pathspec {
            spec: lossy_list(specs),
            message,
        })?;
        let mut includes = Vec::new();
        let mut excludes = Vec::new();
        for (position, spec) in specs.iter().enumerate() {
            let resolved = pathspec::resolve(spec.as_bytes(), b"", globals, |_| {
                Err("it is an absolute path; the library takes pathspecs relative to the top of the work tree".into())
            })
            .map_err(|message| Error::Pathspec {
                spec: spec.to_string_lossy().into_owned(),
                message,
            })?;
            let item = resolved.item;
            if item.magic.exclude {
                excludes.push(item);
            } else {
                includes.push((Some(position), item));
            }
        }
        if includes.is_empty() {
            // As git does (with git add, status, log): exclusions alone take away from the
            // whole tree.
            let magic = globals
                .applied_to(pathspec::Magic::default())
                .expect("no magic of its own conflicts with the environment's");
            includes.push((None, Item::new(Vec::new(), 0, magic)));
        }
        Ok(Scope {
            pathspecs: Some(Pathspecs {
                includes,
                excludes,
                given: specs.clone(),
            }),
            allow_unmatched,
        })
    }

    /// True when the tracked directory `path` (the root when empty) is covered: the root only
    /// without pathspecs or with one that selects the whole tree (and no exclusion of the
    /// whole tree), any other directory as git would match a directory entry of that path
    /// (`dir/` matches the directory `dir`; a directory an exclusion matches is out).
    pub fn contains_directory(&self, path: &[u8]) -> bool {
        let Some(pathspecs) = &self.pathspecs else {
            return true;
        };
        if !path.is_empty() {
            return pathspecs.selects(path, true);
        }
        let everything = |item: &Item| item.selects_everything();
        pathspecs.includes.iter().any(|(_, item)| everything(item))
            && !pathspecs.excludes.iter().any(everything)
    }

    /// True when the file (or symlink) `path` is covered.
    pub fn contains(&self, path: &[u8]) -> bool {
        match &self.pathspecs {
            None => true,
            Some(pathspecs) => pathspecs.selects(path, false),
        }
    }

    /// The index entries in scope, in their order. Like `git add`, a pathspec (other than an
    /// exclusion) that matches no entry is an error naming it, unless unmatched pathspecs are
    /// allowed; a pathspec that matches only entries an exclusion takes away is no error.
    pub fn select_index_entries(
        &self,
        entries: Vec<IndexRecord>,
    ) -> Result<Vec<IndexRecord>, Error> {
        let Some(pathspecs) = &self.pathspecs else {
            return Ok(entries);
        };
        let mut seen = vec![false; pathspecs.includes.len()];
        let mut selected = Vec::with_capacity(entries.len());
        for entry in entries {
            // git matches a submodule as a directory: `sub/` selects the submodule `sub`.
            let is_dir = entry.mode.is_gitlink();
            let mut included = false;
            for ((_, item), seen) in pathspecs.includes.iter().zip(seen.iter_mut()) {
                if (*seen && included) || !item.matches(&entry.path, is_dir) {
                    continue;
                }
                included = true;
                *seen = true;
            }
            if included && !pathspecs.excluded(&entry.path, is_dir) {
                selected.push(entry);
            }
        }
        if !self.allow_unmatched {
            let unmatched: Vec<(usize, String)> = pathspecs
                .includes
                .iter()
                .zip(&seen)
                .filter(|(_, seen)| !**seen)
                .filter_map(|((position, _), _)| *position)
                .map(|position| {
                    let spec = pathspecs.given[position].to_string_lossy().into_owned();
                    (position, spec)
                })
                .collect();
            if !unmatched.is_empty() {
                return Err(Error::PathspecUnmatched {
                    pathspecs: unmatched,
                });
            }
        }
        Ok(selected)
    }
}

impl Pathspecs {
    /// git's `match_pathspec`: some pathspec selects `path` and no exclusion takes it away.
    fn selects(&self, path: &[u8], is_dir: bool) -> bool {
        self.includes
            .iter()
            .any(|(_, item)| item.matches(path, is_dir))
            && !self.excluded(path, is_dir)
    }

    fn excluded(&self, path: &[u8], is_dir: bool) -> bool {
        self.excludes.iter().any(|item| item.matches(path, is_dir))
    }
}

fn lossy_list(specs: &[OsString]) -> String {
    specs
        .iter()
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
