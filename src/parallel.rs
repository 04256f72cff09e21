//! Order-keeping parallel map for the per-certificate work of large organisations.
//!
//! A 500-server bundle holds 10,000 certificate records: decoding, hashing and parsing them
//! (parsing verifies self-signatures) is most of a check's time, and every record is independent.
//! Small inputs stay on one thread, where starting threads would cost more than it saves.

/// Most threads used: the check shares its host with the monitoring system.
const MAX_THREADS: usize = 8;

/// `items.iter().map(f).collect()`, on all cores when there are at least `parallel_from` items.
/// Results keep the order of `items`, so the first error is the one a sequential run reports.
pub fn map_in_order<T, R, F>(items: &[T], parallel_from: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS));
    if threads < 2 || items.len() < parallel_from.max(2) {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::map_in_order;

    #[test]
    fn keeps_the_order_on_one_thread_and_on_many() {
        let items: Vec<u32> = (0..1000).collect();
        let expected: Vec<u32> = items.iter().map(|i| i * 3).collect();
        assert_eq!(map_in_order(&items, usize::MAX, |i| i * 3), expected);
        assert_eq!(map_in_order(&items, 1, |i| i * 3), expected);
        assert!(map_in_order(&[] as &[u32], 1, |i| *i).is_empty());
    }
}
