//! The sub-second part of a stamped mtime.
//!
//! Commits made in the same second (a rebase makes dozens) have equal committer times. If two
//! different contents of one path had equal sizes and were both stamped with whole seconds, a
//! cache keyed by (size, mtime) could not tell them apart after a branch switch. Deriving the
//! nanoseconds from the blob id makes the mtime a function of the content as well as of the
//! history, so two contents of a path share a (size, mtime) pair only if their ids collide in
//! the fingerprint, a one-in-a-billion chance per pair, and never by the structure of history.

use git2::Oid;

/// The nanoseconds for a blob: the first four bytes of its id as a big-endian number, modulo
/// one billion.
pub fn blob_fingerprint_nanos(blob: Oid) -> u32 {
    let bytes = blob.as_bytes();
    let prefix = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    prefix % 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_uses_the_leading_bytes() {
        let id = Oid::from_str("ffffffff00000000000000000000000000000000").unwrap();
        assert_eq!(blob_fingerprint_nanos(id), 4_294_967_295 % 1_000_000_000);
        let id = Oid::from_str("0000000aff00000000000000000000000000000f").unwrap();
        assert_eq!(blob_fingerprint_nanos(id), 10);
    }
}
