//! The Go on this machine against the pin: what `go version` says, what `--engine local` runs
//! (it sets `GOTOOLCHAIN=go<pin>`), and what plain `go` commands in app/ run under the user's
//! own GOTOOLCHAIN. The rules are cmd/go's (internal/toolchain/select.go, Go 1.21 and later).

use std::path::{Path, PathBuf};

use super::finding::{Finding, Status};
use super::probe::{self, Probe, TOOL_DEADLINE};
use crate::version::Version;

/// The first Go that knows GOTOOLCHAIN; older ones build with themselves whatever it says.
const FIRST_SWITCHING_GO: GoVersion = GoVersion(1, 21, Stage::Release, 0);

/// Where cmd/go downloads toolchains: `golang.org/toolchain@v0.0.1-go1.26.8.linux-amd64`.
const TOOLCHAIN_MODULE: &str = "golang.org/toolchain";
const TOOLCHAIN_MODULE_VERSION: &str = "v0.0.1";

/// The local Go as `go version` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LocalGo {
    /// `go1.26.8`, or for a development build something like `go1.27-abcdef`.
    toolchain: String,
    /// `linux/amd64`: the platform a downloaded toolchain must be for.
    platform: String,
}

/// The `go` line and, when Go answers, the `GOTOOLCHAIN` line. `needed`: the build at hand
/// runs on the local Go, so a problem here stops it.
pub fn check(root: &Path, pin: Option<Version>, needed: bool) -> Vec<Finding> {
    let for_this_build = |finding: Finding| {
        if needed {
            finding
        } else {
            finding.unused(" (not used: the build runs on Dagger)")
        }
    };
    let local = match local_go() {
        Ok(local) => local,
        Err(found) => {
            let finding = Finding::new(Status::problem(needed), "go", found).fix(install_go(pin));
            return vec![for_this_build(finding)];
        }
    };
    let Some(pin) = pin else {
        let found = format!(
            "{}; no pin to compare: versions.toml did not load",
            local.toolchain
        );
        return vec![Finding::warn("go", found)];
    };
    let mut findings = vec![for_this_build(local_engine(&local, pin, needed))];
    findings.extend(plain_go(root, &local, pin));
    findings
}

/// The go on PATH, or what is wrong with it. GOTOOLCHAIN=local: the version of the go binary
/// itself, without a switch (or a download) to whatever GOTOOLCHAIN or a go.mod asks for.
fn local_go() -> Result<LocalGo, String> {
    let env = [("GOTOOLCHAIN", "local")];
    match probe::run("go", &["version"], &env, TOOL_DEADLINE) {
        Probe::Answered(answer) if answer.success => {
            parse_go_version(&answer.stdout).ok_or_else(|| {
                let output = answer.stdout.trim();
                format!("cannot read a version from `go version` ({output:?})")
            })
        }
        Probe::NotFound => Err("not on PATH".to_owned()),
        Probe::Answered(answer) => Err(format!("`go version` failed: {}", answer.complaint())),
        Probe::TimedOut => Err(format!(
            "`go version` did not answer within {} s",
            TOOL_DEADLINE.as_secs()
        )),
        Probe::CannotRun(err) => Err(format!("cannot run go: {err}")),
    }
}

fn install_go(pin: Option<Version>) -> String {
    match pin {
        Some(pin) => format!("install Go {pin} from https://go.dev/dl/"),
        None => "install Go from https://go.dev/dl/".to_owned(),
    }
}

