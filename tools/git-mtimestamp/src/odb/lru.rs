//! The reader's cache of resolved objects: every object of every delta chain it resolves,
//! by its place in a pack, least recently used first out, in a budget that grows only as far
//! as the reads show it pays.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::Object;

/// Resolved objects by their place in a pack, bounded in bytes, least recently used first
/// out: a hash map to slots of a list kept in recency order, linked through slot numbers.
/// (The cheaper "clock" approximation was measured: it evicted worse and the sync was
/// slower.)
///
/// The budget starts small and grows towards `most` by the size of every object a read had
/// to rebuild although a larger cache would still have held it: the cache remembers the
/// places of the objects it evicted last ("ghosts", as in ARC), as many as would fill the room
/// it may still grow into. Histories differ widely here. On dagger/dagger, rust-lang/cargo and
/// git/git a walk asks again for almost nothing that an 8 MiB cache evicted (a few hundred of
/// 50,000 reads on the first two, about 4% on git/git), so a fixed 32 MiB per walk only added
/// to the peak memory; on the synthetic 50,000-commit repository 40% of the reads were of
/// evicted objects, and an 8 MiB cache made the walk 1.7 times slower.
pub(super) struct ResolvedCache {
    slots: FxHashMap<(usize, u64), usize>,
    entries: Vec<CacheEntry>,
    /// Slots whose entries were evicted, to be reused.
    free: Vec<usize>,
    /// The most and the least recently used slots; NONE when the cache is empty.
    newest: usize,
    oldest: usize,
    bytes: usize,
    /// What the cache may hold now, and what it may grow to.
    budget: usize,
    most: usize,
    /// The places and sizes of the objects evicted last, oldest first, numbered so that a
    /// place evicted again is told from its earlier eviction; and by place, the live ones.
    ghosts: VecDeque<((usize, u64), u64)>,
    ghost_sizes: FxHashMap<(usize, u64), (usize, u64)>,
    ghost_bytes: usize,
    evictions: u64,
}

struct CacheEntry {
    key: (usize, u64),
    object: Option<Object>,
    newer: usize,
    older: usize,
}

const NONE: usize = usize::MAX;

impl ResolvedCache {
    /// A cache of `start` bytes, which may grow to `most`.
    pub(super) fn new(start: usize, most: usize) -> ResolvedCache {
        ResolvedCache {
            slots: FxHashMap::default(),
            entries: Vec::new(),
            free: Vec::new(),
            newest: NONE,
            oldest: NONE,
            bytes: 0,
            budget: start.min(most),
            most,
            ghosts: VecDeque::new(),
            ghost_sizes: FxHashMap::default(),
            ghost_bytes: 0,
            evictions: 0,
        }
    }

    pub(super) fn get(&mut self, pack: usize, offset: u64) -> Option<Object> {
        let Some(&slot) = self.slots.get(&(pack, offset)) else {
            // Evicted, and asked for again: with its size more room, it would have been kept.
            if let Some((size, _)) = self.ghost_sizes.remove(&(pack, offset)) {
                self.ghost_bytes -= size;
                self.budget = (self.budget + size).min(self.most);
                self.trim_ghosts();
            }
            return None;
        };
        self.unlink(slot);
        self.link_newest(slot);
        self.entries[slot].object.clone()
    }

