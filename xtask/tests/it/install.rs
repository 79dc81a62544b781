//! `cargo xtask install-man` and `install-completions`, judged by what they are for: the real
//! `git mtimestamp --help` shows the installed page through the real `man`, and the real bash,
//! with git's own completion script, completes `git mtimestamp --no-<TAB>`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::Project;

/// The git-mtimestamp binary of this workspace. Cargo gives xtask's tests only xtask's own
/// binaries (`CARGO_BIN_EXE_*`), so it is built here, once per run, and cargo says where it is.
fn git_mtimestamp_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let output = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--message-format=json",
                "--manifest-path",
            ])
            .arg(&manifest)
            .args(["-p", "git-mtimestamp", "--bin", "git-mtimestamp"])
            .output()
            .expect("running cargo build");
        assert!(
            output.status.success(),
            "cargo build -p git-mtimestamp failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find_map(|message| {
                (message["reason"] == "compiler-artifact"
                    && message["target"]["name"] == "git-mtimestamp")
                    .then(|| message["executable"].as_str().map(PathBuf::from))
                    .flatten()
            })
            .expect("cargo named the git-mtimestamp executable")
    })
}

/// A directory holding only `git-mtimestamp`, for PATH.
fn bin_dir_with_git_mtimestamp(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::symlink(git_mtimestamp_binary(), dir.join("git-mtimestamp")).unwrap();
    dir.to_owned()
}

/// Fails the test, saying what to install, when `man` is not on PATH: without it there is
/// nothing to test, and `git mtimestamp --help` cannot work for anyone on this machine.
fn require_man() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join("man").is_file());
    assert!(
        found,
        "`man` is not on PATH; install man-db (Debian and Ubuntu: apt-get install man-db)"
    );
}

/// `git mtimestamp --help` as a user runs it, in a clean environment: PATH starts with
/// `path_first`, HOME is `home`, and no system or user git configuration is read.
fn git_mtimestamp_help(
    project: &Project,
    path_first: &Path,
    man_path: Option<&Path>,
) -> std::process::Output {
    let path = std::env::join_paths([path_first, Path::new("/usr/bin"), Path::new("/bin")]);
    let mut command = Command::new("git");
    command
        .args(["mtimestamp", "--help"])
        .current_dir(project.root())
        .env_clear()
        .env("PATH", path.unwrap())
        .env("HOME", project.home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "80");
    if let Some(man_path) = man_path {
        command.env("MANPATH", man_path);
    }
    command.output().unwrap()
}

#[track_caller]
fn assert_shows_the_manual(output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = format!(
        "status {:?}\n--- stdout\n{stdout}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    for needle in [
        "NAME",
        "git-mtimestamp - Set each clean tracked file's mtime",
        "--no-directories",
        "--first-parent",
        "EXIT STATUS",
        "GIT_MTIMESTAMP_TRACE",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in\n{report}");
    }
}

#[test]
fn git_mtimestamp_help_shows_the_installed_manual() {
    require_man();
    let temp = tempfile::tempdir().unwrap();
    let man_dir = temp.path().join("man");
    let project = Project::new().env("MANPATH", &man_dir);
    let bin = bin_dir_with_git_mtimestamp(&temp.path().join("bin"));

    // Before: what was reported.
    let before = git_mtimestamp_help(&project, &bin, Some(&man_dir));
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert!(
        !before.status.success() && stderr.contains("No manual entry for git-mtimestamp"),
        "{stderr}"
    );

    let page = man_dir.join("man1/git-mtimestamp.1");
    let run = project.run([
        OsString::from("install-man"),
        "--dir".into(),
        man_dir.join("man1").into(),
    ]);
    // With MANPATH naming the directory, man finds the page: no note.
    assert_eq!(
        run.success().stderr,
        format!("installed {}\n", page.display())
    );

    assert_shows_the_manual(&git_mtimestamp_help(&project, &bin, Some(&man_dir)));
}

/// The documented default, `~/.local/share/man/man1`, needs no MANPATH where ~/.local/bin is
/// on PATH: man-db searches `../share/man` beside each directory of PATH. Where it is not,
/// xtask says how to make man find the page.
#[test]
fn the_default_directory_is_found_through_local_bin_on_path() {
    require_man();
    let project = Project::new();
    let local = project.home().join(".local");
    let page = local.join("share/man/man1/git-mtimestamp.1");
    // xtask's own PATH has no ~/.local/bin.
    project
        .run(["install-man"])
        .success()
        .stderr_has(&format!("installed {}", page.display()))
        .stderr_has(&format!(
            "note: man does not search {}",
            local.join("share/man").display()
        ))
        .stderr_has(&format!("or put {} on PATH", local.join("bin").display()));
    assert!(page.is_file());

    let bin = bin_dir_with_git_mtimestamp(&local.join("bin"));
    assert_shows_the_manual(&git_mtimestamp_help(&project, &bin, None));
}

