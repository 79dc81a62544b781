//! The glob matcher behind pathspecs: git's `wildmatch()`, with its `*`, `**`, `?`, `[...]`
//! (ranges, `!`/`^`, `[:class:]`) and `\` escapes, so that a pattern selects exactly the files
//! git's selects. gitoxide's `gix-glob` implements it under the MIT and Apache licences; git's
//! own wildmatch.c is GPL and is not copied here.

use gix_glob::wildmatch::Mode;

/// How a pattern is matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// `WM_PATHNAME`: `*` and `?` do not match a slash, `**` matches across slashes (glob
    /// magic). Without it, `*` matches anything, slashes included.
    pub pathname: bool,
    /// `WM_CASEFOLD`: ASCII letters match either case (icase magic).
    pub casefold: bool,
}

/// Whether `text` matches `pattern`. Neither holds a NUL byte (paths cannot).
pub(crate) fn wildmatch(pattern: &[u8], text: &[u8], flags: Flags) -> bool {
    let mut mode = Mode::empty();
    if flags.pathname {
        mode |= Mode::NO_MATCH_SLASH_LITERAL;
    }
    if flags.casefold {
        mode |= Mode::IGNORE_CASE;
    }
    gix_glob::wildmatch(pattern.into(), text.into(), mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Flags = Flags {
        pathname: false,
        casefold: false,
    };
    const PATHNAME: Flags = Flags {
        pathname: true,
        casefold: false,
    };

    /// Cases whose answers git gives (its wildmatch tests hold them too): (text, pattern, with
    /// WM_PATHNAME, without).
    #[test]
    fn agrees_with_gits_own_tests() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("foo", "foo", true, true),
            ("foo", "bar", false, false),
            ("", "", true, true),
            ("foo", "???", true, true),
            ("foo", "??", false, false),
            ("foo", "*", true, true),
            ("foo", "f*", true, true),
            ("foo", "*f", false, false),
            ("foo", "*foo*", true, true),
            ("foobar", "*ob*a*r*", true, true),
            ("aaaaaaabababab", "*ab", true, true),
            ("foo*", "foo\\*", true, true),
            ("foobar", "foo\\*bar", false, false),
            ("f\\oo", "f\\\\oo", true, true),
            ("ball", "*[al]?", true, true),
            ("ten", "[ten]", false, false),
            ("ten", "**[!te]", true, true),
            ("ten", "**[!ten]", false, false),
            ("ten", "t[a-g]n", true, true),
            ("ten", "t[!a-g]n", false, false),
            ("ton", "t[!a-g]n", true, true),
            ("ton", "t[^a-g]n", true, true),
            ("a]b", "a[]]b", true, true),
            ("a-b", "a[]-]b", true, true),
            ("a]b", "a[]-]b", true, true),
            ("aab", "a[]-]b", false, false),
            ("aab", "a[]a-]b", true, true),
            ("]", "]", true, true),
            ("foo/baz/bar", "foo*bar", false, true),
            ("foo/baz/bar", "foo**bar", false, true),
            ("foobazbar", "foo**bar", true, true),
            ("foo/baz/bar", "foo/**/bar", true, true),
            ("foo/baz/bar", "foo/**/**/bar", true, false),
            ("foo/b/a/z/bar", "foo/**/bar", true, true),
            ("foo/b/a/z/bar", "foo/**/**/bar", true, true),
            ("foo/bar", "foo/**/bar", true, false),
            ("foo/bar", "foo/**/**/bar", true, false),
            ("foo/bar", "foo?bar", false, true),
            ("foo/bar", "foo[/]bar", false, true),
            ("foo/bar", "foo[^a-z]bar", false, true),
            ("foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", false, true),
            ("foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", true, true),
            ("foo", "**/foo", true, false),
            ("XXX/foo", "**/foo", true, true),
            ("bar/baz/foo", "**/foo", true, true),
            ("bar/baz/foo", "*/foo", false, true),
            ("foo/bar/baz", "**/bar*", false, true),
            ("deep/foo/bar/baz", "**/bar/*", true, true),
            ("deep/foo/bar/baz/", "**/bar/*", false, true),
            ("deep/foo/bar/baz/", "**/bar/**", true, true),
            ("deep/foo/bar", "**/bar/*", false, false),
            ("deep/foo/bar/", "**/bar/**", true, true),
            ("foo/bar/baz", "**/bar**", false, true),
            ("foo/bar/baz/x", "*/bar/**", true, true),
            ("deep/foo/bar/baz/x", "*/bar/**", false, true),
            ("deep/foo/bar/baz/x", "**/bar/*/*", true, true),
            ("acrt", "a[c-c]st", false, false),
            ("acrt", "a[c-c]rt", true, true),
            ("]", "[!]-]", false, false),
            ("a", "[!]-]", true, true),
            ("", "\\", false, false),
            ("\\", "\\", false, false),
            ("XXX/\\", "*/\\", false, false),
            ("XXX/\\", "*/\\\\", true, true),
            ("foo", "foo", true, true),
            ("@foo", "@foo", true, true),
            ("foo", "@foo", false, false),
            ("[ab]", "\\[ab]", true, true),
            ("[ab]", "[[]ab]", true, true),
            ("[ab]", "[[:]ab]", true, true),
            ("[ab]", "[[::]ab]", false, false),
            ("[ab]", "[[:digit]ab]", true, true),
            ("[ab]", "[\\[:]ab]", true, true),
            ("?a?b", "\\??\\?b", true, true),
            ("abc", "\\a\\b\\c", true, true),
            ("foo", "", false, false),
            ("foo/bar/baz/to", "**/t[o]", true, true),
            ("a1B", "[[:alpha:]][[:digit:]][[:upper:]]", true, true),
            ("a", "[[:digit:][:upper:][:space:]]", false, false),
            ("A", "[[:digit:][:upper:][:space:]]", true, true),
            ("1", "[[:digit:][:upper:][:space:]]", true, true),
            ("1", "[[:digit:][:upper:][:spaci:]]", false, false),
            (" ", "[[:digit:][:upper:][:space:]]", true, true),
            (".", "[[:digit:][:upper:][:space:]]", false, false),
            (".", "[[:digit:][:punct:][:space:]]", true, true),
            ("5", "[[:xdigit:]]", true, true),
            ("f", "[[:xdigit:]]", true, true),
            ("D", "[[:xdigit:]]", true, true),
            (
                "_",
                "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]",
                true,
                true,
            ),
            ("5", "[a-c[:digit:]x-z]", true, true),
            ("b", "[a-c[:digit:]x-z]", true, true),
            ("y", "[a-c[:digit:]x-z]", true, true),
            ("q", "[a-c[:digit:]x-z]", false, false),
            ("]", "[\\\\-^]", true, true),
            ("[", "[\\\\-^]", false, false),
            ("-", "[\\-_]", true, true),
            ("]", "[\\]]", true, true),
            ("\\]", "[\\]]", false, false),
            ("\\", "[\\]]", false, false),
            ("ab", "a[]b", false, false),
            ("a[]b", "a[]b", false, false),
            ("ab[", "ab[", false, false),
            ("ab", "[!", false, false),
            ("ab", "[-", false, false),
            ("-", "[-]", true, true),
            ("-", "[a-", false, false),
            ("-", "[!a-", false, false),
            ("-", "[--A]", true, true),
            ("5", "[--A]", true, true),
            (" ", "[ --]", true, true),
            ("$", "[ --]", true, true),
            ("-", "[ --]", true, true),
            ("0", "[ --]", false, false),
            ("-", "[---]", true, true),
            ("-", "[------]", true, true),
            ("j", "[a-e-n]", false, false),
            ("-", "[a-e-n]", true, true),
            ("a", "[!------]", true, true),
            ("[", "[]-a]", false, false),
            ("^", "[]-a]", true, true),
            ("^", "[!]-a]", false, false),
            ("[", "[!]-a]", true, true),
            ("^", "[a^bc]", true, true),
            ("-b]", "[a-]b]", true, true),
            ("\\", "[\\]", false, false),
            ("\\", "[\\\\]", true, true),
            ("\\", "[!\\\\]", false, false),
            ("G", "[A-\\\\]", true, true),
            ("aaabbb", "b*a", false, false),
            ("aabcaa", "*ba*", false, false),
            (",", "[,]", true, true),
            (",", "[\\\\,]", true, true),
            ("\\", "[\\\\,]", true, true),
            ("-", "[,-.]", true, true),
            ("+", "[,-.]", false, false),
            ("-.]", "[,-.]", false, false),
            ("2", "[\\1-\\3]", true, true),
            ("3", "[\\1-\\3]", true, true),
            ("4", "[\\1-\\3]", false, false),
            ("\\", "[[-\\]]", true, true),
            ("[", "[[-\\]]", true, true),
            ("]", "[[-\\]]", true, true),
            ("-", "[[-\\]]", false, false),
            (
                "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1",
                "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
                true,
                true,
            ),
            (
                "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1",
                "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
                false,
                false,
            ),
            (
                "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1",
                "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
                false,
                false,
            ),
            (
                "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1",
                "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*",
                true,
                true,
            ),
            (
                "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1",
                "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*",
                false,
                false,
            ),
            (
                "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt",
                "**/*a*b*g*n*t",
                true,
                true,
            ),
            (
                "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz",
                "**/*a*b*g*n*t",
                false,
                false,
            ),
            ("foo", "*/*/*", false, false),
            ("foo/bar", "*/*/*", false, false),
            ("foo/bba/arr", "*/*/*", true, true),
            ("foo/bb/aa/rr", "*/*/*", false, true),
            ("foo/bb/aa/rr", "**/**/**", true, true),
            ("abcXdefXghi", "*X*i", true, true),
            ("ab/cXd/efXg/hi", "*X*i", false, true),
            ("ab/cXd/efXg/hi", "*/*X*/*/*i", true, true),
            ("ab/cXd/efXg/hi", "**/*X*/**/*i", true, true),
        ];
        for &(text, pattern, with_pathname, without) in cases {
            let (text, pattern) = (text.as_bytes(), pattern.as_bytes());
            assert_eq!(
                wildmatch(pattern, text, PATHNAME),
                with_pathname,
                "{:?} against {:?} with WM_PATHNAME",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(text),
            );
            assert_eq!(
                wildmatch(pattern, text, PLAIN),
                without,
                "{:?} against {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(text),
            );
        }
    }

    #[test]
    fn casefold_matches_either_case() {
        let icase = Flags {
            pathname: false,
            casefold: true,
        };
        assert!(wildmatch(b"*.TXT", b"a/b.txt", icase));
        assert!(wildmatch(b"[A-Z]", b"q", icase));
        assert!(wildmatch(b"[[:upper:]]", b"q", icase));
        assert!(!wildmatch(b"*.TXT", b"a/b.txt", PLAIN));
    }
}
