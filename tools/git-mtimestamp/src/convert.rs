//! What git does to a work-tree file's content before it compares it with a blob: git's
//! `convert_to_git` (convert.c) as `git status` runs it, without flags. In that order: the
//! `filter` driver's clean command, `working-tree-encoding`, end-of-line conversion, `ident`.
//!
//! It is ported rather than left to libgit2, which has no `working-tree-encoding` (a UTF-16
//! file would never match its UTF-8 blob) and which reads attributes its own way (see
//! [`crate::attributes`]). The port follows git 2.39 step by step, and the tests hold it
//! against `git hash-object --path`.
//!
//! `git status` converts with none of `git add`'s checks: no `core.safecrlf`, no
//! `core.checkRoundtripEncoding`, and content that cannot be decoded from its
//! `working-tree-encoding` (a missing or forbidden byte-order mark, an invalid sequence) is
//! hashed as it is, after an error message, where `git add` refuses it. Such a file is
//! therefore modified for `git status`, and for this tool.

use std::ffi::CString;

use git2::{Oid, Repository};

use crate::attributes::{AttrState, ConversionAttributes};

/// `core.autocrlf`: how files with no `text`, `crlf` or `eol` attribute are converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum AutoCrlf {
    #[default]
    False,
    True,
    Input,
}

/// The configuration that conversions depend on. `core.eol` is not part of it: it only chooses
/// the line endings of checked-out text files, and converting to git turns CRLF into LF
/// whichever it says.
#[derive(Debug, Default)]
pub(crate) struct ConvertConfig {
    auto_crlf: AutoCrlf,
    drivers: FilterDrivers,
}

impl ConvertConfig {
    pub fn of(repo: &Repository) -> ConvertConfig {
        let auto_crlf = match repo.config() {
            Ok(config) => match config.get_string("core.autocrlf") {
                Ok(value) if value.eq_ignore_ascii_case("input") => AutoCrlf::Input,
                _ => match config.get_bool("core.autocrlf") {
                    Ok(true) => AutoCrlf::True,
                    _ => AutoCrlf::False,
                },
            },
            Err(_) => AutoCrlf::False,
        };
        ConvertConfig {
            auto_crlf,
            drivers: FilterDrivers::of(repo),
        }
    }

    /// Whether the configuration defines any filter driver: without one, no `filter`
    /// attribute can select a driver git would run, and none needs looking up.
    pub fn any_driver(&self) -> bool {
        !self.drivers.configured.is_empty()
    }

    /// The driver git runs for a `filter` attribute, if the configuration defines it.
    pub fn driver(&self, filter: &AttrState) -> Option<FilterDriver> {
        // Only a name selects a driver: `filter` set or unset selects none, as in git.
        let AttrState::Value(name) = filter else {
            return None;
        };
        self.drivers
            .configured
            .contains(name)
            .then(|| FilterDriver {
                name: name.clone(),
                required: self.drivers.required.contains(name),
            })
    }
}

/// The filter drivers the repository's configuration defines. git runs a driver only when
/// `filter.<name>.clean`, `smudge` or `process` is set; a `filter=<name>` attribute naming
/// any other driver changes nothing (git/git's `po/*.po` names one that a plain clone does
/// not configure).
#[derive(Debug, Default)]
pub(crate) struct FilterDrivers {
    configured: std::collections::HashSet<Vec<u8>>,
    /// Configured with `filter.<name>.required`: git refuses to work without them.
    required: std::collections::HashSet<Vec<u8>>,
}