/// git's completion script as the system installs it: the `git` package's file, which
/// bash-completion loads; where a distribution keeps only git's own copy, that one.
fn git_bash_completion() -> &'static Path {
    const PLACES: [&str; 3] = [
        "/usr/share/bash-completion/completions/git",
        "/usr/share/git/completion/git-completion.bash",
        "/usr/share/git-core/contrib/completion/git-completion.bash",
    ];
    PLACES
        .iter()
        .map(Path::new)
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("git's bash completion is in none of {PLACES:?}; install git's bash completion")
        })
}

/// What bash offers for the last of `words`, as it would on TAB: git's completion and the
/// installed script are sourced, COMP_WORDS and COMP_CWORD set, and the function that
/// `complete -p` names for the command is called as bash calls it.
fn complete(project: &Project, script: &Path, words: &[&str]) -> Vec<String> {
    const DRIVER: &str = r#"
source "$1" || exit 1
source "$2" || exit 1
shift 2
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
spec=$(complete -p "$1") || exit 1
[[ $spec =~ -F\ ([^ ]+) ]] || { echo "no function in: $spec" >&2; exit 1; }
COMPREPLY=()
"${BASH_REMATCH[1]}" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let output = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", DRIVER, "bash"])
        .arg(git_bash_completion())
        .arg(script)
        .args(words)
        .current_dir(project.root())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", project.home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bash failed for {words:?}:\n{stderr}"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.trim_end().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn bash_completes_git_mtimestamp_and_git_subcommand_options() {
    let project = Project::new();
    let dir = project.home().join("completions");
    project
        .run([
            OsString::from("install-completions"),
            "bash".into(),
            "--dir".into(),
            dir.clone().into(),
        ])
        .success()
        .stderr_has(&format!(
            "installed {}",
            dir.join("git-mtimestamp").display()
        ));
    let script = dir.join("git-mtimestamp");

    let offered = complete(&project, &script, &["git", "mtimestamp", "--no-"]);
    assert!(
        offered.iter().any(|word| word == "--no-directories"),
        "{offered:?}"
    );
    let offered = complete(&project, &script, &["git", "mtimestamp", "--fi"]);
    assert_eq!(offered, ["--first-parent"]);
    // After -C comes a directory, and pathspecs are paths: nothing is offered, and bash
    // completes file names (git's completion is registered with `-o default`).
    assert_eq!(
        complete(&project, &script, &["git", "mtimestamp", "-C", ""]),
        [] as [&str; 0]
    );

    let offered = complete(&project, &script, &["git-mtimestamp", "--fi"]);
    assert_eq!(offered, ["--first-parent"]);
    let offered = complete(&project, &script, &["git-mtimestamp", "--no-"]);
    assert_eq!(offered, ["--no-directories"]);
}

/// The installed page and scripts come from the current command line: every option is in
/// them, with its help text in the page; the README's option table lists every option too.
#[test]
fn the_manual_and_completions_follow_the_command_line() {
    require_man();
    let project = Project::new();
    let dir = project.home().join("installed");
    project
        .run([
            OsString::from("install-man"),
            "--dir".into(),
            dir.clone().into(),
        ])
        .success();
    for shell in ["bash", "zsh", "fish"] {
        project
            .run([
                OsString::from("install-completions"),
                shell.into(),
                "--dir".into(),
                dir.clone().into(),
            ])
            .success();
    }

    // Without hyphenation or justification, and wide, every help text stays one line.
    let page = Command::new("man")
        .args(["--nh", "--nj", "-l"])
        .arg(dir.join("git-mtimestamp.1"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("MANWIDTH", "1000")
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    assert!(
        page.status.success(),
        "{}",
        String::from_utf8_lossy(&page.stderr)
    );
    let page = String::from_utf8(page.stdout).unwrap();
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/git-mtimestamp/README.md"),
    )
    .unwrap();
    let script = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let (bash, zsh, fish) = (
        script("git-mtimestamp"),
        script("_git-mtimestamp"),
        script("git-mtimestamp.fish"),
    );

    let command = git_mtimestamp::cli::command();
    let mut longs = 0;
    for arg in command.get_arguments() {
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(page.contains(&help), "the page lacks {help:?}:\n{page}");
        let Some(long) = arg.get_long() else {
            continue;
        };
        longs += 1;
        let flag = format!("--{long}");
        assert!(page.contains(&flag), "the page lacks {flag}:\n{page}");
        assert!(bash.contains(&flag), "bash lacks {flag}");
        assert!(zsh.contains(&flag), "zsh lacks {flag}");
        assert!(fish.contains(&format!("-l {long}")), "fish lacks {flag}");
        if !["help", "version"].contains(&long) {
            assert!(
                readme.contains(&format!("`{flag}`")),
                "the README lacks {flag}"
            );
        }
    }
    assert!(longs >= 7, "{longs} long options");
}
