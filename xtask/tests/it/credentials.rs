//! Which credential reaches dagger, and that the token's value never shows.

use crate::harness::{Project, Run};

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
