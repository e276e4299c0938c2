//! Models of the executor's handshakes, run under the model checker (`--features model`;
//! see `atomics` and `testing::model`): the real `Executor`, hosted by a model thread
//! whose `Host` parks and unparks it, its tasks' one heap block (`cell`: the join state,
//! the stage, the join waker), their `queued` flag and wakes (`task`), the ready queue's
//! sleep/notify handshake and the spawn inbox. The model host is the local context of
//! its executor (`Host::runs_here`), so wakes made by its tasks take the local ready
//! list, as in the kernel. Handles are awaited on other model
//! threads with `shuttle::future::block_on`.
//!
//! Not covered: `crossbeam`'s `ArrayQueue` (each push and pop is one step of the model)
//! and `futures-util`'s `AtomicWaker` (likewise), the kernel's `ThreadHost` (park/unpark
//! is `thread::models`), weak-memory effects (the `queued` and sleep handshakes have
//! their litmus tests in `task` and `ready_queue`).

use alloc::sync::Arc;
use core::task::{Poll, Waker};

use shuttle::{future::block_on, sync::Mutex, thread};

use super::{Executor, Host, TaskError, TaskSpawnError, yield_now};
use crate::{
    atomics::{AtomicBool, AtomicUsize, Ordering},
    testing::model::{Signal, check_pct},
};

/// A model thread as an executor's host: waiting parks it, notifying unparks it.
struct ModelHost(thread::Thread);

impl ModelHost {
    fn current() -> Self {
        Self(thread::current())
    }
}

impl Host for ModelHost {
    fn wait(&self) {
        thread::park();
    }

    fn notify(&self) {
        self.0.unpark();
    }

    fn should_stop(&self) -> bool {
        false
    }

    /// A model thread has no interrupts: the host thread is the local context.
    fn runs_here(&self) -> bool {
        thread::current().id() == self.0.id()
    }
}

/// Runs `executor` on this thread until `done` is set.
fn run_until(executor: &Executor<ModelHost>, done: &Signal) {
    executor.block_on(done.wait());
}

/// Defect 5 of issue 18: a task's first poll against an abort on another thread. The
/// abort's compare-exchange and wake may fall anywhere in the poll's start (the load of
/// the join state, the clear of `queued`): the task must be cancelled and its handle
/// resolve, or the handle's `block_on` parks for good (a deadlock the checker reports).
#[test]
fn executor_abort_racing_the_first_poll_is_never_lost() {
    check_pct(
        || {
            let executor = Executor::with_host("model", 2, ModelHost::current());
            let task = executor.spawn(core::future::pending::<()>());
            let done = Signal::new();
            let aborter = {
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    task.abort();
                    assert_eq!(block_on(task), Err(TaskError::Cancelled));
                    done.set();
                })
            };
            run_until(&executor, &done);
            aborter.join().expect("the aborter");
        },
        20_000,
        3,
    );
}

/// A task that wakes itself during its poll (`yield_now`: `queued` set while it runs) and
/// then completes, against an abort and an await of its handle on another thread: the
/// handle yields the output or `Cancelled`, never hangs, and the output is dropped once,
/// whether the handle takes it or is dropped first. Covers poll / wake-during-poll /
/// complete (`DoneQueued` tombstones) / abort / `poll_join` against `finish`, and the
/// stage handed from the slot to the handle.
#[test]
fn executor_abort_racing_completion_yields_one_result() {
    check_pct(
        || {
            let output = Arc::new(());
            let executor = Executor::with_host("model", 1, ModelHost::current());
            let task = {
                let output = Arc::clone(&output);
                executor.spawn(async move {
                    yield_now().await;
                    output
                })
            };
            let done = Signal::new();
            let joiner = {
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    task.abort();
                    let result = block_on(task);
                    done.set();
                    result.map(drop)
                })
            };
            run_until(&executor, &done);
            let result = joiner.join().expect("the joiner");
            drop(executor);
            assert!(matches!(result, Ok(()) | Err(TaskError::Cancelled)));
            assert_eq!(Arc::strong_count(&output), 1, "the output leaked");
        },
        20_000,
        3,
    );
}

