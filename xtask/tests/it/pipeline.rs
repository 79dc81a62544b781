//! `build` and `test` through the stand-in dagger: the exact call, the version check, exit
//! codes, Ctrl-C and dry runs.

use crate::harness::Project;

fn ssh_dir(project: &Project) -> String {
    let dir = project.home().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("known_hosts"), "").unwrap();
    dir.to_str().unwrap().to_owned()
}

#[test]
fn build_calls_dagger_with_constructor_flags_before_functions() {
    let project = Project::new();
    let keys = ssh_dir(&project);
    project.run(["build", "--ssh-dir", &keys]).success();
    let call = project.dagger_call();
    let root = project.root();
    assert_eq!(
        call.argv,
        [
            "--progress".to_owned(),
            "plain".into(),
            "call".into(),
            format!("--ssh-dir={keys}"),
            "--go-version=1.26.8".into(),
            "build".into(),
            "binaries".into(),
            "export".into(),
            format!("--path={}", root.join("bin").display()),
        ]
    );
    assert_eq!(call.cwd, root);
    assert_eq!(call.env.get("DAGGER_NO_NAG").map(String::as_str), Some("1"));
}

#[test]
fn test_calls_the_test_function() {
    let project = Project::new();
    let keys = ssh_dir(&project);
    project.run(["test", "--ssh-dir", &keys]).success();
    let expected = [
        "--progress",
        "plain",
        "call",
        &format!("--ssh-dir={keys}"),
        "--go-version=1.26.8",
        "test",
    ];
    assert_eq!(project.dagger_call().argv, expected);
}

#[test]
fn goprivate_reaches_the_module() {
    let project = Project::new().env("GOPRIVATE", "github.com/example/*");
    let keys = ssh_dir(&project);
    project.run(["test", "--ssh-dir", &keys]).success();
    let expected = [
        "--progress",
        "plain",
        "call",
        &format!("--ssh-dir={keys}"),
        "--go-version=1.26.8",
        "--goprivate=github.com/example/*",
        "test",
    ];
    assert_eq!(project.dagger_call().argv, expected);
}

#[test]
fn out_dir_is_passed_absolute_and_found_from_a_subdirectory() {
    let project = Project::new();
    let keys = ssh_dir(&project);
    project
        .run_in(
            "app/greet",
            ["build", "--ssh-dir", &keys, "--out", "../../dist"],
        )
        .success();
    let call = project.dagger_call();
    assert_eq!(call.cwd, project.root(), "dagger runs at the project root");
    let path = format!(
        "--path={}",
        project.root().join("app/greet/../../dist").display()
    );
    assert_eq!(call.argv.last(), Some(&path));
}

#[test]
fn environment_passes_through() {
    let project = Project::new()
        .env("DAGGER_CLOUD_TOKEN", "cloud")
        .env("_EXPERIMENTAL_DAGGER_RUNNER_HOST", "tcp://engine:1234");
    let keys = ssh_dir(&project);
    project.run(["build", "--ssh-dir", &keys]).success();
    let call = project.dagger_call();
    assert_eq!(call.env["DAGGER_CLOUD_TOKEN"], "cloud");
    assert_eq!(
        call.env["_EXPERIMENTAL_DAGGER_RUNNER_HOST"],
        "tcp://engine:1234"
    );
}

#[test]
fn wrong_dagger_version_is_refused_before_the_pipeline() {
    let project = Project::new().dagger_version("0.20.1");
    let keys = ssh_dir(&project);
    project
        .run(["build", "--ssh-dir", &keys])
        .code(1)
        .stderr_has("dagger 0.20.1 is on PATH, but versions.toml pins dagger 0.21.8")
        .stderr_has(
            "curl -fsSL https://dl.dagger.io/dagger/install.sh | DAGGER_VERSION=0.21.8 BIN_DIR=$HOME/.local/bin sh",
        );
    assert!(project.dagger_calls().is_empty());
    assert_eq!(project.all_dagger_calls()[0].argv, ["version"]);
}

#[test]
fn missing_dagger_in_ci_is_an_error() {
    let project = Project::new()
        .without_dagger()
        .ci()
        .env("GITHUB_TOKEN", "t");
    project
        .run(["build"])
        .code(1)
        .stderr_has("dagger is not on PATH (CI is set, so no fallback to the local Go)")
        .stderr_has("DAGGER_VERSION=0.21.8");
    let project = Project::new().without_dagger().home_ssh();
    project
        .run(["test", "--engine", "dagger"])
        .code(1)
        .stderr_has("dagger is not on PATH; install the pinned version");
}

#[test]
fn missing_dagger_outside_ci_falls_back_to_local_go() {
    let project = Project::new().without_dagger();
    let run = project.run(["build", "--dry-run"]).success();
    let run = run.stderr_has("note: dagger is not on PATH; using the local Go");
    let root = project.root();
    assert_eq!(
        run.stdout,
        format!(
            "cd {}/app && GOTOOLCHAIN=go1.26.8 CGO_ENABLED=0 go build -trimpath -o {}/bin/ ./cmd/...\n",
            root.display(),
            root.display()
        )
    );
}

#[test]
fn exit_codes_propagate() {
    for code in [0, 1, 2, 3, 125] {
        let project = Project::new().home_ssh().dagger_exit(code);
        let run = project.run(["build"]).code(code);
        if code != 0 {
            run.stderr_has(&format!("error: dagger exited with status {code}"));
        }
    }
}

#[test]
fn killed_dagger_is_reported() {
    let project = Project::new().home_ssh().dagger_action("kill");
    project
        .run(["test"])
        .code(137)
        .stderr_has("dagger was killed by signal 9");
}

