//! The measured workloads. Each runs a [`Plan`] and returns its samples, per operation.
//!
//! For the switch workloads an operation is *one switch*: a sample of
//! `ops_per_sample` operations is `ops_per_sample / 2` round trips between two contexts,
//! each of which does nothing but hand control back. For the run queue an operation is
//! one scheduling decision: `pop` the next item, `push_expired` it again (a thread that
//! used up its slice), with a fixed number of items queued.

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    thread,
};

use corosensei::Coroutine;
use spindle::thread::run_queue::{LEVELS, RunLink, RunLinked, RunQueue, Unqueued};

use crate::{
    measure::{Plan, Sample, Stopwatch, current_cpu, sample},
    spindle::{CallSites, PingPong},
};

/// Round trips per sample: two switches each.
fn round_trips(plan: Plan) -> u32 {
    assert!(
        plan.ops_per_sample.is_multiple_of(2),
        "switch workloads need an even number of operations per sample"
    );
    plan.ops_per_sample / 2
}

/// Spindle's `switch` between this thread's stack and a second host stack, the two
/// contexts switching from the same or from different call sites.
pub fn spindle_switch(call_sites: CallSites, plan: Plan) -> Vec<Sample> {
    let round_trips = round_trips(plan);
    let mut ping_pong = PingPong::new(call_sites);
    sample(plan, || ping_pong.round_trips(round_trips.into()))
}

/// An item of the run-queue workload: a level and the link the queue threads it on.
struct Item {
    level: usize,
    link: RunLink<Item>,
}

// SAFETY: always the same field.
unsafe impl RunLinked for Item {
    fn run_link(&self) -> &RunLink<Self> {
        &self.link
    }
}

/// Spindle's run queue with `queued` items at levels spread over all [`LEVELS`]: one
/// `pop` plus one `push_expired` per operation. The queue is intrusive, as in the kernel,
/// so no operation allocates.
pub fn run_queue(queued: usize, plan: Plan) -> Vec<Sample> {
    assert!(queued > 0, "the run queue needs an item to cycle");
    let mut queue = RunQueue::new();
    for level in (0..queued).map(|item| item % LEVELS) {
        let item = Arc::new(Item {
            level,
            link: RunLink::new(),
        });
        // SAFETY: a fresh item is in no queue, and this is its only token.
        queue.push_active(level, unsafe { Unqueued::new(item) });
    }
    sample(plan, || {
        for _ in 0..plan.ops_per_sample {
            let item = queue.pop().expect("the queue is never empty");
            queue.push_expired(item.level, black_box(item));
        }
    })
}

/// How many places a [`corosensei()`] coroutine suspends from, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendSites {
    /// One `suspend` in a loop.
    One,
    /// Two `suspend`s in a loop: each resume continues at the other one.
    Two,
}

/// `corosensei`'s stackful coroutine, resumed from one loop and suspending straight away
/// from one or two places.
///
/// Its resume is an indirect `call` to where the coroutine suspended, and its suspend a
/// `ret` to that call: calls and returns pair whatever the call sites, so the return
/// stack buffer always predicts them, and [`SuspendSites::Two`] only gives the indirect
/// call two targets in turn.
pub fn corosensei(suspend_sites: SuspendSites, plan: Plan) -> Vec<Sample> {
    let round_trips = round_trips(plan);
    let mut coroutine: Coroutine<(), (), ()> =
        Coroutine::new(move |yielder, ()| match suspend_sites {
            SuspendSites::One => loop {
                yielder.suspend(());
            },
            SuspendSites::Two => loop {
                yielder.suspend(());
                yielder.suspend(());
            },
        });
    sample(plan, || {
        for _ in 0..round_trips {
            black_box(coroutine.resume(()));
        }
    })
}

/// What [`os_threads`] measured.
#[derive(Debug)]
pub struct ThreadPingPong {
    /// The samples, per switch.
    pub samples: Vec<Sample>,
    /// Share of the batches (warm-up included) at whose end both threads had last run on
    /// the same CPU.
    pub same_cpu_share: f64,
}

