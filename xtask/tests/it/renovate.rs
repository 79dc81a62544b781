//! renovate.json against versions.toml: its regex managers find every pinned tool exactly once,
//! with the version xtask reads, before and after `bump` (LF and CRLF files alike); an edit
//! made the way Renovate makes it gives a versions.toml that xtask accepts; and the
//! post-upgrade task (`cargo xtask versions --write`) then fixes the drift, touching only files
//! its `fileFilters` let Renovate commit.
//!
//! Renovate runs `matchStrings` with RE2 (node-re2) and the `g` flag only, so `^` is the start
//! of the file; the `regex` crate follows RE2's syntax, so what matches here matches there.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;
use serde_json::Value;

use crate::harness::Project;

/// Datasources Renovate has, of those a toolchain pin can use; a typo would silently disable
/// the manager.
const DATASOURCES: [&str; 4] = ["golang-version", "github-releases", "github-tags", "go"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn renovate_json() -> Value {
    let path = repo_root().join("renovate.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A `customType: regex` entry of `customManagers`.
struct RegexManager {
    file_patterns: Vec<Regex>,
    match_strings: Vec<Regex>,
    /// `depNameTemplate`, `datasourceTemplate`, ... by field name (`depName`, ...).
    templates: BTreeMap<String, String>,
}

impl RegexManager {
    fn all(config: &Value) -> Vec<RegexManager> {
        let managers = config["customManagers"]
            .as_array()
            .expect("renovate.json has customManagers");
        managers.iter().map(RegexManager::from_json).collect()
    }

    fn from_json(manager: &Value) -> RegexManager {
        assert_eq!(manager["customType"], "regex", "{manager}");
        // Renovate 41 renamed fileMatch to managerFilePatterns, whose regexes are written
        // between slashes (anything else is a glob).
        assert!(
            manager.get("fileMatch").is_none(),
            "fileMatch is the old name: {manager}"
        );
        let strings = |key: &str| -> Vec<String> {
            manager[key]
                .as_array()
                .unwrap_or_else(|| panic!("no {key} in {manager}"))
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        let file_patterns = strings("managerFilePatterns")
            .iter()
            .map(|pattern| {
                let inner = pattern
                    .strip_prefix('/')
                    .and_then(|p| p.strip_suffix('/'))
                    .unwrap_or_else(|| panic!("{pattern}: expected a /regex/"));
                Regex::new(inner).unwrap()
            })
            .collect();
        let match_strings = strings("matchStrings")
            .iter()
            .map(|pattern| Regex::new(pattern).unwrap_or_else(|err| panic!("{pattern}: {err}")))
            .collect();
        let templates = manager
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(key, value)| {
                let field = key.strip_suffix("Template")?;
                Some((field.to_owned(), value.as_str().unwrap().to_owned()))
            })
            .collect();
        RegexManager {
            file_patterns,
            match_strings,
            templates,
        }
    }

    fn handles(&self, path: &str) -> bool {
        self.file_patterns
            .iter()
            .any(|pattern| pattern.is_match(path))
    }
}

/// A dependency a manager found, as Renovate would record it.
#[derive(Debug)]
struct Dependency {
    /// The TOML key on the line the version is on.
    key: String,
    current_value: String,
    /// Where the version is in the file.
    value: Range<usize>,
    /// What Renovate replaces: the whole match.
    replace: Range<usize>,
    /// Every field: named groups, overridden by rendered templates.
    fields: BTreeMap<String, String>,
}

/// What every regex manager that handles `path` finds in `text`.
fn dependencies(managers: &[RegexManager], path: &str, text: &str) -> Vec<Vec<Dependency>> {
    managers
        .iter()
        .filter(|manager| manager.handles(path))
        .map(|manager| {
            let mut found = Vec::new();
            for regex in &manager.match_strings {
                for captures in regex.captures_iter(text) {
                    let groups: BTreeMap<String, String> = regex
                        .capture_names()
                        .flatten()
                        .filter_map(|name| {
                            let value = captures.name(name)?.as_str();
                            Some((name.to_owned(), value.to_owned()))
                        })
                        .collect();
                    let value = captures
                        .name("currentValue")
                        .unwrap_or_else(|| panic!("{regex} has no currentValue group"))
                        .range();
                    let mut fields = groups.clone();
                    for (field, template) in &manager.templates {
                        fields.insert(field.clone(), render(template, &groups));
                    }
                    let line_start = text[..value.start].rfind('\n').map_or(0, |at| at + 1);
                    let line = &text[line_start..value.start];
                    let key = line.split('=').next().unwrap().trim().to_owned();
                    found.push(Dependency {
                        key,
                        current_value: text[value.clone()].to_owned(),
                        value,
                        replace: captures.get(0).unwrap().range(),
                        fields,
                    });
                }
            }
            found
        })
        .collect()
}

/// A Handlebars template as Renovate renders it for these fields: `{{name}}` and `{{{name}}}`
/// are named groups; a name that is no group is a failure, since Renovate would render it as
/// nothing.
fn render(template: &str, groups: &BTreeMap<String, String>) -> String {
    let reference = Regex::new(r"\{\{\{?\s*([A-Za-z]+)\s*\}?\}\}").unwrap();
    let rendered = reference.replace_all(template, |captures: &regex::Captures| {
        let name = &captures[1];
        groups
            .get(name)
            .unwrap_or_else(|| panic!("template {template:?} names {name}, which no group sets"))
            .clone()
    });
    assert!(!rendered.contains("{{"), "{template:?} left {rendered:?}");
    rendered.into_owned()
}

/// `name version` for every pinned tool, as the real xtask prints them in `dir`.
fn pins(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .map(|line| {
            let (name, version) = line.split_once(' ').unwrap();
            (name.to_owned(), version.to_owned())
        })
        .collect()
}

fn repository_pins() -> BTreeMap<String, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("versions")
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    pins(&String::from_utf8(output.stdout).unwrap())
}

/// Each manager finds one dependency, and together they find each pin once, with its version.
#[track_caller]
fn assert_finds_exactly(text: &str, expected: &BTreeMap<String, String>) -> Vec<Dependency> {
    let managers = RegexManager::all(&renovate_json());
    let per_manager = dependencies(&managers, "versions.toml", text);
    assert!(!per_manager.is_empty(), "no manager handles versions.toml");
    for found in &per_manager {
        assert_eq!(found.len(), 1, "a manager should find one pin: {found:#?}");
    }
    let found: Vec<Dependency> = per_manager.into_iter().flatten().collect();
    let seen: BTreeMap<String, String> = found
        .iter()
        .map(|dep| (dep.key.clone(), dep.current_value.clone()))
        .collect();
    assert_eq!(found.len(), seen.len(), "a pin found twice: {found:#?}");
    assert_eq!(&seen, expected, "in {text:?}");
    found
}

/// The next patch release of `version`.
fn next_patch(version: &str) -> String {
    let (rest, patch) = version.rsplit_once('.').unwrap();
    format!("{rest}.{}", patch.parse::<u32>().unwrap() + 1)
}

/// A project whose versions.toml is the repository's (with `line_end`), derived files
/// regenerated to match, committed.
fn project_with_repository_pins(line_end: &str) -> Project {
    let text = std::fs::read_to_string(repo_root().join("versions.toml")).unwrap();
    let project = Project::new();
    project.write("versions.toml", &text.replace('\n', line_end));
    project.run(["versions", "--write"]).success();
    project.git(&["commit", "-q", "-am", "the repository's pins"]);
    project
}

#[test]
fn every_pin_is_found_once_with_resolved_names_and_datasources() {
    let text = std::fs::read_to_string(repo_root().join("versions.toml")).unwrap();
    let found = assert_finds_exactly(&text, &repository_pins());
    for dep in &found {
        let field = |name: &str| dep.fields.get(name).map(String::as_str).unwrap_or("");
        assert!(!field("depName").is_empty(), "{dep:#?}");
        let datasource = field("datasource");
        assert!(DATASOURCES.contains(&datasource), "{dep:#?}");
        if datasource.starts_with("github-") {
            assert_eq!(
                field("depName").split('/').count(),
                2,
                "a GitHub repository is owner/name: {dep:#?}"
            );
        }
        // Releases are tagged `v1.2.3`; extractVersion must give back the version as
        // versions.toml writes it, or Renovate compares `v1.2.4` with `1.2.3`.
        if datasource != "golang-version" {
            let extract =
                Regex::new(field("extractVersion")).unwrap_or_else(|err| panic!("{dep:#?}: {err}"));
            let tag = format!("v{}", dep.current_value);
            let captures = extract
                .captures(&tag)
                .unwrap_or_else(|| panic!("{dep:#?} does not match the tag {tag}"));
            assert_eq!(&captures["version"], dep.current_value, "{dep:#?}");
        }
    }
}

/// `bump` rewrites a value; the managers still find it, in LF and CRLF files.
#[test]
fn pins_are_found_after_bump_in_lf_and_crlf_files() {
    for line_end in ["\n", "\r\n"] {
        let project = project_with_repository_pins(line_end);
        let mut expected = pins(&project.run(["versions"]).success().stdout);
        for (tool, version) in expected.clone() {
            let new = next_patch(&version);
            project.run(["bump", &tool, &new]).success();
            expected.insert(tool, new);
            let text = project.read("versions.toml");
            assert_finds_exactly(&text, &expected);
            assert_eq!(pins(&project.run(["versions"]).success().stdout), expected);
            if line_end == "\r\n" {
                assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
            }
        }
    }
}

/// A Renovate PR that changes one pin in versions.toml: the edit (the whole match, with the
/// version replaced) is a versions.toml xtask accepts; the post-upgrade task fixes the drift;
/// and every file it changes is one of its fileFilters, so Renovate commits all of them.
#[test]
fn a_renovate_edit_passes_the_drift_check_after_the_post_upgrade_task() {
    let config = renovate_json();
    let rule = config["packageRules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule.get("postUpgradeTasks").is_some())
        .expect("a packageRule with postUpgradeTasks");
    assert_eq!(rule["matchManagers"], serde_json::json!(["custom.regex"]));
    assert_eq!(rule["matchFileNames"], serde_json::json!(["versions.toml"]));
    let tasks = &rule["postUpgradeTasks"];
    assert_eq!(
        tasks["commands"],
        serde_json::json!(["cargo xtask versions --write"])
    );
    let file_filters: Vec<&str> = tasks["fileFilters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();

    let pinned = repository_pins();
    for line_end in ["\n", "\r\n"] {
        for tool in pinned.keys() {
            let project = project_with_repository_pins(line_end);
            let text = project.read("versions.toml");
            let found = assert_finds_exactly(&text, &pinned);
            let dep = found.iter().find(|dep| &dep.key == tool).unwrap();
            let new = next_patch(&dep.current_value);
            let replaced = format!(
                "{}{new}{}",
                &text[dep.replace.start..dep.value.start],
                &text[dep.value.end..dep.replace.end]
            );
            let edited = format!(
                "{}{replaced}{}",
                &text[..dep.replace.start],
                &text[dep.replace.end..]
            );
            project.write("versions.toml", &edited);

            let mut expected = pinned.clone();
            expected.insert(tool.clone(), new);
            assert_eq!(pins(&project.run(["versions"]).success().stdout), expected);
            let derived_drift = tool != "actionlint";
            let check = project.run(["versions", "--check"]);
            assert_eq!(check.status.success(), !derived_drift, "{tool}\n{check}");

            project.run(["versions", "--write"]).success();
            project.run(["versions", "--check"]).success();
            let status = project.git(&["status", "--porcelain"]);
            let changed: Vec<&str> = status
                .lines()
                .map(|line| &line[3..])
                .filter(|path| *path != "versions.toml")
                .collect();
            for path in &changed {
                assert!(
                    file_filters.contains(path),
                    "`versions --write` changed {path}, which fileFilters {file_filters:?} leave out"
                );
            }
            assert_eq!(!changed.is_empty(), derived_drift, "{tool}: {status}");
        }
    }
}

/// Renovate's gomod manager leaves the Dagger module (its code generator owns go.mod and
/// go.sum there) and app/go.mod's derived toolchain line alone.
#[test]
fn gomod_leaves_generated_and_derived_lines_alone() {
    let config = renovate_json();
    let rules = config["packageRules"].as_array().unwrap();
    let disables = |file: &str, dep_type: &str| {
        rules.iter().any(|rule| {
            let list = |key: &str| -> Vec<String> {
                rule.get(key)
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| i.as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let file_matches = list("matchFileNames").iter().any(|pattern| {
                pattern == file
                    || pattern
                        .strip_suffix("**")
                        .is_some_and(|dir| file.starts_with(dir))
            });
            let types = list("matchDepTypes");
            rule["enabled"] == false
                && list("matchManagers") == ["gomod"]
                && file_matches
                && (types.is_empty() || types.iter().any(|t| t == dep_type))
        })
    };
    for dep_type in ["golang", "toolchain", "require", "indirect", "replace"] {
        assert!(disables(".dagger/go.mod", dep_type), "{dep_type}");
    }
    assert!(disables("app/go.mod", "toolchain"));
    assert!(!disables("app/go.mod", "require"));
}
