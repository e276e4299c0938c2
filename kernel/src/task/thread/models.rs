//! Models of the thread layer's handshakes, run under the model checker
//! (`--features model`; see `atomics` and `testing::model`): park/unpark on the real
//! `RunState`, the wait queue's register / cancel / wake on the real `WaitQueue` and
//! `AsyncWaiter`, the join slot of a real `Thread` (its exit flag and joiners), and an
//! idle CPU's poll and halt against a remote kick on the real `Wakeup`.
//!
//! What runs here is the portable half of each. Blocking a kernel thread is the
//! scheduler's (`schedule` on a CPU's run queue), which the park model reduces to what it
//! does with the state word (see [`Parker`]); the blocking `WaitQueue::wait_until` is the
//! same lock-ordered condition check as the async waiter's, with the thread's state word
//! in place of the waker, and is not run here.

use alloc::{boxed::Box, sync::Arc};
use core::{future::Future, task::Context};

use shuttle::{future::block_on, thread};

use super::{
    AsyncWaiter, CpuSet, Priority, Thread, ThreadState, WaitQueue,
    control_block::ThreadParams,
    run_state::{Park, RunState},
    wakeup::Wakeup,
};
use crate::{
    arch::IrqSpinLock,
    atomics::{AtomicBool, AtomicUsize, Ordering},
    testing::{
        counting_waker,
        model::{Signal, check_pct},
    },
};

/// A thread's state word as `park::park_named`, `Thread::unpark` and the scheduler use
/// it: the real `RunState`; what the scheduler does around it is written out here (the
/// transitions of `schedule(Block)`, `scheduler::wake` and picking the thread again),
/// with a model thread's own park standing for "switched out".
struct Parker {
    state: RunState,
    /// The model thread that plays this kernel thread.
    runs_on: thread::Thread,
}

impl Parker {
    fn current() -> Self {
        Self {
            state: RunState::new(ThreadState::Running),
            runs_on: thread::current(),
        }
    }

    /// `park::park_named`: a token, or block through the scheduler.
    fn park(&self) {
        if self.state.begin_park() == Park::TokenTaken {
            return;
        }
        // `schedule(Reason::Block)`: Blocking -> Blocked, unless a wake got there first.
        if self
            .state
            .transition(ThreadState::Blocking, ThreadState::Blocked)
        {
            // Switched out until a wake made it Ready; then picked: Ready -> Running.
            while self.state.get() != ThreadState::Ready {
                thread::park();
            }
            self.state.advance(ThreadState::Ready, ThreadState::Running);
        }
        self.state.take_token();
    }

    /// `Thread::unpark` (`scheduler::unpark`): one read-modify-write sets the token and
    /// cancels a block in progress or makes a blocked thread `Ready`, which the unparker
    /// then queues.
    fn unpark(&self) {
        if self.state.unpark_and_wake() == ThreadState::Blocked {
            self.runs_on.unpark(); // queued on a run queue
        }
    }
}

/// park/unpark: a thread parks in a loop until its condition holds; two others each meet
/// a part of it and unpark it. A wake-up lost between the parker's decision and its
/// block leaves it switched out for good (a deadlock the checker reports). Covers the
/// token (an unpark before the park), Blocking -> Running (a wake before the block) and
/// Blocked -> Ready.
#[test]
fn park_unpark_never_loses_a_wake_up() {
    check_pct(
        || {
            let parker = Arc::new(Parker::current());
            let done = Arc::new(AtomicUsize::new(0));
            let unparkers: [_; 2] = core::array::from_fn(|_| {
                let (parker, done) = (Arc::clone(&parker), Arc::clone(&done));
                thread::spawn(move || {
                    done.fetch_add(1, Ordering::Release);
                    parker.unpark();
                })
            });
            while done.load(Ordering::Acquire) < 2 {
                parker.park();
            }
            unparkers
                .into_iter()
                .for_each(|unparker| unparker.join().expect("an unparker"));
        },
        20_000,
        6,
    );
}

/// An idle CPU polling, then halting, against another CPU queueing a thread there and
/// kicking it (`idle::idle_loop` and `Cpu::kick` on the real `Wakeup`): the queue is a
/// flag, the halt (`sti; hlt`) waits for the IPI, which stays pending if it comes first.
/// A kick that skipped its IPI for a CPU that then halted leaves the idle CPU halted
/// for good: a deadlock the checker reports. The window is a few polls, so every
/// interleaving of the kick with the poll's start, its checks and its end is explored.
#[test]
fn an_idle_cpu_never_halts_through_a_kick_that_skipped_its_ipi() {
    check_pct(
        || {
            let wakeup = Arc::new(Wakeup::new());
            let queued = Arc::new(AtomicBool::new(false));
            let ipi = Signal::new();
            let waker = {
                let (wakeup, queued, ipi) =
                    (Arc::clone(&wakeup), Arc::clone(&queued), Arc::clone(&ipi));
                thread::spawn(move || {
                    queued.store(true, Ordering::SeqCst); // under the queue's lock
                    if wakeup.request_remote() {
                        ipi.set();
                    }
                })
            };
            loop {
                wakeup.clear();
                if queued.load(Ordering::SeqCst) {
                    break; // the loop's top takes the work
                }
                wakeup.start_polling();
                for _ in 0..3 {
                    if wakeup.requested() {
                        break;
                    }
                    thread::yield_now();
                }
                if wakeup.stop_polling() {
                    continue;
                }
                block_on(ipi.wait()); // halted until the IPI
            }
            waker.join().expect("the waker");
        },
        20_000,
        4,
    );
}

