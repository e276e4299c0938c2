//! Host unit tests of the executor's bookkeeping: the task table, the ready queue, the
//! waker state machine and the sleep/notify handshake, with `std` threads as hosts.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Poll, Waker},
    thread,
    vec::Vec,
};

use super::{Executor, Host, TaskSpawnError, yield_now};

/// A `std` thread as the host; counts waits and notifies.
#[derive(Default)]
struct TestHost {
    thread: Mutex<Option<thread::Thread>>,
    stop: AtomicBool,
    waits: AtomicUsize,
    notifies: AtomicUsize,
}

impl Host for Arc<TestHost> {
    fn wait(&self) {
        self.waits.fetch_add(1, Ordering::SeqCst);
        thread::park();
    }

    fn notify(&self) {
        self.notifies.fetch_add(1, Ordering::SeqCst);
        if let Some(thread) = self.thread.lock().unwrap().as_ref() {
            thread.unpark();
        }
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn runs_here(&self) -> bool {
        let host = self.thread.lock().unwrap().as_ref().map(thread::Thread::id);
        host == Some(thread::current().id())
    }
}

fn executor(capacity: usize) -> (Executor<Arc<TestHost>>, Arc<TestHost>) {
    let host = Arc::new(TestHost::default());
    *host.thread.lock().unwrap() = Some(thread::current());
    (
        Executor::with_host("test", capacity, Arc::clone(&host)),
        host,
    )
}

/// A future that stays pending until `release` is set, keeping its waker for others.
fn gate(
    release: Arc<AtomicBool>,
    waker_slot: Arc<Mutex<Option<Waker>>>,
) -> impl Future<Output = u32> + Send {
    core::future::poll_fn(move |cx| {
        if release.load(Ordering::SeqCst) {
            return Poll::Ready(7);
        }
        *waker_slot.lock().unwrap() = Some(cx.waker().clone());
        if release.load(Ordering::SeqCst) {
            Poll::Ready(7)
        } else {
            Poll::Pending
        }
    })
}

#[test]
fn spawned_tasks_run_and_their_handles_yield_results() {
    let (executor, _) = executor(16);
    let handles: Vec<_> = (0..10u64)
        .map(|i| executor.spawn(async move { i * i }))
        .collect();
    let results = executor.block_on(async {
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.unwrap());
        }
        results
    });
    assert_eq!(results, (0..10).map(|i| i * i).collect::<Vec<u64>>());
}

#[test]
fn a_wake_from_another_thread_unparks_the_idle_host() {
    let (executor, host) = executor(4);
    let release = Arc::new(AtomicBool::new(false));
    let waker_slot = Arc::new(Mutex::new(None::<Waker>));
    let handle = executor.spawn(gate(Arc::clone(&release), Arc::clone(&waker_slot)));
    let waker_thread = {
        let (release, waker_slot) = (Arc::clone(&release), Arc::clone(&waker_slot));
        thread::spawn(move || {
            while waker_slot.lock().unwrap().is_none() {
                thread::yield_now();
            }
            release.store(true, Ordering::SeqCst);
            let waker = waker_slot.lock().unwrap().take().unwrap();
            waker.wake_by_ref();
            waker.wake(); // a duplicate: coalesced or harmless
        })
    };
    assert_eq!(executor.block_on(handle), Ok(7));
    waker_thread.join().unwrap();
    assert!(host.notifies.load(Ordering::SeqCst) >= 1);
}

#[test]
fn duplicate_wakes_before_a_poll_are_coalesced() {
    let (executor, _) = executor(4);
    let polls = Arc::new(AtomicUsize::new(0));
    let saved = Arc::new(Mutex::new(None::<Waker>));
    let handle = {
        let (polls, saved) = (Arc::clone(&polls), Arc::clone(&saved));
        executor.spawn(core::future::poll_fn(move |cx| {
            let count = polls.fetch_add(1, Ordering::SeqCst) + 1;
            *saved.lock().unwrap() = Some(cx.waker().clone());
            if count == 2 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }))
    };
    assert_eq!(executor.run_until_stalled(), 1);
    let waker = saved.lock().unwrap().clone().unwrap();
    for _ in 0..100 {
        waker.wake_by_ref();
    }
    assert_eq!(executor.run_until_stalled(), 1, "a hundred wakes, one poll");
    assert!(handle.is_finished());
    waker.wake_by_ref(); // waking a finished task is harmless
    assert_eq!(executor.run_until_stalled(), 0);
}

#[test]
fn a_task_woken_while_finishing_leaves_no_stale_slot() {
    let (executor, _) = executor(2);
    for round in 0..50 {
        // The task wakes itself and completes in the same poll: its slot stays a
        // tombstone until the queued index is popped, then is reused.
        let handle = executor.spawn(core::future::poll_fn(move |cx| {
            cx.waker().wake_by_ref();
            Poll::Ready(round)
        }));
        executor.run_until_stalled();
        assert!(handle.is_finished());
    }
    // Without reuse, the table would have grown past its first block (its capacity, 2).
    assert_eq!(executor.table.borrow().len(), 2, "slots are reused");
}

