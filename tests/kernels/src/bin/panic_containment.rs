//! A panicking thread or task ends alone: its stack unwinds (destructors run, the Spindle
//! locks it holds are released), its handle says why, and everything else runs on.
//@ smp: 1 4
//@ timeout: 120
//@ expect-output: (detached thread)
//@ expect-output: panicked at src/bin/panic_containment.rs
//@ expect-output: a detached thread's panic goes to the log
//@ expect-output: listed until its handle goes (its join handle was dropped)
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{format, sync::Arc, vec::Vec};
use core::{
    hint::black_box,
    sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Executor, ExecutorThread, JoinSet, TaskError},
    mm, println,
    sync::Mutex,
    thread::{self, Builder, JoinError, PanicReport},
};

spindle_test::test_kernel!(
    a_thread_panicking_five_frames_deep_unwinds_and_ends_alone,
    join_passes_the_panic_on_to_the_joiner_where_it_is_contained_too,
    a_panicking_task_ends_alone_beside_its_sibling,
    a_join_set_reports_a_panicking_member,
    an_allocation_failure_in_a_thread_is_contained,
    a_detached_threads_panic_goes_to_the_log,
    a_thread_that_ended_by_panic_is_listed_until_it_is_joined,
    a_thousand_panicking_threads_and_tasks_leave_memory_as_it_was,
);

static LOCK: Mutex<u32> = Mutex::new(0);
static DROPPED: AtomicU32 = AtomicU32::new(0);
/// The line of the `unwrap` that panics, five frames deep.
static PANIC_LINE: AtomicU32 = AtomicU32::new(0);

/// Counts its drop in [`DROPPED`].
struct Dropper;

impl Drop for Dropper {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[inline(never)]
fn frame_1(depth: u32) -> u32 {
    black_box(frame_2(depth + 1)) + 1
}

#[inline(never)]
fn frame_2(depth: u32) -> u32 {
    black_box(frame_3(depth + 1)) + 1
}

#[inline(never)]
fn frame_3(depth: u32) -> u32 {
    let mut held = LOCK.lock(); // released by the unwinding
    *held += 1;
    black_box(frame_4(depth + 1)) + *held
}

#[inline(never)]
fn frame_4(depth: u32) -> u32 {
    let _dropper = Dropper; // dropped by the unwinding
    black_box(frame_5(depth + 1)) + 1
}

#[inline(never)]
fn frame_5(depth: u32) -> u32 {
    PANIC_LINE.store(line!() + 1, Ordering::SeqCst);
    let value = black_box(None::<u8>).unwrap();
    u32::from(value) + depth
}

/// A thread that counts while others panic: it must never stop.
struct Ticker {
    ticks: &'static AtomicU64,
    stop: &'static AtomicBool,
    handle: thread::JoinHandle<()>,
}

impl Ticker {
    fn start() -> Self {
        static TICKS: AtomicU64 = AtomicU64::new(0);
        static STOP: AtomicBool = AtomicBool::new(false);
        STOP.store(false, Ordering::SeqCst);
        let handle = Builder::new()
            .name("ticker")
            .spawn(|| {
                while !STOP.load(Ordering::SeqCst) {
                    TICKS.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_micros(200));
                }
            })
            .unwrap();
        Self {
            ticks: &TICKS,
            stop: &STOP,
            handle,
        }
    }

    /// Waits until the ticker has ticked again (it never stopped).
    fn ticks_on(&self) {
        let seen = self.ticks.load(Ordering::SeqCst);
        while self.ticks.load(Ordering::SeqCst) == seen {
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join();
    }
}

fn a_thread_panicking_five_frames_deep_unwinds_and_ends_alone() {
    let ticker = Ticker::start();
    ticker.ticks_on();
    spindle_test::expect_contained_panics(1);
    let handle = Builder::new().name("deep").spawn(|| frame_1(1)).unwrap();
    let id = handle.thread().id();
    let report = match handle.try_join() {
        Err(JoinError::Panicked(report)) => report,
        other => panic!("expected a panic report, got {other:?}"),
    };
    assert_eq!(
        report.message(),
        "called `Option::unwrap()` on a `None` value"
    );
    assert_eq!(report.file(), "src/bin/panic_containment.rs");
    assert_eq!(report.line(), PANIC_LINE.load(Ordering::SeqCst));
    assert_eq!(report.thread_id(), id);
    assert_eq!(report.thread_name(), "deep");
    assert_eq!(report.task(), None);
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        1,
        "the frame's value was dropped"
    );
    let relocked = LOCK.try_lock().map(|value| *value);
    assert_eq!(relocked, Some(1), "the mutex was released by the unwinding");
    ticker.ticks_on();
    ticker.stop();
    let backtrace = format!("{}", report.backtrace());
    println!("contained: {report}\n{backtrace}");
    assert_in_order(
        &backtrace,
        &[
            "panic_containment::frame_5+",
            "panic_containment::frame_4+",
            "panic_containment::frame_1+",
            "spindle::task::thread::spawn::thread_entry::<…>+",
        ],
    );
}