/// The wait queue's register / cancel / wake: a task waits for a flag on a queue; another
/// registers a wait on the same queue and cancels it (twice, so it is queued behind,
/// notified or idle when dropped); a third sets the flag and wakes everyone. The first
/// must complete, the queue must end empty (no entry left linked after its future went),
/// and nothing may touch a freed entry (the entries live inside the futures).
#[test]
fn wait_queue_register_cancel_wake_all() {
    check_pct(
        || {
            let queue: &'static WaitQueue = Box::leak(Box::new(WaitQueue::new()));
            let flag = Arc::new(AtomicBool::new(false));
            let canceller = thread::spawn(move || {
                let (_, waker) = counting_waker();
                for _ in 0..2 {
                    let mut wait = Box::pin(AsyncWaiter::new(queue));
                    let _ = wait
                        .as_mut()
                        .poll_until(&mut Context::from_waker(&waker), || None::<()>);
                    drop(wait); // cancelled: withdraws its entry
                }
            });
            let waker = {
                let flag = Arc::clone(&flag);
                thread::spawn(move || {
                    flag.store(true, Ordering::Release);
                    queue.wake_all();
                })
            };
            let mut wait = Box::pin(AsyncWaiter::new(queue));
            block_on(core::future::poll_fn(|cx| {
                wait.as_mut()
                    .poll_until(cx, || flag.load(Ordering::Acquire).then_some(()))
            }));
            drop(wait);
            canceller.join().expect("the canceller");
            waker.join().expect("the waker");
            assert!(queue.is_empty(), "an entry outlived its future");
        },
        20_000,
        6,
    );
}

/// The join slot of a thread: the thread stores its result and is reaped (`set_exited`:
/// the exit flag, then every joiner woken), against a task awaiting its exit and taking
/// the result, as `JoinHandle::join_async` does, and a second joiner that gives up after
/// one poll. The result is there once the exit is seen; no joiner is stranded.
#[test]
fn thread_join_slot_hands_over_the_result() {
    check_pct(
        || {
            let result = Arc::new(IrqSpinLock::new(None::<u32>));
            let thread = running_thread(Arc::clone(&result) as Arc<dyn Send + Sync>);
            let exiting = {
                let (thread, result) = (Arc::clone(&thread), Arc::clone(&result));
                thread::spawn(move || {
                    *result.lock() = Some(42); // `thread_entry`
                    thread.set_exited(); // reaped
                })
            };
            let impatient = {
                let thread = Arc::clone(&thread);
                thread::spawn(move || {
                    let (_, waker) = counting_waker();
                    let mut exited = Box::pin(thread.exited());
                    let polled = exited.as_mut().poll(&mut Context::from_waker(&waker));
                    polled.is_ready()
                })
            };
            block_on(thread.exited());
            assert_eq!(result.lock().take(), Some(42), "exited before its result");
            let saw_exit = impatient.join().expect("the impatient joiner");
            assert!(!saw_exit || thread.has_exited());
            exiting.join().expect("the exiting thread");
        },
        20_000,
        6,
    );
}

/// A reaped thread's reference handed over (`reaping`): the reaper's `wake_joiners` (it
/// lets go of its reference, sets the exit flag, wakes the joiners) against a joiner that
/// awaits the exit and drops its handle, as `JoinHandle::join_async` does. Once the
/// handle's drop has waited, its reference is the only one left: the thread's memory goes
/// with it, in the joiner, never later on the reaping CPU.
#[test]
fn thread_reaping_lets_the_handle_go_last() {
    check_pct(
        || {
            let thread = running_thread(Arc::new(()));
            let reaper = reap(&thread);
            block_on(thread.exited());
            thread.reaping.handle_gone(); // `JoinHandle`'s drop
            assert_eq!(
                Arc::strong_count(&thread),
                1,
                "the reaper still holds the thread"
            );
            reaper.join().expect("the reaper");
        },
        20_000,
        6,
    );
}

/// A handle dropped while its thread is being reaped (detached: nobody joins): neither
/// side waits for the other forever, and the reaper keeps its reference when the handle
/// went first.
#[test]
fn thread_reaping_of_a_detached_thread_waits_for_nobody() {
    check_pct(
        || {
            let thread = running_thread(Arc::new(()));
            let reaper = reap(&thread);
            thread.reaping.handle_gone();
            drop(thread);
            reaper.join().expect("the reaper");
        },
        20_000,
        6,
    );
}

/// The reaper's side on a model thread of its own: `scheduler::wake_joiners`, with a
/// reference of its own.
fn reap(thread: &Arc<Thread>) -> thread::JoinHandle<()> {
    let zombie = Arc::clone(thread);
    thread::spawn(move || super::scheduler::wake_joiners(zombie))
}

/// A thread's control block as `Builder::spawn` makes it, with a join handle whose result
/// goes to `result_slot` (running, no stack).
fn running_thread(result_slot: Arc<dyn Send + Sync>) -> Arc<Thread> {
    Thread::new(ThreadParams {
        name: None,
        priority: Priority::NORMAL,
        stack: None,
        fpu: false,
        is_idle: false,
        affinity: CpuSet::single(0),
        state: ThreadState::Running,
        result_slot: Some(result_slot),
    })
    .expect("a control block")
}
