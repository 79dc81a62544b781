//! git's deltas: an object stored as the instructions that rebuild it from another one, its
//! base, by copying ranges of the base and inserting new bytes.

/// What a delta's header declares: the sizes of its base and of its result, and where its
/// commands start.
pub(super) struct DeltaHeader {
    pub base_size: usize,
    pub result_size: usize,
    pub length: usize,
}

pub(super) fn delta_header(delta: &[u8]) -> Option<DeltaHeader> {
    let mut at = 0;
    let mut varint = || -> Option<usize> {
        let mut value = 0usize;
        let mut shift = 0;
        loop {
            let byte = *delta.get(at)?;
            at += 1;
            if shift > 56 {
                return None;
            }
            value |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
    };
    let base_size = varint()?;
    let result_size = varint()?;
    Some(DeltaHeader {
        base_size,
        result_size,
        length: at,
    })
}

/// Applies a git delta to `base`, into `result`; None when the delta is malformed or does
/// not fit `base`.
pub(super) fn apply_delta(base: &[u8], delta: &[u8], result: &mut Vec<u8>) -> Option<()> {
    let DeltaHeader {
        base_size,
        result_size,
        length: mut at,
    } = delta_header(delta)?;
    // Each command byte yields at most 64 KiB, so a larger size is a damaged header.
    if base_size != base.len() || result_size / 0x10000 > delta.len() {
        return None;
    }
    result.clear();
    result.reserve(result_size);
    while at < delta.len() {
        let command = delta[at];
        at += 1;
        if command & 0x80 != 0 {
            // Copy from the base: the low four bits say which offset bytes follow, the next
            // three which size bytes; a size of zero means 64 KiB.
            let mut offset = 0usize;
            let mut size = 0usize;
            for bit in 0..4 {
                if command & (1 << bit) != 0 {
                    offset |= usize::from(*delta.get(at)?) << (8 * bit);
                    at += 1;
                }
            }
            for bit in 0..3 {
                if command & (0x10 << bit) != 0 {
                    size |= usize::from(*delta.get(at)?) << (8 * bit);
                    at += 1;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            result.extend_from_slice(base.get(offset..offset.checked_add(size)?)?);
        } else if command != 0 {
            // Insert the next `command` bytes of the delta itself.
            let size = usize::from(command);
            result.extend_from_slice(delta.get(at..at + size)?);
            at += size;
        } else {
            return None; // Reserved.
        }
        if result.len() > result_size {
            return None;
        }
    }
    (result.len() == result_size).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
        let mut result = Vec::new();
        apply_delta(base, delta, &mut result).map(|()| result)
    }

    #[test]
    fn deltas_copy_and_insert() {
        let base = b"0123456789abcdef";
        // Base size 16, result size 9: copy 4 bytes from offset 10, insert "xyz", copy 2
        // bytes from offset 0.
        let delta = [16, 9, 0x91, 10, 4, 3, b'x', b'y', b'z', 0x90, 2];
        assert_eq!(applied(base, &delta).as_deref(), Some(&b"abcdxyz01"[..]));
    }

    #[test]
    fn deltas_that_do_not_fit_are_refused() {
        let base = b"0123456789abcdef";
        // Wrong base size.
        assert_eq!(applied(base, &[15, 1, 1, b'x']), None);
        // A copy past the end of the base.
        assert_eq!(applied(base, &[16, 4, 0x91, 14, 4]), None);
        // A result longer than declared.
        assert_eq!(applied(base, &[16, 1, 2, b'x', b'y']), None);
        // A result shorter than declared.
        assert_eq!(applied(base, &[16, 3, 1, b'x']), None);
        // The reserved command 0.
        assert_eq!(applied(base, &[16, 1, 0, b'x']), None);
        // An insert running past the end of the delta.
        assert_eq!(applied(base, &[16, 3, 3, b'x']), None);
    }

    #[test]
    fn a_copy_of_size_zero_copies_64_kib() {
        let base = vec![7u8; 0x10000];
        // Varints: 0x10000 = [0x80, 0x80, 0x04].
        let delta = [0x80, 0x80, 0x04, 0x80, 0x80, 0x04, 0x80];
        assert_eq!(applied(&base, &delta), Some(base.clone()));
    }
}
