//! git-mtimestamp's manual page, `git-mtimestamp.1`: clap_mangen's rendering of the command
//! line (name, synopsis, the long description, every option), followed by the sections a manual
//! needs that clap knows nothing about. The facts in those sections are the tool README's.

use std::io::Write;

use clap_mangen::Man;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

/// The file name `man` looks for: `git mtimestamp --help` runs `git help mtimestamp`, which
/// runs `man git-mtimestamp`, which finds `man1/git-mtimestamp.1`.
pub const FILE_NAME: &str = "git-mtimestamp.1";

/// The page in roff, from the current command-line definition.
pub fn render() -> Vec<u8> {
    let mut command = git_mtimestamp::cli::command();
    let version = command.get_version().unwrap_or_default().to_owned();
    // clap_mangen's own synopsis leaves out the values of options (`[-C ]`). clap's usage line,
    // the one `--help` shows, has them; the page gives it for both ways of running the tool.
    let usage = command.render_usage().to_string();
    let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage);
    let as_git_command = usage.replacen("git-mtimestamp", "git mtimestamp", 1);
    let command = command.override_usage(format!("{usage}\n{as_git_command}"));
    let man = Man::new(command);

    let mut page = Vec::new();
    // clap_mangen's title line drops an empty date instead of quoting it, which moves the
    // version into the date's place, so the title is written here. It has no date: a date
    // would only say when the page was installed. The name and version need no escapes.
    writeln!(
        page,
        ".TH GIT-MTIMESTAMP 1 \"\" \"git-mtimestamp {version}\" \"User Commands\""
    )
    .unwrap();
    // Each part is rendered on its own so that the extra sections can go between the options
    // and the version, in the order man-pages(7) gives. Writing to a Vec cannot fail.
    man.render_name_section(&mut page).unwrap();
    man.render_synopsis_section(&mut page).unwrap();
    man.render_description_section(&mut page).unwrap();
    man.render_options_section(&mut page).unwrap();
    extra_sections().to_writer(&mut page).unwrap();
    man.render_version_section(&mut page).unwrap();
    see_also().to_writer(&mut page).unwrap();
    page
}

fn extra_sections() -> Roff {
    let mut roff = Roff::new();

    roff.control("SH", ["EXIT STATUS"]);
    item(&mut roff, [bold("0")]);
    roff.text([roman(
        "Success, also before the first commit, when there is nothing to stamp.",
    )]);
    item(&mut roff, [bold("1")]);
    roff.text([roman(
        "Some file's time could not be set (a file of another user, a read-only file system). \
         The files are reported, one warning per cause, and the rest are synced.",
    )]);
    item(&mut roff, [bold("2")]);
    roff.text([roman(
        "The sync could not run at all (not a git repository, a bare repository, a damaged \
         index, missing objects), with a message that says what to do; or the command line \
         was wrong.",
    )]);

    roff.control("SH", ["ENVIRONMENT"]);
    item(
        &mut roff,
        [bold("GIT_DIR"), roman(", "), bold("GIT_WORK_TREE")],
    );
    roff.text([roman(
        "The repository and its work tree, as for git. GIT_DIR without GIT_WORK_TREE (or \
         core.worktree) makes the current directory the top of the work tree.",
    )]);
    item(&mut roff, [bold("GIT_INDEX_FILE")]);
    roff.text([roman(
        "The index to read and refresh instead of the repository's own, as for git.",
    )]);
    item(&mut roff, [bold("GIT_MTIMESTAMP_TRACE")]);
    roff.text([roman(
        "When set, print on standard error when each phase of the sync ends, to find where \
         a slow sync spends its time.",
    )]);

    roff.control("SH", ["FILES"]);
    item(
        &mut roff,
        [italic("$GIT_COMMON_DIR"), roman("/mtimestamp/")],
    );
    roff.text([roman(
        "The answers of earlier syncs: one file per commit that was HEAD at a sync and \
         history mode, the last four kept. A sync at a HEAD seen before reads no history, \
         and one after new commits reads only those. Deleting the directory is always safe.",
    )]);

    roff.control("SH", ["CAVEATS"]);
    roff.text([roman(
        "Stamping gives files older mtimes than the checkout did. Tools that compare mtimes \
         in order (make, cargo with a restored target directory) can then skip a rebuild \
         after a branch switch. Use it for caches keyed by equal size and mtime, as Go's \
         test cache, Dagger and BuildKit are.",
    )]);
    roff
}

fn see_also() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("git-log"),
        roman("(1), "),
        bold("git-status"),
        roman("(1), "),
        bold("git-update-index"),
        roman("(1), and the README of tools/git-mtimestamp in its source repository."),
    ]);
    roff
}

/// A tagged paragraph: `tag` on its own line, the text that follows indented below it.
fn item(roff: &mut Roff, tag: impl Into<Vec<Inline>>) {
    roff.control("TP", []);
    roff.text(tag);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roff_text(page: &[u8]) -> String {
        String::from_utf8(page.to_vec()).expect("the page is UTF-8")
    }

    #[test]
    fn the_page_has_the_sections_clap_does_not_know() {
        let page = roff_text(&render());
        let sections: Vec<&str> = page
            .lines()
            .filter_map(|line| line.strip_prefix(".SH "))
            .collect();
        assert_eq!(
            sections,
            [
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "OPTIONS",
                "\"EXIT STATUS\"",
                "ENVIRONMENT",
                "FILES",
                "CAVEATS",
                "VERSION",
                "\"SEE ALSO\"",
            ]
        );
        let title = page.lines().next().unwrap();
        assert_eq!(
            title,
            format!(
                ".TH GIT-MTIMESTAMP 1 \"\" \"git-mtimestamp {}\" \"User Commands\"",
                git_mtimestamp::cli::command().get_version().unwrap()
            )
        );
    }
}
