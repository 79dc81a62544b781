//! Which credential reaches dagger, and that the token's value never shows.

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::harness::{DAGGER_PIN, Project, Run};

const TOKEN: &str = "s3cret-token-value";
const TOKEN_ARG: &str = "--github-token=env://GITHUB_TOKEN?cacheKey=GITHUB_TOKEN";

#[track_caller]
fn assert_token_hidden(project: &Project, run: &Run) {
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "token leaked\n{run}"
    );
    for call in project.all_dagger_calls() {
        assert!(
            !call.argv.iter().any(|arg| arg.contains(TOKEN)),
            "token in argv {:?}",
            call.argv
        );
    }
}

#[test]
fn github_token_is_passed_by_reference() {
    let project = Project::new().env("GITHUB_TOKEN", TOKEN);
    let run = project.run(["build", "--github-token"]).success();
    assert_token_hidden(&project, &run);
    let call = project.dagger_call();
    assert_eq!(call.argv[2..5], ["call", TOKEN_ARG, "--go-version=1.26.8"]);
    // The reference works because the variable itself passes through.
    assert_eq!(call.env["GITHUB_TOKEN"], TOKEN);
}

#[test]
fn github_token_never_shows_in_dry_runs_or_errors() {
    let project = Project::new().env("GITHUB_TOKEN", TOKEN);
    let run = project
        .run(["test", "--github-token", "--dry-run"])
        .success();
    assert_token_hidden(&project, &run);
    assert!(run.stdout.contains(&format!("'{TOKEN_ARG}'")), "{run}");

    let failing = Project::new().env("GITHUB_TOKEN", TOKEN).dagger_exit(1);
    let run = failing.run(["test", "--github-token"]).code(1);
    assert_token_hidden(&failing, &run);

    let wrong_version = Project::new()
        .env("GITHUB_TOKEN", TOKEN)
        .dagger_version("0.1.0");
    let run = wrong_version.run(["build", "--github-token"]).code(1);
    assert_token_hidden(&wrong_version, &run);
}

#[test]
fn github_token_needs_the_variable() {
    for value in [None, Some("")] {
        let mut project = Project::new();
        if let Some(value) = value {
            project = project.env("GITHUB_TOKEN", value);
        }
        project
            .run(["build", "--github-token"])
            .code(1)
            .stderr_has("GITHUB_TOKEN is not set or empty");
        assert!(project.all_dagger_calls().is_empty());
    }
}

#[test]
fn ssh_dir_is_passed_absolute() {
    let project = Project::new();
    std::fs::create_dir(project.path("keys")).unwrap();
    std::fs::write(project.path("keys/known_hosts"), "").unwrap();
    project.run(["build", "--ssh-dir", "keys"]).success();
    assert_eq!(
        project.dagger_call().argv[3],
        format!("--ssh-dir={}", project.root().join("keys").display())
    );
}

#[test]
fn ssh_dir_must_be_a_directory() {
    let project = Project::new();
    project
        .run(["build", "--ssh-dir", "versions.toml"])
        .code(1)
        .stderr_has("versions.toml: not a directory");
    project
        .run(["build", "--ssh-dir", "nowhere"])
        .code(1)
        .stderr_has("nowhere: not a directory");
    assert!(project.all_dagger_calls().is_empty());
}

#[test]
fn ssh_dir_without_known_hosts_is_a_warning() {
    let project = Project::new();
    std::fs::create_dir(project.path("keys")).unwrap();
    project
        .run(["build", "--ssh-dir", "keys"])
        .success()
        .stderr_has("warning:")
        .stderr_has("has no known_hosts");
}

#[test]
fn both_credentials_are_a_usage_error() {
    let project = Project::new().env("GITHUB_TOKEN", TOKEN).home_ssh();
    let run = project
        .run(["build", "--github-token", "--ssh-dir", "/tmp"])
        .code(2);
    run.stderr_has("cannot be used with");
    assert!(project.all_dagger_calls().is_empty());
}

#[test]
fn default_in_ci_is_the_token() {
    let project = Project::new().ci().env("GITHUB_TOKEN", TOKEN).home_ssh();
    let run = project.run(["build"]).success();
    assert_token_hidden(&project, &run);
    assert_eq!(project.dagger_call().argv[3], TOKEN_ARG);
}

#[test]
fn default_in_ci_without_token_is_an_error() {
    let project = Project::new().ci().home_ssh();
    project
        .run(["test"])
        .code(1)
        .stderr_has("CI is set, so the token is the default credential")
        .stderr_has("GITHUB_TOKEN");
    assert!(project.all_dagger_calls().is_empty());
}

#[test]
fn default_elsewhere_is_home_ssh() {
    let project = Project::new().home_ssh().env("GITHUB_TOKEN", TOKEN);
    project.run(["test"]).success();
    assert_eq!(
        project.dagger_call().argv[3],
        format!("--ssh-dir={}", project.home().join(".ssh").display())
    );
}

