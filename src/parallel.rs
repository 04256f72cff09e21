//! Order-keeping parallel map for the per-certificate work of large organisations (as a `Vec`,
//! or streamed to a consumer while the rest is computed), and [`Job`] for a few independent
//! tasks (the network fetches). Neither fails when the system refuses a thread: the work is then
//! done on the calling thread.
//!
//! A 500-server bundle holds 10,000 certificate records: decoding, hashing and parsing them
//! (parsing verifies self-signatures) is most of a check's time, and every record is independent.
//! Small inputs stay on one thread, where starting threads would cost more than it saves.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

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
    stream_in_order(items, parallel_from, f, |results| {
        // Sized once: results can be large structs (certificate reports), and growing by
        // doubling would copy them several times.
        let mut collected = Vec::with_capacity(items.len());
        collected.extend(results);
        collected
    })
}

/// `items.iter().map(f)`, whose results `consume` takes, in order, while later ones are still being
/// computed: helper threads work through the blocks, and the consuming thread, whenever the next
/// result is not ready, computes a block itself instead of waiting. Work that must be done in
/// order on one thread (building the state from parsed certificates) then runs beside the
/// parallel work instead of after it.
///
/// When `consume` returns early, the helpers take no further blocks. A panic in `f` on a helper
/// ends the results early and is raised again when the helpers are joined.
pub fn stream_in_order<T, R, F, O>(
    items: &[T],
    parallel_from: usize,
    f: F,
    consume: impl FnOnce(&mut dyn Iterator<Item = R>) -> O,
) -> O
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    if items.len() < parallel_from.max(2) {
        return consume(&mut items.iter().map(f));
    }
    // Asked only now: on Linux it reads the cgroup's CPU quota (five files, about 25 system
    // calls: a quarter of what a check on one file made).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS));
    if threads < 2 {
        return consume(&mut items.iter().map(f));
    }
    let blocks = items.len().div_ceil(BLOCK);
    let shared = Blocks {
        items,
        f: &f,
        next_block: AtomicUsize::new(0),
        blocks,
        done: Mutex::new((0..blocks).map(|_| None).collect()),
        ready: Condvar::new(),
        helper_panicked: AtomicBool::new(false),
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || shared.help())
                    .ok()
            })
            .collect();
        let output = consume(&mut InOrder {
            shared: &shared,
            next: 0,
            current: Vec::new().into_iter(),
        });
        for helper in helpers {
            if let Err(panic) = helper.join() {
                std::panic::resume_unwind(panic);
            }
        }
        output
    })
}

/// The work of [`stream_in_order`], shared by its threads.
struct Blocks<'a, T, R, F> {
    items: &'a [T],
    f: &'a F,
    next_block: AtomicUsize,
    blocks: usize,
    /// Each block's results, from when it is computed until the consumer takes them.
    done: Mutex<Vec<Option<Vec<R>>>>,
    /// Signalled when a block is done (or a helper panicked).
    ready: Condvar,
    helper_panicked: AtomicBool,
}

impl<T, R, F: Fn(&T) -> R> Blocks<'_, T, R, F> {
    /// The lowest block no thread has taken yet.
    fn claim(&self) -> Option<usize> {
        let block = self.next_block.fetch_add(1, Ordering::Relaxed);
        (block < self.blocks).then_some(block)
    }

    fn compute(&self, block: usize) {
        let start = block * BLOCK;
        let end = (start + BLOCK).min(self.items.len());
        let results = self.items[start..end].iter().map(self.f).collect();
        self.lock()[block] = Some(results);
        self.ready.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Vec<R>>>> {
        self.done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A helper thread: blocks until none is left.
    fn help(&self) {
        // Without this, a panic in `f` would leave the consumer waiting for its block forever.
        struct PanicAlarm<'b, T, R, F>(&'b Blocks<'b, T, R, F>);
        impl<T, R, F> Drop for PanicAlarm<'_, T, R, F> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.helper_panicked.store(true, Ordering::SeqCst);
                    let _held = self.0.done.lock();
                    self.0.ready.notify_all();
                }
            }
        }
        let _alarm = PanicAlarm(self);
        while let Some(block) = self.claim() {
            self.compute(block);
        }
    }
}

/// The consumer's side of [`stream_in_order`]: results in order, helping while it waits.
struct InOrder<'s, 'a, T, R, F> {
    shared: &'s Blocks<'a, T, R, F>,
    next: usize,
    current: std::vec::IntoIter<R>,
}

