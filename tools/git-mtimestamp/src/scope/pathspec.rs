//! git's pathspecs: their magic (`:(top)`, `:(exclude)` or `:!` and `:^`, `:(glob)`,
//! `:(icase)`, `:(literal)`, and the internal `:(prefix:N)`), the environment variables that
//! set magic for every pathspec (`GIT_LITERAL_PATHSPECS`, `GIT_GLOB_PATHSPECS`,
//! `GIT_NOGLOB_PATHSPECS`, `GIT_ICASE_PATHSPECS`), and how one pathspec matches a path. It
//! follows git's pathspec.c and dir.c (`match_pathspec_item`) rule for rule; `attr` magic is
//! refused, since answering it would need git's attribute rules.

use super::wildmatch::{Flags, wildmatch};

/// The magic of one pathspec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Magic {
    /// Relative to the top of the work tree, not to the current directory.
    pub top: bool,
    /// No wildcards: every character stands for itself.
    pub literal: bool,
    /// Wildcards as in shells: `*` and `?` stop at slashes, `**` crosses them.
    pub glob: bool,
    /// ASCII letters match either case (not in the part given by the current directory).
    pub icase: bool,
    /// Takes away from what the other pathspecs select.
    pub exclude: bool,
}

impl Magic {
    /// The names of the magic a resolved pathspec carries on, in git's long form. `top` is
    /// left out: a resolved pathspec is relative to the top already.
    pub fn long_names(self) -> Vec<&'static str> {
        let named = [
            (self.literal, "literal"),
            (self.glob, "glob"),
            (self.icase, "icase"),
            (self.exclude, "exclude"),
        ];
        named
            .into_iter()
            .filter_map(|(set, name)| set.then_some(name))
            .collect()
    }
}

/// The environment variables that give every pathspec of a git command the same magic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Globals {
    /// `GIT_LITERAL_PATHSPECS`: no magic and no wildcards at all.
    pub literal: bool,
    /// `GIT_GLOB_PATHSPECS`: glob magic for every pathspec without literal magic.
    pub glob: bool,
    /// `GIT_NOGLOB_PATHSPECS`: literal magic for every pathspec without glob magic.
    pub noglob: bool,
    /// `GIT_ICASE_PATHSPECS`: icase magic for every pathspec.
    pub icase: bool,
}

impl Globals {
    /// Reads the variables as git does, refusing the combinations git refuses.
    pub fn from_env() -> Result<Globals, String> {
        let read = |name: &str| match std::env::var_os(name) {
            None => Ok(false),
            Some(value) => parse_bool(value.as_encoded_bytes()).ok_or_else(|| {
                format!(
                    "{name}={} is no boolean; set it to 1 or 0 (true or false), or unset it",
                    value.to_string_lossy()
                )
            }),
        };
        let globals = Globals {
            literal: read("GIT_LITERAL_PATHSPECS")?,
            glob: read("GIT_GLOB_PATHSPECS")?,
            noglob: read("GIT_NOGLOB_PATHSPECS")?,
            icase: read("GIT_ICASE_PATHSPECS")?,
        };
        if globals.glob && globals.noglob {
            return Err("GIT_GLOB_PATHSPECS and GIT_NOGLOB_PATHSPECS are both set, and they are incompatible; unset one".into());
        }
        if globals.literal && (globals.glob || globals.icase) {
            return Err("GIT_LITERAL_PATHSPECS is incompatible with GIT_GLOB_PATHSPECS and GIT_ICASE_PATHSPECS; unset one".into());
        }
        Ok(globals)
    }

    /// The magic of a pathspec whose own magic is `element`, as git's `get_global_magic`
    /// adds to it.
    pub fn applied_to(self, element: Magic) -> Result<Magic, String> {
        let mut magic = element;
        magic.literal |= self.literal || (self.noglob && !element.glob);
        magic.glob |= self.glob && !element.literal;
        magic.icase |= self.icase;
        if magic.literal && magic.glob {
            return Err("'literal' and 'glob' magic are incompatible".into());
        }
        Ok(magic)
    }
}