/// Two OS threads handing a baton back and forth with `park`/`unpark` (futexes on
/// Linux). Nothing is pinned, so Linux decides whether a switch is a wake-up on the same
/// CPU or a cross-CPU one (an inter-processor interrupt): the result says which it was.
pub fn os_threads(plan: Plan) -> ThreadPingPong {
    /// The baton: odd means the peer's turn, even the main thread's; `STOP` ends the peer.
    const STOP: u64 = u64::MAX;
    let round_trips = round_trips(plan);
    let baton = Arc::new(AtomicU64::new(0));
    let peer_cpu = Arc::new(AtomicU32::new(u32::MAX));
    let main_thread = thread::current();
    let peer = thread::spawn({
        let (baton, peer_cpu) = (Arc::clone(&baton), Arc::clone(&peer_cpu));
        move || {
            loop {
                let value = wait_for(&baton, |value| value == STOP || value % 2 == 1);
                if value == STOP {
                    break;
                }
                peer_cpu.store(current_cpu(), Ordering::Relaxed);
                baton.store(value + 1, Ordering::Release);
                main_thread.unpark();
            }
        }
    });
    let peer_thread = peer.thread().clone();
    let (mut value, mut same_cpu_batches) = (0, 0);
    let samples = sample(plan, || {
        for _ in 0..round_trips {
            baton.store(value + 1, Ordering::Release);
            peer_thread.unpark();
            value = wait_for(&baton, |now| now == value + 2);
        }
        same_cpu_batches += u32::from(peer_cpu.load(Ordering::Relaxed) == current_cpu());
    });
    baton.store(STOP, Ordering::Release);
    peer_thread.unpark();
    peer.join().expect("the peer thread panicked");
    ThreadPingPong {
        samples,
        same_cpu_share: f64::from(same_cpu_batches) / (plan.warmup + plan.samples) as f64,
    }
}

/// Parks until the baton's value satisfies `ready`, and returns it.
fn wait_for(baton: &AtomicU64, ready: impl Fn(u64) -> bool) -> u64 {
    loop {
        let value = baton.load(Ordering::Acquire);
        if ready(value) {
            return value;
        }
        thread::park();
    }
}

/// Two tokio tasks on a current-thread runtime, each calling `yield_now` in a loop. One
/// of them takes the samples; the other yields until told to stop.
pub fn tokio_yield(plan: Plan) -> Vec<Sample> {
    let yields_per_sample = round_trips(plan);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread tokio runtime");
    runtime.block_on(async move {
        let done = Arc::new(AtomicBool::new(false));
        let partner = tokio::spawn({
            let done = Arc::clone(&done);
            async move {
                while !done.load(Ordering::Relaxed) {
                    tokio::task::yield_now().await;
                }
            }
        });
        let timer = tokio::spawn(async move {
            for _ in 0..plan.warmup {
                for _ in 0..yields_per_sample {
                    tokio::task::yield_now().await;
                }
            }
            let mut samples = Vec::with_capacity(plan.samples);
            for _ in 0..plan.samples {
                let stopwatch = Stopwatch::start();
                for _ in 0..yields_per_sample {
                    tokio::task::yield_now().await;
                }
                samples.push(stopwatch.stop(plan.ops_per_sample));
            }
            done.store(true, Ordering::Relaxed);
            samples
        });
        let samples = timer.await.expect("the timing task panicked");
        partner.await.expect("the partner task panicked");
        samples
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Plan = Plan {
        warmup: 1,
        samples: 3,
        ops_per_sample: 10,
    };

    fn check(samples: &[Sample]) {
        assert_eq!(samples.len(), TINY.samples);
        assert!(samples.iter().all(|s| s.nanos > 0.0 && s.ticks > 0.0));
    }

    #[test]
    fn every_workload_runs_its_plan() {
        check(&spindle_switch(CallSites::Same, TINY));
        check(&spindle_switch(CallSites::Different, TINY));
        check(&run_queue(2, TINY));
        check(&run_queue(10_000, TINY));
        check(&corosensei(SuspendSites::One, TINY));
        check(&corosensei(SuspendSites::Two, TINY));
        let threads = os_threads(TINY);
        check(&threads.samples);
        assert!((0.0..=1.0).contains(&threads.same_cpu_share));
        check(&tokio_yield(TINY));
    }
}
