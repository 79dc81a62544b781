//! git's attribute rules, applied in this process to the work tree's `.gitattributes` files,
//! for the case nearly every repository is in: no attributes beyond the tree's own files.
//!
//! Asking `git check-attr` about every file of a first sync held the stamping threads back:
//! on dagger/dagger (328 `.gitattributes` files, 15,665 files) git took 0.09 s of a 0.5 s
//! sync, with a core of its own, before the first file could be checked. Here each
//! `.gitattributes` is read once, each directory's rules are gathered once, and a path is
//! matched only against the lines that can decide a conversion attribute.
//!
//! The rules are git's (attr.c, dir.c), for the attributes that decide a conversion:
//! - The files: the work tree's `.gitattributes` of the top and of every directory on the
//!   way to the path, each opened without following a symlink.
//! - Precedence: the deeper file wins over the shallower, and a later line over an earlier
//!   one. The first line that speaks of an attribute decides it, and `!name` decides
//!   "unspecified".
//! - Macros: `[attr]name ...`, allowed only in the top file, and the built-in
//!   `[attr]binary -diff -merge -text`. A macro that a line sets expands there, with the same
//!   precedence; the last definition wins.
//! - Patterns: one without a slash matches the file's name, anywhere below its file's
//!   directory. One with a slash (a leading one is dropped) matches the path from that
//!   directory, with `WM_PATHNAME`. One that ends in a slash matches only directories, and so
//!   never a file.
//!
//! Whatever else git would consider makes [`AttributeRules::for_work_tree`] or
//! [`AttributeRules::answer`] return None, and git is asked instead. That covers:
//! - attributes from outside the tree (`info/attributes`, the global and system files,
//!   `GIT_ATTR_SOURCE`, `attr.tree`);
//! - `core.ignorecase`;
//! - a `.gitattributes` git would take from the index (missing, or a symlink, on disk);
//! - a line git warns about, or that is quoted.
//!
//! So the answer is git's, or git is asked.

use std::io::Read;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use git2::Repository;

use super::{AttrState, ConversionAttributes, GitAttributes, NAMES};
use crate::path_map::PathMap;
use crate::scope::wildmatch::{Flags, wildmatch};

/// Where the `.gitattributes` files are.
#[derive(Debug, Default, Clone)]
pub(crate) struct GitattributesFiles {
    /// The directories whose `.gitattributes` the index tracks: one missing on disk is read
    /// from the index by git.
    tracked_in: PathMap<()>,
    /// Whether each directory holds an entry named `.gitattributes` (tracked or not: git
    /// reads an untracked one too), when a first sync looked ([`GitattributesFiles::probe`]).
    pub on_disk: Option<PathMap<bool>>,
}

impl GitattributesFiles {
    /// Whether each directory leading to `paths` (the root left out) holds an entry named
    /// `.gitattributes`, looked for on all cores: one `lstat` per directory. Opening the file
    /// in each of dagger/dagger's 7,781 directories took 40 ms on one thread, before the first
    /// file could be checked.
    pub fn probe<'p>(
        root: BorrowedFd<'_>,
        paths: impl IntoIterator<Item = &'p [u8]>,
    ) -> PathMap<bool> {
        let directories = leading_directories(paths);
        let probed = crate::workers::on_worker_threads(directories, 256, |part| {
            part.into_iter()
                .map(|dir| {
                    let mut probe = dir.to_vec();
                    probe.extend_from_slice(b"/.gitattributes");
                    let absent = matches!(
                        rustix::fs::statat(
                            root,
                            std::ffi::OsStr::from_bytes(&probe),
                            rustix::fs::AtFlags::SYMLINK_NOFOLLOW
                        ),
                        Err(rustix::io::Errno::NOENT)
                    );
                    (dir.to_vec(), !absent)
                })
                .collect()
        });
        probed.into_iter().collect()
    }

    /// `tracked`: every path in the index.
    pub fn tracked<'p>(tracked: impl IntoIterator<Item = &'p [u8]>) -> GitattributesFiles {
        let mut tracked_in = PathMap::default();
        for path in tracked {
            if let Some(dir) = gitattributes_dir(path) {
                tracked_in.insert(dir.to_vec(), ());
            }
        }
        GitattributesFiles {
            tracked_in,
            on_disk: None,
        }
    }

    /// False when the probe found no `.gitattributes` in `dir`; true when it did, or did not
    /// look.
    fn may_be_on_disk(&self, dir: &[u8]) -> bool {
        self.on_disk
            .as_ref()
            .and_then(|on_disk| on_disk.get(dir))
            .is_none_or(|present| *present)
    }
}