/// git's reading of a boolean environment variable: empty is false, then true/yes/on,
/// false/no/off (any case), or a number.
fn parse_bool(value: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(value).ok()?.trim();
    match text.to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "off" => Some(false),
        "true" | "yes" | "on" => Some(true),
        number => number.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// One pathspec, its magic read and not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element<'a> {
    /// The pathspec's own magic, without the environment's.
    pub magic: Magic,
    /// `:(prefix:N)`: the pattern is relative to the top, and its first N bytes are the
    /// directory it was given in.
    pub prefix: Option<usize>,
    /// What follows the magic.
    pub pattern: &'a [u8],
}

/// Reads the magic of `spec` as git's `parse_element_magic` does. Without `literal_global`
/// (`GIT_LITERAL_PATHSPECS`) a leading `:` starts magic; with it nothing does. Magic git does
/// not know, or that this tool cannot answer (`attr`), is an error that names it.
pub(crate) fn parse_element(spec: &[u8], literal_global: bool) -> Result<Element<'_>, String> {
    let mut element = Element {
        magic: Magic::default(),
        prefix: None,
        pattern: spec,
    };
    if spec.first() != Some(&b':') || literal_global {
        return Ok(element);
    }
    if spec.get(1) == Some(&b'(') {
        parse_long_magic(spec, &mut element)?;
    } else {
        parse_short_magic(spec, &mut element)?;
    }
    Ok(element)
}

/// A pathspec made relative to the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Its own magic, without the environment's.
    pub magic: Magic,
    pub item: Item,
}

/// Resolves `spec`, given in the directory `cwd_prefix` (relative to the top, with a
/// trailing slash; empty at the top), as git's `init_pathspec_item` does: its magic read,
/// the directory put before its pattern unless it has top magic, and `.` and `..` resolved.
/// `absolute` turns an absolute pattern into one relative to the top, or says why not.
pub(crate) fn resolve(
    spec: &[u8],
    cwd_prefix: &[u8],
    globals: Globals,
    absolute: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<Resolved, String> {
    if spec.contains(&0) {
        return Err("a path cannot hold a NUL byte".into());
    }
    if spec.is_empty() {
        return Err(
            "an empty string is not a valid pathspec; use . if you meant the whole directory"
                .into(),
        );
    }
    let element = parse_element(spec, globals.literal)?;
    let magic = globals.applied_to(element.magic)?;
    let pattern = element.pattern;
    let (pattern, prefix) = if let Some(prefix) = element.prefix {
        if !cwd_prefix.is_empty() {
            return Err("'prefix' magic is for pathspecs given at the top of the work tree".into());
        }
        if prefix > pattern.len() {
            return Err(format!(
                "its 'prefix' magic ({prefix}) is longer than its path"
            ));
        }
        (pattern.to_vec(), prefix)
    } else if magic.top {
        // git takes the rest as it is, `./` and all.
        (pattern.to_vec(), 0)
    } else if pattern.first() == Some(&b'/') {
        (absolute(pattern)?, 0)
    } else {
        let mut joined = cwd_prefix.to_vec();
        joined.extend_from_slice(pattern);
        let mut prefix = cwd_prefix.len();
        let normal = normalize(&joined, &mut prefix)
            .ok_or_else(|| "it is outside the work tree".to_owned())?;
        (normal, prefix)
    };
    Ok(Resolved {
        magic: element.magic,
        item: Item::new(pattern, prefix, magic),
    })
}

/// `:(name,name,...)pattern`.
fn parse_long_magic<'a>(spec: &'a [u8], element: &mut Element<'a>) -> Result<(), String> {
    let shown = String::from_utf8_lossy(spec);
    let mut pos = 2;
    while pos < spec.len() && spec[pos] != b')' {
        let len = length_to_unescaped(&spec[pos..], b",)");
        let word = &spec[pos..pos + len];
        let next = if spec.get(pos + len) == Some(&b',') {
            pos + len + 1
        } else {
            pos + len
        };
        pos = next;
        if word.is_empty() {
            continue;
        }
        if let Some(number) = word.strip_prefix(b"prefix:") {
            let number = std::str::from_utf8(number)
                .ok()
                .and_then(|n| n.parse().ok());
            match number {
                Some(number) => element.prefix = Some(number),
                None => return Err("invalid parameter for pathspec magic 'prefix'".into()),
            }
            continue;
        }
        let magic = &mut element.magic;
        match word {
            b"top" => magic.top = true,
            b"literal" => magic.literal = true,
            b"glob" => magic.glob = true,
            b"icase" => magic.icase = true,
            b"exclude" => magic.exclude = true,
            _ if word == b"attr" || word.starts_with(b"attr:") => {
                return Err(attr_refused());
            }
            _ => {
                return Err(format!(
                    "unknown pathspec magic '{}' in '{shown}'; git knows top, exclude, glob, icase, literal and attr",
                    String::from_utf8_lossy(word)
                ));
            }
        }
    }
    if spec.get(pos) != Some(&b')') {
        return Err(format!(
            "missing ')' at the end of the pathspec magic in '{shown}'"
        ));
    }
    element.pattern = &spec[pos + 1..];
    Ok(())
}

