//! Running a future on a plain thread, and yielding inside a task.

use core::{
    future::Future,
    pin::{Pin, pin},
    task::{Context, Poll, Waker},
};

use crate::thread;

/// Runs `future` to completion on the calling thread, parking the thread while the
/// future is pending (other threads run meanwhile). Works on any kernel thread, with or
/// without an executor; its waker unparks the thread, from anywhere.
///
/// ```no_run
/// # use spindle::executor;
/// let value = executor::block_on(async { 7 });
/// assert_eq!(value, 7);
/// ```
///
/// # Panics
/// In debug builds, if called from inside an async task and the future has to wait (the
/// task's executor would stall): `.await` the future there instead.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    // The thread itself is the waker (waking it unparks it): nothing is allocated, so
    // this works with a full heap too.
    let waker = Waker::from(thread::current());
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // Returns at once if a wake came during the poll (the park token), and may
        // return spuriously: either way the future is simply polled again.
        thread::park_named("executor::block_on", "`.await` on the future");
    }
}

/// Lets the executor run other ready tasks before this one continues. (A thread calls
/// [`thread::yield_now`] instead.)
///
/// ```no_run
/// # use spindle::executor;
/// # async fn example() {
/// for chunk in 0..100 {
///     let _ = chunk; // some work ...
///     executor::yield_now().await; // ... then let the other tasks have a turn
/// }
/// # }
/// ```
pub fn yield_now() -> impl Future<Output = ()> {
    YieldNow { yielded: false }
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
