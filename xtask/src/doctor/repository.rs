//! git and the repository the timestamp sync works on: the git CLI, a shallow history, and
//! git-mtimestamp's answer cache.

use std::io::ErrorKind;
use std::path::Path;

use git_mtimestamp::{HistoryMode, Options, WorkTree};

use super::finding::{Finding, Status, one_line};
use super::probe::{self, Probe, TOOL_DEADLINE};

/// The `git` line. Never a `fail`: the sync reads the repository with libgit2 and asks the git
/// CLI only which untracked entries are ignored (falling back to libgit2's rules without it),
/// and Go leaves version-control data out of binaries when git is missing.
pub fn git() -> Finding {
    let without = "the sync asks libgit2 instead of `git check-ignore` which entries are \
                   ignored, and Go builds leave out version-control data";
    let problem = |found: String| Finding::warn("git", found).fix("install git");
    match probe::run("git", &["--version"], &[], TOOL_DEADLINE) {
        Probe::Answered(answer) if answer.success => Finding::ok("git", answer.stdout.trim()),
        Probe::NotFound => problem(format!("not on PATH: {without}")),
        Probe::Answered(answer) => problem(format!(
            "`git --version` fails ({}): {without}",
            answer.complaint()
        )),
        Probe::TimedOut => problem(format!(
            "`git --version` did not answer within {} s",
            TOOL_DEADLINE.as_secs()
        )),
        Probe::CannotRun(err) => problem(format!("cannot run git ({err}): {without}")),
    }
}

/// The `history` and `cache` lines for the work tree at `root`, opened as the sync before
/// `build` opens it.
pub fn checks(root: &Path) -> Vec<Finding> {
    let work_tree = match WorkTree::open(root) {
        Ok(work_tree) => work_tree,
        Err(git_mtimestamp::Error::NotARepository { .. }) => {
            let found = format!(
                "{} is not a git work tree: `build` runs without the timestamp sync",
                root.display()
            );
            return vec![Finding::warn("history", found).fix("work in a git clone")];
        }
        // What stops the sync stops `build`.
        Err(err) => {
            let found = one_line(&format!("opening the git repository: {err}"));
            return vec![Finding::new(Status::Fail, "history", found)];
        }
    };
    let repository = work_tree.repository();
    let history = if repository.is_shallow() {
        Finding::warn(
            "history",
            "a shallow clone: files whose last change lies beyond its boundary get the \
             boundary commit's time, so their timestamps are approximate (and not cached)",
        )
        .fix("git fetch --unshallow")
    } else {
        Finding::ok("history", "complete: timestamps are exact commit times")
    };
    let head = repository
        .head()
        .ok()
        .and_then(|head| head.target())
        .map(|commit| commit.to_string());
    vec![
        history,
        answer_cache(repository.commondir(), head.as_deref()),
    ]
}

/// The `cache` line: git-mtimestamp's answers under `<git common dir>/mtimestamp/`, one file
/// per commit that was HEAD at a sync and history mode, named `<mode>-<commit>` (see
/// [`answer_file`]).
/// git-mtimestamp keeps its cache type private, so this reads file names only; a damaged file
/// is found, ignored and replaced by the sync itself.
fn answer_cache(common_dir: &Path, head: Option<&str>) -> Finding {
    let dir = common_dir.join("mtimestamp");
    let cold = "the next sync walks the whole history (a cold sync), later ones reuse its answers";
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Finding::ok(
                "cache",
                format!("no answers yet ({}): {cold}", dir.display()),
            );
        }
        Err(err) => {
            let found = format!(
                "cannot list {}: {err}; every sync walks history",
                dir.display()
            );
            return Finding::warn("cache", found);
        }
    };
    // The pipeline's sync runs in the default history mode.
    let mode = match Options::default().history {
        HistoryMode::Simplified => "simplified",
        HistoryMode::FirstParent => "first-parent",
    };
    let commits: Vec<(&str, String)> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let (mode, commit) = answer_file(&name)?;
            Some((mode, commit.to_owned()))
        })
        .collect();
    let files = match commits.len() {
        1 => "1 answer file".to_owned(),
        n => format!("{n} answer files"),
    };
    let found = match head {
        _ if commits.is_empty() => format!("{} holds no answers: {cold}", dir.display()),
        None => format!("{files} in {}; HEAD has no commit yet", dir.display()),
        Some(head) if commits.iter().any(|(m, c)| *m == mode && c == head) => format!(
            "{files} in {}, one for HEAD ({}): a sync of this commit reads no history",
            dir.display(),
            &head[..12]
        ),
        Some(head) => format!(
            "{files} in {}, none for HEAD ({}): the next sync reads the commits since a \
             stored one, or walks history until it reaches one",
            dir.display(),
            &head[..12]
        ),
    };
    Finding::ok("cache", found)
}

/// The history mode and commit of an answer file's name: `<mode>-<commit>`, or for answers
/// found through replace refs or grafts, `<mode>-replaced-<key>-<commit>`.
fn answer_file(name: &str) -> Option<(&'static str, &str)> {
    let (mode, rest) = ["simplified", "first-parent"]
        .into_iter()
        .find_map(|mode| Some((mode, name.strip_prefix(mode)?.strip_prefix('-')?)))?;
    let commit = match rest.strip_prefix("replaced-") {
        Some(keyed) => keyed.rsplit_once('-')?.1,
        None => rest,
    };
    let is_id = matches!(commit.len(), 40 | 64)
        && commit
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    is_id.then_some((mode, commit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_files_are_told_by_their_names() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            answer_file(&format!("simplified-{id}")),
            Some(("simplified", id))
        );
        assert_eq!(
            answer_file(&format!("first-parent-{id}")),
            Some(("first-parent", id))
        );
        assert_eq!(
            answer_file(&format!("simplified-replaced-9f8e7d-{id}")),
            Some(("simplified", id))
        );
        for other in [
            format!(".tmp-123-{id}"),
            format!("simplified{id}"),
            format!("simplified-{}", id.to_uppercase()),
            format!("simplified-{}", &id[1..]),
            format!("other-{id}"),
            "simplified-".to_owned(),
        ] {
            assert_eq!(answer_file(&other), None, "{other}");
        }
    }
}
