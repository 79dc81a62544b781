//! The contract between xtask and the Dagger module: every constructor flag and function that
//! [`DaggerInvocation`] passes exists in `.dagger/*.go` with a matching type, and every
//! required constructor parameter is passed. Dagger would otherwise only say so at run time,
//! on a machine with a container engine.
//!
//! The Go is read with a small text parser that knows just enough of Go's function syntax:
//! top-level `func` declarations, their parameters with the comments (pragmas) before each,
//! and their results.

use std::path::{Path, PathBuf};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct GoFunc {
    /// The receiver's type without `*`; None for plain functions.
    receiver: Option<String>,
    name: String,
    params: Vec<Param>,
    results: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    name: String,
    ty: String,
    /// `+optional`, `+default=...` or `+defaultPath=...` in the comments before it.
    optional: bool,
}

fn parse_funcs(source: &str) -> Vec<GoFunc> {
    let mut funcs = Vec::new();
    let mut rest = source;
    while let Some(at) = rest
        .find("\nfunc ")
        .map(|at| at + 1)
        .or_else(|| rest.starts_with("func ").then_some(0))
    {
        rest = &rest[at + "func ".len()..];
        let mut text = rest.trim_start();
        let receiver = if text.starts_with('(') {
            let (inside, after) = balanced(text);
            text = after.trim_start();
            inside
                .split_whitespace()
                .last()
                .map(|ty| ty.trim_start_matches('*').to_owned())
        } else {
            None
        };
        let name_len = text
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        let name = text[..name_len].to_owned();
        let text = &text[name_len..];
        if !text.starts_with('(') {
            continue; // generic functions and odd spacing are not part of a Dagger API
        }
        let (params, after) = balanced(text);
        let results = after[..after.find('{').unwrap_or(after.len())]
            .trim()
            .to_owned();
        funcs.push(GoFunc {
            receiver,
            name,
            params: parse_params(params),
            results,
        });
    }
    funcs
}

/// The text inside the parentheses `text` starts with, and the text after them.
fn balanced(text: &str) -> (&str, &str) {
    let mut depth = 0;
    let mut in_comment = false;
    for (i, c) in text.char_indices() {
        match c {
            '/' if text[i..].starts_with("//") => in_comment = true,
            '\n' => in_comment = false,
            _ if in_comment => {}
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (&text[1..i], &text[i + 1..]);
                }
            }
            _ => {}
        }
    }
    (text, "")
}

fn parse_params(list: &str) -> Vec<Param> {
    let mut params: Vec<Param> = Vec::new();
    let mut pending_names: Vec<(String, bool)> = Vec::new();
    let mut comments = String::new();
    let mut code = String::new();
    let mut finish = |code: &mut String, comments: &mut String| {
        let piece = code.trim();
        if !piece.is_empty() {
            let optional = ["+optional", "+default=", "+defaultPath="]
                .iter()
                .any(|p| comments.contains(p));
            match piece.split_once(char::is_whitespace) {
                None => pending_names.push((piece.to_owned(), optional)),
                Some((name, ty)) => {
                    let ty = ty.trim().to_owned();
                    for (name, optional) in pending_names.drain(..) {
                        params.push(Param {
                            name,
                            ty: ty.clone(),
                            optional,
                        });
                    }
                    params.push(Param {
                        name: name.to_owned(),
                        ty,
                        optional,
                    });
                }
            }
        }
        code.clear();
        comments.clear();
    };
    let mut depth = 0;
    for line in list.lines() {
        let (line_code, comment) = match line.find("//") {
            Some(at) => (&line[..at], &line[at..]),
            None => (line, ""),
        };
        comments.push_str(comment);
        for c in line_code.chars() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    finish(&mut code, &mut comments);
                    continue;
                }
                _ => {}
            }
            code.push(c);
        }
        code.push(' ');
    }
    finish(&mut code, &mut comments);
    params
}

