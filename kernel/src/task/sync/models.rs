//! Models of the synchronisation primitives' handshakes, run under the model checker
//! (`--features model`; see `atomics` and `testing::model`). Each drives the real type
//! from model threads through its async half (a task's wait is the same condition and
//! the same wait queue as a thread's; a thread's blocking itself is the scheduler's and
//! is modelled in `thread::models`). The checker runs every ordering as `SeqCst`.

use alloc::{boxed::Box, sync::Arc};
use core::{future::Future, task::Context};

use shuttle::{future::block_on, thread};

use super::Event;
use crate::testing::{counting_waker, model::check_pct};

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
        2_000,
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
        1_000,
        3,
    );
}