impl<T, R, F: Fn(&T) -> R> InOrder<'_, '_, T, R, F> {
    fn next_block(&mut self) -> Option<Vec<R>> {
        let shared = self.shared;
        if self.next >= shared.blocks {
            return None;
        }
        loop {
            let mut done = shared.lock();
            if let Some(results) = done[self.next].take() {
                self.next += 1;
                return Some(results);
            }
            if shared.helper_panicked.load(Ordering::SeqCst) {
                return None;
            }
            drop(done);
            if let Some(block) = shared.claim() {
                shared.compute(block);
                continue;
            }
            // Every block is taken: the one wanted is being computed by a helper.
            let mut done = shared.lock();
            while done[self.next].is_none() && !shared.helper_panicked.load(Ordering::SeqCst) {
                done = shared
                    .ready
                    .wait(done)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
    }
}

impl<T, R, F: Fn(&T) -> R> Iterator for InOrder<'_, '_, T, R, F> {
    type Item = R;

    fn next(&mut self) -> Option<R> {
        loop {
            if let Some(result) = self.current.next() {
                return Some(result);
            }
            self.current = self.next_block()?.into_iter();
        }
    }
}

impl<T, R, F> Drop for InOrder<'_, '_, T, R, F> {
    /// The consumer is done (or gave up on an error): the helpers take no further blocks.
    fn drop(&mut self) {
        self.shared
            .next_block
            .fetch_max(self.shared.blocks, Ordering::Relaxed);
    }
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

/// `items.iter().map(f).collect()` for work that waits (network round trips), not computes: up
/// to `max_threads` items at a time, whatever the cores, so that fifty servers take about the
/// time of the slowest few. Results keep the order of `items`. With no thread to be had, the
/// items are done one by one on this thread. `lost()` stands for a result that is missing only
/// if a thread panicked (which the scope then raises again).
pub fn map_waiting<T, R, F>(items: &[T], max_threads: usize, f: F, lost: impl Fn() -> R) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let work = || {
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else { break };
            let result = f(item);
            if let Ok(mut results) = results.lock() {
                results[index] = Some(result);
            }
        }
    };
    std::thread::scope(|scope| {
        let spawned = (0..max_threads.min(items.len()))
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .count();
        if spawned == 0 {
            work();
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .map(|result| result.unwrap_or_else(&lost))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{map_in_order, map_waiting, stream_in_order};

    #[test]
    fn keeps_the_order_on_one_thread_and_on_many() {
        let items: Vec<u32> = (0..1000).collect();
        let expected: Vec<u32> = items.iter().map(|i| i * 3).collect();
        assert_eq!(map_in_order(&items, usize::MAX, |i| i * 3), expected);
        assert_eq!(map_in_order(&items, 1, |i| i * 3), expected);
        assert!(map_in_order(&[] as &[u32], 1, |i| *i).is_empty());
    }

    #[test]
    fn streams_in_order_on_one_thread_and_on_many() {
        let items: Vec<u32> = (0..1000).collect();
        let expected: Vec<u32> = items.iter().map(|i| i * 3).collect();
        for parallel_from in [usize::MAX, 1] {
            let streamed = stream_in_order(
                &items,
                parallel_from,
                |i| i * 3,
                |results| results.collect::<Vec<u32>>(),
            );
            assert_eq!(streamed, expected);
        }
        let none = stream_in_order(&[] as &[u32], 1, |i| *i, |results| results.count());
        assert_eq!(none, 0);
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_helpers() {
        // Every item after the first block takes 100 us: computing them all would take 2 s.
        // Stopped, each thread finishes at most the block it holds, so however long the
        // scheduler keeps the consumer from returning (a loaded CI machine), the helpers stay
        // far below half of the items unless they ignore the stop.
        let items: Vec<u32> = (0..20_000).collect();
        let computed = std::sync::atomic::AtomicUsize::new(0);
        let first = stream_in_order(
            &items,
            1,
            |i| {
                if *i as usize >= super::BLOCK {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                computed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *i
            },
            |results| results.take(3).collect::<Vec<u32>>(),
        );
        assert_eq!(first, [0, 1, 2]);
        let computed = computed.into_inner();
        assert!(computed < items.len() / 2, "{computed} computed");
    }

    #[test]
    fn a_panic_on_a_helper_is_raised_not_waited_for() {
        let items: Vec<u32> = (0..10_000).collect();
        let outcome = std::panic::catch_unwind(|| {
            stream_in_order(
                &items,
                1,
                |i| {
                    if *i == 5_000 {
                        panic!("item {i}");
                    }
                    *i
                },
                |results| results.count(),
            )
        });
        assert!(outcome.is_err());
    }

    #[test]
    fn a_job_gives_its_result() {
        let base = 40;
        let result =
            std::thread::scope(|scope| super::Job::start(scope, move || base + 2).finish());
        assert_eq!(result, Some(42));
    }

    #[test]
    fn waiting_work_overlaps_and_keeps_its_order() {
        let items: Vec<u64> = (0..20).collect();
        let started = std::time::Instant::now();
        let results = map_waiting(
            &items,
            10,
            |&i| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                i * 2
            },
            || u64::MAX,
        );
        assert_eq!(results, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        // 20 waits of 50 ms, 10 at a time: two rounds, far from twenty.
        assert!(started.elapsed() < std::time::Duration::from_millis(600));
    }
}