/// Where git's rules, as this module applies them, cover the repository.
pub(crate) struct AttributeRules {
    root: PathBuf,
    files: GitattributesFiles,
    macros: Macros,
    /// Every directory's lines that can decide a conversion attribute, its own and its
    /// parents', deepest first; None for a directory git must be asked about.
    gathered: PathMap<Option<Frames>>,
}

/// The frames that apply in a directory, deepest first.
type Frames = Rc<[Rc<Frame>]>;

/// One attribute's state on a line: its name's index in [`Macros`] and what it becomes.
#[derive(Debug, Clone)]
struct State {
    name: usize,
    value: AttrState,
}

/// The names a line's states can speak of that matter here: the conversion attributes
/// (first, in the order of [`NAMES`]) and the macros.
#[derive(Debug, Default)]
struct Macros {
    /// Macro names, each at `NAMES.len() + its place`.
    names: Vec<Vec<u8>>,
    /// Each macro's expansion, in the order of `names`.
    expansions: Vec<Vec<State>>,
}

impl Macros {
    fn index_of(&self, name: &[u8]) -> Option<usize> {
        NAMES
            .iter()
            .position(|known| known.as_bytes() == name)
            .or_else(|| {
                let at = self.names.iter().position(|known| known == name)?;
                Some(NAMES.len() + at)
            })
    }

    fn expansion(&self, name: usize) -> Option<&[State]> {
        let at = name.checked_sub(NAMES.len())?;
        self.expansions.get(at).map(Vec::as_slice)
    }

    fn count(&self) -> usize {
        NAMES.len() + self.names.len()
    }
}

/// One `.gitattributes` file's lines that can decide a conversion attribute, in file order.
#[derive(Debug)]
struct Frame {
    /// The directory it is in, relative to the top ("" for the top).
    base: Vec<u8>,
    lines: Vec<Line>,
}

#[derive(Debug)]
struct Line {
    pattern: Vec<u8>,
    /// No slash in the pattern: it matches file names.
    name_only: bool,
    states: Vec<State>,
}

/// A `.gitattributes` line as git reads it, before it is reduced to what matters here.
#[derive(Debug, Clone)]
enum Parsed {
    Nothing,
    Macro {
        name: Vec<u8>,
        states: NamedStates,
    },
    Rule {
        pattern: Vec<u8>,
        states: NamedStates,
    },
}

/// A line's states, each with the name of its attribute.
type NamedStates = Vec<(Vec<u8>, AttrState)>;

/// A line git warns about, or quotes, or anything else this module leaves to git.
struct AskGit;

/// git's limits (attr.c): longer lines and larger files are ignored, with a warning.
const MAX_LINE_LENGTH: usize = 2048;
const MAX_FILE_SIZE: u64 = 100 * 1024 * 1024;

const BUILTIN_MACROS: &[u8] = b"[attr]binary -diff -merge -text";

impl AttributeRules {
    /// The rules of the work tree at `root`, whose `.gitattributes` files `files` tells of;
    /// None when git would also read attributes from elsewhere, or compare names ignoring
    /// case.
    pub fn for_work_tree(
        repo: &Repository,
        root: &Path,
        files: GitattributesFiles,
    ) -> Option<AttributeRules> {
        if outside_sources(repo) {
            return None;
        }
        let mut rules = AttributeRules {
            root: root.to_path_buf(),
            files,
            macros: Macros::default(),
            gathered: PathMap::default(),
        };
        let top = rules.read_lines(b"")?;
        let builtin = parse_line(BUILTIN_MACROS, true).ok()?;
        // The last definition wins: the top file's, in reverse, then the built-in one.
        let mut definitions: Vec<(&[u8], &NamedStates)> = Vec::new();
        for parsed in top.iter().rev().chain(std::iter::once(&builtin)) {
            if let Parsed::Macro { name, states } = parsed
                && !definitions.iter().any(|(known, _)| known == name)
            {
                definitions.push((name, states));
            }
        }
        // A macro named like a conversion attribute would expand where that attribute is
        // set; rare enough to leave to git.
        if definitions
            .iter()
            .any(|(name, _)| NAMES.iter().any(|known| known.as_bytes() == *name))
        {
            return None;
        }
        rules.macros.names = definitions.iter().map(|(name, _)| name.to_vec()).collect();
        rules.macros.expansions = definitions
            .iter()
            .map(|(_, states)| rules.relevant_states(states))
            .collect();
        let frame = rules.frame(b"", &top);
        let chain: Frames = frame.into_iter().collect();
        rules.gathered.insert(Vec::new(), Some(chain));
        Some(rules)
    }

