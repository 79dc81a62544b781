//! Integration tests: the real git-mtimestamp binary (and, where a test says so, the library)
//! in throwaway git repositories built with the real git command line, whose answers are the
//! oracle. One test binary, so that the support code and libgit2 are compiled and linked once.

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