#[test]
fn spawning_beyond_capacity_is_an_error_not_a_panic() {
    let (executor, _) = executor(3);
    let pending = || core::future::pending::<()>();
    let _handles: Vec<_> = (0..3).map(|_| executor.spawn(pending())).collect();
    assert_eq!(
        executor.try_spawn(pending()).err(),
        Some(TaskSpawnError::Full)
    );
    executor.run_until_stalled();
    assert_eq!(
        executor.try_spawn(pending()).err(),
        Some(TaskSpawnError::Full)
    );
}

#[test]
fn spawners_work_from_other_threads() {
    let (executor, _) = executor(64);
    let spawner = executor.spawner();
    let remote = thread::spawn(move || {
        (0..32u32)
            .map(|i| spawner.spawn(async move { i + 1 }))
            .collect::<Vec<_>>()
    });
    let handles = remote.join().unwrap();
    let sum = executor.block_on(async {
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (1..=32).sum());
}

#[test]
fn yielding_tasks_take_turns() {
    let (executor, _) = executor(4);
    let trace = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let trace = Arc::clone(&trace);
            executor.spawn(async move {
                for _ in 0..3 {
                    trace.lock().unwrap().push(name);
                    yield_now().await;
                }
            })
        })
        .collect();
    executor.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    assert_eq!(*trace.lock().unwrap(), ["a", "b", "a", "b", "a", "b"]);
}

#[test]
fn run_parks_when_idle_and_returns_when_asked_to_stop() {
    let (executor, host) = executor(4);
    let stopper = {
        let host = Arc::clone(&host);
        let spawner = executor.spawner();
        thread::spawn(move || {
            while host.waits.load(Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
            let done = spawner.spawn(async { 5 });
            while !done.is_finished() {
                thread::yield_now();
            }
            host.stop.store(true, Ordering::SeqCst);
            host.notify();
        })
    };
    executor.run();
    stopper.join().unwrap();
    assert!(
        host.waits.load(Ordering::SeqCst) >= 1,
        "an idle executor parks its thread"
    );
}

#[test]
fn dropping_the_executor_cancels_unfinished_tasks() {
    let (executor, _) = executor(4);
    let handle = executor.spawn(core::future::pending::<()>());
    executor.run_until_stalled();
    drop(executor);
    let (other, _) = self::executor(1);
    assert_eq!(other.block_on(handle), Err(super::TaskError::Cancelled));
}

#[test]
fn the_listing_shows_live_tasks_with_their_executor() {
    let (executor, _) = executor(4);
    let _handle = executor
        .spawner()
        .spawn_named(Some("listed".into()), core::future::pending::<()>());
    executor.run_until_stalled();
    let listing = super::tasks();
    let row = listing
        .iter()
        .find(|info| info.name == "listed")
        .expect("the task is listed");
    assert_eq!(row.executor, "test");
    assert_eq!(row.polls, 1);
    assert_eq!(row.state, super::TaskState::Waiting);
}

/// The executor's own bytes per task, beyond the future: the task's block less the
/// future, the block's reference counts and heap tag, and the task's places in the table, the listing,
/// the free list and the ready queue (a stamp and an index each). Within 160 bytes (8 of
/// them the time spent in the task's polls, which `ps` shows), a million tasks of a
/// 112-byte future fit in 512 MiB beside 10,000 threads (the `smp_scale` test kernel).
#[test]
fn a_task_costs_the_executor_at_most_160_bytes() {
    use core::mem::{size_of, size_of_val};

    use super::cell::{Slot, Task, TaskCell};

    type H = Arc<TestHost>;
    fn cell_size<F: Future>(_: &F) -> usize {
        size_of::<TaskCell<F, H>>()
    }
    const COUNTS_AND_TAG: usize = 3 * size_of::<usize>(); // `Arc`'s two, talc's one
    let state = [1u64; 13];
    let future = async move {
        core::future::pending::<()>().await;
        state.iter().sum::<u64>()
    };
    let block = cell_size(&future) - size_of_val(&future);
    let places = size_of::<Slot<H>>()
        + size_of::<Option<Arc<dyn Task<H>>>>()
        + size_of::<u32>() // the free list
        + 2 * size_of::<usize>() // the lock-free ready queue
        + size_of::<u32>(); // the local ready list
    let overhead = block + COUNTS_AND_TAG + places;
    println!(
        "future {} bytes; per task: block {block} + counts and tag {COUNTS_AND_TAG} + places \
         {places} = {overhead}",
        size_of_val(&future)
    );
    assert!(overhead <= 160, "{overhead} bytes per task");
}

#[test]
fn dropping_the_executor_cancels_tasks_still_in_its_inbox() {
    let (executor, _) = executor(4);
    let handle = executor.spawn(async { 1 });
    drop(executor); // never ran: the task was still on its way to the table
    let (other, _) = self::executor(1);
    assert_eq!(other.block_on(handle), Err(super::TaskError::Cancelled));
}

#[test]
fn the_table_grows_in_blocks_up_to_the_capacity() {
    let tasks = 2 * super::chunks::CHUNK + 3;
    let (executor, _) = executor(tasks);
    let handles: Vec<_> = (0..tasks)
        .map(|i| executor.spawn(async move { i }))
        .collect();
    assert_eq!(
        executor.try_spawn(async { 0 }).err(),
        Some(TaskSpawnError::Full)
    );
    let sum = executor.block_on(async {
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, tasks * (tasks - 1) / 2);
    assert_eq!(
        executor.table.borrow().len(),
        tasks,
        "no slot beyond the capacity"
    );
}

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that never finishes and counts its drop.
fn pending_counted(drops: &Arc<AtomicUsize>) -> impl Future<Output = u32> + Send + use<> {
    let counter = DropCount(Arc::clone(drops));
    async move {
        let _counter = counter;
        core::future::pending::<u32>().await
    }
}

#[test]
fn an_aborted_task_is_dropped_at_its_next_turn_and_its_handle_says_cancelled() {
    let (executor, _) = executor(8);
    let drops = Arc::new(AtomicUsize::new(0));
    let waiting = executor.spawn(pending_counted(&drops));
    let never_polled = executor.spawn(pending_counted(&drops));
    never_polled.abort(); // still in the inbox
    executor.run_until_stalled();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "aborted before its first poll"
    );
    waiting.abort();
    waiting.abort(); // twice is the same as once
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped on the executor, not by abort"
    );
    assert_eq!(executor.run_until_stalled(), 1, "one turn: the cancel");
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert!(waiting.is_finished());
    assert_eq!(executor.block_on(waiting), Err(super::TaskError::Cancelled));
    assert_eq!(
        executor.block_on(never_polled),
        Err(super::TaskError::Cancelled)
    );
    // Aborting a finished task changes nothing: its output stays.
    let done = executor.spawn(async { 3 });
    executor.run_until_stalled();
    done.abort();
    assert_eq!(executor.block_on(done), Ok(3));
}