    /// The conversion attributes of `paths` (files relative to the top), as `git check-attr`
    /// gives them; None when git must be asked.
    pub fn answer<'p>(
        &mut self,
        paths: impl IntoIterator<Item = &'p [u8]>,
    ) -> Option<GitAttributes> {
        let paths = paths.into_iter();
        let mut answers = GitAttributes::default();
        // Sized once: grown as it filled, the map's rehashing was a tenth of this on
        // dagger/dagger's 15,600 files.
        let (at_least, at_most) = paths.size_hint();
        answers.paths.reserve(at_most.unwrap_or(at_least));
        // Paths come grouped by directory (a sorted index): its frames are looked up once
        // for the run of paths in it, and a directory no line reaches (most of them) decides
        // nothing, so its paths need no matching.
        let mut last: Option<(&[u8], Frames)> = None;
        for path in paths {
            let dir = path
                .iter()
                .rposition(|&b| b == b'/')
                .map_or(&path[..0], |slash| &path[..slash]);
            let frames = match &last {
                Some((last_dir, frames)) if *last_dir == dir => Rc::clone(frames),
                _ => {
                    let frames = self.gathered_for(dir)?;
                    last = Some((dir, Rc::clone(&frames)));
                    frames
                }
            };
            let stored = if frames.is_empty() {
                None
            } else {
                GitAttributes::stored(self.attributes_of(path, &frames))
            };
            answers.paths.insert(path.to_vec(), stored);
        }
        Some(answers)
    }

    /// The frames that apply in `dir`, deepest first, read and kept on first use.
    fn gathered_for(&mut self, dir: &[u8]) -> Option<Frames> {
        if let Some(known) = self.gathered.get(dir) {
            return known.clone();
        }
        let parent = dir
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(&dir[..0], |slash| &dir[..slash]);
        let above = self.gathered_for(parent);
        let gathered = above.and_then(|above| {
            let lines = self.read_lines(dir)?;
            Some(match self.frame(dir, &lines) {
                Some(frame) => std::iter::once(frame)
                    .chain(above.iter().cloned())
                    .collect(),
                None => above,
            })
        });
        self.gathered.insert(dir.to_vec(), gathered.clone());
        gathered
    }

    /// `dir`'s `.gitattributes`, parsed; empty when there is none. None when git would read
    /// it from the index or warn about it.
    fn read_lines(&self, dir: &[u8]) -> Option<Vec<Parsed>> {
        let mut path = self.root.clone();
        if !dir.is_empty() {
            use std::os::unix::ffi::OsStrExt;
            path.push(std::ffi::OsStr::from_bytes(dir));
        }
        path.push(".gitattributes");
        let absent = || {
            // git reads a tracked one that is missing from the index instead.
            (!self.files.tracked_in.contains_key(dir)).then(Vec::new)
        };
        if !self.files.may_be_on_disk(dir) {
            return absent();
        }
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path);
        let mut file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return absent(),
            // A symlink (git reads the index's then), or unreadable (git warns).
            Err(_) => return None,
        };
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() >= MAX_FILE_SIZE {
            return None;
        }
        let mut content = Vec::new();
        file.read_to_end(&mut content).ok()?;
        let content = content.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&content);
        let is_top = dir.is_empty();
        let mut lines: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
        if content.ends_with(b"\n") {
            lines.pop();
        }
        lines
            .into_iter()
            .map(|line| {
                // git reads a line as a C string, which ends at a NUL byte, without the CR
                // of a CRLF.
                let line = line.split(|&b| b == 0).next().unwrap_or(line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                parse_line(line, is_top).ok()
            })
            .collect()
    }

    /// The lines of the file in `dir` that can decide a conversion attribute; None when
    /// there are none.
    fn frame(&self, dir: &[u8], parsed: &[Parsed]) -> Option<Rc<Frame>> {
        let lines: Vec<Line> = parsed
            .iter()
            .filter_map(|parsed| match parsed {
                Parsed::Rule { pattern, states } => {
                    let states = self.relevant_states(states);
                    if states.is_empty() {
                        return None;
                    }
                    let (pattern, only_directories) = match pattern.strip_suffix(b"/") {
                        Some(pattern) => (pattern, true),
                        None => (pattern.as_slice(), false),
                    };
                    if only_directories {
                        return None;
                    }
                    let name_only = !pattern.contains(&b'/');
                    let pattern = match pattern.strip_prefix(b"/") {
                        Some(rest) if !name_only => rest,
                        _ => pattern,
                    };
                    Some(Line {
                        pattern: pattern.to_vec(),
                        name_only,
                        states,
                    })
                }
                _ => None,
            })
            .collect();
        (!lines.is_empty()).then(|| {
            Rc::new(Frame {
                base: dir.to_vec(),
                lines,
            })
        })
    }

    /// The states that speak of a conversion attribute or a macro.
    fn relevant_states(&self, states: &[(Vec<u8>, AttrState)]) -> Vec<State> {
        states
            .iter()
            .filter_map(|(name, value)| {
                Some(State {
                    name: self.macros.index_of(name)?,
                    value: value.clone(),
                })
            })
            .collect()
    }

    /// git's `fill`: the frames deepest first, each file's lines last first; the first state
    /// to speak of an attribute decides it, and a macro set there expands in its place.
    fn attributes_of(&self, path: &[u8], frames: &[Rc<Frame>]) -> ConversionAttributes {
        let name = path
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(path, |slash| &path[slash + 1..]);
        let mut decided: Vec<Option<AttrState>> = vec![None; self.macros.count()];
        let mut undecided = NAMES.len();
        let mut todo: Vec<&State> = Vec::new();
        'frames: for frame in frames {
            for line in frame.lines.iter().rev() {
                if !line_matches(line, &frame.base, path, name) {
                    continue;
                }
                todo.extend(&line.states);
                while let Some(state) = todo.pop() {
                    let slot = &mut decided[state.name];
                    if slot.is_some() {
                        continue;
                    }
                    *slot = Some(state.value.clone());
                    if state.name < NAMES.len() {
                        undecided -= 1;
                    } else if state.value == AttrState::Set
                        && let Some(expansion) = self.macros.expansion(state.name)
                    {
                        todo.extend(expansion);
                    }
                }
                if undecided == 0 {
                    break 'frames;
                }
            }
        }
        let mut attributes = ConversionAttributes::default();
        for (at, name) in NAMES.iter().enumerate() {
            if let Some(Some(value)) = decided.get(at) {
                *attributes.slot(name.as_bytes()).expect("one of NAMES") = value.clone();
            }
        }
        attributes
    }
}

