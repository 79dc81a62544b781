//! The attributes that decide how git converts a file's content (`text`, `eol`, `crlf`,
//! `ident`, `filter`, `working-tree-encoding`), as git itself sees them.
//!
//! libgit2 (1.9) expands an attribute macro while it parses the file that uses it, with the
//! macros it has parsed so far, and it parses `$GIT_DIR/info/attributes` (like
//! `core.attributesFile` and the system file) before the work tree's `.gitattributes`. git
//! expands macros when it looks a path up, with every definition it read. So where
//! `.gitattributes` has `[attr]mytext text eol=crlf` and `info/attributes` has `*.x mytext`,
//! libgit2 answers for `a.x` `mytext` set and `text` and `eol` unspecified, and git `text`
//! set and `eol=crlf`. A macro used above its definition in `.gitattributes`, or defined with
//! a macro defined below it, fares the same whenever libgit2 parses that file once (it is not
//! in the index, or differs from it; otherwise the second parse, of the index's copy, knows
//! the macro). A content check that takes libgit2's answers then finds a clean `eol=crlf`
//! file modified, or misses its filter driver.
//!
//! The files whose content a sync reads are therefore looked up as git looks them up: by
//! git's rules applied in process to the work tree's `.gitattributes` files ([`rules`]), or,
//! where those rules cannot answer, by git itself, all in one `git check-attr`; libgit2
//! answers only when git cannot be run.

use std::io::BufRead;
use std::path::Path;

use git2::Repository;

use crate::git_cli::StartedGit;
use crate::path_map::PathMap;

mod rules;

pub(crate) use rules::{AttributeRules, GitattributesFiles};

/// One attribute of one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum AttrState {
    /// No line says anything about it (or `!name` reset it).
    #[default]
    Unspecified,
    /// `name`.
    Set,
    /// `-name`.
    Unset,
    /// `name=value`.
    Value(Vec<u8>),
}

impl AttrState {
    /// What libgit2's `git_attr_get` returned.
    pub fn from_libgit2(value: Option<&[u8]>) -> AttrState {
        match git2::AttrValue::from_bytes(value) {
            git2::AttrValue::True => AttrState::Set,
            git2::AttrValue::False => AttrState::Unset,
            git2::AttrValue::Unspecified => AttrState::Unspecified,
            git2::AttrValue::String(value) => AttrState::Value(value.as_bytes().to_vec()),
            git2::AttrValue::Bytes(value) => AttrState::Value(value.to_vec()),
        }
    }
}

/// The attributes git's conversion of a path reads (convert.c's `convert_attrs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConversionAttributes {
    pub text: AttrState,
    pub eol: AttrState,
    pub crlf: AttrState,
    pub ident: AttrState,
    pub filter: AttrState,
    pub working_tree_encoding: AttrState,
}

/// Their names, as `git check-attr` is given them.
const NAMES: [&str; 6] = [
    "text",
    "eol",
    "crlf",
    "ident",
    "filter",
    "working-tree-encoding",
];

impl ConversionAttributes {
    fn slot(&mut self, name: &[u8]) -> Option<&mut AttrState> {
        match name {
            b"text" => Some(&mut self.text),
            b"eol" => Some(&mut self.eol),
            b"crlf" => Some(&mut self.crlf),
            b"ident" => Some(&mut self.ident),
            b"filter" => Some(&mut self.filter),
            b"working-tree-encoding" => Some(&mut self.working_tree_encoding),
            _ => None,
        }
    }

    /// libgit2's answer for `relative` (see the module documentation for where it differs
    /// from git's).
    pub fn from_libgit2(
        repo: &Repository,
        relative: &[u8],
    ) -> Result<ConversionAttributes, git2::Error> {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(relative));
        let mut attributes = ConversionAttributes::default();
        for name in NAMES {
            let value = repo.get_attr_bytes(path, name, git2::AttrCheckFlags::FILE_THEN_INDEX)?;
            *attributes.slot(name.as_bytes()).expect("one of NAMES") =
                AttrState::from_libgit2(value);
        }
        Ok(attributes)
    }
}

/// What a sync has of git's attributes before it knows which files it reads: answers for
/// every file (a first sync, which reads them all), and git's rules read from the work tree
/// ([`AttributeRules`]) or, where they cannot answer, a `git check-attr` started and waiting
/// for the paths (a sync after new commits, which reads a few).
#[derive(Default)]
pub(crate) struct EarlyAttributes {
    pub answered: Option<GitAttributes>,
    pub rules: Option<AttributeRules>,
    pub started: Option<StartedGit>,
}