    pub(super) fn put(&mut self, pack: usize, offset: u64, object: &Object) {
        let size = object.data.len();
        if self.slots.contains_key(&(pack, offset)) {
            return;
        }
        // One object as large as the budget would push out everything else for nothing; as
        // if evicted at once, it makes the budget grow if it is asked for again.
        if size > self.budget / 8 {
            self.remember_evicted((pack, offset), size);
            self.trim_ghosts();
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

    /// Lowers what the cache may grow to (and hold) to `most` bytes, evicting what no longer
    /// fits.
    pub(super) fn limit(&mut self, most: usize) {
        self.most = most;
        self.budget = self.budget.min(most);
        self.evict_to_fit(0);
        self.trim_ghosts();
    }

    /// Evicts the least recently used objects until `size` more bytes fit the budget.
    fn evict_to_fit(&mut self, size: usize) {
        while self.bytes + size > self.budget && self.oldest != NONE {
            let slot = self.oldest;
            self.unlink(slot);
            let entry = &mut self.entries[slot];
            let evicted = entry.object.take().map_or(0, |o| o.data.len());
            self.bytes -= evicted;
            self.slots.remove(&entry.key);
            self.free.push(slot);
            let key = entry.key;
            self.remember_evicted(key, evicted);
        }
        self.trim_ghosts();
    }

    /// Keeps the place and size of an object the cache does not hold, newest of the ghosts.
    fn remember_evicted(&mut self, key: (usize, u64), size: usize) {
        // Grown as far as it may (as it soon is on long histories): nothing to remember for.
        if size > self.most - self.budget {
            return;
        }
        self.evictions += 1;
        self.ghosts.push_back((key, self.evictions));
        if let Some((earlier, _)) = self.ghost_sizes.insert(key, (size, self.evictions)) {
            self.ghost_bytes -= earlier;
        }
        self.ghost_bytes += size;
    }

    /// Forgets the oldest ghosts until they fill no more than the room left to grow into.
    fn trim_ghosts(&mut self) {
        let room = self.most - self.budget;
        while self.ghost_bytes > room {
            let Some((key, eviction)) = self.ghosts.pop_front() else {
                break;
            };
            // A place asked for again, or evicted again since, has left this entry stale.
            if let Some(&(size, latest)) = self.ghost_sizes.get(&key)
                && latest == eviction
            {
                self.ghost_sizes.remove(&key);
                self.ghost_bytes -= size;
            }
        }
        // Stale entries left behind by reads must not pile up either.
        if self.ghosts.len() > 2 * self.ghost_sizes.len() + 64 {
            let live = &self.ghost_sizes;
            self.ghosts
                .retain(|(key, eviction)| live.get(key).is_some_and(|&(_, at)| at == *eviction));
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
        let mut cache = ResolvedCache::new(800, 800);
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

    #[test]
    fn the_budget_grows_only_by_objects_asked_for_again_after_their_eviction() {
        let object = |size: usize| Object {
            kind: ObjectType::Tree,
            data: Rc::from(vec![0; size]),
        };
        let mut cache = ResolvedCache::new(80, 160);
        // A scan of objects read once never grows it.
        for offset in 0..20 {
            assert!(cache.get(0, offset).is_none());
            cache.put(0, offset, &object(10));
        }
        assert_eq!((cache.budget, cache.bytes), (80, 80));
        // The evicted objects it remembers fill the room it may grow into: the last eight
        // evicted, 4 to 11.
        assert!(cache.get(0, 3).is_none());
        assert_eq!(cache.budget, 80);
        assert!(cache.get(0, 10).is_none());
        assert_eq!(cache.budget, 90);
        // Asked again once, a ghost is gone: a second read does not count twice.
        assert!(cache.get(0, 10).is_none());
        assert_eq!(cache.budget, 90);
        // Growth stops at the most it may hold.
        for offset in [4, 5, 6, 7, 8, 9, 11] {
            assert!(cache.get(0, offset).is_none());
        }
        assert_eq!(cache.budget, 160);
        for offset in 20..40 {
            cache.put(0, offset, &object(10));
        }
        assert_eq!(cache.bytes, 160);
        assert!(
            cache.ghost_sizes.is_empty(),
            "no room left to remember evictions for"
        );
        // An object too large to keep counts as evicted at once: asked again, it grows a
        // budget that has room.
        let mut cache = ResolvedCache::new(800, 4000);
        cache.put(0, 1, &object(110));
        assert!(cache.get(0, 1).is_none());
        assert_eq!(cache.budget, 910);
        cache.put(0, 1, &object(110));
        assert!(cache.get(0, 1).is_some());
        // A lower limit (a walk split in parts) lowers both.
        cache.limit(500);
        assert_eq!((cache.budget, cache.most), (500, 500));
        assert!(cache.bytes <= 500);
    }
}
