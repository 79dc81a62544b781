//! `versions`, `versions --check`/`--write` and `bump`: one source of versions, every copy
//! derived from it, and no change at all when anything is wrong.

use crate::harness::{Project, VERSIONS_TOML};

#[test]
fn versions_prints_one_line_per_tool() {
    let run = Project::new().run(["versions"]).success();
    assert_eq!(run.stdout, "go 1.26.8\ndagger 0.21.8\nactionlint 1.7.12\n");
}

#[test]
fn bump_go_updates_go_mod_and_reaches_the_pipeline() {
    let project = Project::new().home_ssh();
    project.run(["bump", "go", "1.26.9"]).success();
    assert_eq!(
        project.read("versions.toml"),
        VERSIONS_TOML.replace("\"1.26.8\"", "\"1.26.9\"")
    );
    assert_eq!(
        project.read("app/go.mod"),
        "module example.com/app\n\ngo 1.26.0\n\ntoolchain go1.26.9\n"
    );
    project.run(["versions", "--check"]).success();
    project.run(["build"]).success();
    assert!(
        project
            .dagger_call()
            .argv
            .contains(&"--go-version=1.26.9".to_owned())
    );
}

#[test]
fn bump_dagger_updates_dagger_json_and_the_cli_check() {
    let project = Project::new().home_ssh();
    project.run(["bump", "dagger", "0.22.0"]).success();
    assert_eq!(
        project.read("dagger.json").lines().nth(2),
        Some("  \"engineVersion\": \"v0.22.0\",")
    );
    project
        .run(["versions"])
        .success()
        .stdout_has("dagger 0.22.0\n");
    project
        .run(["build"])
        .code(1)
        .stderr_has("dagger 0.21.8 is on PATH, but versions.toml pins dagger 0.22.0");
    let project = project.dagger_version("0.22.0");
    project.run(["build"]).success();
}

/// actionlint's pin is repeated in no other file: the bump changes versions.toml alone.
#[test]
fn bump_actionlint_changes_only_versions_toml() {
    let project = Project::new();
    let before = project.snapshot();
    project
        .run(["bump", "actionlint", "1.8.0"])
        .success()
        .stderr_has("actionlint 1.7.12 -> 1.8.0");
    let mut after = project.snapshot();
    assert_eq!(
        String::from_utf8(after.remove(std::path::Path::new("versions.toml")).unwrap()).unwrap(),
        VERSIONS_TOML.replace("\"1.7.12\"", "\"1.8.0\"")
    );
    let mut before = before;
    before.remove(std::path::Path::new("versions.toml"));
    assert_eq!(after, before);
    project
        .run(["versions"])
        .success()
        .stdout_has("actionlint 1.8.0\n");
    project.run(["versions", "--check"]).success();
}

#[test]
fn bump_rejects_hostile_versions_and_changes_nothing() {
    let project = Project::new();
    let before = project.snapshot();
    let hostile = [
        "",
        "1.26",
        "1.26.8.1",
        "v1.26.8",
        "1.26.8; rm -rf /",
        "$(id)",
        "`id`",
        "../x",
        "1.26.8\n[tools]\nnode = \"1.0.0\"",
        "1.26.8\" # ",
        "01.26.8",
        "١.٢.٣",
        "1.2.３",
        "4294967296.0.0",
        "1.26.8-rc1",
        " 1.26.8",
        "-1.26.8",
    ];
    for tool in ["go", "dagger", "actionlint"] {
        for version in hostile {
            let run = project.run(["bump", tool, version]);
            assert_eq!(
                run.status.code(),
                Some(2),
                "accepted {tool} {version:?}\n{run}"
            );
            assert!(
                run.stderr.contains("expected MAJOR.MINOR.PATCH") || version.starts_with('-'),
                "{tool} {version:?}\n{run}"
            );
        }
    }
    project
        .run(["bump", "node", "1.0.0"])
        .code(2)
        .stderr_has("invalid value 'node'");
    assert_eq!(project.snapshot(), before);
}

#[test]
fn bump_changes_nothing_when_a_derived_file_cannot_follow() {
    let project = Project::new();
    // The go directive needs Go 1.26.0, so 1.25.9 cannot be the toolchain.
    let before = project.snapshot();
    project
        .run(["bump", "go", "1.25.9"])
        .code(1)
        .stderr_has("app/go.mod")
        .stderr_has("`go 1.26.0` needs Go 1.26.0 or newer");
    assert_eq!(project.snapshot(), before);

    project.write("dagger.json", "{\"name\": \"ci\"}\n");
    let before = project.snapshot();
    project
        .run(["bump", "dagger", "0.22.0"])
        .code(1)
        .stderr_has("dagger.json")
        .stderr_has("engineVersion");
    assert_eq!(project.snapshot(), before);

    std::fs::remove_file(project.path("dagger.json")).unwrap();
    let before = project.snapshot();
    project
        .run(["bump", "go", "1.26.9"])
        .code(1)
        .stderr_has("dagger.json: missing");
    assert_eq!(project.snapshot(), before);
}

