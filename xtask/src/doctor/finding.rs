//! A line of the doctor's report: a status, the check, what was found and how to fix it.

use std::fmt;

/// Several lines of a message (an error and its hint) as one.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    /// A problem with something the build at hand `needed` stops it; any other problem is a
    /// warning.
    pub fn problem(needed: bool) -> Status {
        if needed { Status::Fail } else { Status::Warn }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    pub status: Status,
    pub check: &'static str,
    pub found: String,
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(status: Status, check: &'static str, found: impl Into<String>) -> Finding {
        Finding {
            status,
            check,
            found: found.into(),
            fix: None,
        }
    }

    pub fn ok(check: &'static str, found: impl Into<String>) -> Finding {
        Finding::new(Status::Ok, check, found)
    }

    pub fn warn(check: &'static str, found: impl Into<String>) -> Finding {
        Finding::new(Status::Warn, check, found)
    }

    pub fn fix(self, fix: impl Into<String>) -> Finding {
        Finding {
            fix: Some(fix.into()),
            ..self
        }
    }

    /// Adds `note` (why a problem does not stop this build) to anything but an `ok`.
    pub fn unused(mut self, note: &str) -> Finding {
        if self.status != Status::Ok {
            self.found.push_str(note);
        }
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4}  {:<11}  {}", self.status, self.check, self.found)?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_status_check_found_fix() {
        let line = Finding::warn("history", "a shallow clone").fix("git fetch --unshallow");
        assert_eq!(
            line.to_string(),
            "warn  history      a shallow clone; fix: git fetch --unshallow"
        );
        assert_eq!(
            Finding::ok("git", "git version 2.39.5").to_string(),
            "ok    git          git version 2.39.5"
        );
        assert_eq!(Status::problem(true), Status::Fail);
        assert_eq!(Status::problem(false), Status::Warn);
        assert_eq!(
            Finding::ok("go", "x").unused(" (unused)").found,
            "x",
            "an ok needs no excuse"
        );
    }

    #[test]
    fn messages_become_one_line() {
        assert_eq!(
            one_line("dagger 0.20.1 is on PATH; install it with:\n  curl x | sh\n"),
            "dagger 0.20.1 is on PATH; install it with: curl x | sh"
        );
    }
}