/// A task waiting for a condition that another thread meets and then wakes it, twice
/// (the second wake is late: during or after the task's last poll), on an executor of
/// capacity 1 that then runs a second task in the same slot; the handle is dropped
/// (detached) on another thread meanwhile. A late wake must not queue the slot a second
/// time (the ready queue of one place would overflow: a debug assertion) nor lose the
/// wake that ends the wait, and the detached task still runs to its end.
#[test]
fn executor_late_wakes_and_a_detached_handle() {
    check_pct(
        || {
            let executor = Executor::with_host("model", 1, ModelHost::current());
            let go = Arc::new(AtomicBool::new(false));
            let saved = Arc::new(Mutex::new(None::<Waker>));
            let done = Signal::new();
            let first = {
                let (go, saved, done) = (Arc::clone(&go), Arc::clone(&saved), Arc::clone(&done));
                executor.spawn(core::future::poll_fn(move |cx| {
                    if !go.load(Ordering::SeqCst) {
                        *saved.lock().expect("the waker slot") = Some(cx.waker().clone());
                        if !go.load(Ordering::SeqCst) {
                            return Poll::Pending;
                        }
                    }
                    done.set();
                    Poll::Ready(())
                }))
            };
            let waker = {
                let (go, saved) = (Arc::clone(&go), Arc::clone(&saved));
                thread::spawn(move || {
                    drop(first); // detached: runs on regardless
                    go.store(true, Ordering::SeqCst);
                    let waker = saved.lock().expect("the waker slot").take();
                    if let Some(waker) = waker {
                        waker.wake_by_ref();
                        waker.wake(); // late: coalesced, or a tombstone's index
                    }
                })
            };
            run_until(&executor, &done);
            // The slot is free once its last queued index is popped: a tombstone waits
            // for the push of a wake that marked it during its last poll.
            let second = loop {
                match executor.try_spawn(async { 2 }) {
                    Ok(handle) => break handle,
                    Err(TaskSpawnError::Full) => {
                        executor.run_until_stalled();
                        thread::yield_now();
                    }
                    Err(error) => panic!("spawning the second task: {error}"),
                }
            };
            assert_eq!(executor.block_on(second), Ok(2));
            waker.join().expect("the waker");
        },
        20_000,
        3,
    );
}

/// A full executor's task finishing, against a thread that awaits its handle and then
/// spawns in its place: once the handle has resolved, the capacity it held is free
/// (unless a wake during the task's last poll left a tombstone, which this task, woken by
/// nobody, cannot). The poll gives the place back before it publishes the output.
#[test]
fn executor_a_resolved_handle_leaves_room_to_spawn() {
    check_pct(
        || {
            let executor = Executor::with_host("model", 1, ModelHost::current());
            let spawner = executor.spawner();
            let first = executor.spawn(async { 1 });
            let done = Signal::new();
            let respawner = {
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    assert_eq!(block_on(first), Ok(1));
                    let second = spawner.try_spawn(async { 2 });
                    done.set();
                    second.map(drop)
                })
            };
            run_until(&executor, &done);
            let second = respawner.join().expect("the respawner");
            assert_eq!(second.err(), None, "the finished task still held its place");
        },
        20_000,
        3,
    );
}

/// A task's handle dropped while the task completes, with one of the task's wakers kept
/// alive elsewhere (as a timer or a wait queue may keep one): the output, which nobody
/// will take, is dropped once, by the executor or by the handle's drop, and never left
/// for whoever lets go of the task's block last (which may be an interrupt handler).
#[test]
fn executor_an_unclaimed_output_is_dropped_by_the_executor_or_the_handle() {
    check_pct(
        || {
            let output = Arc::new(());
            let kept_waker = Arc::new(Mutex::new(None::<Waker>));
            let executor = Executor::with_host("model", 1, ModelHost::current());
            let task = {
                let (output, kept_waker) = (Arc::clone(&output), Arc::clone(&kept_waker));
                let mut yielded = false;
                executor.spawn(core::future::poll_fn(move |cx| {
                    if !yielded {
                        yielded = true;
                        *kept_waker.lock().expect("the waker slot") = Some(cx.waker().clone());
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    Poll::Ready(Arc::clone(&output))
                }))
            };
            let done = Signal::new();
            let dropper = {
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    drop(task);
                    done.set();
                })
            };
            run_until(&executor, &done);
            executor.run_until_stalled();
            dropper.join().expect("the dropper");
            assert!(kept_waker.lock().expect("the waker slot").is_some());
            assert_eq!(
                Arc::strong_count(&output),
                1,
                "the unclaimed output was kept"
            );
        },
        20_000,
        3,
    );
}

/// A task woken at once by another task of its executor (a local wake: the host thread,
/// in a round of its run loop, so the local ready list) and by another thread (the
/// lock-free queue), while it registers its waker and checks its condition: the two
/// wakes coalesce through `queued` (the ready lists of two places would overflow, a debug
/// assertion, if both queued it) and the one that ends the wait is never lost, whichever
/// list carries it.
#[test]
fn executor_local_and_remote_wakes_of_one_task() {
    check_pct(
        || {
            let executor = Executor::with_host("model", 2, ModelHost::current());
            let count = Arc::new(AtomicUsize::new(0));
            let saved = Arc::new(Mutex::new(None::<Waker>));
            let signal = {
                let (count, saved) = (Arc::clone(&count), Arc::clone(&saved));
                move || {
                    count.fetch_add(1, Ordering::SeqCst);
                    let waker = saved.lock().expect("the waker slot").clone();
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
            };
            let waiter = {
                let (count, saved) = (Arc::clone(&count), Arc::clone(&saved));
                executor.spawn(core::future::poll_fn(move |cx| {
                    *saved.lock().expect("the waker slot") = Some(cx.waker().clone());
                    if count.load(Ordering::SeqCst) == 2 {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }))
            };
            let local = executor.spawn({
                let signal = signal.clone();
                async move {
                    yield_now().await; // a local wake of its own, too
                    signal();
                }
            });
            let remote = thread::spawn(signal);
            executor.block_on(async {
                assert_eq!(local.await, Ok(()));
                assert_eq!(waiter.await, Ok(()));
            });
            remote.join().expect("the remote waker");
        },
        20_000,
        3,
    );
}
