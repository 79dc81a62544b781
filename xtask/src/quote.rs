//! POSIX shell quoting, so that `--dry-run` prints commands that paste back into a shell and
//! run exactly as xtask would have run them.

use std::borrow::Cow;

/// `word` as one POSIX shell word: unchanged when it has only characters that no shell treats
/// specially, otherwise in single quotes (inside which only `'` itself needs care).
pub fn quote(word: &str) -> Cow<'_, str> {
    match quote_bytes(word.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(word),
        Cow::Owned(quoted) => {
            Cow::Owned(String::from_utf8(quoted).expect("quoting UTF-8 adds only ASCII"))
        }
    }
}

/// The same for any bytes, as a path that is not UTF-8 has them: inside single quotes a shell
/// takes every byte as it is, so the word reads back exactly (argv cannot hold a NUL byte,
/// the only one a shell word cannot).
pub fn quote_bytes(word: &[u8]) -> Cow<'_, [u8]> {
    let plain = |c: &u8| c.is_ascii_alphanumeric() || b"_-+=@%:,./".contains(c);
    if !word.is_empty() && word.iter().all(plain) {
        return Cow::Borrowed(word);
    }
    let mut quoted = Vec::with_capacity(word.len() + 2);
    quoted.push(b'\'');
    for &byte in word {
        if byte == b'\'' {
            quoted.extend_from_slice(br"'\''");
        } else {
            quoted.push(byte);
        }
    }
    quoted.push(b'\'');
    Cow::Owned(quoted)
}

#[cfg(test)]
mod tests {
    use super::{quote, quote_bytes};

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
        let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        assert_eq!(echoed_by_sh(&words), words);
    }

    /// Bytes that are no UTF-8 (a path of a Latin-1 file system, say) read back exactly.
    #[test]
    fn quotes_bytes_that_are_not_utf8() {
        let words: [&[u8]; 5] = [
            b"bad\xffname",
            b"\xe9t\xe9",
            b"it\xff's",
            b"\x80",
            b"\x01\x7f\xfe $x",
        ];
        assert_eq!(quote_bytes(b"bad\xffname"), &b"'bad\xffname'"[..]);
        assert_eq!(quote_bytes(b"plain/path"), &b"plain/path"[..]);
        assert_eq!(echoed_by_sh(&words), words);
    }

    /// What `sh` passes on as arguments when it reads `words` quoted, through
    /// `printf '%s\0'`.
    fn echoed_by_sh(words: &[&[u8]]) -> Vec<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        let mut script = b"printf '%s\\0'".to_vec();
        for word in words {
            script.push(b' ');
            script.extend_from_slice(&quote_bytes(word));
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&script))
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut echoed: Vec<Vec<u8>> = out.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        assert_eq!(echoed.pop(), Some(Vec::new()));
        echoed
    }
}