/// git's `path_matches` for a file: a name-only pattern against the file's name, another
/// against the path below the frame's directory.
fn line_matches(line: &Line, base: &[u8], path: &[u8], name: &[u8]) -> bool {
    if line.name_only {
        return wildmatch(&line.pattern, name, Flags::default());
    }
    let below = if base.is_empty() {
        path
    } else {
        match path
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix(b"/"))
        {
            Some(below) => below,
            None => return false,
        }
    };
    let flags = Flags {
        pathname: true,
        casefold: false,
    };
    wildmatch(&line.pattern, below, flags)
}

/// Every directory that leads to one of `paths`, the root left out, each once.
fn leading_directories<'p>(paths: impl IntoIterator<Item = &'p [u8]>) -> Vec<&'p [u8]> {
    let mut seen: rustc_hash::FxHashSet<&[u8]> = Default::default();
    let mut directories = Vec::new();
    for path in paths {
        // From the deepest up, until a directory seen before: all above it were seen too.
        let mut end = path.len();
        while let Some(slash) = path[..end].iter().rposition(|&b| b == b'/') {
            if !seen.insert(&path[..slash]) {
                break;
            }
            directories.push(&path[..slash]);
            end = slash;
        }
    }
    directories
}

/// The directory holding `path` when it is a `.gitattributes`.
fn gitattributes_dir(path: &[u8]) -> Option<&[u8]> {
    if path == b".gitattributes" {
        return Some(&path[..0]);
    }
    path.strip_suffix(b"/.gitattributes")
}

