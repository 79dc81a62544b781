//! A property test of [`Versions::parse`] and `bump`'s [`edit_in_place`] over a few thousand
//! versions.toml files: valid ones (LF and CRLF) mutated with hostile pieces, and the suggested
//! layout with random values in the `go`, `dagger` and `actionlint` positions.
//!
//! The inputs come from a seeded SplitMix64, not from a fuzzing crate, so every run checks the
//! same inputs and a failure names the seed and input that reproduce it.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::*;

/// Layouts that parse, as starting points for mutations.
const BASES: &[&str] = &[
    "# Toolchain versions.\n[tools]\ngo = \"1.26.8\"      # the Go toolchain\ndagger = \"0.21.8\"  # the Dagger CLI and engine\nactionlint = \"1.7.12\"  # the linter\n",
    "[tools]\ndagger = '0.21.8'\nactionlint = '1.7.12'\ngo = \"1.26.8\"",
    "tools = { go = \"1.26.8\", dagger = \"0.21.8\", actionlint = \"1.7.12\" } # c\n",
    "\n# c\n[tools] # c\n\n  go = '1.26.8'\n\tdagger=\"0.21.8\"\nactionlint=\"1.7.12\"\n# end\n",
    "# Saved on Windows.\r\n[tools]\r\ngo = \"1.26.8\"  # c\r\n\r\ndagger = \"0.21.8\"\r\nactionlint = '1.7.12'\r\n",
];

/// What an attacker or a careless editor might put anywhere in the file: shell syntax, path
/// traversal, quotes, line ends, a byte-order mark, NUL, digits that are not ASCII, numbers
/// beyond u32, TOML structure, and TOML escapes that decode to digits or line ends.
const PIECES: &[&str] = &[
    ";",
    "; rm -rf /",
    "$(",
    "$(id)",
    "`",
    "..",
    "../",
    "/",
    "\"",
    "'",
    "\"\"\"",
    "\r",
    "\n",
    "\r\n",
    "\u{feff}",
    "\0",
    "١",
    "٢٦",
    "３",
    "99999999999999999999",
    "4294967296",
    "4294967295",
    "[tools]",
    "[tools.go]",
    "go =",
    "dagger = ",
    "node = \"1.0.0\"\n",
    "=",
    "#",
    " ",
    "\t",
    ".",
    "0",
    "1",
    "08",
    ",",
    "{",
    "}",
    "\\",
    "\\u0031",
    "\\r\\n",
    "\\ufeff",
];

/// The choices a test input is made of, from a seeded generator (`fastrand`'s, which the
/// synthetic bench repositories and git-mtimestamp's random histories use too).
struct Rng(fastrand::Rng);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A byte offset of `text` that is a char boundary.
    fn boundary(&mut self, text: &str) -> usize {
        let boundaries: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        boundaries[self.below(boundaries.len())]
    }

    fn version(&mut self) -> Version {
        let mut number = || match self.below(4) {
            0 => 0,
            1 => u32::MAX,
            2 => self.below(100) as u32,
            _ => self.0.u32(..),
        };
        Version::new(number(), number(), number())
    }
}

/// One to three insertions, deletions or replacements of pieces in a valid file.
fn mutated(rng: &mut Rng) -> String {
    let mut text = rng.pick(BASES).to_owned();
    for _ in 0..=rng.below(3) {
        let (a, b) = (rng.boundary(&text), rng.boundary(&text));
        let range = a.min(b)..a.max(b);
        match rng.below(3) {
            0 => text.insert_str(range.start, rng.pick(PIECES)),
            1 => text.replace_range(range, ""),
            _ => text.replace_range(range, rng.pick(PIECES)),
        }
    }
    text
}

