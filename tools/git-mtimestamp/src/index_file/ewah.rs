//! git's EWAH-compressed bitmaps (`ewah/` in git's source), as a split index's `link`
//! extension stores its delete and replace bitmaps.
//!
//! A bitmap is its size in bits, a count of 64-bit words, the words, and the position of the
//! last "running length word", all big-endian. The words are runs: a running length word says
//! how many words of all zeros or all ones come next (bit 0 says which; bits 1 to 32 count
//! them) and how many literal words follow it (bits 33 to 63); bit `n` of the `k`-th word
//! stands for position `64 * k + n`.

/// A running length word's count of literal words: 31 bits.
const LARGEST_LITERAL_COUNT: u64 = (1 << 31) - 1;
/// A running length word's count of clean words: 32 bits.
const LARGEST_RUNNING_COUNT: u64 = (1 << 32) - 1;

fn run_bit(word: u64) -> bool {
    word & 1 != 0
}

fn running_len(word: u64) -> u64 {
    (word >> 1) & LARGEST_RUNNING_COUNT
}

fn literal_words(word: u64) -> u64 {
    word >> 33
}

/// Why a bitmap could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EwahError {
    #[error("it ends before its {0}")]
    Truncated(&'static str),
    #[error("it sets bit {0}, beyond the {1} entries it describes")]
    BeyondEnd(u64, usize),
}