#[test]
fn bump_keeps_comments_and_layout() {
    let project = Project::new();
    let text = "# top\n\n[tools]  # the table\n# go next\ngo   =   '1.26.8'   # trailing\n\nactionlint='1.7.12'\ndagger = \"0.21.8\"\n# end\n";
    project.write("versions.toml", text);
    project.run(["bump", "go", "1.27.0"]).success();
    let edited = project.read("versions.toml");
    assert!(
        edited.starts_with("# top\n\n[tools]  # the table\n# go next\ngo   =   "),
        "{edited}"
    );
    assert!(
        edited.ends_with(
            "1.27.0\"   # trailing\n\nactionlint='1.7.12'\ndagger = \"0.21.8\"\n# end\n"
        ),
        "{edited}"
    );
}

#[test]
fn check_lists_every_drift_and_the_fix() {
    let project = Project::new();
    project.run(["versions", "--check"]).success();
    project.write(
        "app/go.mod",
        "module example.com/app\n\ngo 1.26.0\n\ntoolchain go1.26.7\n",
    );
    project.write(
        "dagger.json",
        &project.read("dagger.json").replace("v0.21.8", "v0.20.0"),
    );
    let run = project.run(["versions", "--check"]).code(1);
    let run = run
        .stderr_has("app/go.mod: toolchain: expected go1.26.8, found go1.26.7")
        .stderr_has("dagger.json: engineVersion: expected v0.21.8, found v0.20.0")
        .stderr_has("fix with `cargo xtask versions --write`");
    assert_eq!(run.stdout, "");
    project.run(["versions", "--write"]).success();
    project.run(["versions", "--check"]).success();
    assert_eq!(project.git(&["status", "--porcelain"]), "");
}

#[test]
fn check_reports_a_missing_file() {
    let project = Project::new();
    std::fs::remove_file(project.path("app/go.mod")).unwrap();
    project
        .run(["versions", "--check"])
        .code(1)
        .stderr_has("app/go.mod: missing (expected toolchain go1.26.8)");
    project
        .run(["versions", "--write"])
        .code(1)
        .stderr_has("app/go.mod: missing");
}

/// `versions`, `build` and every `bump` fail on `text` with `message`, call no dagger, and
/// leave every file as it was.
#[track_caller]
fn assert_refused_everywhere(text: &str, message: &str) {
    let project = Project::new().home_ssh();
    project.write("versions.toml", text);
    let before = project.snapshot();
    let commands: [&[&str]; 5] = [
        &["versions"],
        &["build"],
        &["bump", "go", "1.26.9"],
        &["bump", "dagger", "0.22.0"],
        &["bump", "actionlint", "1.8.0"],
    ];
    for args in commands {
        let run = project.run(args).code(1);
        assert!(
            run.stderr.contains(message),
            "{args:?} on {text:?}: stderr lacks {message:?}\n{run}"
        );
    }
    assert!(project.all_dagger_calls().is_empty());
    assert_eq!(project.snapshot(), before, "{text:?}");
}

#[test]
fn malformed_versions_toml_names_the_line() {
    let cases = [
        (
            "[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\nnode = \"20.0.0\"\n",
            "versions.toml:5: unknown field `node`",
        ),
        (
            "# c\n[tools]\ngo = \"1.26.8; rm -rf /\"\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
            "versions.toml:3: go = \"1.26.8; rm -rf /\"",
        ),
        (
            "[tools]\ngo = \"1.26.8\"\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
            "versions.toml:3: duplicate key",
        ),
        (
            "\u{feff}[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
            "versions.toml:1: starts with a byte-order mark",
        ),
        (
            "[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.08\"\nactionlint = \"1.7.12\"\n",
            "versions.toml:3: dagger = \"0.21.08\": a number with a leading zero",
        ),
        (
            "[tools]\ngo = \"1.26.8\"\ndagger = \"0.21.8\"\n",
            "versions.toml:1: missing field `actionlint`",
        ),
        // CRLF line ends are accepted, and lines are still counted right.
        (
            "# c\r\n[tools]\r\ngo = \"1.26.8\"\r\ndagger = \"0.21.8\"\r\nactionlint = \"1.7\"\r\n",
            "versions.toml:5: actionlint = \"1.7\": not three numbers",
        ),
        (
            "[tools]\r\ngo = \"1.26.8\"\r\n\r\ndagger = \"0.21.8\"\r\nactionlint = \"1.7.12\"\r\nnode = \"20.0.0\"\r\n",
            "versions.toml:6: unknown field `node`",
        ),
        // A lone carriage return is no line end in TOML.
        (
            "[tools]\ngo = \"1.26.8\"\rdagger = \"0.21.8\"\nactionlint = \"1.7.12\"\n",
            "versions.toml:2: ",
        ),
    ];
    for (text, message) in cases {
        assert_refused_everywhere(text, message);
    }
}

