//! git-mtimestamp's shell completions: clap_complete's script for `git-mtimestamp`, and for
//! bash a `_git_mtimestamp` function, which git's own completion calls for `git mtimestamp`.
//! zsh's and fish's git completions find the `git-mtimestamp` completion by themselves.

use std::fmt::Write;
use std::path::PathBuf;

use clap::Arg;

use super::user_dirs::UserDirs;

/// The shells whose completions can be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl CompletionShell {
    /// The script's file name: the one each shell's on-demand loader looks for.
    pub fn file_name(self) -> &'static str {
        match self {
            // bash-completion loads `completions/<command>` when <command> is first
            // completed, and git's completion asks it for `git-mtimestamp` on
            // `git mtimestamp <TAB>`.
            CompletionShell::Bash => "git-mtimestamp",
            // An autoloaded function named after the file: `git mtimestamp <TAB>` calls
            // `_git-mtimestamp` when it exists.
            CompletionShell::Zsh => "_git-mtimestamp",
            // fish loads `<command>.fish`; its git completion runs the completions of every
            // `git-*` on PATH for `git *`.
            CompletionShell::Fish => "git-mtimestamp.fish",
        }
    }

    /// Where the shell finds the script without further setup, except zsh, which has no
    /// such directory for a user: its directory has to be added to `fpath`.
    pub fn default_dir(self, dirs: &UserDirs) -> anyhow::Result<PathBuf> {
        Ok(match self {
            CompletionShell::Bash => match &dirs.bash_completion_user_dir {
                Some(dir) => dir.join("completions"),
                None => dirs.data_home()?.join("bash-completion/completions"),
            },
            CompletionShell::Zsh => dirs.data_home()?.join("zsh/site-functions"),
            CompletionShell::Fish => match &dirs.xdg_config_home {
                Some(dir) => dir.join("fish/completions"),
                None => dirs
                    .home("fish's configuration directory")?
                    .join(".config/fish/completions"),
            },
        })
    }

    /// The completion script, from the current command-line definition.
    pub fn script(self) -> Vec<u8> {
        let mut command = git_mtimestamp::cli::command();
        let mut script = Vec::new();
        let shell = match self {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        };
        clap_complete::generate(shell, &mut command, "git-mtimestamp", &mut script);
        if self == CompletionShell::Bash {
            script.extend_from_slice(git_subcommand_bash(&command).as_bytes());
        }
        script
    }
}

/// `_git_mtimestamp`, which git's bash completion (git-completion.bash) calls for
/// `git mtimestamp <TAB>`. Like git's own commands it offers the long options, through git's
/// `__gitcomp`; after an option that takes a value, and for pathspecs, it offers nothing, and
/// bash completes file names (git registers its completion with `-o default`).
fn git_subcommand_bash(command: &clap::Command) -> String {
    let options = || command.get_arguments().filter(|arg| !arg.is_positional());
    let long_options: Vec<String> = options()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            let long = arg.get_long()?;
            Some(if takes_value(arg) {
                format!("--{long}=")
            } else {
                format!("--{long}")
            })
        })
        .collect();
    let value_options: Vec<String> = options()
        .filter(|arg| takes_value(arg))
        .flat_map(|arg| {
            let short = arg.get_short().map(|short| format!("-{short}"));
            let long = arg.get_long().map(|long| format!("--{long}"));
            short.into_iter().chain(long)
        })
        .collect();

    let mut function = String::from(
        "\n# `git mtimestamp <TAB>`: git's bash completion calls _git_mtimestamp, and loads this\n\
         # file for it through bash-completion as the completion of git-mtimestamp.\n\
         _git_mtimestamp ()\n{\n",
    );
    if !value_options.is_empty() {
        // The option's value: a directory or a file, which bash completes by itself.
        writeln!(
            function,
            "\tcase \"$prev\" in\n\t{})\n\t\treturn\n\t\t;;\n\tesac",
            value_options.join("|")
        )
        .unwrap();
    }
    writeln!(
        function,
        "\tcase \"$cur\" in\n\t--*)\n\t\t__gitcomp \"{}\"\n\t\treturn\n\t\t;;\n\tesac\n}}",
        long_options.join(" ")
    )
    .unwrap();
    function
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn long_flags() -> Vec<String> {
        git_mtimestamp::cli::command()
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
            .collect()
    }

    #[test]
    fn every_long_option_is_in_every_script() {
        let flags = long_flags();
        assert!(flags.contains(&"--no-directories".to_owned()), "{flags:?}");
        for shell in [
            CompletionShell::Bash,
            CompletionShell::Zsh,
            CompletionShell::Fish,
        ] {
            let script = String::from_utf8(shell.script()).unwrap();
            for flag in &flags {
                // fish writes `-l no-directories`, the others the flag as typed.
                let written = match shell {
                    CompletionShell::Fish => format!("-l {}", &flag[2..]),
                    _ => flag.clone(),
                };
                assert!(
                    script.contains(&written),
                    "{shell:?} lacks {flag}:\n{script}"
                );
            }
        }
    }

    #[test]
    fn git_subcommand_function_offers_every_long_option() {
        let function = git_subcommand_bash(&git_mtimestamp::cli::command());
        let line = function
            .lines()
            .find_map(|line| line.trim().strip_prefix("__gitcomp "))
            .expect("a __gitcomp call");
        let offered: Vec<&str> = line.trim_matches('"').split(' ').collect();
        assert_eq!(offered, long_flags());
        assert!(function.contains("\t-C)\n"), "{function}");
    }

    #[test]
    fn default_dirs_follow_each_shells_rules() {
        let plain = UserDirs {
            home: Some("/home/u".into()),
            ..UserDirs::default()
        };
        let dir = |shell: CompletionShell, dirs: &UserDirs| shell.default_dir(dirs).unwrap();
        assert_eq!(
            dir(CompletionShell::Bash, &plain),
            Path::new("/home/u/.local/share/bash-completion/completions")
        );
        assert_eq!(
            dir(CompletionShell::Zsh, &plain),
            Path::new("/home/u/.local/share/zsh/site-functions")
        );
        assert_eq!(
            dir(CompletionShell::Fish, &plain),
            Path::new("/home/u/.config/fish/completions")
        );
        let xdg = UserDirs {
            home: None,
            xdg_data_home: Some("/data".into()),
            xdg_config_home: Some("/config".into()),
            bash_completion_user_dir: Some("/bc".into()),
        };
        assert_eq!(
            dir(CompletionShell::Bash, &xdg),
            Path::new("/bc/completions")
        );
        assert_eq!(
            dir(CompletionShell::Zsh, &xdg),
            Path::new("/data/zsh/site-functions")
        );
        assert_eq!(
            dir(CompletionShell::Fish, &xdg),
            Path::new("/config/fish/completions")
        );
        let err = CompletionShell::Fish
            .default_dir(&UserDirs::default())
            .unwrap_err();
        assert!(err.to_string().contains("give --dir"), "{err}");
    }
}
