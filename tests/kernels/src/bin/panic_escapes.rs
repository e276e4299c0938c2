//! Panics outside a poll or a thread's closure, in code the executor or the scheduler runs
//! on a task's or a thread's behalf: a future's destructor when its task is aborted, a
//! detached task's output dropped by its executor, a waker of a task handle, a detached
//! thread's result, a `spawn_blocking` closure. Each ends alone (the executor, its thread
//! and its other tasks go on) and says so, in its handle or in the log.
//@ smp: 1 4
//@ timeout: 60
//@ expect-output: (dropping a task's output)
//@ expect-output: (waking a task handle)
//@ expect-output: (dropping a detached thread's result)
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, task::Wake};
use core::{
    future::{Future, pending},
    pin::pin,
    sync::atomic::{AtomicU32, Ordering},
    task::{Context, Waker},
};

use spindle::{
    executor::{self, ExecutorThread, TaskError},
    sync::Event,
    thread::{self, JoinError},
};
use spindle_test::expect_contained_panics;

spindle_test::test_kernel!(
    a_future_whose_destructor_panics_on_abort_ends_alone,
    a_detached_tasks_output_whose_destructor_panics_is_contained,
    a_panicking_waker_of_a_task_handle_is_contained,
    a_detached_threads_result_whose_destructor_panics_is_contained,
    spawn_blocking_reports_its_closures_panic,
);

/// Panics when dropped, counting the drop first.
struct Bomb(&'static AtomicU32);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("a bomb went off in a destructor");
    }
}

/// An executor thread with a sibling task that must see the case through: it finishes
/// only when `done` is set, so the executor must still run then.
fn executor_with_sibling(done: &'static Event) -> (ExecutorThread, executor::TaskHandle<u32>) {
    let host = ExecutorThread::start("escapes", 8).expect("an executor thread");
    let sibling = host.spawn(async move {
        done.wait_async().await;
        7
    });
    (host, sibling)
}

fn a_future_whose_destructor_panics_on_abort_ends_alone() {
    static DROPS: AtomicU32 = AtomicU32::new(0);
    static STARTED: Event = Event::new();
    static DONE: Event = Event::new();
    let (host, sibling) = executor_with_sibling(&DONE);
    expect_contained_panics(1);
    let doomed = host.spawn(async {
        let _bomb = Bomb(&DROPS);
        STARTED.set();
        pending::<()>().await;
    });
    STARTED.wait(); // the future holds its bomb now
    doomed.abort();
    match executor::block_on(doomed) {
        Err(TaskError::Panicked(report)) => {
            assert!(report.message().contains("a bomb went off"), "{report}");
        }
        other => panic!("the aborted task's handle said {other:?}"),
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    DONE.set();
    assert_eq!(executor::block_on(sibling), Ok(7), "the executor stopped");
    host.stop();
}

fn a_detached_tasks_output_whose_destructor_panics_is_contained() {
    static DROPS: AtomicU32 = AtomicU32::new(0);
    static GO: Event = Event::new();
    static DONE: Event = Event::new();
    let (host, sibling) = executor_with_sibling(&DONE);
    expect_contained_panics(1);
    let detached = host.spawn(async {
        GO.wait_async().await;
        Bomb(&DROPS)
    });
    drop(detached); // before the task ends: its output is dropped by the executor
    GO.set();
    while DROPS.load(Ordering::SeqCst) == 0 {
        thread::yield_now();
    }
    DONE.set();
    assert_eq!(executor::block_on(sibling), Ok(7), "the executor stopped");
    host.stop();
}

/// A waker whose `wake` panics.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a waker panicked");
    }
}

fn a_panicking_waker_of_a_task_handle_is_contained() {
    static GO: Event = Event::new();
    static DONE: Event = Event::new();
    let (host, sibling) = executor_with_sibling(&DONE);
    expect_contained_panics(1);
    let mut task = pin!(host.spawn(async {
        GO.wait_async().await;
        1
    }));
    // The handle's waker is the panicking one; the task finishes and wakes it.
    let waker = Waker::from(Arc::new(PanickingWaker));
    let mut context = Context::from_waker(&waker);
    assert!(task.as_mut().poll(&mut context).is_pending());
    let contained = thread::contained_panics();
    GO.set();
    // Not polled again until the waker went off: a new poll would register another.
    while thread::contained_panics() == contained {
        thread::yield_now();
    }
    let result = executor::block_on(task);
    assert_eq!(result, Ok(1));
    DONE.set();
    assert_eq!(executor::block_on(sibling), Ok(7), "the executor stopped");
    host.stop();
}

fn a_detached_threads_result_whose_destructor_panics_is_contained() {
    static DROPS: AtomicU32 = AtomicU32::new(0);
    static GO: Event = Event::new();
    expect_contained_panics(1);
    let thread = thread::spawn(|| {
        GO.wait();
        Bomb(&DROPS)
    });
    let waiter = thread.thread().clone();
    drop(thread); // detached: nobody will take its result
    GO.set();
    while !waiter.has_exited() {
        thread::yield_now();
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}

fn spawn_blocking_reports_its_closures_panic() {
    expect_contained_panics(1);
    let blocking = executor::spawn_blocking(|| -> u32 { panic!("the blocking closure gave up") });
    match executor::block_on(blocking) {
        Err(JoinError::Panicked(report)) => {
            assert!(report.message().contains("gave up"), "{report}");
        }
        other => panic!("spawn_blocking said {other:?}"),
    }
}
