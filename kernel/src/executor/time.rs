//! Async time: [`sleep`], [`timeout`] and [`interval`], on the same per-CPU timer queue
//! that wakes sleeping threads (the tick wakes the task's waker instead of a thread).

use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures_util::Stream;

use crate::{
    task::{self, TimerRegistration},
    time::{self, Instant},
};

/// Completes at its deadline (never before). Dropping it cancels the timer.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    registered: Option<(TimerRegistration, Waker)>,
}

/// A future that completes `duration` from now.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(time::now() + duration)
}

/// A future that completes when the monotonic clock reaches `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registered: None,
    }
}

impl Sleep {
    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    fn cancel(&mut self) {
        if let Some((registration, _)) = self.registered.take() {
            task::cancel_timer(registration);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if time::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let stale = match &self.registered {
            Some((_, waker)) => !waker.will_wake(cx.waker()),
            None => true,
        };
        if stale {
            self.cancel();
            let registration = task::register_timer(self.deadline, cx.waker().clone());
            self.registered = Some((registration, cx.waker().clone()));
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// [`timeout`] ran out before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (and the future is
/// dropped) if the time ran out first.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// The future returned by [`timeout`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (future, sleep) = project(self);
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(sleep).poll(cx).map(|()| Err(Elapsed))
    }
}

fn project<F>(timeout: Pin<&mut Timeout<F>>) -> (Pin<&mut F>, &mut Sleep) {
    // SAFETY: `future` is never moved out of a pinned `Timeout` (no method hands it out
    // by value and `Timeout` has no `Drop` that moves it); `sleep` is `Unpin`.
    unsafe {
        let timeout = timeout.get_unchecked_mut();
        (Pin::new_unchecked(&mut timeout.future), &mut timeout.sleep)
    }
}

/// Ticks every `period`, the first tick one period from now; a late tick does not shift
/// the ones after it (they stay on the original grid).
pub fn interval(period: Duration) -> Interval {
    Interval {
        period,
        next: time::now() + period,
        sleep: None,
    }
}

/// The stream returned by [`interval`]; also usable as `interval.tick().await`.
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Option<Sleep>,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        core::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let next = self.next;
        let sleep = self.sleep.get_or_insert_with(|| sleep_until(next));
        match Pin::new(sleep).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.sleep = None;
                self.next = next + self.period;
                Poll::Ready(next)
            }
        }
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