/// git's blank characters in attributes files.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_blanks(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(line.len());
    &line[start..]
}

fn split_token(line: &[u8]) -> (&[u8], &[u8]) {
    let end = line.iter().position(|&b| is_blank(b)).unwrap_or(line.len());
    (&line[..end], &line[end..])
}

/// git's `parse_attr_line`, for a line of the top file (`macros_allowed`) or another. Err for
/// what git warns about or quotes.
fn parse_line(line: &[u8], macros_allowed: bool) -> Result<Parsed, AskGit> {
    let rest = skip_blanks(line);
    if rest.is_empty() || rest[0] == b'#' {
        return Ok(Parsed::Nothing);
    }
    if line.len() >= MAX_LINE_LENGTH || rest[0] == b'"' {
        return Err(AskGit);
    }
    let (first, rest) = split_token(rest);
    let mut states = Vec::new();
    let mut rest = skip_blanks(rest);
    while !rest.is_empty() {
        let (token, after) = split_token(rest);
        states.push(parse_state(token)?);
        rest = skip_blanks(after);
    }
    match first.strip_prefix(b"[attr]") {
        Some(name) if !name.is_empty() => {
            if !macros_allowed || !valid_name(name) {
                return Err(AskGit);
            }
            Ok(Parsed::Macro {
                name: name.to_vec(),
                states,
            })
        }
        _ => {
            // A negative pattern is ignored, with a warning.
            if first.starts_with(b"!") {
                return Err(AskGit);
            }
            Ok(Parsed::Rule {
                pattern: first.to_vec(),
                states,
            })
        }
    }
}

/// `name`, `-name`, `!name` or `name=value`.
fn parse_state(token: &[u8]) -> Result<(Vec<u8>, AttrState), AskGit> {
    let (name_part, value) = match token.iter().position(|&b| b == b'=') {
        Some(equals) => (&token[..equals], Some(&token[equals + 1..])),
        None => (token, None),
    };
    let (name, state) = match name_part.first() {
        Some(b'-') => (&name_part[1..], AttrState::Unset),
        Some(b'!') => (&name_part[1..], AttrState::Unspecified),
        _ => match value {
            Some(value) => (name_part, AttrState::Value(value.to_vec())),
            None => (name_part, AttrState::Set),
        },
    };
    if !valid_name(name) {
        return Err(AskGit);
    }
    Ok((name.to_vec(), state))
}

/// git's `attr_name_valid` and not `attr_name_reserved`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name[0] != b'-'
        && !name.starts_with(b"builtin_")
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// True when git would read attributes from somewhere other than the work tree's
/// `.gitattributes` files, or match them ignoring case.
fn outside_sources(repo: &Repository) -> bool {
    let config = repo.config().ok();
    let set = |key: &str| config.as_ref().is_none_or(|c| c.get_entry(key).is_ok());
    let ignore_case = config
        .as_ref()
        .is_none_or(|c| c.get_bool("core.ignorecase").unwrap_or(false));
    let global_default = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|dir| dir.join("git/attributes"));
    let exists = |path: &Path| std::fs::symlink_metadata(path).is_ok();
    repo.is_bare()
        || std::env::var_os("GIT_ATTR_SOURCE").is_some()
        || set("attr.tree")
        || set("core.attributesfile")
        || ignore_case
        || exists(&repo.commondir().join("info/attributes"))
        || global_default.is_some_and(|path| exists(&path))
        || system_files().iter().any(|path| exists(path))
}