/// `text` names each of `functions`, in this order.
#[track_caller]
fn assert_in_order(text: &str, functions: &[&str]) {
    let mut rest = text;
    for function in functions {
        match rest.find(function) {
            Some(at) => rest = &rest[at + function.len()..],
            None => panic!("no {function} (after the ones before it) in\n{text}"),
        }
    }
}

fn join_passes_the_panic_on_to_the_joiner_where_it_is_contained_too() {
    spindle_test::expect_contained_panics(2);
    let outer = Builder::new()
        .name("joiner")
        .spawn(|| {
            let inner = Builder::new()
                .name("inner")
                .spawn(|| -> u32 { panic!("inner trouble {}", 7) })
                .unwrap();
            inner.join() // panics again, here
        })
        .unwrap();
    let report = match outer.try_join() {
        Err(JoinError::Panicked(report)) => report,
        other => panic!("expected the joiner to panic, got {other:?}"),
    };
    assert_eq!(report.thread_name(), "joiner");
    assert!(
        report.message().starts_with("join failed: thread ")
            && report
                .message()
                .contains(" 'inner' panicked at src/bin/panic_containment.rs:")
            && report.message().ends_with(": inner trouble 7"),
        "{report}"
    );
}

fn a_panicking_task_ends_alone_beside_its_sibling() {
    let tasks = ExecutorThread::start("tasks", 8).unwrap();
    let spawner = tasks.spawner();
    spindle_test::expect_contained_panics(1);
    let dropped = DROPPED.load(Ordering::SeqCst);
    let doomed = spawner.spawn_named(Some("doomed".into()), async {
        let _dropper = Dropper;
        executor::yield_now().await;
        panic!("a task's bad day");
    });
    let sibling = spawner.spawn(async {
        for _ in 0..10 {
            executor::yield_now().await;
        }
        42
    });
    let report = match executor::block_on(doomed) {
        Err(TaskError::Panicked(report)) => report,
        other => panic!("expected a panic report, got {other:?}"),
    };
    assert_eq!(report.message(), "a task's bad day");
    assert_in_order(
        &format!("{}", report.backtrace()),
        &[
            "<spindle::task::executor::cell::TaskCell<…> as spindle::task::executor::cell::Run<…>>::poll+",
            // The executor's loop: which of its functions is a frame of its own depends
            // on the build's inlining (a clean build inlined `run` into the thread's
            // closure, an incremental one did not).
            "spindle::task::executor::",
            "spindle::task::thread::spawn::thread_entry::<…>+",
        ],
    );
    assert_eq!(report.thread_name(), "tasks");
    let task = report.task().unwrap_or_default();
    assert!(task.ends_with("'doomed' of executor 'tasks'"), "{task}");
    assert!(
        DROPPED.load(Ordering::SeqCst) > dropped,
        "the task's value was dropped"
    );
    assert_eq!(executor::block_on(sibling), Ok(42));
    // The executor goes on taking new tasks.
    assert_eq!(executor::block_on(spawner.spawn(async { 7 })), Ok(7));
    tasks.stop();
}

fn a_join_set_reports_a_panicking_member() {
    let executor = Executor::new("set", 8);
    let spawner = executor.spawner();
    spindle_test::expect_contained_panics(1);
    let results = executor.block_on(async move {
        let mut set = JoinSet::new();
        set.spawn(&spawner, async {
            executor::yield_now().await;
            panic!("member panics")
        });
        set.spawn(&spawner, async { 5 });
        let mut results = Vec::new();
        while let Some(result) = set.join_next().await {
            results.push(result.map_err(|error| match error {
                TaskError::Panicked(report) => report,
                TaskError::Cancelled => panic!("a member was cancelled"),
            }));
        }
        results
    });
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], Ok(5));
    assert_eq!(
        results[1].as_ref().map_err(PanicReport::message),
        Err("member panics")
    );
}