/// The positions of the set bits of the bitmap at the start of `data`, in increasing order,
/// and how many bytes the bitmap takes. Every position must be below `limit`, as git requires
/// of the bitmaps of a split index (it dies on a larger one); checking as the bits are read
/// also keeps a damaged run of ones from asking for billions of positions.
pub(crate) fn decode(data: &[u8], limit: usize) -> Result<(Vec<usize>, usize), EwahError> {
    let be32 = |at: usize, what| {
        data.get(at..at + 4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
            .ok_or(EwahError::Truncated(what))
    };
    be32(0, "bit size")?;
    let word_count = be32(4, "length")? as usize;
    let words_at = 8;
    let words_end = word_count
        .checked_mul(8)
        .and_then(|len| len.checked_add(words_at))
        .filter(|&end| end <= data.len())
        .ok_or(EwahError::Truncated("words"))?;
    // The position of the last running length word, which only a writer needs.
    be32(words_end, "last running length word")?;
    let word = |k: usize| u64::from_be_bytes(data[words_at + 8 * k..][..8].try_into().unwrap());
    let limit64 = limit as u64;
    let mut positions = Vec::new();
    let mut position: u64 = 0;
    let mut k = 0;
    while k < word_count {
        let marker = word(k);
        let run = running_len(marker) * 64;
        if run_bit(marker) && run > 0 {
            if position + run > limit64 {
                return Err(EwahError::BeyondEnd(limit64.max(position), limit));
            }
            positions.extend(position as usize..(position + run) as usize);
        }
        position += run;
        k += 1;
        for _ in 0..literal_words(marker) {
            if k >= word_count {
                return Err(EwahError::Truncated("literal words"));
            }
            let mut literal = word(k);
            while literal != 0 {
                let bit = position + u64::from(literal.trailing_zeros());
                if bit >= limit64 {
                    return Err(EwahError::BeyondEnd(bit, limit));
                }
                positions.push(bit as usize);
                literal &= literal - 1;
            }
            position += 64;
            k += 1;
        }
    }
    Ok((positions, words_end + 4))
}

/// The bitmap with bits `positions` (increasing) set, encoded as git encodes one it built with
/// `ewah_set` for each position in turn (as `prepare_to_write_split_index` does), so that the
/// bytes are the ones git would write.
pub(crate) fn encode(positions: &[usize]) -> Vec<u8> {
    let mut bitmap = Builder {
        buffer: vec![0],
        rlw: 0,
        bit_size: 0,
    };
    for &position in positions {
        bitmap.set(position as u64);
    }
    let mut out = Vec::with_capacity(12 + 8 * bitmap.buffer.len());
    out.extend_from_slice(&(bitmap.bit_size as u32).to_be_bytes());
    out.extend_from_slice(&(bitmap.buffer.len() as u32).to_be_bytes());
    for word in &bitmap.buffer {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&(bitmap.rlw as u32).to_be_bytes());
    out
}

/// git's `struct ewah_bitmap` while it is being built: the words, which of them is the last
/// running length word, and the size in bits.
struct Builder {
    buffer: Vec<u64>,
    rlw: usize,
    bit_size: u64,
}

impl Builder {
    fn marker(&mut self) -> &mut u64 {
        &mut self.buffer[self.rlw]
    }

    fn set_run_bit(&mut self, value: bool) {
        let marker = self.marker();
        *marker = (*marker & !1) | u64::from(value);
    }

    fn set_running_len(&mut self, len: u64) {
        let marker = self.marker();
        *marker = (*marker & !(LARGEST_RUNNING_COUNT << 1)) | (len << 1);
    }

    fn set_literal_words(&mut self, count: u64) {
        let marker = self.marker();
        *marker = (*marker & ((1 << 33) - 1)) | (count << 33);
    }

    fn push_marker(&mut self) {
        self.buffer.push(0);
        self.rlw = self.buffer.len() - 1;
    }

    /// `ewah_set`: positions come in increasing order.
    fn set(&mut self, i: u64) {
        let dist = (i + 1).div_ceil(64) - self.bit_size.div_ceil(64);
        self.bit_size = i + 1;
        let bit = 1u64 << (i % 64);
        if dist > 0 {
            if dist > 1 {
                self.add_empty_words(false, dist - 1);
            }
            self.add_literal(bit);
            return;
        }
        let marker = self.buffer[self.rlw];
        if literal_words(marker) == 0 {
            self.set_running_len(running_len(marker) - 1);
            self.add_literal(bit);
            return;
        }
        let last = self.buffer.len() - 1;
        self.buffer[last] |= bit;
        // A literal word that is all ones becomes part of a run.
        if self.buffer[last] == u64::MAX {
            self.buffer.pop();
            self.set_literal_words(literal_words(marker) - 1);
            self.add_empty_word(true);
        }
    }

    /// `add_empty_words`: `number` words of all `value` bits.
    fn add_empty_words(&mut self, value: bool, mut number: u64) {
        let marker = self.buffer[self.rlw];
        if run_bit(marker) != value && running_len(marker) + literal_words(marker) == 0 {
            self.set_run_bit(value);
        } else if literal_words(marker) != 0 || run_bit(marker) != value {
            self.push_marker();
            if value {
                self.set_run_bit(true);
            }
        }
        let runlen = running_len(self.buffer[self.rlw]);
        let can_add = number.min(LARGEST_RUNNING_COUNT - runlen);
        self.set_running_len(runlen + can_add);
        number -= can_add;
        while number >= LARGEST_RUNNING_COUNT {
            self.push_marker();
            if value {
                self.set_run_bit(true);
            }
            self.set_running_len(LARGEST_RUNNING_COUNT);
            number -= LARGEST_RUNNING_COUNT;
        }
        if number > 0 {
            self.push_marker();
            if value {
                self.set_run_bit(true);
            }
            self.set_running_len(number);
        }
    }

    /// `add_literal`.
    fn add_literal(&mut self, word: u64) {
        let count = literal_words(self.buffer[self.rlw]);
        if count >= LARGEST_LITERAL_COUNT {
            self.push_marker();
            self.set_literal_words(1);
        } else {
            self.set_literal_words(count + 1);
        }
        self.buffer.push(word);
    }

    /// `add_empty_word`: one word of all `value` bits.
    fn add_empty_word(&mut self, value: bool) {
        let marker = self.buffer[self.rlw];
        let no_literal = literal_words(marker) == 0;
        let run = running_len(marker);
        if no_literal && run == 0 {
            self.set_run_bit(value);
        }
        if no_literal && run_bit(self.buffer[self.rlw]) == value && run < LARGEST_RUNNING_COUNT {
            self.set_running_len(run + 1);
        } else {
            self.push_marker();
            self.set_run_bit(value);
            self.set_running_len(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets of positions that exercise every path of the encoder: nothing, single bits, gaps
    /// longer than a word, a word completed to all ones (which becomes a run), runs of ones
    /// followed by more bits.
    fn cases() -> Vec<Vec<usize>> {
        let mut cases = vec![
            vec![],
            vec![0],
            vec![3],
            vec![63],
            vec![64],
            vec![0, 1, 2, 200, 201, 5000],
            (0..64).collect(),
            (0..64).chain([64, 70]).collect(),
            (0..200).collect(),
            (64..128).chain(300..302).collect(),
            (0..130).chain(1000..1064).chain([5000]).collect(),
        ];
        // A pseudo-random sparse and a dense set.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for percent in [3, 60, 97] {
            let mut set = Vec::new();
            for position in 0..2000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state % 100 < percent {
                    set.push(position);
                }
            }
            cases.push(set);
        }
        cases
    }

    #[test]
    fn what_is_encoded_decodes_to_the_same_positions() {
        for positions in cases() {
            let bytes = encode(&positions);
            let (decoded, len) = decode(&bytes, 10_000).unwrap();
            assert_eq!(decoded, positions);
            assert_eq!(len, bytes.len());
        }
    }

    /// git's `ewah_new` followed by `ewah_serialize`: bit size 0, one empty running length word.
    #[test]
    fn an_empty_bitmap_is_the_one_git_writes() {
        let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 1];
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&[0; 4]);
        assert_eq!(encode(&[]), expected);
    }

    #[test]
    fn damaged_bitmaps_are_errors() {
        let bytes = encode(&[1, 2, 700]);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len], 10_000).is_err(), "cut at {len}");
        }
        assert_eq!(
            decode(&bytes, 700),
            Err(EwahError::BeyondEnd(700, 700)),
            "a bit beyond the entries"
        );
        // A run of ones of 2^32 - 1 words must not be expanded.
        let mut run = encode(&[]);
        run[8..16].copy_from_slice(&(u64::MAX >> 31).to_be_bytes());
        assert!(matches!(
            decode(&run, 10_000),
            Err(EwahError::BeyondEnd(..))
        ));
        // A running length word announcing more literal words than there are.
        let mut short = encode(&[]);
        short[8..16].copy_from_slice(&(5u64 << 33).to_be_bytes());
        assert_eq!(
            decode(&short, 10_000),
            Err(EwahError::Truncated("literal words"))
        );
    }
}
