//! `--engine local`: the same jobs with the Go on this machine (these run the real Go).

use std::os::unix::fs::PermissionsExt;

use crate::harness::Project;

#[test]
fn local_build_puts_binaries_in_out() {
    let project = Project::new();
    let out = project.home().join("out");
    project
        .run(["build", "--engine", "local", "--out", out.to_str().unwrap()])
        .success();
    for binary in ["hello", "bye"] {
        let mode = std::fs::metadata(out.join(binary))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{binary} is not executable");
    }
    let hello = std::process::Command::new(out.join("hello"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(hello.stdout).unwrap(), "hello, world\n");
    assert!(project.all_dagger_calls().is_empty());
}

#[test]
fn local_test_runs_go_test_and_propagates_failure() {
    let project = Project::new();
    project
        .run(["test", "--engine", "local"])
        .success()
        .stdout_has("ok  \texample.com/app/greet");

    project.write("app/greet/testdata/name.txt", "gordon\n");
    project
        .run(["test", "--engine", "local"])
        .code(1)
        .stdout_has("FAIL")
        .stderr_has("error: go exited with status 1");
    assert!(project.all_dagger_calls().is_empty());
}

/// Why the sync exists: Go's test cache keys a test that reads testdata/ by those files' size
/// and mtime. A fresh clone gives every file a new mtime, so without the sync the tests run
/// again; with it, a clone into the same path finds the cached result.
#[test]
fn synced_reclone_reuses_go_test_cache_and_unsynced_does_not() {
    let project = Project::new();
    let clone = project.home().join("clone");
    let package = "example.com/app/greet\t(cached)";

    project.clone_to(&clone);
    project
        .run_at(&clone, ["test", "--engine", "local"])
        .success()
        .stdout_has("ok  \texample.com/app/greet");

    project.clone_to(&clone);
    project
        .run_at(&clone, ["test", "--engine", "local"])
        .success()
        .stdout_has(package);

    project.clone_to(&clone);
    let unsynced = project
        .run_at(&clone, ["test", "--engine", "local", "--no-sync"])
        .success()
        .stdout_has("ok  \texample.com/app/greet");
    assert!(
        !unsynced.stdout.contains(package),
        "without the sync the fresh clone's testdata has new mtimes, so the result cannot be cached\n{unsynced}"
    );
}