/// What `--engine local` runs: the local Go with `GOTOOLCHAIN=go<pin>` in its environment,
/// which outranks `go env -w` and go.env. An exact name makes cmd/go run itself when it is that
/// version, else a `go<pin>` on PATH, else the toolchain in the module cache, else download it
/// (toolchain.Exec).
fn local_engine(local: &LocalGo, pin: Version, needed: bool) -> Finding {
    let problem = |found: String| Finding::new(Status::problem(needed), "go", found);
    let install = install_go(Some(pin));
    let wanted = format!("go{pin}");
    if local.toolchain == wanted {
        let found = format!("{wanted}, the pin: --engine local runs it as it is");
        return Finding::ok("go", found);
    }
    let found = format!("{}, pin {pin}", local.toolchain);
    if GoVersion::parse(&local.toolchain).is_some_and(|version| version < FIRST_SWITCHING_GO) {
        return problem(format!(
            "{found}: a Go older than 1.21 ignores GOTOOLCHAIN, so --engine local would build \
             with {} instead",
            local.toolchain
        ))
        .fix(install);
    }
    let switch = format!("{found}: --engine local sets GOTOOLCHAIN={wanted}, which");
    let on_path = format!("{switch} runs the {wanted} on PATH");
    match probe::run(&wanted, &["version"], &[], TOOL_DEADLINE) {
        Probe::NotFound => {}
        Probe::Answered(answer)
            if answer.success && answer.stdout.split_whitespace().any(|w| w == wanted) =>
        {
            return Finding::ok("go", on_path);
        }
        // golang.org/dl's wrapper says "go1.26.8: not downloaded. Run 'go1.26.8 download'".
        Probe::Answered(answer) => {
            let found = format!(
                "{on_path}, and `{wanted} version` fails: {}",
                answer.complaint()
            );
            return problem(found).fix(format!("{wanted} download"));
        }
        Probe::TimedOut => {
            let deadline = TOOL_DEADLINE.as_secs();
            return problem(format!(
                "{on_path}, which did not answer within {deadline} s"
            ))
            .fix(install);
        }
        Probe::CannotRun(err) => {
            return problem(format!("{on_path}, which cannot run: {err}")).fix(install);
        }
    }
    let Some([mod_cache, proxy]) = go_env(["GOMODCACHE", "GOPROXY"]) else {
        return problem(format!(
            "{switch} needs a download, but `go env` did not answer"
        ))
        .fix(install);
    };
    if let Some(dir) = downloaded_toolchain(Path::new(&mod_cache), &wanted, &local.platform) {
        let found = format!(
            "{switch} runs the one downloaded before ({})",
            dir.display()
        );
        return Finding::ok("go", found);
    }
    // The download goes through GOPROXY, and `off` there forbids it (so does a list that ends
    // in it, but only after the others fail, which cannot be told from here).
    if proxy == "off" {
        let fix = format!(
            "{install} (or allow the download once: \
             GOPROXY=https://proxy.golang.org GOTOOLCHAIN={wanted} go version)"
        );
        return problem(format!(
            "{switch} would download, but GOPROXY=off forbids it"
        ))
        .fix(fix);
    }
    let found = format!(
        "{switch} downloads on the first build, through GOPROXY={proxy} \
         (the network is not checked here)"
    );
    Finding::warn("go", found).fix(format!(
        "GOTOOLCHAIN={wanted} go version   # downloads it now"
    ))
}

/// The values of `names` from `go env`, for the local Go itself.
fn go_env<const N: usize>(names: [&str; N]) -> Option<[String; N]> {
    let args: Vec<&str> = std::iter::once("env").chain(names).collect();
    let Probe::Answered(answer) =
        probe::run("go", &args, &[("GOTOOLCHAIN", "local")], TOOL_DEADLINE)
    else {
        return None;
    };
    if !answer.success {
        return None;
    }
    let values: Vec<String> = answer.stdout.lines().map(str::to_owned).collect();
    values.try_into().ok()
}

/// The directory of `toolchain` in the module cache, when a download finished there: the
/// directory, its `.ziphash` and no `.partial` left (modfetch.DownloadDir's test).
fn downloaded_toolchain(mod_cache: &Path, toolchain: &str, platform: &str) -> Option<PathBuf> {
    if mod_cache.as_os_str().is_empty() {
        return None;
    }
    let version = format!(
        "{TOOLCHAIN_MODULE_VERSION}-{toolchain}.{}",
        platform.replace('/', "-")
    );
    let dir = mod_cache.join(format!("{TOOLCHAIN_MODULE}@{version}"));
    let download = mod_cache
        .join("cache/download")
        .join(TOOLCHAIN_MODULE)
        .join("@v");
    let complete = dir.is_dir()
        && download.join(format!("{version}.ziphash")).is_file()
        && !download.join(format!("{version}.partial")).exists();
    complete.then_some(dir)
}