/// Where git's system-wide attributes file may be: `/etc/gitattributes` for a git installed
/// under `/usr`, `PREFIX/etc/gitattributes` for one installed elsewhere (found beside the
/// first `git` on `PATH`).
fn system_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/gitattributes")];
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("git").is_file() {
                if let Some(prefix) = dir.parent() {
                    files.push(prefix.join("etc/gitattributes"));
                }
                break;
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;
    use crate::test_git::git;

    /// The rules' answers for every tracked file of `root`, beside `git check-attr`'s; the
    /// directories are probed for `.gitattributes` as a first sync probes them.
    fn compare_with_git(root: &Path) -> Vec<String> {
        let listed = git(root, &["ls-files", "-z"]);
        let paths: Vec<&[u8]> = listed
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .collect();
        let mut files = GitattributesFiles::tracked(paths.iter().copied());
        let top = rustix::fs::open(root, OFlagsForTests::dir(), rustix::fs::Mode::empty()).unwrap();
        files.on_disk = Some(GitattributesFiles::probe(
            top.as_fd(),
            paths.iter().copied(),
        ));
        let repo = Repository::open(root).unwrap();
        let mut rules = AttributeRules::for_work_tree(&repo, root, files).expect("applies here");
        let ours = rules.answer(paths.iter().copied()).expect("answers here");
        let gits = GitAttributes::ask(&root.join(".git"), root, paths.iter().copied()).unwrap();
        paths
            .iter()
            .filter(|path| ours.get(path) != gits.get(path))
            .map(|path| {
                format!(
                    "{}: ours {:?}, git's {:?}",
                    String::from_utf8_lossy(path),
                    ours.get(path),
                    gits.get(path)
                )
            })
            .collect()
    }

    struct OFlagsForTests;
    impl OFlagsForTests {
        fn dir() -> rustix::fs::OFlags {
            rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY
        }
    }

    fn write(root: &Path, path: &str, content: &[u8]) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// A tree of rules shaped like real ones: macros defined at the top and used below,
    /// nested files overriding the top, patterns with and without slashes, `**`, rooted
    /// patterns, directory-only patterns (and a file named like one), a name-only pattern
    /// that the whole path would match, escaped `\!` and `\#`, `**` and bracket classes,
    /// `!name`, `-name`, values, the built-in `binary`
    /// macro, a file with a BOM and CRLF line ends, the longest line git reads, and an
    /// untracked `.gitattributes`.
    fn tree_of_rules() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        write(
            root,
            ".gitattributes",
            b"# comment\n   \n[attr]mytext text eol=crlf\n[attr]nested mytext ident\n\
              [attr]notconv linguist-generated\n*.txt text\n*.bin binary\n*.crlf mytext\n\
              *.nest nested\n*.sh text eol=lf\ndocs/**/*.md text=auto\n/top.only ident\n\
              sub/ -text\n*.enc working-tree-encoding=ISO-8859-1\n*.f filter=lfs diff=lfs -text\n\
              *.both text -text\nx*.txt !text\n*.unset -binary\n*.gen notconv\n\
              \t*.tab\tident  \n*.empty eol=\nal* ident\nbuild/ ident\n\\!bang.txt ident\n\
              \\#hash.txt ident\n**/deep/** eol=lf\n[ab]*.c ident\n?.x ident\nw/** ident\n",
        );
        write(
            root,
            "sub/.gitattributes",
            b"*.txt -text\ndeep/*.txt eol=crlf\n/rooted.txt ident\n*.bin text\n",
        );
        // The longest line git reads (2,047 bytes without its CR) ends the file.
        let mut other = b"\xef\xbb\xbf*.c text\r\n*.h eol=crlf\r\n*.txt\tcrlf=input\r\n".to_vec();
        let mut longest = b"*.lng ident".to_vec();
        longest.resize(2047, b' ');
        other.extend_from_slice(&longest);
        other.extend_from_slice(b"\r\n");
        write(root, "other/.gitattributes", &other);
        for file in [
            "a.txt",
            "b.bin",
            "c.crlf",
            "d.nest",
            "e.sh",
            "docs/x/y.md",
            "docs/y.md",
            "top.only",
            "sub/top.only",
            "sub/a.txt",
            "sub/b.bin",
            "sub/deep/a.txt",
            "sub/deep/rooted.txt",
            "sub/rooted.txt",
            "x1.txt",
            "f.enc",
            "g.f",
            "h.both",
            "other/m.c",
            "other/m.h",
            "other/m.txt",
            "i.unset",
            "j.gen",
            "k.tab",
            "l.empty",
            "sub/deep/deeper/z.txt",
            "plain",
            "alpha/z.c",
            "x/build",
            "other/m.lng",
            "!bang.txt",
            "#hash.txt",
            "ab.c",
            "bc.c",
            "k.x",
            "kk.x",
            "w/v/f",
            "w/f",
        ] {
            write(root, file, b"x\n");
        }
        git(root, &["add", "."]);
        git(root, &["commit", "-qm", "rules"]);
        // Untracked, and read all the same.
        write(
            root,
            "sub/deep/.gitattributes",
            b"*.txt ident\nrooted.txt -text\n",
        );
        dir
    }

    #[test]
    fn answers_as_git_check_attr_does() {
        let dir = tree_of_rules();
        let differences = compare_with_git(dir.path());
        assert!(differences.is_empty(), "{differences:#?}");
        // It did answer something: the fixture is not one where every attribute is
        // unspecified.
        let repo = Repository::open(dir.path()).unwrap();
        let files = GitattributesFiles::default();
        let mut rules = AttributeRules::for_work_tree(&repo, dir.path(), files).unwrap();
        let answers = rules.answer([&b"d.nest"[..], b"sub/deep/a.txt"]).unwrap();
        let nested = answers.get(b"d.nest").unwrap();
        assert_eq!(nested.eol, AttrState::Value(b"crlf".to_vec()));
        assert_eq!(nested.ident, AttrState::Set);
        assert_eq!(
            answers.get(b"sub/deep/a.txt").unwrap().ident,
            AttrState::Set
        );
    }

    /// Whatever the rules do not model is left to git: each case below makes them answer
    /// None, where answering would have been wrong or would have lost git's warning.
    #[test]
    fn leaves_to_git_what_it_does_not_model() {
        type Setup = dyn Fn(&Path);
        let ask = |setup: &Setup, path: &[u8]| {
            let dir = tree_of_rules();
            let root = dir.path();
            setup(root);
            let repo = Repository::open(root).unwrap();
            let listed = git(root, &["ls-files", "-z"]);
            let files = GitattributesFiles::tracked(listed.split(|&b| b == 0));
            AttributeRules::for_work_tree(&repo, root, files)
                .and_then(|mut rules| rules.answer([path]))
                .map(|answers| answers.get(path).cloned())
        };
        let nothing = |_: &Path| {};
        assert!(ask(&nothing, b"sub/a.txt").is_some());
        let cases: [(&str, &Setup, &[u8]); 4] = [
            (
                "info/attributes",
                &|root| write(root, ".git/info/attributes", b"*.txt ident\n"),
                b"a.txt",
            ),
            (
                "core.ignorecase",
                &|root| {
                    git(root, &["config", "core.ignorecase", "true"]);
                },
                b"a.txt",
            ),
            (
                "a tracked .gitattributes gone from the disk",
                &|root| std::fs::remove_file(root.join("sub/.gitattributes")).unwrap(),
                b"sub/a.txt",
            ),
            (
                "a symlinked .gitattributes",
                &|root| {
                    std::fs::remove_file(root.join("sub/.gitattributes")).unwrap();
                    std::os::unix::fs::symlink(
                        "../.gitattributes",
                        root.join("sub/.gitattributes"),
                    )
                    .unwrap();
                },
                b"sub/a.txt",
            ),
        ];
        // Lines of a nested `.gitattributes` that git quotes or warns about.
        let lines: [(&str, &[u8]); 4] = [
            ("a quoted pattern", b"\"a b.txt\" ident\n"),
            ("a macro below the top", b"[attr]m ident\n"),
            ("a negative pattern", b"!*.txt ident\n"),
            ("an invalid attribute name", b"*.txt in/valid\n"),
        ];
        for (case, line) in lines {
            let setup = |root: &Path| write(root, "sub/.gitattributes", line);
            assert!(ask(&setup, b"sub/a.txt").is_none(), "{case}: answered");
        }
        for (case, setup, path) in cases {
            assert!(ask(setup, path).is_none(), "{case}: answered");
        }
    }

    /// The rules against `git check-attr` on a real repository's every file:
    /// `GIT_MTIMESTAMP_ATTRIBUTES_REPO=/path/to/clone cargo test -- --ignored`.
    #[test]
    #[ignore = "needs a clone named by GIT_MTIMESTAMP_ATTRIBUTES_REPO"]
    fn answers_as_git_does_on_a_real_repository() {
        let root = PathBuf::from(std::env::var_os("GIT_MTIMESTAMP_ATTRIBUTES_REPO").unwrap());
        let differences = compare_with_git(&root);
        assert!(differences.is_empty(), "{differences:#?}");
    }
}