/// Ctrl-C goes to xtask and dagger alike; xtask waits for dagger and reports its status
/// instead of dying first.
#[test]
fn ctrl_c_waits_for_dagger() {
    let project = Project::new().home_ssh().dagger_action("interrupt");
    let run = project.run(["build"]);
    assert_eq!(run.signal(), None, "xtask died of a signal\n{run}");
    run.code(2).stderr_has("dagger exited with status 2");
    assert!(project.dagger_call().interrupted);
}

#[test]
fn dry_run_prints_quoted_commands_and_runs_nothing() {
    let project = Project::new().home_ssh();
    let before = std::fs::metadata(project.path("app/go.mod"))
        .unwrap()
        .modified()
        .unwrap();
    let run = project.run(["test", "--dry-run"]).success();
    assert!(
        project.all_dagger_calls().is_empty(),
        "dry run called dagger"
    );
    assert_eq!(
        std::fs::metadata(project.path("app/go.mod"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    let run = run.stderr_has("timestamps:");
    let ssh = project.home().join(".ssh");
    assert_eq!(
        run.stdout,
        format!(
            "cd {} && DAGGER_NO_NAG=1 dagger --progress plain call --ssh-dir={} --go-version=1.26.8 test\n",
            project.root().display(),
            ssh.display()
        )
    );
}

#[test]
fn dry_run_quotes_what_the_shell_would_read() {
    let project = Project::new();
    let keys = project.home().join("my keys");
    std::fs::create_dir(&keys).unwrap();
    let run = project
        .run([
            "build",
            "--dry-run",
            "--ssh-dir",
            keys.to_str().unwrap(),
            "--out",
            "it's out",
        ])
        .success();
    let run = run.stderr_has("has no known_hosts");
    assert!(project.all_dagger_calls().is_empty());
    let out = project.root().join("it's out");
    let expected = format!(
        " '--ssh-dir={}' --go-version=1.26.8 build binaries export '--path={}'\n",
        keys.display(),
        out.display().to_string().replace('\'', r"'\''")
    );
    assert!(run.stdout.ends_with(&expected), "{run}");
    // And a shell reads it back into the same words.
    let echo = run.stdout.replace(" dagger ", " printf '%s\\n' ");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(echo.trim_end())
        .output()
        .unwrap();
    let words = String::from_utf8(output.stdout).unwrap();
    assert!(
        words.contains(&format!("--path={}\n", out.display())),
        "{words}"
    );
}

/// A CLI whose `dagger version` is not the one-line 0.x format (the 1.0 betas) is asked
/// `dagger version -q`.
#[test]
fn multi_line_version_output_falls_back_to_quiet() {
    let project = Project::new()
        .home_ssh()
        .env("STANDIN_FORMAT", "multi-line");
    project.run(["build"]).success();
    let calls: Vec<Vec<String>> = project
        .all_dagger_calls()
        .into_iter()
        .map(|call| call.argv)
        .collect();
    assert_eq!(calls[..2], [vec!["version"], vec!["version", "-q"]]);
    assert_eq!(calls.len(), 3);

    let project = project.dagger_version("0.22.0");
    project
        .run(["build"])
        .code(1)
        .stderr_has("dagger 0.22.0 is on PATH, but versions.toml pins dagger 0.21.8");
}

/// What `sh` passes to `program` when it runs the dry run's `line`, with `program` swapped
/// for `printf '%s\0'`: the words of the command, byte for byte.
fn words_sh_reads(line: &[u8], program: &str) -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let line = line.strip_suffix(b"\n").expect("one line");
    assert!(!line.contains(&b'\n'), "{}", String::from_utf8_lossy(line));
    let program = format!(" {program} ");
    let at = line
        .windows(program.len())
        .position(|w| w == program.as_bytes())
        .expect("the program in the line");
    let mut script = line[..at].to_vec();
    script.extend_from_slice(b" printf '%s\\0' ");
    script.extend_from_slice(&line[at + program.len()..]);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(&script))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut words: Vec<Vec<u8>> = output
        .stdout
        .split(|&b| b == 0)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(words.pop(), Some(Vec::new()));
    words
}

/// A dry run prints a path that is not UTF-8 as its bytes, quoted, so that the printed line
/// pasted into a shell runs the very command: with Dagger and with the local Go.
#[test]
fn dry_run_prints_a_path_that_is_not_utf8_as_its_bytes() {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let project = Project::new().home_ssh();
    let out = std::ffi::OsString::from_vec(b"out \xff'd\xe9".to_vec());
    let mut absolute = project.root().into_os_string().into_vec();
    absolute.push(b'/');
    absolute.extend_from_slice(out.as_bytes());
    for (engine, program, expected) in [
        (
            "dagger",
            "dagger",
            [b"--path=".as_slice(), &absolute].concat(),
        ),
        ("local", "go", [absolute.as_slice(), b"/"].concat()),
    ] {
        let args = [
            "build".as_ref(),
            "--dry-run".as_ref(),
            "--engine".as_ref(),
            engine.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        let output = project.output_at(&project.root(), args);
        assert!(output.status.success(), "{output:?}");
        let words = words_sh_reads(&output.stdout, program);
        assert_eq!(
            words.last().map(Vec::as_slice),
            Some(if engine == "local" {
                b"./cmd/...".as_slice()
            } else {
                expected.as_slice()
            })
        );
        assert!(
            words.contains(&expected),
            "{engine}: {expected:?} not in {words:?}\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    assert!(project.all_dagger_calls().is_empty());
}