/// The `GOTOOLCHAIN` line: what plain `go` commands in app/ run under the user's own setting.
/// Never a `fail`: xtask does not run them.
fn plain_go(root: &Path, local: &LocalGo, pin: Version) -> Option<Finding> {
    // Exactly `go env GOTOOLCHAIN`: cmd/go answers that one without switching toolchains.
    let Probe::Answered(answer) = probe::run("go", &["env", "GOTOOLCHAIN"], &[], TOOL_DEADLINE)
    else {
        return None;
    };
    let setting = answer.stdout.trim();
    // Go before 1.21 has no such setting; the `go` line already says what that means.
    if !answer.success || setting.is_empty() {
        return None;
    }
    let go_mod = std::fs::read_to_string(root.join("app/go.mod")).unwrap_or_default();
    let wanted = format!("go{pin}");
    let said = format!("GOTOOLCHAIN={setting}: plain `go` in app/");
    let in_environment = std::env::var_os("GOTOOLCHAIN").is_some_and(|v| !v.is_empty());
    let reset = if in_environment {
        "set GOTOOLCHAIN=auto in your environment (it is set there, which outranks `go env -w`)"
    } else {
        "go env -w GOTOOLCHAIN=auto"
    };
    let (toolchain, path_only) = match select_toolchain(setting, &local.toolchain, &go_mod) {
        Selection::Runs {
            toolchain,
            path_only,
        } => (toolchain, path_only),
        Selection::Invalid => {
            let found =
                format!("GOTOOLCHAIN={setting} is not a valid setting: plain `go` refuses to run");
            let fix = if in_environment {
                "unset GOTOOLCHAIN"
            } else {
                "go env -u GOTOOLCHAIN"
            };
            return Some(Finding::warn("GOTOOLCHAIN", found).fix(fix));
        }
    };
    if path_only
        && toolchain != local.toolchain
        && let Probe::NotFound = probe::run(&toolchain, &["version"], &[], TOOL_DEADLINE)
    {
        let found = format!("{said} looks for {toolchain} on PATH only, and finds none");
        let fix = format!("go install golang.org/dl/{toolchain}@latest && {toolchain} download");
        return Some(Finding::warn("GOTOOLCHAIN", found).fix(fix));
    }
    if toolchain == wanted {
        return Some(Finding::ok(
            "GOTOOLCHAIN",
            format!("{said} runs {wanted}, the pin"),
        ));
    }
    let found = format!(
        "{said} runs {toolchain}, not the pinned {wanted} \
         (`cargo xtask build --engine local` is not affected)"
    );
    // cmd/go only ever switches up from the local Go: a newer local Go stays.
    let older_than_pin = GoVersion::parse(&local.toolchain)
        .zip(GoVersion::parse(&wanted))
        .is_some_and(|(local, wanted)| local < wanted);
    let fix = if older_than_pin {
        reset.to_owned()
    } else {
        format!("run them as GOTOOLCHAIN={wanted} go ..., or use cargo xtask build --engine local")
    };
    Some(Finding::warn("GOTOOLCHAIN", found).fix(fix))
}

/// What plain `go` would run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    /// This toolchain; with `path_only`, cmd/go looks for it on PATH and never downloads.
    Runs { toolchain: String, path_only: bool },
    /// cmd/go refuses the setting.
    Invalid,
}

/// The toolchain plain `go` runs in the module of `go_mod` when the local Go is `local`, by
/// cmd/go's rules. GOTOOLCHAIN is `local`, `auto` or `path` (the local Go as the minimum), or a
/// toolchain name with an optional `+auto` or `+path`. Without `auto` or `path` the minimum is
/// what runs; with either, go.mod's `toolchain` line and then its `go` line raise it, never
/// lower it.
fn select_toolchain(setting: &str, local: &str, go_mod: &str) -> Selection {
    let (minimum, mode) = match setting {
        "auto" | "path" => ("local", setting),
        _ => match setting.split_once('+') {
            Some((minimum, mode @ ("auto" | "path"))) => (minimum, mode),
            Some(_) => return Selection::Invalid,
            None => (setting, ""),
        },
    };
    let mut chosen = if minimum == "local" {
        local.to_owned()
    } else if minimum.starts_with("go") && GoVersion::parse(minimum).is_some() {
        minimum.to_owned()
    } else {
        return Selection::Invalid;
    };
    if !mode.is_empty() {
        let newer = |candidate: &str, chosen: &str| match (
            GoVersion::parse(candidate),
            GoVersion::parse(chosen),
        ) {
            (Some(candidate), Some(chosen)) => candidate > chosen,
            _ => false,
        };
        if let Some(toolchain) = directive(go_mod, "toolchain").filter(|t| *t != "default")
            && newer(toolchain, &chosen)
        {
            chosen = toolchain.to_owned();
        }
        if let Some(go) = directive(go_mod, "go") {
            // A language version (1.26) means its first release (go1.26.0) from Go 1.21 on.
            let mut candidate = format!("go{go}");
            let first_language = GoVersion(1, 21, Stage::Language, 0);
            if GoVersion::parse(go).is_some_and(|v| v.2 == Stage::Language && v >= first_language) {
                candidate.push_str(".0");
            }
            if newer(&candidate, &chosen) {
                chosen = candidate;
            }
        }
    }
    Selection::Runs {
        toolchain: chosen,
        path_only: mode == "path",
    }
}

