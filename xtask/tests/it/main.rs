//! Integration tests: the real xtask binary in throwaway git repositories, with a stand-in
//! `dagger` that records how it was called.

mod harness;

mod credentials;
mod doctor;
mod go_test_cache;
mod install;
mod local;
mod pipeline;
mod renovate;
mod timestamps;
mod versions;
