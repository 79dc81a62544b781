//! The timestamp sync before the pipeline: what dagger sees when it is called.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::harness::{COMMIT_TIME, Project};

const EDITED: &str = "app/greet/greet.go";

/// A project with one edited file whose mtime is known, 2020-09-13T12:26:40.5Z.
fn project_with_an_edit() -> (Project, SystemTime) {
    let project = Project::new().home_ssh();
    project.write(EDITED, &project.read(EDITED).replace("hello, ", "hi, "));
    let edited_at = SystemTime::UNIX_EPOCH + Duration::new(1_600_000_000, 500_000_000);
    std::fs::File::options()
        .write(true)
        .open(project.path(EDITED))
        .unwrap()
        .set_modified(edited_at)
        .unwrap();
    (project, edited_at)
}

fn mtime(project: &Project, path: &str) -> SystemTime {
    std::fs::metadata(project.path(path))
        .unwrap()
        .modified()
        .unwrap()
}

fn sha256_at_head(project: &Project, path: &str) -> String {
    let script = format!("git show HEAD:{path} | sha256sum");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(project.root())
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn clean_files_have_commit_times_when_dagger_runs() {
    let (project, _) = project_with_an_edit();
    project.run(["build"]).success().stderr_has("timestamps:");
    let call = project.dagger_call();
    let clean: Vec<&String> = call.files.keys().filter(|path| *path != EDITED).collect();
    assert!(clean.len() >= 8, "{clean:?}");
    for path in clean {
        assert_eq!(call.mtime_seconds(path), COMMIT_TIME, "{path}");
        // An old mtime only ever goes with the committed content.
        assert_eq!(
            call.hashes[path.as_str()],
            sha256_at_head(&project, path),
            "{path}"
        );
    }
}

/// Every tracked directory of `app/` and `.dagger/` gets the commit time, and the top of the
/// repository, which the pipeline does not read, keeps its own.
#[test]
fn the_pipelines_directories_have_commit_times_and_the_top_does_not() {
    let project = Project::new().home_ssh();
    let top_before = mtime(&project, ".");
    project
        .run(["sync"])
        .success()
        .stdout_has("; directories: updated ");
    let listing = project.git(&["ls-tree", "-r", "-d", "--name-only", "HEAD"]);
    let in_scope = |dir: &&str| {
        ["app", ".dagger"]
            .iter()
            .any(|top| Path::new(dir).starts_with(top))
    };
    let directories: Vec<&str> = listing.lines().filter(in_scope).collect();
    assert!(directories.contains(&"app") && directories.contains(&".dagger"));
    for dir in directories {
        let seconds = mtime(&project, dir)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(seconds as i64, COMMIT_TIME, "{dir}");
    }
    assert_eq!(mtime(&project, "."), top_before);
}

#[test]
fn edited_files_keep_their_mtime() {
    let (project, _) = project_with_an_edit();
    project.run(["test"]).success();
    let call = project.dagger_call();
    assert_eq!(call.files[EDITED].1, "1600000000.500000000");
    assert_ne!(call.hashes[EDITED], sha256_at_head(&project, EDITED));
}

#[test]
fn no_sync_leaves_mtimes_alone() {
    let (project, _) = project_with_an_edit();
    project.run(["build", "--no-sync"]).success();
    let call = project.dagger_call();
    assert_eq!(call.files[EDITED].1, "1600000000.500000000");
    // The fixture was written just now, long after its commit.
    assert!(call.mtime_seconds("app/go.mod") > COMMIT_TIME + 3600);
}

#[test]
fn dry_run_sync_changes_no_mtime() {
    let (project, edited_at) = project_with_an_edit();
    let go_mod = mtime(&project, "app/go.mod");
    project
        .run(["build", "--dry-run"])
        .success()
        .stderr_has("timestamps:");
    assert_eq!(mtime(&project, "app/go.mod"), go_mod);
    assert_eq!(mtime(&project, EDITED), edited_at);
}

#[test]
fn outside_a_git_work_tree_there_is_a_notice() {
    let project = Project::new().home_ssh();
    std::fs::remove_dir_all(project.path(".git")).unwrap();
    project
        .run(["build"])
        .success()
        .stderr_has("is not a git work tree; timestamps not synced");
    assert_eq!(project.dagger_calls().len(), 1);
}

#[test]
fn before_the_first_commit_the_build_runs_and_no_mtime_changes() {
    let project = Project::new().home_ssh();
    // The same files, staged in a repository with no commit yet.
    std::fs::remove_dir_all(project.path(".git")).unwrap();
    project.git(&["init", "-q", "-b", "main"]);
    project.git(&["add", "-A"]);
    let go_mod = mtime(&project, "app/go.mod");
    project
        .run(["build"])
        .success()
        .stderr_has("timestamps: updated 0, already correct 0, skipped ")
        .stderr_has("warning: HEAD has no commit yet, so no file has a commit time");
    assert_eq!(project.dagger_calls().len(), 1);
    assert_eq!(mtime(&project, "app/go.mod"), go_mod);
}

/// A project without a Dagger module: the pipeline's scope names `.dagger`, which matches no
/// tracked file here, and that is no error for `sync`, `build` or `test`. A pathspec given on
/// the command line that matches nothing is one, as in `git add`.
#[test]
fn a_project_without_a_dagger_module_syncs_builds_and_tests() {
    let project = Project::new().home_ssh();
    project.git(&["rm", "-q", "-r", ".dagger"]);
    project.git(&["commit", "-q", "-m", "no module"]);
    project
        .run(["sync"])
        .success()
        .stdout_has("; directories: updated ");
    assert_eq!(
        mtime(&project, "app/go.mod")
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        COMMIT_TIME
    );
    project.run(["build"]).success().stderr_has("timestamps: ");
    project
        .run(["test", "--dry-run"])
        .success()
        .stderr_has("timestamps: ");
    project.run(["test"]).success();
    assert_eq!(project.dagger_calls().len(), 2);
    project
        .run(["sync", "--", ".dagger", "app"])
        .code(1)
        .stderr_has("error: pathspec '.dagger' did not match any files\n");
}