/// `:/`, `:!`, `:^` (and any run of them), then an optional `:` before the pattern.
fn parse_short_magic<'a>(spec: &'a [u8], element: &mut Element<'a>) -> Result<(), String> {
    let mut pos = 1;
    while let Some(&c) = spec.get(pos) {
        match c {
            b':' => break,
            b'/' => element.magic.top = true,
            b'!' | b'^' => element.magic.exclude = true,
            c if is_pathspec_magic(c) => {
                return Err(format!(
                    "unimplemented pathspec magic '{}' in '{}'; the short forms are ':/' (top) and ':!' or ':^' (exclude)",
                    c as char,
                    String::from_utf8_lossy(spec)
                ));
            }
            _ => break,
        }
        pos += 1;
    }
    if spec.get(pos) == Some(&b':') {
        pos += 1;
    }
    element.pattern = &spec[pos..];
    Ok(())
}

fn attr_refused() -> String {
    "'attr' magic is not supported: git-mtimestamp does not read git's attributes; \
     name the paths instead: `git ls-files -z -- '<pathspec>' | GIT_LITERAL_PATHSPECS=1 xargs -0 -r git-mtimestamp --`"
        .into()
}

/// The characters git reads as short magic (`GIT_PATHSPEC_MAGIC` in ctype.c): the ASCII
/// punctuation that is no glob or regex character, nor `]` or `}`.
fn is_pathspec_magic(c: u8) -> bool {
    b"!\"#%&',-/:;<=>@_`~".contains(&c)
}

/// The length of the start of `s` before one of `stops`, skipping backslash-escaped bytes.
fn length_to_unescaped(s: &[u8], stops: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            i += 2;
            continue;
        }
        if stops.contains(&s[i]) {
            break;
        }
        i += 1;
    }
    i.min(s.len())
}

/// git's `normalize_path_copy_len`: drops `.` components and repeated slashes, and lets
/// `..` remove the component before it, keeping a trailing slash. `prefix_len` (the length
/// of the leading directory part) shrinks when `..` climbs into it. None when `..` climbs
/// above the start.
pub(crate) fn normalize(src: &[u8], prefix_len: &mut usize) -> Option<Vec<u8>> {
    let mut dst = Vec::with_capacity(src.len());
    let mut i = 0;
    if src.first() == Some(&b'/') {
        dst.push(b'/');
        i = 1;
    }
    let start = dst.len();
    let skip_slashes = |mut i: usize| {
        while src.get(i) == Some(&b'/') {
            i += 1;
        }
        i
    };
    i = skip_slashes(i);
    loop {
        if src.get(i) == Some(&b'.') {
            match (src.get(i + 1).copied(), src.get(i + 2).copied()) {
                // "." at the end.
                (None, _) => break,
                // "./"
                (Some(b'/'), _) => {
                    i = skip_slashes(i + 2);
                    continue;
                }
                // ".." at the end, or "../".
                (Some(b'.'), None) | (Some(b'.'), Some(b'/')) => {
                    i = skip_slashes(i + 2);
                    // Up one: drop the last component and keep the slash before it.
                    dst.pop();
                    if dst.len() <= start {
                        return None;
                    }
                    while dst.len() > start && dst.last() != Some(&b'/') {
                        dst.pop();
                    }
                    *prefix_len = (*prefix_len).min(dst.len() - start);
                    continue;
                }
                _ => {}
            }
        }
        // A component, and the slashes after it as one.
        while let Some(&c) = src.get(i) {
            if c == b'/' {
                break;
            }
            dst.push(c);
            i += 1;
        }
        if i >= src.len() {
            break;
        }
        dst.push(b'/');
        i = skip_slashes(i);
    }
    Some(dst)
}

