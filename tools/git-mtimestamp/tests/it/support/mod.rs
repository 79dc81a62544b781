//! What the integration tests build on, in three parts:
//!
//! - [`repo`]: a [`Repo`](repo::Repo) is a real git repository in a temporary directory,
//!   built and read with the real `git` command line, isolated from the host's configuration
//!   and dated by a clock the test controls;
//! - [`run`]: running the tool on it ([`Tool`](run::Tool) while being set up,
//!   [`Run`](run::Run) once finished), with assertions that print everything it said;
//! - [`history`]: what git says the tool must answer (the oracle: `git log -1 --format=%ct --
//!   PATH` for a file's seconds), and random histories that look for cases nobody thought of.

pub mod history;
pub mod repo;
pub mod run;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Turns bytes (a `&str`, `b"..."` or a `Vec<u8>`) into the path or argument they name;
/// git paths need not be UTF-8.
pub fn os(bytes: impl AsRef<[u8]>) -> OsString {
    OsStr::from_bytes(bytes.as_ref()).to_owned()
}

/// The modification time of `path` as (seconds, nanoseconds), of the link itself for a
/// symlink; `None` when nothing is there.
pub fn mtime_of(path: &Path) -> Option<(i64, u32)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.mtime(), meta.mtime_nsec() as u32))
}

/// The sub-second fingerprint of a blob id: its first four bytes as a big-endian number,
/// modulo 10⁹.
pub fn fingerprint(blob_id: &str) -> u32 {
    let first = u32::from_str_radix(&blob_id[..8], 16).expect("a hex object id");
    first % 1_000_000_000
}
