//! What the synthetic repositories' files hold: the attributes files, the binary files'
//! headers, the submodule's place, and the paths symlinks need.

/// The root `.gitattributes`. Text files are normalized to LF in the repository (every text
/// blob here has LF only, so a CRLF checkout converts back to the very blob), binaries are
/// marked, and large media go through a filter driver, as with Git LFS.
pub(super) const ROOT_ATTRIBUTES: &str = "\
# Line ends are LF in the repository; Windows scripts are checked out with CRLF.
* text=auto
*.go text eol=lf diff=golang
*.md text diff=markdown
*.sh text eol=lf
*.bat text eol=crlf
*.cmd text eol=crlf
*.png binary
*.jpg binary
*.gif binary
*.ico binary
*.pdf binary
*.woff2 binary
# Media and archives are kept in a content store (not configured here).
*.mp4 filter=bench-lfs diff=bench-lfs merge=bench-lfs -text
*.tar.gz filter=bench-lfs diff=bench-lfs merge=bench-lfs -text
*.zip filter=bench-lfs diff=bench-lfs merge=bench-lfs -text
docs/** linguist-documentation
third_party/** linguist-vendored
";

/// Lines of the nested `.gitattributes` files, a few each. None of them makes a binary file
/// text (which would make a checkout of it differ from its blob).
pub(super) const NESTED_ATTRIBUTES: &[&str] = &[
    "*.go text eol=crlf",
    "*.txt text eol=crlf",
    "*.md linguist-documentation diff=markdown",
    "*.json linguist-generated=true -diff",
    "*.pb.go linguist-generated=true -diff",
    "*.bin filter=bench-lfs diff=bench-lfs merge=bench-lfs -text",
    "*.png filter=bench-lfs diff=bench-lfs merge=bench-lfs -text",
    "*.go linguist-vendored",
    "*.yaml text eol=lf linguist-detectable",
    "*.sh text eol=lf diff=bash",
];

/// The `.gitattributes` at the top of each Java-style service tree.
pub(super) const SERVICE_ATTRIBUTES: &str = "\
*.java text diff=java linguist-language=Java
*.properties text eol=crlf
*.bin filter=bench-lfs diff=bench-lfs merge=bench-lfs -text
*.json linguist-generated=true -diff
";

/// The `.gitattributes` that each subtree import brings along.
pub(super) const IMPORT_ATTRIBUTES: &str = "*.go text eol=lf\n*.txt -diff\n";

/// Where the one submodule is.
pub(super) const SUBMODULE: &str = "external/spec";

/// What binary files start with, by the end of their name. Each header is followed by a NUL,
/// the byte by which git tells binary content from text.
pub(super) const BINARY: &[(&str, &[u8])] = &[
    (".png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
    (".jpg", b"\xff\xd8\xff\xe0\0\x10JFIF"),
    (".gif", b"GIF89a"),
    (".ico", b"\0\0\x01\0"),
    (".pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
    (".woff2", b"wOF2"),
    (".zip", b"PK\x03\x04\x14\0"),
    (".tar.gz", b"\x1f\x8b\x08"),
    (".mp4", b"\0\0\0\x20ftypisom"),
    (".bin", b"\x7fELF\x02\x01\x01"),
];

pub(super) fn binary_header(path: &str) -> Option<&'static [u8]> {
    BINARY
        .iter()
        .find(|(end, _)| path.ends_with(end))
        .map(|(_, header)| *header)
}

/// The directory of `path`, with its trailing slash (empty at the top).
pub(super) fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..=slash])
}

/// The relative target that a symlink in `dir` (empty or ending in a slash) needs to point at
/// `target`, a path from the top of the work tree.
pub(super) fn relative(dir: &str, target: &str) -> String {
    let from: Vec<&str> = dir.split('/').filter(|part| !part.is_empty()).collect();
    let to: Vec<&str> = target.split('/').filter(|part| !part.is_empty()).collect();
    let common = from
        .iter()
        .zip(&to[..to.len().saturating_sub(1)])
        .take_while(|(a, b)| a == b)
        .count();
    let mut path = "../".repeat(from.len() - common);
    path.push_str(&to[common..].join("/"));
    path
}