impl FilterDrivers {
    pub fn of(repo: &Repository) -> FilterDrivers {
        let mut drivers = FilterDrivers::default();
        let Ok(config) = repo.config() else {
            return drivers;
        };
        let Ok(mut entries) =
            config.entries(Some(r"^filter\..*\.(clean|smudge|process|required)$"))
        else {
            return drivers;
        };
        while let Some(Ok(entry)) = entries.next() {
            let name = entry.name_bytes();
            let Some(rest) = name.strip_prefix(b"filter.") else {
                continue;
            };
            let Some(dot) = rest.iter().rposition(|&b| b == b'.') else {
                continue;
            };
            let (driver, key) = (&rest[..dot], &rest[dot + 1..]);
            if key == b"required" {
                // git's booleans; a key without a value is true.
                let value = entry.value().unwrap_or("true").to_ascii_lowercase();
                if matches!(value.as_str(), "true" | "yes" | "on" | "1" | "") {
                    drivers.required.insert(driver.to_vec());
                }
            } else if entry.value_bytes().iter().any(|b| !b.is_ascii_whitespace()) {
                drivers.configured.insert(driver.to_vec());
            }
        }
        // A required driver without a command is an error for git, not a driver to run.
        let configured = &drivers.configured;
        drivers
            .required
            .retain(|driver| configured.contains(driver));
        drivers
    }
}

/// A path's `filter` driver that git would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilterDriver {
    pub name: Vec<u8>,
    pub required: bool,
}

/// Why a file's content cannot be compared with a blob without git itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incomparable {
    /// git runs a filter driver (Git LFS, git-crypt, ...), which this tool does not.
    FilterDriver(FilterDriver),
    /// `working-tree-encoding` set or unset rather than named: `git status` stops with "true/false
    /// are no valid working-tree-encodings".
    EncodingNotNamed,
}

/// End-of-line conversion into the repository: git's `crlf_action`, of which conversion to git
/// only tells three kinds apart (`eol=lf` and `eol=crlf` choose what a checkout writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
    /// `-text`, or no attribute with `core.autocrlf` false: the bytes stay as they are.
    Keep,
    /// `text`, `eol=...`, `crlf`, `crlf=input`: every CR before a LF is dropped.
    Text,
    /// `text=auto`, or no attribute with `core.autocrlf` true or input: as `Text` for files
    /// that look like text and whose blob in the index has no CRLF.
    Auto,
}

/// How git turns one path's work-tree content into the content it hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToGit {
    /// The `working-tree-encoding` to decode from, as named.
    encoding: Option<Vec<u8>>,
    eol: Eol,
    ident: bool,
}

/// git's `crlf_action` as the attributes give it, before `core.autocrlf` has its say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrlfAttribute {
    Undefined,
    Binary,
    Text,
    Auto,
}

/// git's `git_path_check_crlf`, for `text` and for the older `crlf`.
fn crlf_attribute(state: &AttrState) -> CrlfAttribute {
    match state {
        AttrState::Set => CrlfAttribute::Text,
        AttrState::Unset => CrlfAttribute::Binary,
        AttrState::Value(value) if value == b"input" => CrlfAttribute::Text,
        AttrState::Value(value) if value == b"auto" => CrlfAttribute::Auto,
        _ => CrlfAttribute::Undefined,
    }
}

impl ToGit {
    /// git's `convert_attrs`: the conversion the attributes and the configuration select.
    pub fn new(
        attributes: &ConversionAttributes,
        config: &ConvertConfig,
    ) -> Result<ToGit, Incomparable> {
        if let Some(driver) = config.driver(&attributes.filter) {
            return Err(Incomparable::FilterDriver(driver));
        }
        let mut action = crlf_attribute(&attributes.text);
        if action == CrlfAttribute::Undefined {
            action = crlf_attribute(&attributes.crlf);
        }
        if action != CrlfAttribute::Binary && action != CrlfAttribute::Auto {
            // `eol=lf` and `eol=crlf` make a file text; with `text=auto` they keep the guess.
            let eol_set =
                matches!(&attributes.eol, AttrState::Value(v) if v == b"lf" || v == b"crlf");
            if eol_set {
                action = CrlfAttribute::Text;
            }
        }
        let eol = match (action, config.auto_crlf) {
            (CrlfAttribute::Binary, _) => Eol::Keep,
            (CrlfAttribute::Text, _) => Eol::Text,
            (CrlfAttribute::Auto, _) => Eol::Auto,
            (CrlfAttribute::Undefined, AutoCrlf::False) => Eol::Keep,
            (CrlfAttribute::Undefined, AutoCrlf::True | AutoCrlf::Input) => Eol::Auto,
        };
        // git's `git_path_check_encoding`.
        let encoding = match &attributes.working_tree_encoding {
            AttrState::Unspecified => None,
            AttrState::Set | AttrState::Unset => return Err(Incomparable::EncodingNotNamed),
            AttrState::Value(name) if name.is_empty() || same_encoding(name, b"UTF-8") => None,
            AttrState::Value(name) => Some(name.clone()),
        };
        Ok(ToGit {
            encoding,
            eol,
            ident: attributes.ident == AttrState::Set,
        })
    }