#[test]
fn a_join_set_yields_in_completion_order_and_aborts_on_drop() {
    let (executor, _) = executor(16);
    let spawner = executor.spawner();
    let order = executor.block_on(async {
        let mut set = super::JoinSet::new();
        for turns in [5u32, 1, 3] {
            set.spawn(&spawner, async move {
                for _ in 0..turns {
                    yield_now().await;
                }
                turns
            });
        }
        assert_eq!(set.len(), 3);
        let mut order = Vec::new();
        while let Some(result) = set.join_next().await {
            order.push(result.unwrap());
        }
        assert!(set.is_empty());
        order
    });
    assert_eq!(order, [1, 3, 5]);
    let drops = Arc::new(AtomicUsize::new(0));
    let mut set = super::JoinSet::new();
    for _ in 0..3 {
        set.spawn(&spawner, pending_counted(&drops));
    }
    executor.run_until_stalled();
    drop(set);
    executor.run_until_stalled();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "dropping the set aborted its tasks"
    );
    // Aborted members are joined as cancelled.
    let cancelled = executor.block_on(async {
        let mut set = super::JoinSet::new();
        set.spawn(&spawner, pending_counted(&drops));
        set.spawn(&spawner, async { 9 });
        set.abort_all();
        let mut results = Vec::new();
        while let Some(result) = set.join_next().await {
            results.push(result);
        }
        results
    });
    assert!(cancelled.contains(&Err(super::TaskError::Cancelled)));
    assert_eq!(cancelled.len(), 2);
}

#[test]
fn a_panicking_task_ends_alone_and_its_handle_says_why() {
    let (executor, _host) = executor(8);
    let drops = Arc::new(AtomicUsize::new(0));
    let (in_frame, in_future) = (DropCount(Arc::clone(&drops)), DropCount(Arc::clone(&drops)));
    let doomed = executor.spawn(async move {
        let _held_by_the_future = in_future;
        yield_now().await;
        let _in_the_frame = in_frame;
        panic!("deliberate panic in a task");
    });
    let sibling = executor.spawn(async {
        yield_now().await;
        yield_now().await;
        21
    });
    match executor.block_on(doomed) {
        Err(super::TaskError::Panicked(report)) => {
            assert_eq!(report.message(), "deliberate panic in a task");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "the frame's value and the future's"
    );
    assert_eq!(executor.block_on(sibling), Ok(21));
}