#[test]
fn no_credential_names_both_options() {
    let project = Project::new();
    project
        .run(["build"])
        .code(1)
        .stderr_has("--ssh-dir DIR")
        .stderr_has("--github-token");
    assert!(project.all_dagger_calls().is_empty());
}

#[test]
fn local_engine_needs_no_credential() {
    let project = Project::new();
    project
        .run(["test", "--engine", "local", "--dry-run"])
        .success();
}

/// Distinctive, and only letters and digits, so that no quoting or escaping could disguise it.
const SWEEP_TOKEN: &str = "ghpSweep7f3a9c1e5b2d0486";

/// Every file below `dir`, nothing left out, that contains `needle`; and every file read.
fn files_containing(dir: &Path, needle: &str) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut found, mut read) = (Vec::new(), Vec::new());
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let bytes = if meta.is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_vec()
            } else {
                std::fs::read(&path).unwrap()
            };
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.clone());
            }
            read.push(path);
        }
    }
    (found, read)
}

/// The token in the environment of every mode of every command: build and test, by flag and
/// as CI's default, dry and real, dagger succeeding, failing, killed, interrupted or of the
/// wrong version, with and without full backtraces; then sync, versions and bump. Its value
/// must show in no output, no dagger argument and no file of the project.
#[test]
fn token_shows_nowhere_in_any_mode() {
    let mut project = Project::new().home_ssh().env("GITHUB_TOKEN", SWEEP_TOKEN);
    let mut runs: Vec<(String, Run)> = Vec::new();
    let mut pipeline_calls = 0;
    // The stand-in's exit code and action; only the first succeeds.
    let outcomes = [
        (0, ""),
        (1, ""),
        (2, ""),
        (137, ""),
        (0, "kill"),
        (0, "interrupt"),
    ];
    for backtrace in ["0", "full"] {
        project = project.env("RUST_BACKTRACE", backtrace);
        // An empty CI is no CI.
        for ci in ["", "true"] {
            project = project.env("CI", ci);
            for command in ["build", "test"] {
                for credential in [Some("--github-token"), None] {
                    let args: Vec<&str> = [command].into_iter().chain(credential).collect();
                    let mode = format!("RUST_BACKTRACE={backtrace} CI={ci} {args:?}");

                    let dry = [&args[..], &["--dry-run"]].concat();
                    runs.push((format!("{mode} --dry-run"), project.run(&dry).success()));

                    for (exit, action) in outcomes {
                        project = project.dagger_exit(exit).dagger_action(action);
                        let run = project.run(&args);
                        let succeeds = exit == 0 && action.is_empty();
                        assert_eq!(run.status.success(), succeeds, "{mode}\n{run}");
                        pipeline_calls += 1;
                        runs.push((format!("{mode} exit {exit} {action}"), run));
                    }
                    project = project.dagger_exit(0).dagger_action("");

                    project = project.dagger_version("0.1.0");
                    let run = project.run(&args).code(1);
                    runs.push((format!("{mode} with dagger 0.1.0"), run));
                    project = project.dagger_version(DAGGER_PIN);
                }
            }
        }
        for args in [
            &["sync", "-v"][..],
            &["sync", "--json", "-v"],
            &["versions"],
            &["versions", "--check"],
            &["bump", "go", "1.26.9"],
            &["bump", "go", "1.26.8"],
        ] {
            let mode = format!("RUST_BACKTRACE={backtrace} {args:?}");
            runs.push((mode, project.run(args).success()));
        }
    }

    for (mode, run) in &runs {
        assert!(
            !run.stdout.contains(SWEEP_TOKEN) && !run.stderr.contains(SWEEP_TOKEN),
            "token shown by {mode}\n{run}"
        );
    }
    let calls = project.dagger_calls();
    assert_eq!(calls.len(), pipeline_calls, "every real run reached dagger");
    for call in project.all_dagger_calls() {
        assert!(
            !call.argv.iter().any(|arg| arg.contains(SWEEP_TOKEN)),
            "token in argv {:?}",
            call.argv
        );
    }
    // The value reached dagger the one way it should: as the variable itself.
    assert!(
        calls
            .iter()
            .all(|call| call.env["GITHUB_TOKEN"] == SWEEP_TOKEN)
    );

    let (found, searched) = files_containing(&project.root(), SWEEP_TOKEN);
    assert!(found.is_empty(), "token written into {found:?}");
    for path in [".git/index", ".git/HEAD", "versions.toml", "app/go.mod"] {
        assert!(
            searched.contains(&project.path(path)),
            "{path} not searched"
        );
    }
    let (found, home_searched) = files_containing(&project.home(), SWEEP_TOKEN);
    assert!(found.is_empty(), "token written into {found:?}");
    eprintln!(
        "token absent from {} runs ({pipeline_calls} reaching dagger) and {} files",
        runs.len(),
        searched.len() + home_searched.len()
    );
}
