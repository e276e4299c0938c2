//! Async time: [`sleep`], [`timeout`] and [`interval`], on the same per-CPU timer wheel
//! that wakes sleeping threads (the tick wakes the task's waker instead of a thread).
//!
//! Each future carries its own timer node (a pinned [`Timer`]), so waiting never
//! allocates and dropping the future withdraws the timer.

use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures_util::Stream;
use pin_project_lite::pin_project;

use crate::{
    thread::Timer,
    time::{self, Instant},
};

pin_project! {
    /// Completes at its deadline (never before). Dropping it withdraws the timer.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Sleep {
        deadline: Instant,
        #[pin]
        timer: Timer,
    }
}

/// A future that completes `duration` from now: a task's sleep (a thread calls
/// [`thread::sleep`](crate::thread::sleep) instead).
///
/// ```no_run
/// # use core::time::Duration;
/// # use spindle::executor;
/// # async fn example() {
/// executor::sleep(Duration::from_millis(10)).await; // other tasks run meanwhile
/// # }
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(time::now() + duration)
}

/// A future that completes when the monotonic clock reaches `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: Timer::new(),
    }
}

impl Sleep {
    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let timer = this.timer.into_ref();
        if time::now() >= *this.deadline {
            timer.disarm();
            return Poll::Ready(());
        }
        timer.arm(*this.deadline, cx.waker());
        Poll::Pending
    }
}

/// [`timeout`] ran out before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (and the future is
/// dropped) if the time ran out first.
///
/// ```no_run
/// # use core::time::Duration;
/// # use spindle::{executor, sync::channel};
/// # async fn example(values: channel::Receiver<u32>) {
/// match executor::timeout(Duration::from_millis(50), values.recv_async()).await {
///     Ok(Ok(value)) => { /* got one in time */ }
///     Ok(Err(_closed)) => { /* every sender is gone */ }
///     Err(executor::Elapsed) => { /* nothing within 50 ms: the receive was cancelled */ }
/// }
/// # }
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

pin_project! {
    /// The future returned by [`timeout`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        this.sleep.poll(cx).map(|()| Err(Elapsed))
    }
}

/// Ticks every `period`, the first tick one period from now; a late tick does not shift
/// the ones after it (they stay on the original grid).
///
/// ```no_run
/// # use core::time::Duration;
/// # use spindle::executor;
/// # async fn example() {
/// let mut ticks = executor::interval(Duration::from_millis(100));
/// for _ in 0..3 {
///     ticks.tick().await;
/// }
/// # }
/// ```
pub fn interval(period: Duration) -> Interval {
    let next = time::now() + period;
    Interval {
        period,
        next,
        sleep: sleep_until(next),
    }
}

pin_project! {
    /// Ticks on a fixed grid: `interval.tick().await`, or as a [`Stream`] (pin it first,
    /// for instance with `core::pin::pin!`, to call `StreamExt::next`).
    #[derive(Debug)]
    pub struct Interval {
        period: Duration,
        next: Instant,
        // The stream's own timer; `tick` makes a fresh one per call instead, so that it
        // needs no pinning.
        #[pin]
        sleep: Sleep,
    }
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant. Dropping the future
    /// before it completes consumes no tick.
    pub async fn tick(&mut self) -> Instant {
        let due = self.next;
        sleep_until(due).await;
        self.next = due + self.period;
        due
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let mut this = self.project();
        let due = *this.next;
        if this.sleep.deadline() != due {
            this.sleep.set(sleep_until(due));
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                *this.next = due + *this.period;
                Poll::Ready(Some(due))
            }
        }
    }
}
