//! How a socket call runs: under the stack's lock, and waiting *without* it.
//!
//! A call is an attempt on the locked stack that either finishes or registers the
//! calling task's waker with smoltcp (a socket's receive or send waker) and says
//! `Pending`. The lock is released before the task sleeps: the stack's own task needs
//! it to poll the interface, which is what moves data into the socket and wakes the
//! waker. Woken, the call takes the lock again and attempts again.
//!
//! No wake-up is lost: the waker is registered while the lock is held, and smoltcp
//! changes a socket (and wakes its wakers) only inside `Interface::poll`, under the same
//! lock, so a change either came before the attempt looked (and the attempt saw it) or
//! comes after the registration (and wakes the task). The lock's acquire and release
//! order the socket's state between the two sides.

use core::{
    future::poll_fn,
    task::{Context, Poll},
};

use super::stack::{Shared, Stack};

/// Runs `attempt` on the locked stack until it is ready (see the module docs). If an
/// attempt gave the stack work to do (`Stack::poke`), the stack's task is told after
/// the lock is released.
pub(super) async fn with_stack<T>(
    shared: &'static Shared,
    mut attempt: impl FnMut(&mut Stack, &mut Context<'_>) -> Poll<T>,
) -> T {
    loop {
        let mut guard = Some(shared.stack.lock_async().await);
        let outcome = poll_fn(|cx| {
            // The first poll attempts (and drops the lock, ready or not); a later one
            // means the registered waker fired: go round and attempt again.
            let Some(mut stack) = guard.take() else {
                return Poll::Ready(None);
            };
            let outcome = attempt(&mut stack, cx);
            let poke = stack.take_poke();
            drop(stack);
            if poke {
                shared.work.set();
            }
            outcome.map(Some)
        })
        .await;
        if let Some(value) = outcome {
            return value;
        }
    }
}
