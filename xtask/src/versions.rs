//! `versions.toml`, the one place tool versions are written: its schema, how it is read, and
//! how one version in it is replaced without touching the rest.
//!
//! Everything else that names a version (go.mod's toolchain line, dagger.json's engine
//! version, the `--go-version` passed to the pipeline, the actionlint that .ci/run runs) is
//! derived from this file; see [`crate::derived`]. renovate.json's regexes find its pins, and
//! a test holds them to what this module parses. The `versions` and `bump` commands are in
//! [`crate::version_tasks`].

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use toml::Spanned;

use crate::version::Version;

pub const FILE: &str = "versions.toml";

/// A pinned tool: the keys of `[tools]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// The Go toolchain.
    Go,
    /// The Dagger CLI and engine.
    Dagger,
    /// The GitHub Actions workflow linter that .ci/run runs.
    Actionlint,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::Go, Tool::Dagger, Tool::Actionlint];

    pub fn key(self) -> &'static str {
        match self {
            Tool::Go => "go",
            Tool::Dagger => "dagger",
            Tool::Actionlint => "actionlint",
        }
    }
}

/// The contents of versions.toml, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub go: Version,
    pub dagger: Version,
    pub actionlint: Version,
}

impl Versions {
    pub fn get(&self, tool: Tool) -> Version {
        match tool {
            Tool::Go => self.go,
            Tool::Dagger => self.dagger,
            Tool::Actionlint => self.actionlint,
        }
    }

    pub fn set(&mut self, tool: Tool, version: Version) {
        match tool {
            Tool::Go => self.go = version,
            Tool::Dagger => self.dagger = version,
            Tool::Actionlint => self.actionlint = version,
        }
    }

    pub fn load(root: &Path) -> anyhow::Result<Versions> {
        let text = read(root)?;
        Ok(Versions::parse(&text)?)
    }

