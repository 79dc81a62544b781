//! Hash maps keyed by paths, with a fast hash.
//!
//! A warm sync looks up every tracked path a few times; the standard library's SipHash, built
//! to resist attackers choosing keys, cost more than the lookups themselves. These keys are a
//! repository's own paths, so rustc's own hash ([`rustc_hash::FxHasher`]) serves.

pub(crate) type PathMap<V> = rustc_hash::FxHashMap<Vec<u8>, V>;
