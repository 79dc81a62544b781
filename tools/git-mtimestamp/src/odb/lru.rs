//! The reader's cache of resolved objects: every object of every delta chain it resolves,
//! by its place in a pack, least recently used first out.

use rustc_hash::FxHashMap;

use super::Object;

/// Resolved objects by their place in a pack, bounded in bytes, least recently used first
/// out: a hash map to slots of a list kept in recency order, linked through slot numbers.
/// (The cheaper "clock" approximation was measured: it evicted worse and the sync was
/// slower.)
pub(super) struct ResolvedCache {
    slots: FxHashMap<(usize, u64), usize>,
    entries: Vec<CacheEntry>,
    /// Slots whose entries were evicted, to be reused.
    free: Vec<usize>,
    /// The most and the least recently used slots; NONE when the cache is empty.
    newest: usize,
    oldest: usize,
    bytes: usize,
    budget: usize,
}

struct CacheEntry {
    key: (usize, u64),
    object: Option<Object>,
    newer: usize,
    older: usize,
}

const NONE: usize = usize::MAX;

impl ResolvedCache {
    pub(super) fn new(budget: usize) -> ResolvedCache {
        ResolvedCache {
            slots: FxHashMap::default(),
            entries: Vec::new(),
            free: Vec::new(),
            newest: NONE,
            oldest: NONE,
            bytes: 0,
            budget,
        }
    }

    pub(super) fn get(&mut self, pack: usize, offset: u64) -> Option<Object> {
        let slot = *self.slots.get(&(pack, offset))?;
        self.unlink(slot);
        self.link_newest(slot);
        self.entries[slot].object.clone()
    }

    pub(super) fn put(&mut self, pack: usize, offset: u64, object: &Object) {
        let size = object.data.len();
        // One object as large as the budget would push out everything else for nothing.
        if size > self.budget / 8 || self.slots.contains_key(&(pack, offset)) {
            return;
        }
        self.evict_to_fit(size);
        let entry = CacheEntry {
            key: (pack, offset),
            object: Some(object.clone()),
            newer: NONE,
            older: NONE,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = entry;
                slot
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.link_newest(slot);
        self.slots.insert((pack, offset), slot);
        self.bytes += size;
    }

    /// Lowers the budget to `budget` bytes, evicting what no longer fits.
    pub(super) fn limit(&mut self, budget: usize) {
        self.budget = budget;
        self.evict_to_fit(0);
    }

    /// Evicts the least recently used objects until `size` more bytes fit the budget.
    fn evict_to_fit(&mut self, size: usize) {
        while self.bytes + size > self.budget && self.oldest != NONE {
            let slot = self.oldest;
            self.unlink(slot);
            let entry = &mut self.entries[slot];
            self.bytes -= entry.object.take().map_or(0, |o| o.data.len());
            self.slots.remove(&entry.key);
            self.free.push(slot);
        }
    }

    fn unlink(&mut self, slot: usize) {
        let (newer, older) = (self.entries[slot].newer, self.entries[slot].older);
        match newer {
            NONE => self.newest = older,
            _ => self.entries[newer].older = older,
        }
        match older {
            NONE => self.oldest = newer,
            _ => self.entries[older].newer = newer,
        }
    }

    fn link_newest(&mut self, slot: usize) {
        self.entries[slot].newer = NONE;
        self.entries[slot].older = self.newest;
        match self.newest {
            NONE => self.oldest = slot,
            newest => self.entries[newest].newer = slot,
        }
        self.newest = slot;
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use git2::ObjectType;

    use super::*;

    #[test]
    fn the_cache_keeps_the_most_recently_used_objects_within_its_budget() {
        let object = |byte: u8| Object {
            kind: ObjectType::Tree,
            data: Rc::from(vec![byte; 100]),
        };
        let mut cache = ResolvedCache::new(800);
        for offset in 0..8 {
            cache.put(0, offset, &object(offset as u8));
        }
        // Using 0 makes 1 the least recently used, so 1 goes first.
        assert_eq!(cache.get(0, 0).unwrap().data[0], 0);
        cache.put(0, 8, &object(8));
        assert!(cache.get(0, 1).is_none());
        assert!(cache.get(0, 0).is_some());
        for offset in 9..14 {
            cache.put(0, offset, &object(offset as u8));
        }
        let kept: Vec<u64> = (0..14).filter(|&o| cache.get(0, o).is_some()).collect();
        assert_eq!(kept, vec![0, 7, 8, 9, 10, 11, 12, 13]);
        assert!(cache.bytes <= 800);
        // An object over an eighth of the budget is not kept at all.
        cache.put(1, 0, &object(1));
        let big = Object {
            kind: ObjectType::Blob,
            data: Rc::from(vec![0; 101]),
        };
        cache.put(1, 1, &big);
        assert!(cache.get(1, 1).is_none());
        // A lower budget (a walk split in parts) keeps the most recently used.
        cache.budget = 300;
        cache.evict_to_fit(0);
        let kept: Vec<u64> = (0..14).filter(|&o| cache.get(0, o).is_some()).collect();
        assert_eq!(kept, vec![12, 13]);
        assert!(cache.get(1, 0).is_some());
        assert_eq!(cache.bytes, 300);
    }
}
