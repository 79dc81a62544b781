//! Hash maps keyed by paths, with a fast hash.
//!
//! A warm sync looks up every tracked path a few times; the standard library's SipHash, built
//! to resist attackers choosing keys, cost more than the lookups themselves. These keys are a
//! repository's own paths, so a simple multiplicative hash (the one rustc uses internally)
//! serves.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) type PathMap<V> = HashMap<Vec<u8>, V, BuildHasherDefault<PathHasher>>;

#[derive(Default, Clone, Copy)]
pub(crate) struct PathHasher(u64);

impl PathHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(tail));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