/// The suggested layout with a random value for each tool: a valid version, one with pieces
/// spliced in, or pieces alone.
fn with_values(rng: &mut Rng) -> String {
    let value = |rng: &mut Rng| -> String {
        let mut value = rng.version().to_string();
        match rng.below(3) {
            0 => {}
            1 => {
                for _ in 0..=rng.below(2) {
                    let at = rng.boundary(&value);
                    value.insert_str(at, rng.pick(PIECES));
                }
            }
            _ => value = (0..rng.below(4)).map(|_| rng.pick(PIECES)).collect(),
        }
        let quote = rng.pick(&["\"", "'"]);
        format!("{quote}{value}{quote}")
    };
    let (go, dagger, actionlint) = (value(rng), value(rng), value(rng));
    let end = rng.pick(&["\n", "\r\n"]);
    format!(
        "# versions{end}[tools]{end}go = {go}  # c{end}dagger = {dagger}{end}actionlint = {actionlint}{end}"
    )
}

/// What an editor shows as the number of lines.
fn line_count(text: &str) -> usize {
    text.lines().count().max(1)
}

/// Where `tools.<key>`'s value is written, quotes included, as toml_edit sees it.
fn value_span(text: &str, tool: Tool) -> Range<usize> {
    let doc = toml_edit::Document::parse(text).expect("toml_edit parses what toml accepted");
    doc["tools"][tool.key()]
        .span()
        .expect("a parsed value has a span")
}

/// Checks one input; returns whether `parse` accepted it.
fn check(text: &str, rng: &mut Rng) -> bool {
    let parsed = catch_unwind(AssertUnwindSafe(|| Versions::parse(text)))
        .unwrap_or_else(|_| panic!("parse panicked on {text:?}"));
    let versions = match parsed {
        Err(err) => {
            let shown = err.to_string();
            let line = shown
                .strip_prefix("versions.toml:")
                .and_then(|rest| rest.split_once(": "))
                .and_then(|(line, _)| line.parse::<usize>().ok());
            assert!(
                line.is_some_and(|line| (1..=line_count(text)).contains(&line)),
                "{text:?} ({} lines)\n  gave {shown:?}",
                line_count(text)
            );
            return false;
        }
        Ok(versions) => versions,
    };
    for tool in Tool::ALL {
        let shown = versions.get(tool).to_string();
        let numbers: Vec<&str> = shown.split('.').collect();
        assert!(
            numbers.len() == 3
                && numbers.iter().all(|n| {
                    !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit())
                        && n.parse::<u32>().is_ok()
                }),
            "{text:?} gave {tool:?} {shown:?}"
        );
        let span = value_span(text, tool);
        let raw = &text[span.clone()];
        assert!(
            raw == format!("\"{shown}\"") || raw == format!("'{shown}'"),
            "{text:?} gave {tool:?} {shown:?}, but the file has {raw}"
        );

        let new = rng.version();
        let edited = edit_in_place(text, tool, new)
            .unwrap_or_else(|err| panic!("editing {tool:?} in {text:?}: {err:#}"));
        let mut expected = versions;
        expected.set(tool, new);
        let reparsed = Versions::parse(&edited)
            .unwrap_or_else(|err| panic!("{text:?} edited to {edited:?}: {err}"));
        assert_eq!(reparsed, expected, "{text:?} edited to {edited:?}");
        assert_eq!(
            edited,
            format!("{}\"{new}\"{}", &text[..span.start], &text[span.end..]),
            "editing {tool:?} in {text:?} changed more than the value"
        );
    }
    true
}

#[test]
fn parse_and_edit_hold_on_thousands_of_hostile_files() {
    let (mut accepted, mut rejected, mut accepted_crlf) = (0, 0, 0);
    for seed in 0..4 {
        let mut rng = Rng::seeded(seed);
        for i in 0..1000 {
            let text = if i % 4 == 3 {
                with_values(&mut rng)
            } else {
                mutated(&mut rng)
            };
            if check(&text, &mut rng) {
                accepted += 1;
                accepted_crlf += usize::from(text.contains("\r\n"));
            } else {
                rejected += 1;
            }
        }
    }
    eprintln!(
        "versions.toml properties: {accepted} inputs accepted ({accepted_crlf} with CRLF), \
         {rejected} rejected"
    );
    assert!(
        accepted > 0 && rejected > 0 && accepted_crlf > 0,
        "the generator degenerated"
    );
}
