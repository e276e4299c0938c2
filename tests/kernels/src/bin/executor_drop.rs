//! Regression tests for spawning onto an executor that was dropped (bug 6 of the hostile
//! review), and guards for what dropping an executor does to its tasks.
//!
//! The bug: a `Spawner` outlives its `Executor`; spawning through it after the executor
//! was dropped returns `Ok`, queues the task where no executor will ever look, and the
//! `JoinHandle` never resolves. It must be an error. (The kernel will likely gain a
//! `SpawnError::Closed`; today the test can only ask for `is_err()`.)
//@ timeout: 60
#![no_std]
#![no_main]

extern crate alloc;

use core::{
    future::pending,
    sync::atomic::{AtomicUsize, Ordering},
};

use spindle::{
    executor::{self, Executor, Spawner, TaskError},
    sync::{channel, oneshot},
    thread::{self, ThreadState},
};

spindle_test::test_kernel!(
    spawning_onto_a_dropped_executor_is_an_error,
    a_task_pending_when_its_executor_is_dropped_is_cancelled,
    a_value_sent_after_the_executor_dropped_its_receiver_task_is_not_lost,
);

/// Counts drops of the futures it is moved into.
struct DropCounter(&'static AtomicUsize);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A spawner of an executor that a thread created, ran and dropped.
fn spawner_of_a_dropped_executor() -> Spawner {
    let (sender, receiver) = oneshot::channel();
    let host = thread::spawn(move || {
        let executor = Executor::new("dropped", 4);
        sender.send(executor.spawner()).unwrap();
        drop(executor);
    });
    let spawner = receiver.recv().unwrap();
    host.join();
    spawner
}

/// Bug 6: the spawn must fail, and the future must not be kept anywhere (it is dropped
/// by the time the spawner is gone).
fn spawning_onto_a_dropped_executor_is_an_error() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let spawner = spawner_of_a_dropped_executor();
    let counter = DropCounter(&DROPS);
    let result = spawner.try_spawn(async move {
        let _counter = counter;
        1
    });
    assert!(
        result.is_err(),
        "spawning onto a dropped executor returned Ok (a handle that never resolves)"
    );
    drop(spawner);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "the refused future was kept"
    );
}

/// Guard: a task that is pending when its executor is dropped resolves its handle as
/// `Err(TaskError::Cancelled)` for a thread awaiting it with `executor::block_on` (already parked
/// in it when the executor goes), and its future is dropped.
fn a_task_pending_when_its_executor_is_dropped_is_cancelled() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let awaiter = thread::current();
    let (sender, receiver) = oneshot::channel();
    let host = thread::spawn(move || {
        let executor = Executor::new("doomed", 4);
        let counter = DropCounter(&DROPS);
        let handle = executor.spawn(async move {
            let _counter = counter;
            pending::<u32>().await
        });
        assert_eq!(executor.run_until_stalled(), 1, "the task was polled once");
        sender.send(handle).unwrap();
        while awaiter.state() != ThreadState::Blocked {
            thread::yield_now(); // until the awaiter is parked in block_on
        }
        drop(executor);
    });
    let handle = receiver.recv().unwrap();
    assert_eq!(executor::block_on(handle), Err(TaskError::Cancelled));
    host.join();
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}

/// Guard (hostile variation): a task awaiting `recv_async` is dropped with its executor;
/// its registration must go with it, so a value sent afterwards stays in the channel for
/// another receiver.
fn a_value_sent_after_the_executor_dropped_its_receiver_task_is_not_lost() {
    let (tx, rx) = channel::bounded::<u32>(1);
    let task_rx = rx.clone();
    let host = thread::spawn(move || {
        let executor = Executor::new("receiver", 4);
        let handle = executor.spawn(async move { task_rx.recv_async().await });
        assert_eq!(executor.run_until_stalled(), 1);
        drop(executor);
        handle
    });
    let handle = host.join();
    assert_eq!(executor::block_on(handle), Err(TaskError::Cancelled));
    tx.send(9).unwrap();
    assert_eq!(rx.recv(), Ok(9));
}
