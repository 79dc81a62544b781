//! A pinned tool version: `MAJOR.MINOR.PATCH` in decimal digits, and nothing else.
//!
//! Versions end up in file contents, image tags and command lines, so the parser accepts a
//! deliberately small language: no pre-release suffix, no `v` prefix, no leading zeros, no
//! digits outside ASCII.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a string is not a [`Version`]; the message ends with what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; expected MAJOR.MINOR.PATCH in decimal digits, e.g. 1.26.8")]
pub struct ParseVersionError {
    reason: &'static str,
}

/// Three components of at most ten digits and two dots.
const MAX_LEN: usize = 32;

impl FromStr for Version {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Version, ParseVersionError> {
        let fail = |reason| Err(ParseVersionError { reason });
        if s.is_empty() {
            return fail("empty");
        }
        if s.len() > MAX_LEN {
            return fail("too long");
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
            return fail(if c.is_numeric() {
                "digits other than ASCII 0-9"
            } else {
                "a character other than 0-9 and '.'"
            });
        }
        let parts: Vec<&str> = s.split('.').collect();
        let [major, minor, patch] = parts[..] else {
            return fail("not three numbers separated by '.'");
        };
        let number = |part: &str| -> Result<u32, ParseVersionError> {
            if part.is_empty() {
                return Err(ParseVersionError {
                    reason: "an empty number",
                });
            }
            if part.len() > 1 && part.starts_with('0') {
                return Err(ParseVersionError {
                    reason: "a number with a leading zero",
                });
            }
            part.parse().map_err(|_| ParseVersionError {
                reason: "a number above 4294967295",
            })
        };
        Ok(Version::new(number(major)?, number(minor)?, number(patch)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_versions() {
        assert_eq!("1.26.8".parse(), Ok(Version::new(1, 26, 8)));
        assert_eq!("0.0.0".parse(), Ok(Version::new(0, 0, 0)));
        assert_eq!("4294967295.0.10".parse(), Ok(Version::new(u32::MAX, 0, 10)));
        assert_eq!(Version::new(0, 21, 8).to_string(), "0.21.8");
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "1.26",
            "1.26.8.1",
            "v1.26.8",
            "1.26.8 ",
            " 1.26.8",
            "1.26.8\n",
            "1.26.8; rm -rf /",
            "$(id)",
            "../x",
            "1..8",
            ".1.2",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.26.8-rc1",
            "1.26rc1",
            "١.٢.٣",
            "1.2.٣",
            "１.2.3",
            "4294967296.0.0",
            "99999999999999999999.0.0",
            "1.2.3\u{0}",
            "+1.2.3",
            "-1.2.3",
        ] {
            assert!(bad.parse::<Version>().is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn error_says_what_is_expected() {
        let err = "1.26".parse::<Version>().unwrap_err().to_string();
        assert_eq!(
            err,
            "not three numbers separated by '.'; expected MAJOR.MINOR.PATCH in decimal digits, \
             e.g. 1.26.8"
        );
    }
}