/// How a pathspec matched a path (git's `MATCHED_*`); only whether it did matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum How {
    None,
    Fnmatch,
    Recursively,
    Exactly,
}

/// One pathspec, resolved: its pattern relative to the top of the work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    /// git's `match`: the pattern relative to the top, the directory it was given in first.
    pattern: Vec<u8>,
    /// The length of that directory part, matched literally and with its case.
    prefix: usize,
    /// The length of the part before the first wildcard: it is compared literally.
    nowildcard_len: usize,
    pub magic: Magic,
}

impl Item {
    /// `pattern` relative to the top, its first `prefix` bytes the directory it was given in.
    pub fn new(pattern: Vec<u8>, prefix: usize, magic: Magic) -> Item {
        let nowildcard_len = if magic.literal {
            pattern.len()
        } else {
            let simple = pattern
                .iter()
                .position(|&c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
                .unwrap_or(pattern.len());
            simple.max(prefix)
        };
        Item {
            pattern,
            prefix,
            nowildcard_len,
            magic,
        }
    }

    /// The pattern, relative to the top.
    pub fn pattern(&self) -> &[u8] {
        &self.pattern
    }

    /// The length of the pattern's leading part that names the directory it was given in.
    pub fn prefix(&self) -> usize {
        self.prefix
    }

    /// Whether this pathspec selects the index entry or tree entry `name` (git's
    /// `match_pathspec_item` with no common prefix). `is_dir` is true for directories and
    /// submodules: `dir/` then matches `dir` itself.
    pub fn matches(&self, name: &[u8], is_dir: bool) -> bool {
        self.how(name, is_dir) != How::None
    }

    fn how(&self, name: &[u8], is_dir: bool) -> How {
        let pattern = self.pattern.as_slice();
        // The directory part is matched with its case, even under icase.
        if self.prefix > 0
            && self.magic.icase
            && name.get(..self.prefix) != Some(&pattern[..self.prefix])
        {
            return How::None;
        }
        if pattern.is_empty() {
            return How::Recursively;
        }
        let len = pattern.len();
        if len <= name.len() && self.equal(pattern, &name[..len]) {
            if len == name.len() {
                return How::Exactly;
            }
            if pattern[len - 1] == b'/' || name[len] == b'/' {
                return How::Recursively;
            }
        } else if is_dir
            && pattern[len - 1] == b'/'
            && name.len() == len - 1
            && self.equal(&pattern[..len - 1], name)
        {
            return How::Exactly;
        }
        if self.nowildcard_len < len && self.fnmatch(name) {
            return How::Fnmatch;
        }
        How::None
    }

    fn equal(&self, a: &[u8], b: &[u8]) -> bool {
        if self.magic.icase {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    /// git's `git_fnmatch`: the part before the first wildcard literally, the rest with
    /// wildmatch, `*` crossing slashes unless glob magic says otherwise.
    fn fnmatch(&self, name: &[u8]) -> bool {
        let literal = self.nowildcard_len;
        if literal > 0 {
            match name.get(..literal) {
                Some(start) if self.equal(&self.pattern[..literal], start) => {}
                _ => return false,
            }
        }
        let flags = Flags {
            pathname: self.magic.glob,
            casefold: self.magic.icase,
        };
        wildmatch(&self.pattern[literal..], &name[literal..], flags)
    }

    /// Whether this pathspec selects every path of the work tree, and so the top itself:
    /// an empty pattern (`.` at the top, `:/`), or one of stars only (`*`, or `**` with glob
    /// magic).
    pub fn selects_everything(&self) -> bool {
        if self.pattern.is_empty() {
            return true;
        }
        let stars = self.pattern.iter().all(|&c| c == b'*');
        stars
            && self.prefix == 0
            && !self.magic.literal
            && (!self.magic.glob || self.pattern.len() >= 2)
    }
}

#[cfg(test)]
mod tests;
