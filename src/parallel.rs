//! Order-keeping parallel map for the per-certificate work of large organisations, and [`Job`]
//! for a few independent tasks (the network fetches). Neither fails when the system refuses a
//! thread: the work is then done on the calling thread.
//!
//! A 500-server bundle holds 10,000 certificate records: decoding, hashing and parsing them
//! (parsing verifies self-signatures) is most of a check's time, and every record is independent.
//! Small inputs stay on one thread, where starting threads would cost more than it saves.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Most threads used: the check shares its host with the monitoring system.
const MAX_THREADS: usize = 8;

/// Items a worker takes at a time: small enough that the workers finish together (some
/// certificates cost a signature verification, most do not), large enough to keep the shared
/// counter cold.
const BLOCK: usize = 16;

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
    let next_block = AtomicUsize::new(0);
    // Each worker, the calling thread included, takes the next block until none is left.
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let block = next_block.fetch_add(1, Ordering::Relaxed);
            let start = block.saturating_mul(BLOCK);
            if start >= items.len() {
                return done;
            }
            let end = (start + BLOCK).min(items.len());
            done.push((block, items[start..end].iter().map(&f).collect()));
        }
    };
    let mut blocks: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        // A thread the system refuses (process limits of a monitoring agent) is no error: the
        // calling thread then takes more of the blocks.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut blocks = work();
        for helper in helpers {
            blocks.extend(
                helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        blocks
    });
    blocks.sort_unstable_by_key(|(block, _)| *block);
    // Sized once: results can be large structs (certificate reports), and growing by doubling
    // would copy them several times.
    let mut results = Vec::with_capacity(items.len());
    for (_, block) in blocks {
        results.extend(block);
    }
    results
}

/// A piece of work on a scoped thread of its own, or already done on the calling thread when the
/// system refused the thread (an agent account's process limit): slower, never a failure.
pub enum Job<'scope, T> {
    Running(std::thread::ScopedJoinHandle<'scope, T>),
    Done(T),
}

impl<'scope, T: Send + 'scope> Job<'scope, T> {
    pub fn start<'env, F>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        work: F,
    ) -> Job<'scope, T>
    where
        F: FnOnce() -> T + Send + Clone + 'scope,
    {
        match std::thread::Builder::new().spawn_scoped(scope, work.clone()) {
            Ok(handle) => Job::Running(handle),
            Err(_) => Job::Done(work()),
        }
    }

    /// `None` when the thread panicked.
    pub fn finish(self) -> Option<T> {
        match self {
            Job::Running(handle) => handle.join().ok(),
            Job::Done(result) => Some(result),
        }
    }
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

    #[test]
    fn a_job_gives_its_result() {
        let base = 40;
        let result =
            std::thread::scope(|scope| super::Job::start(scope, move || base + 2).finish());
        assert_eq!(result, Some(42));
    }
}
