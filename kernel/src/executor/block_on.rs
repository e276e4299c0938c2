//! Running a future on a plain thread, and yielding inside a task.

use alloc::{sync::Arc, task::Wake};
use core::{
    future::Future,
    pin::{Pin, pin},
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll, Waker},
};

use crate::task::{self, Thread};

/// Runs `future` to completion on the calling thread, parking the thread while the
/// future is pending (other threads run meanwhile). Works on any kernel thread, with or
/// without an executor; its waker unparks the thread, from anywhere.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Arc::new(ThreadWaker {
        thread: task::current(),
        woken: AtomicBool::new(true),
    });
    let std_waker = Waker::from(Arc::clone(&waker));
    let mut context = Context::from_waker(&std_waker);
    loop {
        if waker.woken.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        } else {
            task::park();
        }
    }
}

struct ThreadWaker {
    thread: Arc<Thread>,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Lets the executor run other ready tasks before this one continues.
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
