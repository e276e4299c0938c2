//! What the models share (host tests built with the `model` feature; see `atomics`): how
//! a model is run under the checker, and a one-shot signal between model threads.
//!
//! A model is a closure that builds the real kernel objects, starts model threads
//! (`shuttle::thread::spawn`), drives them, and asserts. The checker runs it many times,
//! switching threads at every atomic operation of the code under test, and fails the test
//! on a panic in any thread, on a deadlock (every thread parked: a lost wake-up), or on
//! a run longer than [`MAX_STEPS`] (a livelock), printing the schedule that did it.
//! Futures are polled with `shuttle::future::block_on`, which parks its thread until the
//! future's waker is called: a wake that never comes is a deadlock the checker reports.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::task::AtomicWaker;
use shuttle::{
    Config, MaxSteps, Runner,
    scheduler::{PctScheduler, Scheduler},
};

use crate::atomics::{AtomicBool, Ordering};

/// Steps (atomic operations) one run of a model may take: each model takes a few hundred,
/// so a run past this is spinning.
pub(crate) const MAX_STEPS: usize = 20_000;

/// The seed of every model's schedules, so that a run is reproducible (the environment
/// variable `SHUTTLE_RANDOM_SEED` overrides it, to explore other schedules).
const SEED: u64 = 0x5350_494e_444c_4531;

/// Held while a model runs: one at a time per process. The checker's atomics are cells
/// that only its own threads may touch, one at a time, and the kernel's statics (the id
/// counters, say) are such atomics in a model build: two models running on two test
/// threads would touch them at once.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run<S: Scheduler + 'static>(scheduler: S, model: impl Fn() + Send + Sync + 'static) {
    // A model that failed poisoned the lock; the next one may run all the same.
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    Runner::new(scheduler, config()).run(model);
}

fn config() -> Config {
    let mut config = Config::new();
    config.max_steps = MaxSteps::FailAfter(MAX_STEPS);
    // The checker warns once that it runs every ordering as `SeqCst`: the models say so
    // (see `atomics`), and the warning would only clutter the test output.
    config.silence_warnings = true;
    config
}

/// Runs `model` `iterations` times under the PCT scheduler (probabilistic concurrency
/// testing: random thread priorities with `depth - 1` random points where the running
/// thread's priority drops, which finds any bug that needs at most that many ordering
/// constraints with a known probability per run).
pub(crate) fn check_pct(model: impl Fn() + Send + Sync + 'static, iterations: usize, depth: usize) {
    run(PctScheduler::new_from_seed(SEED, depth, iterations), model);
}

/// A one-shot signal between model threads: plumbing of the models, not code under test
/// (its flag is a modelled atomic; its waker slot is `futures-util`'s, as in the kernel).
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets the signal and wakes whoever waits for it.
    pub(crate) fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Completes once the signal is set.
    pub(crate) async fn wait(&self) {
        core::future::poll_fn(|cx| {
            if self.set.load(Ordering::SeqCst) {
                return core::task::Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.set.load(Ordering::SeqCst) {
                core::task::Poll::Ready(())
            } else {
                core::task::Poll::Pending
            }
        })
        .await;
    }
}