impl EarlyAttributes {
    /// git's attributes of `paths`: those answered early, and the rest asked now.
    pub fn complete<'p>(
        self,
        git_dir: &Path,
        root: &Path,
        paths: impl IntoIterator<Item = &'p [u8]>,
    ) -> Option<GitAttributes> {
        let answered = self.answered.unwrap_or_default();
        let unasked: Vec<&[u8]> = paths
            .into_iter()
            .filter(|path| answered.get(path).is_none())
            .collect();
        let mut all = answered;
        let from_rules = self
            .rules
            .and_then(|mut rules| rules.answer(unasked.iter().copied()));
        all.extend(match from_rules {
            Some(answers) => answers,
            None => GitAttributes::ask_started(self.started, git_dir, root, unasked)?,
        });
        Some(all)
    }
}

/// git's answers for a set of paths.
#[derive(Debug, Default)]
pub(crate) struct GitAttributes {
    /// None for a path that has none of the attributes.
    paths: PathMap<Option<Box<ConversionAttributes>>>,
}

/// The attributes of a path that no line speaks of.
const UNSPECIFIED: ConversionAttributes = ConversionAttributes {
    text: AttrState::Unspecified,
    eol: AttrState::Unspecified,
    crlf: AttrState::Unspecified,
    ident: AttrState::Unspecified,
    filter: AttrState::Unspecified,
    working_tree_encoding: AttrState::Unspecified,
};