    /// True when the content goes to git unchanged, whatever it is: it can be hashed as it is
    /// read, without holding it in memory.
    pub fn keeps_content(&self) -> bool {
        self.encoding.is_none() && self.eol == Eol::Keep && !self.ident
    }

    /// True when git, converting `content` as `git status` does, finds the blob `blob`, which
    /// the index holds for the path: with `text=auto` git converts only when the index's blob
    /// has no CRLF line ending.
    pub fn matches(&self, content: Vec<u8>, blob: Oid) -> bool {
        let decoded = match &self.encoding {
            Some(encoding) => encode_to_git(content, encoding),
            None => content,
        };
        let stats = TextStats::of(&decoded);
        // git's `crlf_to_git`: nothing to do without a CRLF.
        let convert = match self.eol {
            Eol::Keep => false,
            Eol::Text => stats.crlf > 0,
            Eol::Auto => stats.crlf > 0 && !stats.is_binary(),
        };
        if !convert {
            return hash(&ident_to_git(decoded, self.ident)) == blob;
        }
        if self.eol == Eol::Text {
            return hash(&ident_to_git(strip_cr_before_lf(&decoded), self.ident)) == blob;
        }
        // `text=auto`: git keeps the CRLFs when the index's blob has a CRLF itself (and looks
        // like text), and drops every CR otherwise (a file that looks like text has no CR
        // without a LF). The blob need not be read: when the unconverted content hashes to it,
        // that content is the blob, and its own statistics decide; when it does not, git's
        // answer is the unconverted content (not the blob) or the converted one, which is the
        // blob only if the blob has no CR at all, and so no CRLF.
        let kept = ident_to_git(decoded, self.ident);
        if hash(&kept) == blob {
            let kept_stats = TextStats::of(&kept);
            return kept_stats.crlf > 0 && !kept_stats.is_binary();
        }
        let stripped: Vec<u8> = kept.iter().copied().filter(|&b| b != b'\r').collect();
        // `ident_to_git` only removes whole `$Id: ... $` bodies, which hold no LF, and in
        // content that looks like text no CR either (it would be a CR without a LF): dropping
        // the CRs before or after it gives the same bytes.
        hash(&stripped) == blob
    }
}

/// The blob id of `content`.
fn hash(content: &[u8]) -> Oid {
    crate::objects::blob_id(content)
}

/// git's `text_stat`: what `gather_stats` counts to tell text from binary.
#[derive(Debug, Default)]
struct TextStats {
    nul: u64,
    lone_cr: u64,
    crlf: u64,
    printable: u64,
    nonprintable: u64,
}

impl TextStats {
    fn of(content: &[u8]) -> TextStats {
        let mut stats = TextStats::default();
        let mut i = 0;
        while i < content.len() {
            let c = content[i];
            i += 1;
            match c {
                b'\r' => {
                    if content.get(i) == Some(&b'\n') {
                        stats.crlf += 1;
                        i += 1;
                    } else {
                        stats.lone_cr += 1;
                    }
                }
                b'\n' => {}
                127 => stats.nonprintable += 1,
                // BS, HT, ESC and FF count as printable.
                b'\x08' | b'\t' | b'\x1b' | b'\x0c' => stats.printable += 1,
                0 => {
                    stats.nul += 1;
                    stats.nonprintable += 1;
                }
                c if c < 32 => stats.nonprintable += 1,
                _ => stats.printable += 1,
            }
        }
        // A file that ends with DOS's end-of-file mark (counted above) is not binary for it.
        if content.last() == Some(&b'\x1a') {
            stats.nonprintable -= 1;
        }
        stats
    }

