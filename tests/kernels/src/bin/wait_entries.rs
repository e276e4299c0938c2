//! Regression tests for wait-queue wake-ups lost when an async waiter is cancelled (bug 1
//! of the hostile review), and guards for the wake-passing rules around them.
//!
//! The bug: every future polled by one task registers the same `Waker` on a wait queue,
//! and the queue keeps one entry per distinct waker. When one of two such futures is
//! dropped (cancelled), its `Drop` takes *the* entry off the queue, so the future that is
//! still waiting is no longer registered anywhere: the wake-up it needs never comes.
//!
//! The first three cases poll futures by hand with a counting waker, so what they check
//! is exact (the waker is woken once the value or the event is there) and nothing
//! depends on timing. The next two are the scenario as written, on an executor
//! task; a lost wake-up leaves the task pending forever and the kernel times out. The
//! last two cases are guards (they pass today): a wake taken by a cancelled waiter is
//! passed on, and `wake_one` serves a queue of mixed thread and task waiters.
//@ timeout: 60
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{boxed::Box, sync::Arc, task::Wake, vec::Vec};
use core::{
    future::Future,
    pin::pin,
    sync::atomic::{AtomicUsize, Ordering},
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures_util::future::join;
use spindle::{
    executor::{self, Elapsed, ExecutorThread},
    sync::{Event, channel},
    thread::{self, JoinHandle, ThreadState},
};

spindle_test::test_kernel!(
    a_cancelled_recv_future_leaves_its_sibling_registered,
    a_cancelled_event_wait_leaves_its_sibling_registered,
    a_cancelled_send_future_leaves_its_sibling_registered,
    a_task_joining_a_recv_and_a_timed_out_recv_receives_a_later_value,
    a_task_joining_two_event_waits_one_timed_out_sees_the_event_set,
    a_wake_taken_by_a_dropped_task_future_passes_to_a_blocked_thread,
    wake_one_serves_mixed_thread_and_task_receivers_one_value_each,
    a_set_then_reset_event_still_releases_its_waiters,
);

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(Self::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

/// Yields until every thread in `handles` is blocked (in whatever it waits for).
fn wait_until_blocked<T>(handles: &[JoinHandle<T>]) {
    while handles
        .iter()
        .any(|handle| handle.thread().state() != ThreadState::Blocked)
    {
        thread::yield_now();
    }
}

/// Bug 1, by hand: two `recv_async` futures polled with the same waker (as `join` does in
/// one task), the second dropped. A value sent afterwards must wake the first one's
/// waker, and the first future must then receive it.
fn a_cancelled_recv_future_leaves_its_sibling_registered() {
    let (tx, rx) = channel::bounded::<u32>(4);
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut first = pin!(rx.recv_async());
    let mut second = Box::pin(rx.recv_async());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    drop(second); // cancelled, as a timeout or a select would
    tx.try_send(7).unwrap();
    assert_eq!(
        counter.wakes(),
        1,
        "the value sent did not wake the recv future that is still waiting"
    );
    assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
}

/// The same with two `Event::wait_async` futures: setting the event must wake the one
/// that is still waiting.
fn a_cancelled_event_wait_leaves_its_sibling_registered() {
    let event = Event::new();
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut first = pin!(event.wait_async());
    let mut second = Box::pin(event.wait_async());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    drop(second);
    event.set();
    assert_eq!(
        counter.wakes(),
        1,
        "setting the event did not wake the wait that is still pending"
    );
    assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(()));
}

/// The same on the senders' side: two `send_async` futures blocked on a full channel, one
/// dropped; making room must wake the other, which then sends.
fn a_cancelled_send_future_leaves_its_sibling_registered() {
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.try_send(1).unwrap(); // full
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut first = pin!(tx.send_async(2));
    let mut second = Box::pin(tx.send_async(3));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    drop(second);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(
        counter.wakes(),
        1,
        "making room did not wake the send future that is still waiting"
    );
    assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

/// Bug 1 as reported: `join(rx.recv_async(), timeout(1 ms, rx.recv_async()))` in one task,
/// a value sent 50 ms after the timeout fired. The first future must receive it.
fn a_task_joining_a_recv_and_a_timed_out_recv_receives_a_later_value() {
    static TIMED_OUT: Event = Event::new();
    let host = ExecutorThread::start("join-recv", 4).unwrap();
    let (tx, rx) = channel::bounded::<u32>(4);
    let joined = host.spawner().spawn(async move {
        join(rx.recv_async(), async {
            let second = executor::timeout(Duration::from_millis(1), rx.recv_async()).await;
            TIMED_OUT.set(); // the timed-out future is gone by now
            second
        })
        .await
    });
    TIMED_OUT.wait();
    thread::sleep(Duration::from_millis(50));
    tx.send(42).unwrap();
    assert_eq!(executor::block_on(joined), Ok((Ok(42), Err(Elapsed))));
    drop(tx); // only now: a disconnect would wake the receiver by itself
    host.stop();
}

/// Bug 1 with events: `join(event.wait_async(), timeout(1 ms, event.wait_async()))`, the
/// event set 50 ms after the timeout fired. The first wait must complete.
fn a_task_joining_two_event_waits_one_timed_out_sees_the_event_set() {
    static EVENT: Event = Event::new();
    static TIMED_OUT: Event = Event::new();
    let host = ExecutorThread::start("join-event", 4).unwrap();
    let joined = host.spawner().spawn(async {
        join(EVENT.wait_async(), async {
            let second = executor::timeout(Duration::from_millis(1), EVENT.wait_async()).await;
            TIMED_OUT.set();
            second
        })
        .await
    });
    TIMED_OUT.wait();
    thread::sleep(Duration::from_millis(50));
    EVENT.set();
    assert_eq!(executor::block_on(joined), Ok(((), Err(Elapsed))));
    host.stop();
}

/// Guard (hostile variation): a task's recv future is first in line, a thread blocked in
/// `recv` second. A send's `wake_one` picks the task; the future is then dropped without
/// being polled again. The wake must pass on: the thread receives the value.
fn a_wake_taken_by_a_dropped_task_future_passes_to_a_blocked_thread() {
    let (tx, rx) = channel::bounded::<u32>(1);
    let thread_rx = rx.clone();
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut future = Box::pin(rx.recv_async());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    let receiver = thread::spawn(move || thread_rx.recv());
    wait_until_blocked(core::slice::from_ref(&receiver));
    tx.try_send(5).unwrap();
    assert_eq!(counter.wakes(), 1, "the first waiter in line is the task");
    drop(future); // woken, never polled: its wake-up belongs to the next waiter
    assert_eq!(receiver.join(), Ok(5));
    assert_eq!(rx.try_recv(), Err(channel::TryRecvError::Empty));
}

/// Guard (hostile variation): two tasks and two threads wait on one channel, queued
/// task, thread, task, thread. Four values sent one by one with `try_send` (one
/// `wake_one` each) reach all four receivers, each exactly one value.
fn wake_one_serves_mixed_thread_and_task_receivers_one_value_each() {
    let host = ExecutorThread::start("mixed", 4).unwrap();
    let (tx, rx) = channel::bounded::<u32>(4);
    let mut tasks = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..2 {
        let task_rx = rx.clone();
        let polled = Arc::new(Event::new());
        let signal = Arc::clone(&polled);
        tasks.push(host.spawner().spawn(async move {
            let mut receive = pin!(task_rx.recv_async());
            // Poll once (registering), tell the test, then wait for the value.
            let first = core::future::poll_fn(|cx| Poll::Ready(receive.as_mut().poll(cx))).await;
            signal.set();
            match first {
                Poll::Ready(value) => value,
                Poll::Pending => receive.await,
            }
        }));
        polled.wait();
        let thread_rx = rx.clone();
        threads.push(thread::spawn(move || thread_rx.recv()));
        wait_until_blocked(&threads);
    }
    for value in 0..4 {
        tx.try_send(value).unwrap();
    }
    let mut received: Vec<u32> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .chain(
            tasks
                .into_iter()
                .map(|task| executor::block_on(task).unwrap().unwrap()),
        )
        .collect();
    received.sort_unstable();
    assert_eq!(received, [0, 1, 2, 3]);
    host.stop();
}

/// `Event::set` releases every thread waiting at that moment even if `reset` follows at
/// once (a waiter must not wake, find the flag cleared and sleep again).
fn a_set_then_reset_event_still_releases_its_waiters() {
    const WAITERS: usize = 8;
    static EVENT: Event = Event::new();
    let waiters: Vec<JoinHandle<()>> = (0..WAITERS)
        .map(|_| thread::spawn(|| EVENT.wait()))
        .collect();
    while waiters
        .iter()
        .any(|waiter| waiter.thread().state() != ThreadState::Blocked)
    {
        thread::yield_now();
    }
    EVENT.set();
    EVENT.reset();
    waiters.into_iter().for_each(JoinHandle::join);
    assert!(!EVENT.is_set());
}
