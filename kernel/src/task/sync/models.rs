//! Models of the synchronisation primitives' handshakes, run under the model checker
//! (`--features model`; see `atomics` and `testing::model`). Each drives the real type
//! from model threads through its async half (a task's wait is the same condition and
//! the same wait queue as a thread's; a thread's blocking itself is the scheduler's and
//! is modelled in `thread::models`). The checker runs every ordering as `SeqCst`.

use alloc::{boxed::Box, sync::Arc};
use core::{
    future::Future,
    task::{Context, Poll},
};

use shuttle::{future::block_on, thread};

use super::{Event, Semaphore, channel};
use crate::{
    atomics::{AtomicUsize, Ordering},
    testing::{counting_waker, model::check_pct},
};

/// `Event`: a `set` is one step that both sets the flag and bumps the generation. Covers
/// `set` against a waiter that sees it, resets the event and starts its next wait (which
/// must wait for the next `set`: defect 4 of issue 18), and a set-then-reset pulse
/// against a wait that began before it (which must be released). Not covered: the
/// blocking `wait` (the same `released` test, through the scheduler).
#[test]
fn event_set_releases_no_wait_that_began_after_it() {
    check_pct(
        || {
            let event = Arc::new(Event::new());
            let setter = {
                let event = Arc::clone(&event);
                thread::spawn(move || event.set())
            };
            block_on(event.wait_async()); // released by the set
            event.reset();
            // Began after this thread saw the set (and reset it): only a later set may
            // release it, and there is none.
            let mut next = Box::pin(event.wait_async());
            let (_, waker) = counting_waker();
            let mut context = Context::from_waker(&waker);
            let early = next.as_mut().poll(&mut context);
            setter.join().expect("the setter");
            let late = next.as_mut().poll(&mut context);
            assert!(
                early.is_pending() && late.is_pending(),
                "a wait that began after the set was released by it"
            );
        },
        20_000,
        3,
    );
}

/// `Event`: a `set` immediately followed by `reset` still releases every wait that began
/// before the `set` (the generation, not the flag, releases it).
#[test]
fn event_pulse_releases_a_wait_that_began_before_it() {
    check_pct(
        || {
            let event = Arc::new(Event::new());
            let wait = event.wait_async();
            let pulser = {
                let event = Arc::clone(&event);
                thread::spawn(move || {
                    event.set();
                    event.reset();
                })
            };
            block_on(wait); // a lost release deadlocks the model
            pulser.join().expect("the pulser");
        },
        10_000,
        3,
    );
}

/// `Semaphore`: one permit, two tasks taking it with `acquire_async` and giving it back,
/// and a third whose acquire is cancelled after one poll (it may be the one a release
/// woke: its drop must pass the wake on). Nobody holds the permit together with another,
/// no waiter is stranded (a deadlock), and the permit is back at the end. Covers the
/// count (`fetch_add`/`try_update`) against the wait queue's `wake_one` and an
/// `AsyncWaiter` dropped while notified. Not covered: the blocking `acquire`.
#[test]
fn semaphore_permits_and_a_cancelled_acquire() {
    check_pct(
        || {
            let semaphore = Arc::new(Semaphore::new(1));
            let holders = Arc::new(AtomicUsize::new(0));
            let takers: [_; 2] = core::array::from_fn(|_| {
                let (semaphore, holders) = (Arc::clone(&semaphore), Arc::clone(&holders));
                thread::spawn(move || {
                    let permit = block_on(semaphore.acquire_async());
                    assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    holders.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                })
            });
            let (_, waker) = counting_waker();
            let mut cancelled = Box::pin(semaphore.acquire_async());
            if let Poll::Ready(permit) = cancelled.as_mut().poll(&mut Context::from_waker(&waker)) {
                drop(permit);
            }
            drop(cancelled);
            takers
                .into_iter()
                .for_each(|taker| taker.join().expect("a taker"));
            assert_eq!(semaphore.available(), 1, "a permit was lost");
        },
        20_000,
        6,
    );
}

/// The bounded channel at capacity 1: a task sends three values (waiting for room) and
/// drops its sender; a task receives until the channel says it is disconnected; another
/// receiver's `recv_async` is polled once and cancelled (a value's wake may have gone to
/// it: its drop passes the wake on). The values arrive in order, none lost or doubled,
/// and the end is seen only after the last value. Covers `not_full`/`not_empty` with the
/// buffer lock, and the sender count against `wake_all` on the last drop. Not covered:
/// the blocking `send`/`recv`.
#[test]
fn channel_values_in_order_then_disconnected() {
    check_pct(
        || {
            let (sender, receiver) = channel::bounded::<u32>(1);
            let other = receiver.clone();
            let producer = thread::spawn(move || {
                for value in 0..3 {
                    block_on(sender.send_async(value)).expect("a receiver");
                }
            });
            let canceller = thread::spawn(move || {
                let (_, waker) = counting_waker();
                let mut recv = Box::pin(other.recv_async());
                let polled = recv.as_mut().poll(&mut Context::from_waker(&waker));
                drop(recv);
                match polled {
                    Poll::Ready(Ok(value)) => Some(value),
                    _ => None,
                }
            });
            let mut received = alloc::vec::Vec::new();
            while let Ok(value) = block_on(receiver.recv_async()) {
                received.push(value);
            }
            producer.join().expect("the producer");
            if let Some(value) = canceller.join().expect("the canceller") {
                received.push(value);
                received.sort_unstable();
            }
            assert_eq!(received, [0, 1, 2]);
        },
        20_000,
        6,
    );
}