    /// git's `convert_is_binary`: a CR without a LF, a NUL, or more than one control
    /// character in 128 printable ones.
    fn is_binary(&self) -> bool {
        self.lone_cr > 0 || self.nul > 0 || (self.printable >> 7) < self.nonprintable
    }
}

/// `crlf_to_git` for text: every CR directly followed by a LF is dropped.
fn strip_cr_before_lf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    for (i, &c) in content.iter().enumerate() {
        if !(c == b'\r' && content.get(i + 1) == Some(&b'\n')) {
            out.push(c);
        }
    }
    out
}

/// git's `count_ident`: how many `$Id$` and `$Id: ... $` the content holds.
fn count_ident(content: &[u8]) -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < content.len() {
        let c = content[i];
        i += 1;
        if c != b'$' {
            continue;
        }
        if content.len() - i < 3 {
            break;
        }
        if &content[i..i + 2] != b"Id" {
            continue;
        }
        let after = content[i + 2];
        i += 3;
        if after == b'$' {
            count += 1;
        }
        if after != b':' {
            continue;
        }
        // `$Id: ...`: up to the closing dollar, unless a line ends first.
        while i < content.len() {
            let c = content[i];
            i += 1;
            if c == b'$' {
                count += 1;
                break;
            }
            if c == b'\n' {
                break;
            }
        }
    }
    count
}

/// git's `ident_to_git`: each `$Id: ... $` on one line becomes `$Id$`.
fn ident_to_git(content: Vec<u8>, ident: bool) -> Vec<u8> {
    if !ident || count_ident(&content) == 0 {
        return content;
    }
    let mut out = Vec::with_capacity(content.len());
    let mut src = 0;
    while let Some(dollar) = content[src..].iter().position(|&b| b == b'$') {
        out.extend_from_slice(&content[src..=src + dollar]);
        src += dollar + 1;
        let rest = &content[src..];
        if rest.len() > 3 && rest.starts_with(b"Id:") {
            let Some(closing) = rest[3..].iter().position(|&b| b == b'$') else {
                break;
            };
            if rest[3..3 + closing].contains(&b'\n') {
                // A line break before the next dollar: that dollar may open another one.
                continue;
            }
            out.extend_from_slice(b"Id$");
            src += 3 + closing + 1;
        }
    }
    out.extend_from_slice(&content[src..]);
    out
}

/// git's `encode_to_git` without flags: the content decoded from `encoding` into UTF-8, or as
/// it is when git cannot decode it (git then says so on stderr and hashes the bytes as they
/// are).
fn encode_to_git(content: Vec<u8>, encoding: &[u8]) -> Vec<u8> {
    if content.is_empty()
        || has_prohibited_utf_bom(encoding, &content)
        || is_missing_required_utf_bom(encoding, &content)
    {
        return content;
    }
    reencode_to_utf8(&content, encoding).unwrap_or(content)
}

const UTF16_BE_BOM: &[u8] = b"\xFE\xFF";
const UTF16_LE_BOM: &[u8] = b"\xFF\xFE";
const UTF32_BE_BOM: &[u8] = b"\0\0\xFE\xFF";
const UTF32_LE_BOM: &[u8] = b"\xFF\xFE\0\0";