impl GitAttributes {
    /// Asks `git check-attr` about `paths` (relative to the work tree's top), once for all of
    /// them. None when git cannot be run or its answer cannot be read: then libgit2 answers.
    pub fn ask<'p>(
        git_dir: &Path,
        root: &Path,
        paths: impl IntoIterator<Item = &'p [u8]>,
    ) -> Option<GitAttributes> {
        Self::ask_started(None, git_dir, root, paths)
    }

    /// `git check-attr`, started before the paths to ask about are known (see
    /// [`StartedGit`]).
    pub fn start(git_dir: &Path, root: &Path) -> Option<StartedGit> {
        let mut args = vec!["check-attr", "--stdin", "-z"];
        args.extend(NAMES);
        StartedGit::start(git_dir, root, &args)
    }

    /// [`Self::ask`], through `started` (from [`Self::start`]) when there is one.
    pub fn ask_started<'p>(
        started: Option<StartedGit>,
        git_dir: &Path,
        root: &Path,
        paths: impl IntoIterator<Item = &'p [u8]>,
    ) -> Option<GitAttributes> {
        let mut input = Vec::new();
        for path in paths {
            input.extend_from_slice(path);
            input.push(0);
        }
        if input.is_empty() {
            return Some(GitAttributes::default());
        }
        let started = match started {
            Some(started) => started,
            None => Self::start(git_dir, root)?,
        };
        started.finish_reading(input, GitAttributes::parse)
    }

    /// `git check-attr -z` output: `path NUL attribute NUL state NUL` for every path and
    /// attribute asked, the state `unspecified`, `set`, `unset` or the value. A value spelled
    /// like one of those three words reads as that state: git's output does not tell them
    /// apart. Read as it comes: a first sync of dagger/dagger asks about 15,665 paths, and
    /// git's 8.8 MB answer was held whole (in a buffer grown to 16 MB) while the history walk
    /// was at its largest.
    fn parse(output: &mut dyn BufRead) -> Option<GitAttributes> {
        let mut paths: PathMap<Option<Box<ConversionAttributes>>> = PathMap::default();
        // git answers all attributes of one path before the next path's.
        let mut current: Option<(Vec<u8>, ConversionAttributes)> = None;
        let mut fields = [Vec::new(), Vec::new(), Vec::new()];
        loop {
            for (at, field) in fields.iter_mut().enumerate() {
                field.clear();
                let read = output.read_until(0, field).ok()?;
                match (at, read, field.pop()) {
                    // The end: no partial record may come before it.
                    (0, 0, _) => {
                        if let Some((path, attributes)) = current.take() {
                            paths.insert(path, Self::stored(attributes));
                        }
                        return Some(GitAttributes { paths });
                    }
                    (_, _, Some(0)) => {}
                    _ => return None,
                }
            }
            let [path, name, state] = &fields;
            let state = match &state[..] {
                b"unspecified" => AttrState::Unspecified,
                b"set" => AttrState::Set,
                b"unset" => AttrState::Unset,
                value => AttrState::Value(value.to_vec()),
            };
            if current.as_ref().is_none_or(|(at, _)| at != path) {
                if let Some((path, attributes)) = current.take() {
                    paths.insert(path, Self::stored(attributes));
                }
                current = Some((path.clone(), ConversionAttributes::default()));
            }
            let (_, attributes) = current.as_mut().expect("just set");
            *attributes.slot(name)? = state;
        }
    }

    /// Most paths have none of these attributes: they are stored as None.
    fn stored(attributes: ConversionAttributes) -> Option<Box<ConversionAttributes>> {
        (attributes != UNSPECIFIED).then(|| Box::new(attributes))
    }

    /// Adds the answers of `other`, asked about other paths.
    pub fn extend(&mut self, other: GitAttributes) {
        self.paths.extend(other.paths);
    }

    /// git's answer for `path`, if it was asked.
    pub fn get(&self, path: &[u8]) -> Option<&ConversionAttributes> {
        let stored = self.paths.get(path)?;
        Some(stored.as_deref().unwrap_or(&UNSPECIFIED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_git::git;

    /// Names that need care (a space, a newline, bytes that are not UTF-8) come back whole.
    #[test]
    fn git_answers_for_every_path_asked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        std::fs::write(
            root.join(".gitattributes"),
            "* text=auto\n*.bin -text\nsp* ident\n*.16 working-tree-encoding=UTF-16 eol=crlf\n",
        )
        .unwrap();
        let paths: [&[u8]; 4] = [b"a.bin", b"sp ace\nline", b"d/\xff.16", b"plain"];
        let asked = GitAttributes::ask(&root.join(".git"), root, paths).unwrap();
        let value = |v: &str| AttrState::Value(v.as_bytes().to_vec());
        assert_eq!(asked.get(b"a.bin").unwrap().text, AttrState::Unset);
        assert_eq!(asked.get(b"sp ace\nline").unwrap().ident, AttrState::Set);
        let utf16 = asked.get(b"d/\xff.16").unwrap();
        assert_eq!(utf16.working_tree_encoding, value("UTF-16"));
        assert_eq!(utf16.eol, value("crlf"));
        assert_eq!(utf16.text, value("auto"));
        assert_eq!(utf16.filter, AttrState::Unspecified);
        assert_eq!(asked.get(b"plain").unwrap().text, value("auto"));
        assert!(asked.get(b"not asked").is_none());
    }

    /// The divergences this module exists for: a macro that `.gitattributes` defines and
    /// `info/attributes` uses, and one used above its definition in a `.gitattributes` the
    /// index lacks, are expanded by git and not by libgit2.
    #[test]
    fn a_macro_used_in_info_attributes_is_expanded_by_git_and_not_by_libgit2() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        std::fs::write(
            root.join(".gitattributes"),
            "*.late late\n[attr]late ident\n[attr]mytext text eol=crlf\n",
        )
        .unwrap();
        std::fs::write(root.join(".git/info/attributes"), "*.x mytext\n").unwrap();
        let asked = GitAttributes::ask(&root.join(".git"), root, [&b"a.x"[..], b"a.late"]).unwrap();
        let by_git = asked.get(b"a.x").unwrap();
        assert_eq!(by_git.text, AttrState::Set);
        assert_eq!(by_git.eol, AttrState::Value(b"crlf".to_vec()));
        assert_eq!(asked.get(b"a.late").unwrap().ident, AttrState::Set);

        let repo = Repository::open(root).unwrap();
        let by_libgit2 = ConversionAttributes::from_libgit2(&repo, b"a.x").unwrap();
        assert_eq!(by_libgit2.text, AttrState::Unspecified);
        assert_eq!(by_libgit2.eol, AttrState::Unspecified);
        let late = ConversionAttributes::from_libgit2(&repo, b"a.late").unwrap();
        assert_eq!(late.ident, AttrState::Unspecified);
    }

    #[test]
    fn unreadable_answers_are_refused() {
        let parse = |mut output: &[u8]| GitAttributes::parse(&mut output);
        assert!(parse(b"a\0text\0set\0").is_some());
        assert!(parse(b"a\0text\0").is_none());
        assert!(parse(b"a\0text\0set").is_none());
        assert!(parse(b"a\0colour\0set\0").is_none());
        assert!(parse(b"").unwrap().paths.is_empty());
        // Answers for one path come together; a path with none of the attributes is stored
        // without them, and still counts as asked.
        let both = parse(b"a\0text\0set\0a\0eol\0lf\0b\0text\0unspecified\0").unwrap();
        let a = both.get(b"a").unwrap();
        assert_eq!(
            (&a.text, &a.eol),
            (&AttrState::Set, &AttrState::Value(b"lf".to_vec()))
        );
        assert_eq!(both.get(b"b"), Some(&UNSPECIFIED));
        assert!(both.paths[&b"b"[..]].is_none());
        assert!(both.get(b"c").is_none());
    }
}
