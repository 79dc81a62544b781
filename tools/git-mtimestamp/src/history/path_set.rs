//! Sets of the walk's paths, by their numbers in the sorted table of paths: bit sets, as the
//! paths below a directory are one range of numbers.

/// A set of path numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PathSet {
    words: Vec<u64>,
}

impl PathSet {
    pub(super) fn empty(len: usize) -> PathSet {
        PathSet {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub(super) fn full(len: usize) -> PathSet {
        let mut set = PathSet::empty(len);
        for rank in 0..len {
            set.insert(rank);
        }
        set
    }

    pub(super) fn insert(&mut self, rank: usize) {
        self.words[rank / 64] |= 1 << (rank % 64);
    }

    pub(super) fn remove(&mut self, rank: usize) {
        self.words[rank / 64] &= !(1 << (rank % 64));
    }

    pub(super) fn contains(&self, rank: usize) -> bool {
        self.words[rank / 64] & (1 << (rank % 64)) != 0
    }

    pub(super) fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// True when some number in `start..end` is in the set.
    pub(super) fn any_in(&self, start: usize, end: usize) -> bool {
        if start >= end {
            return false;
        }
        let (first, last) = (start / 64, (end - 1) / 64);
        let low_mask = !0u64 << (start % 64);
        let high_mask = !0u64 >> (63 - (end - 1) % 64);
        if first == last {
            return self.words[first] & low_mask & high_mask != 0;
        }
        self.words[first] & low_mask != 0
            || self.words[first + 1..last].iter().any(|&w| w != 0)
            || self.words[last] & high_mask != 0
    }

    /// Adds every number of `start..end` that is in `source`.
    pub(super) fn copy_range_from(&mut self, source: &PathSet, start: usize, end: usize) {
        for rank in start..end {
            if source.contains(rank) {
                self.insert(rank);
            }
        }
    }

    pub(super) fn minus(&self, other: &PathSet) -> PathSet {
        PathSet {
            words: self
                .words
                .iter()
                .zip(&other.words)
                .map(|(a, b)| a & !b)
                .collect(),
        }
    }

    pub(super) fn union_with(&mut self, other: &PathSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// Moves the numbers from `at` on into a set of their own.
    pub(super) fn split_off(&mut self, at: usize) -> PathSet {
        let mut high = PathSet {
            words: vec![0; self.words.len()],
        };
        let (word, bit) = (at / 64, at % 64);
        if word < self.words.len() {
            let mask = !0u64 << bit;
            high.words[word] = self.words[word] & mask;
            self.words[word] &= !mask;
            for at in word + 1..self.words.len() {
                high.words[at] = std::mem::take(&mut self.words[at]);
            }
        }
        high
    }

    pub(super) fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(i * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_sets_answer_range_questions() {
        let mut set = PathSet::empty(200);
        set.insert(3);
        set.insert(130);
        assert!(set.any_in(0, 4));
        assert!(!set.any_in(4, 130));
        assert!(set.any_in(4, 131));
        assert!(!set.any_in(131, 200));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![3, 130]);
        let full = PathSet::full(200);
        assert_eq!(full.minus(&set).iter().count(), 198);
    }

    #[test]
    fn a_split_moves_the_numbers_from_its_point_on() {
        for at in [0, 1, 63, 64, 65, 130, 131, 199, 200] {
            let mut low = PathSet::full(200);
            let high = low.split_off(at);
            assert_eq!(low.iter().collect::<Vec<_>>(), (0..at).collect::<Vec<_>>());
            assert_eq!(
                high.iter().collect::<Vec<_>>(),
                (at..200).collect::<Vec<_>>()
            );
            assert_eq!((low.len(), high.len()), (at, 200 - at));
        }
    }
}