    /// Parses versions.toml strictly: unknown keys, missing keys and anything that is not a
    /// plain `MAJOR.MINOR.PATCH` are errors that name the line.
    ///
    /// LF and CRLF line ends are both accepted, as TOML allows and as editors on Windows write
    /// them; lines are counted by their `\n`, which both end with.
    pub fn parse(text: &str) -> Result<Versions, SchemaError> {
        // Legal TOML, but nothing here writes one and an editor does not show it; refused
        // with a message that says how to save the file without it.
        if text.starts_with('\u{feff}') {
            return Err(SchemaError::at(
                text,
                0,
                "starts with a byte-order mark; save it as UTF-8 without one",
            ));
        }
        let file: VersionsFile = toml::from_str(text).map_err(|err| SchemaError {
            line: err.span().map(|span| line_of(text.as_bytes(), span.start)),
            message: err.message().trim_end().to_owned(),
        })?;
        let version = |tool: Tool, value: &Spanned<String>| {
            let at = value.span().start;
            let version = value.get_ref().parse::<Version>().map_err(|err| {
                let message = format!("{} = {:?}: {err}", tool.key(), value.get_ref());
                SchemaError::at(text, at, message)
            })?;
            // An escape such as `\u0031` decodes to a digit, so the version used would not be
            // the one a reader sees or a search finds.
            let written = text.get(value.span()).unwrap_or_default();
            if written != format!("\"{version}\"") && written != format!("'{version}'") {
                let message = format!(
                    "{key} = {written}: escapes or a multi-line string; write it plainly: {key} = \"{version}\"",
                    key = tool.key()
                );
                return Err(SchemaError::at(text, at, message));
            }
            Ok(version)
        };
        Ok(Versions {
            go: version(Tool::Go, file.tools.get(Tool::Go))?,
            dagger: version(Tool::Dagger, file.tools.get(Tool::Dagger))?,
            actionlint: version(Tool::Actionlint, file.tools.get(Tool::Actionlint))?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionsFile {
    tools: ToolsTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsTable {
    go: Spanned<String>,
    dagger: Spanned<String>,
    actionlint: Spanned<String>,
}

impl ToolsTable {
    fn get(&self, tool: Tool) -> &Spanned<String> {
        match tool {
            Tool::Go => &self.go,
            Tool::Dagger => &self.dagger,
            Tool::Actionlint => &self.actionlint,
        }
    }
}

/// A problem in versions.toml, at a line when the parser knows one.
#[derive(Debug, thiserror::Error)]
#[error("{FILE}:{} {message}", line.map_or(String::new(), |line| format!("{line}:")))]
pub struct SchemaError {
    line: Option<usize>,
    message: String,
}

impl SchemaError {
    fn at(text: &str, offset: usize, message: impl Into<String>) -> SchemaError {
        SchemaError {
            line: Some(line_of(text.as_bytes(), offset)),
            message: message.into(),
        }
    }
}

/// The 1-based line of byte `offset`. The end of a file that ends with a line end counts as
/// its last line, as editors count lines: an error "at the end" names a line that exists.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    let offset = offset.min(bytes.len());
    let line_ends = bytes[..offset].iter().filter(|&&b| b == b'\n').count();
    if offset == bytes.len() && bytes.ends_with(b"\n") {
        line_ends
    } else {
        line_ends + 1
    }
}

/// The text of versions.toml in `root`; bytes that are not UTF-8 are an error naming their line.
pub fn read(root: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(root.join(FILE)).with_context(|| format!("reading {FILE}"))?;
    String::from_utf8(bytes).map_err(|err| {
        let line = line_of(err.as_bytes(), err.utf8_error().valid_up_to());
        anyhow::anyhow!("{FILE}:{line}: not valid UTF-8")
    })
}

/// versions.toml with one version replaced. Only the bytes of the value change (to a string
/// in double quotes), so every comment, blank line, line end (LF or CRLF) and key order stays
/// as it was.
pub fn edit_in_place(text: &str, tool: Tool, version: Version) -> anyhow::Result<String> {
    let file: VersionsFile = toml::from_str(text).context("parsing versions.toml for editing")?;
    let span = file.tools.get(tool).span();
    Ok(format!(
        "{}\"{version}\"{}",
        &text[..span.start],
        &text[span.end..]
    ))
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# Toolchain versions.
[tools]
go = \"1.26.8\"      # the Go toolchain
dagger = \"0.21.8\"  # the Dagger CLI and engine
actionlint = \"1.7.12\"  # the workflow linter
";

    #[test]
    fn parses_the_suggested_shape() {
        let versions = Versions::parse(GOOD).unwrap();
        assert_eq!(
            versions,
            Versions {
                go: Version::new(1, 26, 8),
                dagger: Version::new(0, 21, 8),
                actionlint: Version::new(1, 7, 12),
            }
        );
    }

    /// CRLF line ends, as Windows editors write them, read the same as LF ones, and errors
    /// still name the line a reader sees.
    #[test]
    fn accepts_crlf_line_ends() {
        let crlf = GOOD.replace('\n', "\r\n");
        assert_eq!(
            Versions::parse(&crlf).unwrap(),
            Versions::parse(GOOD).unwrap()
        );
        // Mixed line ends are legal TOML too.
        let mixed = GOOD.replacen('\n', "\r\n", 2);
        assert_eq!(
            Versions::parse(&mixed).unwrap(),
            Versions::parse(GOOD).unwrap()
        );

        let bad = crlf.replace("\"0.21.8\"", "\"0.21\"");
        let err = Versions::parse(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with("versions.toml:4: dagger = \"0.21\": not three numbers"),
            "{err}"
        );
        let err = Versions::parse(&format!("{crlf}node = \"1.0.0\"\r\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("versions.toml:6: unknown field `node`"),
            "{err}"
        );
    }

    #[test]
    fn accepts_other_legal_layouts() {
        for text in [
            "tools = { go = \"1.26.8\", dagger = \"0.21.8\", actionlint = \"1.7.12\" }\n",
            "[tools]\nactionlint = '1.7.12'\ndagger = '0.21.8'\ngo = \"1.26.8\"",
            "\n\n# c\n[tools] # c\n\n  go = \"1.26.8\"\n\tdagger=\"0.21.8\"\nactionlint=\"1.7.12\"\n",
            "[tools]\r\ngo = \"1.26.8\"\r\ndagger = \"0.21.8\"\r\nactionlint = \"1.7.12\"",
        ] {
            assert!(Versions::parse(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn errors_name_the_line_and_what_is_expected() {
        let cases = [
            (
                "[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\nnode = \"1.2.3\"\n",
                "versions.toml:4: unknown field `node`, expected one of `go`, `dagger`, `actionlint`",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\n\ndagger = \"0.21.8; rm -rf /\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:4: dagger = \"0.21.8; rm -rf /\": a character other than 0-9 and '.'; expected MAJOR.MINOR.PATCH in decimal digits, e.g. 1.26.8",
            ),
            (
                "[tools]\ngo = \"1.26\"\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:2: go = \"1.26\": not three numbers",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\nactionlint = \"v1.7.12\"\n",
                "versions.toml:4: actionlint = \"v1.7.12\": a character other than 0-9 and '.'",
            ),
            (
                "[tools]\ngo = 1.26\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:2: invalid type: floating point `1.26`, expected a string",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\ngo = \"1.26.9\"\ndagger = \"0.21.8\"\n",
                "versions.toml:3: duplicate key",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:1: missing field `dagger`",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\n",
                "versions.toml:1: missing field `actionlint`",
            ),
            (
                "[tool]\ngo = \"1.26.8\"\n",
                "versions.toml:1: unknown field `tool`",
            ),
            (
                "\u{feff}[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\n",
                "versions.toml:1: starts with a byte-order mark",
            ),
            // A carriage return that does not end a line is not a line end in TOML.
            (
                "[tools]\r\ngo = \"1.26.8\"\rdagger = \"0.21.8\"\r\n",
                "versions.toml:2: ",
            ),
            (
                "[tools]\r\ngo = \"1.26.8\"\r\ndagger = \"0.21.8\"\r\nactionlint = \"1.7\"\r\n",
                "versions.toml:4: actionlint = \"1.7\": not three numbers",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\n[extra]\n",
                "versions.toml:4: unknown field `extra`",
            ),
            (
                "[tools]\ngo = \"١.٢.٣\"\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:2: go = \"١.٢.٣\": digits other than ASCII 0-9",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\ndagger = \"0.99999999999.8\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:3: dagger = \"0.99999999999.8\": a number above 4294967295",
            ),
            (
                "[tools]\ngo = \"1.\\u003126.8\"\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:2: go = \"1.\\u003126.8\": escapes or a multi-line string; write it plainly: go = \"1.126.8\"",
            ),
            (
                "[tools]\ngo = \"1.26.8\"\ndagger = \"\"\"0.21.8\"\"\"\nactionlint = \"1.7.12\"\n",
                "versions.toml:3: dagger = \"\"\"0.21.8\"\"\": escapes or a multi-line string",
            ),
            // A multi-line string may hold a CRLF; it is still not a plain version.
            (
                "[tools]\r\ngo = \"1.26.8\"\r\nactionlint = \"\"\"\r\n1.7.12\"\"\"\r\ndagger = \"0.21.8\"\r\n",
                "versions.toml:3: actionlint = \"\"\"\r\n1.7.12\"\"\": escapes or a multi-line string",
            ),
            // The parser reports the end of the file, which is on the last line.
            (
                "[tools]\ngo = \"1.26.8\"\ndagger = \"\"\"0.21.8\n",
                "versions.toml:3: ",
            ),
            (
                "[tools]\r\ngo = \"1.26.8\"\r\ndagger = \"\"\"0.21.8\r\n",
                "versions.toml:3: ",
            ),
        ];
        for (text, expected) in cases {
            let err = Versions::parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{text:?}\n  gave {err:?}\n  want {expected:?}"
            );
        }
    }

    #[test]
    fn bump_edits_only_the_value() {
        let edited = edit_in_place(GOOD, Tool::Go, Version::new(1, 27, 0)).unwrap();
        assert_eq!(edited, GOOD.replace("\"1.26.8\"", "\"1.27.0\""));
        let edited = edit_in_place(GOOD, Tool::Dagger, Version::new(0, 22, 10)).unwrap();
        assert_eq!(edited, GOOD.replace("\"0.21.8\"", "\"0.22.10\""));
        let edited = edit_in_place(GOOD, Tool::Actionlint, Version::new(1, 8, 0)).unwrap();
        assert_eq!(edited, GOOD.replace("\"1.7.12\"", "\"1.8.0\""));
    }

    /// A CRLF file stays CRLF, byte for byte but the version; an LF file gains no CR.
    #[test]
    fn bump_keeps_the_line_ends() {
        let crlf = GOOD.replace('\n', "\r\n");
        for tool in Tool::ALL {
            let edited = edit_in_place(&crlf, tool, Version::new(9, 9, 9)).unwrap();
            let old = format!("\"{}\"", Versions::parse(GOOD).unwrap().get(tool));
            assert_eq!(edited, crlf.replace(&old, "\"9.9.9\""));
            let edited = edit_in_place(GOOD, tool, Version::new(9, 9, 9)).unwrap();
            assert!(!edited.contains('\r'), "{edited:?}");
        }
    }

    #[test]
    fn bump_changes_only_the_value_in_other_layouts() {
        for text in [
            "tools = { go = '1.26.8', dagger = '0.21.8', actionlint = '1.7.12' } # c\n",
            // No line end at the end, and none is added.
            "[tools]\ngo='1.26.8'\ndagger='0.21.8'\nactionlint='1.7.12'",
            "[tools]\r\ngo='1.26.8'\r\nactionlint='1.7.12'\r\ndagger='0.21.8'",
        ] {
            let edited = edit_in_place(text, Tool::Dagger, Version::new(0, 22, 0)).unwrap();
            assert_eq!(edited, text.replace("'0.21.8'", "\"0.22.0\""));
            let versions = Versions::parse(&edited).unwrap();
            assert_eq!(versions.dagger, Version::new(0, 22, 0), "{edited}");
            assert_eq!(versions.go, Version::new(1, 26, 8));
        }
    }

    /// The repository's own versions.toml parses.
    #[test]
    fn repository_versions_toml_is_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        Versions::load(root).unwrap();
    }
}
