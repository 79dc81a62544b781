//! What a `build` or `test` run produces, on either engine.

use std::path::PathBuf;

/// What the pipeline produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// The binaries of `app/cmd/...`, exported to an absolute directory.
    Build {
        out: PathBuf,
    },
    Test,
}