fn an_allocation_failure_in_a_thread_is_contained() {
    spindle_test::expect_contained_panics(1);
    let greedy = thread::spawn(|| black_box(alloc::vec![0u8; 1 << 40]).len());
    match greedy.try_join() {
        Err(JoinError::Panicked(report)) => assert_eq!(
            report.message(),
            "memory allocation of 1099511627776 bytes (align 1) failed"
        ),
        other => panic!("expected the allocation failure to panic, got {other:?}"),
    }
    // The heap is fine: the next allocation works.
    assert_eq!(alloc::vec![1u8; 4096].len(), 4096);
}

fn a_detached_threads_panic_goes_to_the_log() {
    spindle_test::expect_contained_panics(1);
    let handle = thread::spawn(|| {
        thread::park(); // until its handle is gone
        panic!("a detached thread's panic goes to the log");
    });
    let thread = handle.thread().clone();
    drop(handle);
    thread.unpark();
    // Until it is reaped (on whichever CPU): the reaper's reference is the last but ours,
    // and its memory must be back before the next case measures the heap.
    while Arc::strong_count(&thread) > 1 {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Whether the thread listing (`ps`) has thread `id` as one that ended by panic.
fn listed_as_panicked(id: thread::ThreadId) -> bool {
    thread::threads()
        .iter()
        .any(|info| info.id == id && info.ended_by_panic && info.state == thread::ThreadState::Dead)
}

fn a_thread_that_ended_by_panic_is_listed_until_it_is_joined() {
    spindle_test::expect_contained_panics(2);
    mm::reclaim();
    let before = mm::usage();
    let joined = thread::spawn(|| -> u32 { panic!("listed until joined") });
    let dropped = thread::spawn(|| -> u32 { panic!("listed until its handle goes") });
    let ids = (joined.thread().id(), dropped.thread().id());
    while !(joined.is_finished() && dropped.is_finished()) {
        thread::sleep(Duration::from_millis(1));
    }
    // Exited and reaped (its stack is gone), but its handle can still take the report.
    assert!(listed_as_panicked(ids.0) && listed_as_panicked(ids.1));
    assert!(matches!(joined.try_join(), Err(JoinError::Panicked(_))));
    assert!(!listed_as_panicked(ids.0), "still listed after the join");
    assert!(listed_as_panicked(ids.1));
    drop(dropped); // its report goes to the log
    assert!(
        !listed_as_panicked(ids.1),
        "still listed after its handle went"
    );
    mm::reclaim();
    let after = mm::usage();
    assert_eq!(
        (after.bytes, after.allocations),
        (before.bytes, before.allocations)
    );
}

/// Threads and tasks that panic, spawned and joined one at a time.
const ROUNDS: usize = 1_000;

fn a_thousand_panicking_threads_and_tasks_leave_memory_as_it_was() {
    let executor = Executor::new("soak", 4);
    let round = |executor: &Executor| {
        let doomed = thread::spawn(|| -> u32 { panic!("thread {}", thread::current_id()) });
        assert!(matches!(doomed.try_join(), Err(JoinError::Panicked(_))));
        let doomed = executor.spawn(async { panic!("a task") });
        assert!(matches!(
            executor.block_on(doomed),
            Err(TaskError::Panicked(_))
        ));
    };
    spindle_test::expect_contained_panics(2 * (ROUNDS as u64 + 1));
    round(&executor); // once first: whatever is made once (the task table's block) is there
    mm::reclaim();
    let contained = thread::contained_panics();
    let before = mm::usage();
    for _ in 0..ROUNDS {
        round(&executor);
    }
    mm::reclaim();
    let after = mm::usage();
    println!(
        "soak: {} contained panics; {} bytes in {} allocations before, {} in {} after",
        thread::contained_panics() - contained,
        before.bytes,
        before.allocations,
        after.bytes,
        after.allocations
    );
    assert_eq!(thread::contained_panics() - contained, 2 * ROUNDS as u64);
    assert_eq!(
        (after.bytes, after.allocations),
        (before.bytes, before.allocations)
    );
}