/// Hostile values written into versions.toml itself, as a malicious or careless edit would,
/// rather than passed to `bump`.
#[test]
fn hostile_values_in_versions_toml_are_refused_with_their_line() {
    // The value as written between the quotes, and what the error says it is.
    let values = [
        (
            "1.26.8; rm -rf /",
            "\"1.26.8; rm -rf /\": a character other than 0-9",
        ),
        ("$(id)", "\"$(id)\": a character other than 0-9"),
        ("`id`", "\"`id`\": a character other than 0-9"),
        ("../x", "\"../x\": a character other than 0-9"),
        ("", "\"\": empty"),
        ("١.٢٦.٨", "\"١.٢٦.٨\": digits other than ASCII 0-9"),
        ("1.26.８", "\"1.26.８\": digits other than ASCII 0-9"),
        (
            "99999999999999999999.0.0",
            "\"99999999999999999999.0.0\": a number above 4294967295",
        ),
        (
            "1.4294967296.0",
            "\"1.4294967296.0\": a number above 4294967295",
        ),
        // TOML escapes: a line end and a byte-order mark that only exist once decoded.
        (
            "1.26.8\\r\\n",
            "\"1.26.8\\r\\n\": a character other than 0-9",
        ),
        (
            "\\ufeff1.26.8",
            "\"\\u{feff}1.26.8\": a character other than 0-9",
        ),
        (
            "\u{feff}1.26.8",
            "\"\\u{feff}1.26.8\": a character other than 0-9",
        ),
        // Digits, but escaped: the version used would not be the one a reader sees.
        (
            "1.26.\\u0038",
            "\"1.26.\\u0038\": escapes or a multi-line string",
        ),
    ];
    for (value, problem) in values {
        for (key, pinned, line) in [
            ("go", "1.26.8", 3),
            ("dagger", "0.21.8", 4),
            ("actionlint", "1.7.12", 5),
        ] {
            let text = VERSIONS_TOML.replace(
                &format!("{key} = \"{pinned}\""),
                &format!("{key} = \"{value}\""),
            );
            let message = format!("versions.toml:{line}: {key} = {problem}");
            assert_refused_everywhere(&text, &message);
        }
    }
}

#[test]
fn not_in_a_project_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("versions")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("has versions.toml and Cargo.toml"),
        "{stderr}"
    );
}

/// A versions.toml with CRLF line ends, as a Windows editor saves it, works with every
/// command, and `bump` keeps its line ends byte for byte.
#[test]
fn crlf_versions_toml_works_end_to_end() {
    let crlf = VERSIONS_TOML.replace('\n', "\r\n");
    let project = Project::new().home_ssh();
    project.write("versions.toml", &crlf);
    project.git(&["commit", "-q", "-am", "CRLF versions.toml"]);

    let run = project.run(["versions"]).success();
    assert_eq!(run.stdout, "go 1.26.8\ndagger 0.21.8\nactionlint 1.7.12\n");
    project.run(["versions", "--check"]).success();
    let run = project.run(["build", "--dry-run"]).success();
    assert!(run.stdout.contains(" --go-version=1.26.8 build "), "{run}");
    assert!(project.all_dagger_calls().is_empty());

    let mut expected = crlf.clone();
    for (tool, old, new) in [
        ("go", "1.26.8", "1.26.9"),
        ("dagger", "0.21.8", "0.22.0"),
        ("actionlint", "1.7.12", "1.8.0"),
    ] {
        project.run(["bump", tool, new]).success();
        expected = expected.replace(&format!("\"{old}\""), &format!("\"{new}\""));
        assert_eq!(project.read("versions.toml"), expected, "after bump {tool}");
    }
    // The derived files kept their LF line ends.
    assert_eq!(
        project.read("app/go.mod"),
        "module example.com/app\n\ngo 1.26.0\n\ntoolchain go1.26.9\n"
    );
    assert!(!project.read("dagger.json").contains('\r'));
    let run = project.run(["versions"]).success();
    assert_eq!(run.stdout, "go 1.26.9\ndagger 0.22.0\nactionlint 1.8.0\n");
    project.run(["versions", "--check"]).success();
    let project = project.dagger_version("0.22.0");
    let run = project.run(["build", "--dry-run"]).success();
    assert!(run.stdout.contains(" --go-version=1.26.9 build "), "{run}");
    project.run(["build"]).success();
    assert!(
        project
            .dagger_call()
            .argv
            .contains(&"--go-version=1.26.9".to_owned())
    );

    // A failed bump leaves the CRLF file as it was, byte for byte.
    let before = project.snapshot();
    project
        .run(["bump", "go", "1.25.9"])
        .code(1)
        .stderr_has("`go 1.26.0` needs Go 1.26.0 or newer");
    assert_eq!(project.snapshot(), before);
}

/// An LF file gains no carriage return from `bump`.
#[test]
fn bump_keeps_lf_line_ends() {
    let project = Project::new();
    for (tool, version) in [
        ("go", "1.26.9"),
        ("dagger", "0.22.0"),
        ("actionlint", "1.8.0"),
    ] {
        project.run(["bump", tool, version]).success();
    }
    for path in ["versions.toml", "app/go.mod", "dagger.json"] {
        assert!(!project.read(path).contains('\r'), "{path}");
    }
}