/// A Go identifier as Dagger spells it on the command line: `goVersion` -> `go-version`,
/// `Binaries` -> `binaries`, `gitHubURL` -> `git-hub-url`.
fn kebab(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let after_lower = chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit();
            let acronym_end =
                chars[i - 1].is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if after_lower || acronym_end {
                out.push('-');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn go_type(kind: ArgKind) -> &'static str {
    match kind {
        ArgKind::Directory => "*dagger.Directory",
        ArgKind::Secret => "*dagger.Secret",
        ArgKind::String => "string",
    }
}

/// Every problem with the module for every invocation xtask can make.
fn violations(funcs: &[GoFunc]) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(new) = funcs
        .iter()
        .find(|f| f.receiver.is_none() && f.name == "New")
    else {
        return vec!["no constructor `func New(...)`".to_owned()];
    };
    let main_type = first_result(&new.results);
    let versions = Versions {
        go: Version::new(1, 26, 8),
        dagger: Version::new(0, 21, 8),
        actionlint: Version::new(1, 7, 12),
    };
    let credentials = [
        Credential::SshDir(PathBuf::from("/ssh")),
        Credential::GithubToken,
    ];
    let jobs = [
        Job::Build {
            out: PathBuf::from("/out"),
        },
        Job::Test,
    ];
    for credential in &credentials {
        for job in &jobs {
            let invocation = DaggerInvocation {
                job,
                credential,
                versions,
                plain_progress: true,
                goprivate: Some("example.com/private/*".into()),
            };
            let passed = invocation.constructor_args();
            for arg in &passed {
                match new.params.iter().find(|p| kebab(&p.name) == arg.flag) {
                    None => problems.push(format!("New has no parameter for --{}", arg.flag)),
                    Some(param) if param.ty != go_type(arg.kind) => problems.push(format!(
                        "New's {} is {}, but xtask passes --{} as {}",
                        param.name,
                        param.ty,
                        arg.flag,
                        go_type(arg.kind)
                    )),
                    Some(_) => {}
                }
            }
            for param in new.params.iter().filter(|p| !p.optional) {
                if !passed.iter().any(|arg| arg.flag == kebab(&param.name)) {
                    problems.push(format!(
                        "New's {} is required, but {credential:?} does not pass it",
                        param.name
                    ));
                }
            }
            let mut on = main_type.clone();
            for function in invocation.functions() {
                let Some(method) = funcs
                    .iter()
                    .find(|f| f.receiver.as_deref() == Some(&on) && kebab(&f.name) == *function)
                else {
                    problems.push(format!("{on} has no method for `{function}`"));
                    break;
                };
                let required = method
                    .params
                    .iter()
                    .filter(|p| !p.optional && p.ty != "context.Context");
                for param in required {
                    problems.push(format!(
                        "{on}.{} requires {}, which xtask does not pass",
                        method.name, param.name
                    ));
                }
                on = first_result(&method.results);
            }
            if matches!(job, Job::Build { .. }) && on != "dagger.Directory" {
                problems.push(format!(
                    "`{}` must return *dagger.Directory to be exported, not {on}",
                    invocation.functions().join(" ")
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// The first result type without `*`: `*Build` and `(*Build, error)` give `Build`.
fn first_result(results: &str) -> String {
    let first = results
        .trim_start_matches('(')
        .split([',', ')'])
        .next()
        .unwrap_or_default();
    first.trim().trim_start_matches('*').to_owned()
}

fn module_source(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| {
            panic!(
                "reading {}: {err} (the Dagger module is missing)",
                dir.display()
            )
        })
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "go"))
        // Generated by `dagger develop`, git-ignored, and not the module's own API.
        .filter(|path| !path.ends_with("dagger.gen.go"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The shape the xtask is written against.
const EXPECTED_SHAPE: &str = r#"package main

import (
	"context"

	"dagger/ci/internal/dagger"
)

type Ci struct {
	Source *dagger.Directory
}

func New(
	// The repository.
	// +defaultPath="/"
	// +ignore=["target", "bin", "**/.git"]
	source *dagger.Directory,
	// +default="1.26.8"
	goVersion string,
	// Token for private modules (func(a, b) in a comment is fine).
	// +optional
	githubToken *dagger.Secret,
	// +optional
	sshDir *dagger.Directory,
	// +optional
	goprivate string,
) *Ci {
	return &Ci{Source: source}
}

type Build struct{ Ci *Ci }

// Build compiles.
func (m *Ci) Build() *Build { return &Build{Ci: m} }

func (b *Build) Binaries() *dagger.Directory { return nil }

func (m *Ci) Test(ctx context.Context) (string, error) { return "", nil }

func (m *Ci) helper(a, b string, f func(int) error) {}
"#;

#[test]
fn parses_the_expected_shape() {
    let funcs = parse_funcs(EXPECTED_SHAPE);
    let names: Vec<(Option<&str>, &str)> = funcs
        .iter()
        .map(|f| (f.receiver.as_deref(), f.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (None, "New"),
            (Some("Ci"), "Build"),
            (Some("Build"), "Binaries"),
            (Some("Ci"), "Test"),
            (Some("Ci"), "helper")
        ]
    );
    let new = &funcs[0];
    let params: Vec<(&str, &str, bool)> = new
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.ty.as_str(), p.optional))
        .collect();
    assert_eq!(
        params,
        [
            ("source", "*dagger.Directory", true),
            ("goVersion", "string", true),
            ("githubToken", "*dagger.Secret", true),
            ("sshDir", "*dagger.Directory", true),
            ("goprivate", "string", true)
        ]
    );
    assert_eq!(new.results, "*Ci");
    let helper = funcs.last().unwrap();
    let params: Vec<(&str, &str)> = helper
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.ty.as_str()))
        .collect();
    assert_eq!(
        params,
        [("a", "string"), ("b", "string"), ("f", "func(int) error")]
    );
    assert_eq!(funcs[3].results, "(string, error)");
    assert_eq!(violations(&funcs), Vec::<String>::new());
}

#[test]
fn catches_a_broken_contract() {
    let broken = EXPECTED_SHAPE
        .replace("\tgoVersion string,", "\tgoVer string,")
        .replace("\t// +optional\n\tsshDir", "\tsshDir")
        .replace("githubToken *dagger.Secret", "githubToken string")
        .replace(
            "func (b *Build) Binaries() *dagger.Directory",
            "func (b *Build) Bins() *dagger.Directory",
        );
    assert_eq!(
        violations(&parse_funcs(&broken)),
        [
            "Build has no method for `binaries`",
            "New has no parameter for --go-version",
            "New's githubToken is string, but xtask passes --github-token as *dagger.Secret",
            "New's sshDir is required, but GithubToken does not pass it",
            "`build binaries` must return *dagger.Directory to be exported, not Build",
        ]
    );
}

#[test]
fn kebab_case_like_dagger() {
    for (go, flag) in [
        ("goVersion", "go-version"),
        ("sshDir", "ssh-dir"),
        ("githubToken", "github-token"),
        ("Binaries", "binaries"),
        ("gitHubURL", "git-hub-url"),
        ("buildV2", "build-v2"),
    ] {
        assert_eq!(kebab(go), flag);
    }
}

#[test]
fn first_result_type() {
    assert_eq!(first_result("*Build"), "Build");
    assert_eq!(first_result("(*AppCi, error)"), "AppCi");
    assert_eq!(first_result("(string, error)"), "string");
    assert_eq!(first_result("*dagger.Directory"), "dagger.Directory");
}

/// The real module in `.dagger/` accepts every call xtask makes.
#[test]
fn module_accepts_every_invocation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.dagger");
    let funcs = parse_funcs(&module_source(&dir));
    assert_eq!(
        violations(&funcs),
        Vec::<String>::new(),
        "in {}",
        dir.display()
    );
}
