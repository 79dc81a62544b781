//! Spreading file-system work over the cores.

/// How many threads share file-system work: every core, but at most a few (more threads than
/// cores only add switching).
pub(crate) fn worker_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
}

/// `work` applied to `items` in contiguous parts of at least `min_part`, one part per worker
/// thread; results in the order of the items. Each part is handed over whole, so `work` can
/// set up per-thread state (a repository handle) once.
pub(crate) fn on_worker_threads<T: Send, R: Send>(
    items: Vec<T>,
    min_part: usize,
    work: impl Fn(Vec<T>) -> Vec<R> + Sync,
) -> Vec<R> {
    let part = items.len().div_ceil(worker_threads()).max(min_part).max(1);
    if items.len() <= part {
        return work(items);
    }
    // Each part allocated to its own size (`split_off` leaves a part the capacity of all the
    // items after it).
    let mut items = items.into_iter();
    let parts: Vec<Vec<T>> =
        std::iter::from_fn(|| Some(items.by_ref().take(part).collect::<Vec<T>>()))
            .take_while(|part| !part.is_empty())
            .collect();
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("worker threads do not panic"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_keep_the_order() {
        let items: Vec<u32> = (0..10_000).collect();
        let doubled = on_worker_threads(items, 100, |part| part.iter().map(|n| n * 2).collect());
        assert_eq!(doubled, (0..10_000).map(|n| n * 2).collect::<Vec<_>>());
        assert!(on_worker_threads(Vec::<u32>::new(), 100, |part| part).is_empty());
    }
}