/// git's `same_utf_encoding`: both names start with "UTF" (any case), and the rest, after an
/// optional dash, is equal but for case ("UTF16le" is "utf-16LE").
fn same_utf_encoding(a: &[u8], b: &[u8]) -> bool {
    fn rest(name: &[u8]) -> Option<&[u8]> {
        let rest = name
            .get(..3)
            .filter(|prefix| prefix.eq_ignore_ascii_case(b"utf"))
            .map(|_| &name[3..])?;
        Some(rest.strip_prefix(b"-").unwrap_or(rest))
    }
    match (rest(a), rest(b)) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// git's `same_encoding`.
fn same_encoding(a: &[u8], b: &[u8]) -> bool {
    same_utf_encoding(a, b) || a.eq_ignore_ascii_case(b)
}

/// git refuses a byte-order mark in UTF-16BE, UTF-16LE, UTF-32BE and UTF-32LE content.
fn has_prohibited_utf_bom(encoding: &[u8], content: &[u8]) -> bool {
    let utf16 =
        same_utf_encoding(b"UTF-16BE", encoding) || same_utf_encoding(b"UTF-16LE", encoding);
    let utf32 =
        same_utf_encoding(b"UTF-32BE", encoding) || same_utf_encoding(b"UTF-32LE", encoding);
    (utf16 && (content.starts_with(UTF16_BE_BOM) || content.starts_with(UTF16_LE_BOM)))
        || (utf32 && (content.starts_with(UTF32_BE_BOM) || content.starts_with(UTF32_LE_BOM)))
}

/// git requires a byte-order mark in UTF-16 and UTF-32 content.
fn is_missing_required_utf_bom(encoding: &[u8], content: &[u8]) -> bool {
    (same_utf_encoding(encoding, b"UTF-16")
        && !(content.starts_with(UTF16_BE_BOM) || content.starts_with(UTF16_LE_BOM)))
        || (same_utf_encoding(encoding, b"UTF-32")
            && !(content.starts_with(UTF32_BE_BOM) || content.starts_with(UTF32_LE_BOM)))
}

/// git's `reencode_string_len` into UTF-8, through the C library's iconv as git calls it, so
/// that every encoding name git accepts here is accepted, and decoded alike. None when iconv
/// does not know the encoding or the content is not valid in it.
fn reencode_to_utf8(content: &[u8], encoding: &[u8]) -> Option<Vec<u8>> {
    // For reading, git takes UTF-16LE-BOM for UTF-16 (whose decoder follows the mark).
    let encoding: &[u8] = if same_utf_encoding(b"UTF-16LE-BOM", encoding) {
        b"UTF-16"
    } else {
        encoding
    };
    let utf8 = c"UTF-8";
    let name = CString::new(encoding).ok()?;
    // iconv_open's failure is `(iconv_t) -1`.
    let invalid = |converter: libc::iconv_t| converter as usize == usize::MAX;
    // SAFETY: both names are NUL-terminated strings that outlive the call.
    let mut converter = unsafe { libc::iconv_open(utf8.as_ptr(), name.as_ptr()) };
    if invalid(converter) {
        // git's `fallback_encoding`: spellings some systems lack.
        let fallback: &[u8] = if same_utf_encoding(b"utf-8", encoding) {
            b"UTF-8"
        } else if encoding.eq_ignore_ascii_case(b"latin-1") {
            b"ISO-8859-1"
        } else {
            encoding
        };
        let fallback = CString::new(fallback).ok()?;
        // SAFETY: as above.
        converter = unsafe { libc::iconv_open(utf8.as_ptr(), fallback.as_ptr()) };
        if invalid(converter) {
            return None;
        }
    }
    let decoded = iconv_all(converter, content);
    // SAFETY: `converter` was opened above and is closed once.
    unsafe { libc::iconv_close(converter) };
    decoded
}

/// git's `reencode_string_iconv`: all of `input` through `converter`, growing the output as
/// iconv asks; None on any other error (an invalid or incomplete sequence).
fn iconv_all(converter: libc::iconv_t, input: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len() + 1);
    let mut in_ptr = input.as_ptr() as *mut libc::c_char;
    let mut in_left = input.len();
    loop {
        let written = out.len();
        let room = out.capacity() - written;
        // SAFETY: the output pointer and `out_left` describe the vector's spare capacity.
        let mut out_ptr = unsafe { out.as_mut_ptr().add(written) } as *mut libc::c_char;
        let mut out_left = room;
        // SAFETY: the input pointer and length describe the rest of `input`, which iconv only
        // reads (the C declaration lacks `const`); the output ones the spare capacity above.
        let result = unsafe {
            libc::iconv(
                converter,
                &mut in_ptr,
                &mut in_left,
                &mut out_ptr,
                &mut out_left,
            )
        };
        let error = (result == usize::MAX).then(std::io::Error::last_os_error);
        // SAFETY: iconv wrote `room - out_left` bytes after the `written` ones.
        unsafe { out.set_len(written + room - out_left) };
        match error {
            None => return Some(out),
            Some(e) if e.raw_os_error() == Some(libc::E2BIG) => {
                out.reserve(in_left * 2 + 32);
            }
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests;
