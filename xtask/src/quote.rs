//! POSIX shell quoting, so that `--dry-run` prints commands that paste back into a shell and
//! run exactly as xtask would have run them.

use std::borrow::Cow;

/// `word` as one POSIX shell word: unchanged when it has only characters that no shell treats
/// specially, otherwise in single quotes (inside which only `'` itself needs care).
pub fn quote(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=@%:,./".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return Cow::Borrowed(word);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn leaves_plain_words_alone() {
        for word in [
            "dagger",
            "--go-version=1.26.8",
            "/work/main/bin",
            "./cmd/...",
            "a,b:c@d%e+f",
        ] {
            assert_eq!(quote(word), word);
        }
    }

    #[test]
    fn quotes_everything_else() {
        let cases = [
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("'", r"''\'''"),
            ("$(id)", "'$(id)'"),
            ("`id`", "'`id`'"),
            ("~/x", "'~/x'"),
            ("#x", "'#x'"),
            ("a\nb", "'a\nb'"),
            ("x?y*", "'x?y*'"),
            ("a\\b", "'a\\b'"),
            ("é", "'é'"),
            (
                "--github-token=env://GITHUB_TOKEN?cacheKey=GITHUB_TOKEN",
                "'--github-token=env://GITHUB_TOKEN?cacheKey=GITHUB_TOKEN'",
            ),
        ];
        for (word, quoted) in cases {
            assert_eq!(quote(word), quoted, "quoting {word:?}");
        }
    }

    /// The real test of a quoting function: a shell reads back the original words.
    #[test]
    fn round_trips_through_sh() {
        let words = [
            "plain", "", "a b", "it's", "''", "$HOME", "`id`", "a\nb", "\\", "!x", "*", "é ü",
        ];
        let script: Vec<String> = words.iter().map(|w| quote(w).into_owned()).collect();
        let script = format!("printf '%s\\0' {}", script.join(" "));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut echoed: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        assert_eq!(echoed.pop(), Some(&b""[..]));
        let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        assert_eq!(echoed, words);
    }
}
