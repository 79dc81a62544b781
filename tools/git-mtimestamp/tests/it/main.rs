//! Integration tests: the real git-mtimestamp binary (and, where a test says so, the library)
//! in throwaway git repositories built with the real git command line, whose answers are the
//! oracle. One test binary, so that the support code and libgit2 are compiled and linked once.
//!
//! [`support`] builds the repositories (`repo`), runs the tool on them (`run`) and says what
//! git answers (`history`). Every other module is one topic, its test names prefixed with the
//! module's: `cargo test -p git-mtimestamp --test it oracle::` runs the file-time oracle's.

mod support;

mod cli;
mod concurrency;
mod damaged;
mod directories;
mod directory_safety;
mod fingerprint;
mod incremental;
mod index;
mod interrupt;
mod oracle;
mod pathspecs;
mod permissions;
mod safety;
mod signals;
