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

/// The nanoseconds for a directory's list of entries, given sorted bytewise by name: the first
/// four bytes of the SHA-1 of every entry written as its kind's letter (`d`, `f`, `l`, `m`),
/// its name and a NUL byte, as a big-endian number, modulo one billion. A directory whose
/// list differs gets other nanoseconds, as a file whose content differs does.
pub(crate) fn list_fingerprint_nanos<'a>(
    entries: impl Iterator<Item = (&'a [u8], crate::objects::EntryKind)>,
) -> u32 {
    use sha1::Digest;
    let mut sha = sha1::Sha1::new();
    for (name, kind) in entries {
        sha.update([kind.letter()]);
        sha.update(name);
        sha.update([0]);
    }
    let digest = sha.finalize();
    let prefix = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
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

    #[test]
    fn list_fingerprint_hashes_kind_name_and_nul() {
        use crate::objects::EntryKind;
        let entries = [
            (b"a.txt".as_slice(), EntryKind::File),
            (b"sub".as_slice(), EntryKind::Directory),
        ];
        let expected = {
            use sha1::Digest;
            let digest = sha1::Sha1::digest(b"fa.txt\0dsub\0");
            u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000_000
        };
        assert_eq!(list_fingerprint_nanos(entries.into_iter()), expected);
        let symlink = [(b"a.txt".as_slice(), EntryKind::Symlink)];
        assert_ne!(
            list_fingerprint_nanos(symlink.into_iter()),
            list_fingerprint_nanos([(b"a.txt".as_slice(), EntryKind::File)].into_iter())
        );
    }
}