/// The value of directive `name` in go.mod text, without a trailing comment.
fn directive<'a>(go_mod: &'a str, name: &str) -> Option<&'a str> {
    go_mod.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(name)?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        Some(rest.split("//").next().unwrap_or_default().trim())
    })
}

/// `go version go1.26.8 linux/amd64`, or `go version devel go1.27-abcdef ... linux/amd64`.
fn parse_go_version(output: &str) -> Option<LocalGo> {
    let words: Vec<&str> = output.lines().next()?.split_whitespace().collect();
    let [go, version, name, ..] = words[..] else {
        return None;
    };
    if go != "go" || version != "version" {
        return None;
    }
    let toolchain = if name == "devel" { words.get(3)? } else { name };
    let platform = words.last().filter(|word| word.contains('/'))?;
    Some(LocalGo {
        toolchain: (*toolchain).to_owned(),
        platform: (*platform).to_owned(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// `1.21`: the language, before any release of it.
    Language,
    Beta,
    Candidate,
    Release,
}

/// A Go version in cmd/go's order (internal/gover): 1.21 < 1.21rc1 < 1.21.0 < 1.21.1. The last
/// number is the beta, candidate or patch number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct GoVersion(u32, u32, Stage, u32);

impl GoVersion {
    /// `go1.26.8`, `1.26.8`, `go1.26rc1`, `1.26`; a suffix after `-` is ignored, as cmd/go
    /// does for custom toolchain names.
    fn parse(name: &str) -> Option<GoVersion> {
        let version = name.strip_prefix("go").unwrap_or(name);
        let version = version.split('-').next()?;
        let (major, rest) = version.split_once('.')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (minor, tail) = rest.split_at(digits);
        let number = |text: &str| text.parse::<u32>().ok();
        let (stage, n) = if tail.is_empty() {
            (Stage::Language, 0)
        } else if let Some(patch) = tail.strip_prefix('.') {
            (Stage::Release, number(patch)?)
        } else if let Some(n) = tail.strip_prefix("rc") {
            (Stage::Candidate, number(n)?)
        } else if let Some(n) = tail.strip_prefix("beta") {
            (Stage::Beta, number(n)?)
        } else {
            return None;
        };
        Some(GoVersion(number(major)?, number(minor)?, stage, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_MOD: &str = "module example.com/app\n\ngo 1.26.0\n\ntoolchain go1.26.8 // pinned\n";

    fn runs(toolchain: &str, path_only: bool) -> Selection {
        Selection::Runs {
            toolchain: toolchain.to_owned(),
            path_only,
        }
    }

    #[test]
    fn go_versions_order_as_cmd_go_orders_them() {
        let v = |name| GoVersion::parse(name).unwrap();
        assert!(v("1.21") < v("1.21beta1"));
        assert!(v("1.21beta1") < v("1.21rc1"));
        assert!(v("go1.21rc2") < v("go1.21.0"));
        assert!(v("go1.21.0") < v("go1.21.1"));
        assert!(v("go1.20.14") < FIRST_SWITCHING_GO);
        assert!(v("go1.20") < FIRST_SWITCHING_GO);
        assert!(v("go1.9.7") < v("go1.10.0"));
        assert_eq!(v("go1.26.8-bigcorp"), v("1.26.8"));
        for bad in [
            "",
            "go",
            "bash",
            "go1",
            "go1.x",
            "go1.26.8.1",
            "1.26 8",
            "local",
        ] {
            assert_eq!(GoVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_go_version_output() {
        assert_eq!(
            parse_go_version("go version go1.26.8 linux/amd64\n"),
            Some(LocalGo {
                toolchain: "go1.26.8".into(),
                platform: "linux/amd64".into()
            })
        );
        let devel = parse_go_version(
            "go version devel go1.27-0a1b2c3d4e Tue Jan 6 10:00:00 2026 +0000 darwin/arm64",
        )
        .unwrap();
        assert_eq!(
            (devel.toolchain.as_str(), devel.platform.as_str()),
            ("go1.27-0a1b2c3d4e", "darwin/arm64")
        );
        for bad in [
            "",
            "go1.26.8",
            "go version",
            "gccgo version 1 2",
            "go version go1.26.8",
        ] {
            assert_eq!(parse_go_version(bad), None, "{bad:?}");
        }
    }

    /// The cases of https://go.dev/doc/toolchain#select against app/go.mod's lines.
    #[test]
    fn selects_toolchains_as_cmd_go_does() {
        let select = |setting, local| select_toolchain(setting, local, GO_MOD);
        // local forbids switching, whatever go.mod says.
        assert_eq!(select("local", "go1.25.3"), runs("go1.25.3", false));
        // auto and path raise the local Go to the toolchain line, never lower it.
        assert_eq!(select("auto", "go1.25.3"), runs("go1.26.8", false));
        assert_eq!(select("path", "go1.25.3"), runs("go1.26.8", true));
        assert_eq!(select("auto", "go1.27.1"), runs("go1.27.1", false));
        assert_eq!(select("local+auto", "go1.25.3"), runs("go1.26.8", false));
        // A name is the minimum with a suffix, and exactly what runs without one.
        assert_eq!(select("go1.25.0", "go1.26.8"), runs("go1.25.0", false));
        assert_eq!(select("go1.25.0+auto", "go1.24.0"), runs("go1.26.8", false));
        assert_eq!(select("go1.28.0+path", "go1.24.0"), runs("go1.28.0", true));
        for bad in ["bash", "go1.26.8+never", "auto+auto", "1.26.8"] {
            assert_eq!(select(bad, "go1.26.8"), Selection::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn the_go_line_raises_the_minimum_too() {
        let go_mod = "module m\n\ngo 1.27\n";
        assert_eq!(
            select_toolchain("auto", "go1.26.8", go_mod),
            runs("go1.27.0", false)
        );
        let go_mod = "module m\n\ngo 1.27.2\ntoolchain go1.27.0\n";
        assert_eq!(
            select_toolchain("auto", "go1.26.8", go_mod),
            runs("go1.27.2", false)
        );
        // `toolchain default` keeps the minimum.
        let go_mod = "module m\n\ngo 1.20\ntoolchain default\n";
        assert_eq!(
            select_toolchain("go1.26.0+auto", "go1.26.8", go_mod),
            runs("go1.26.0", false)
        );
    }

    #[test]
    fn downloaded_toolchains_are_found_only_when_complete() {
        let cache = tempfile::tempdir().unwrap();
        let root = cache.path();
        let found = || downloaded_toolchain(root, "go1.26.8", "linux/amd64");
        assert_eq!(found(), None);
        let dir = root.join("golang.org/toolchain@v0.0.1-go1.26.8.linux-amd64");
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(found(), None, "no ziphash: an unfinished download");
        let download = root.join("cache/download/golang.org/toolchain/@v");
        std::fs::create_dir_all(&download).unwrap();
        std::fs::write(download.join("v0.0.1-go1.26.8.linux-amd64.ziphash"), "h1:x").unwrap();
        assert_eq!(found(), Some(dir));
        std::fs::write(download.join("v0.0.1-go1.26.8.linux-amd64.partial"), "").unwrap();
        assert_eq!(found(), None, "a .partial: still being extracted");
        assert_eq!(
            downloaded_toolchain(Path::new(""), "go1.26.8", "linux/amd64"),
            None
        );
    }
}
