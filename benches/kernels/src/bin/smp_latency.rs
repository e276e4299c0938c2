//! Cross-CPU latencies, each next to its same-CPU counterpart measured in the same boot:
//! a thread waking a thread, a thread waking an async task, an IPI round trip, and the
//! floor under all of them (a cache line passed between two CPUs).
//!
//! Booted under MTTCG only (`-icount` cannot run several vCPUs in parallel), so every
//! figure is host time and only ratios within one boot are worth comparing: the host
//! runner boots this kernel several times and reports medians and spread.
//@ smp: 2
//@ ratio: smp_thread_wake_cross_cpu / smp_thread_wake_same_cpu
//@ ratio: smp_task_wake_cross_cpu / smp_task_wake_same_cpu
//@ ratio: smp_ipi_round_trip_idle / smp_ipi_round_trip_busy
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use core::{
    sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    task::Poll,
};

use futures_util::task::AtomicWaker;
use kernel::{
    arch::{TrapFrame, apic, interrupts, vectors},
    executor::Executor,
    sync::oneshot,
    thread::{self, Builder, CpuSet, Thread, ThreadState},
};
use spindle_bench::{Recorder, end, overhead, start};

spindle_bench::bench_kernel!(thread_wake, task_wake, ipi_round_trip, cache_line_one_way);

/// Samples thrown away, then kept, per figure: a cross-CPU hand-off under MTTCG costs
/// about ten microseconds, so the default 110,000 would make a boot take minutes.
const WARMUP: usize = 1_000;
const SAMPLES: usize = 10_000;

/// The CPU the measuring side runs on, and the other one.
const HERE: u32 = 0;
const THERE: u32 = 1;

fn recorder() -> Arc<Recorder> {
    Arc::new(Recorder::with_samples(WARMUP, SAMPLES))
}

/// Pins the calling thread (the kernel's `main`) to `cpu`, so that it cannot wander onto
/// the CPU it measures.
fn pin_main(cpu: u32) {
    thread::set_affinity(CpuSet::single(cpu)).expect("the CPU is online");
}

/// Lets the kernel's `main` thread run anywhere again.
fn pin_main_anywhere() {
    thread::set_affinity(CpuSet::ALL).expect("CPU 0 is online");
}

/// A turn counter for a ping-pong between two threads: player `me` (0 or 1) may go when
/// the counter's parity is `me`. `park` may return spuriously, so each player parks in a
/// loop on it rather than trusting one wake-up per turn.
struct Turn(AtomicU64);

impl Turn {
    fn wait_for(&self, me: u64) {
        while self.0.load(Ordering::Acquire) % 2 != me {
            thread::park();
        }
    }

    fn pass(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Two threads hand a turn to each other with `unpark` and block in `park`, first both on
/// CPU 0, then one on CPU 0 and one on CPU 1. One sample is one hand-off: from the
/// waker's stamp before `unpark` to the woken thread's stamp after its `park` returned.
fn thread_wake() {
    let overhead = overhead();
    for (name, second_cpu) in [
        ("smp_thread_wake_same_cpu", HERE),
        ("smp_thread_wake_cross_cpu", THERE),
    ] {
        let recorder = recorder();
        hand_offs(&recorder, second_cpu);
        recorder.report(name, overhead, 1);
    }
}

/// Runs the ping-pong of [`thread_wake`] with the second player on `second_cpu` until
/// `recorder` is full.
fn hand_offs(recorder: &Arc<Recorder>, second_cpu: u32) {
    let turn = Arc::new(Turn(AtomicU64::new(0)));
    let (partner_sender, partner) = oneshot::channel::<Arc<Thread>>();
    let player = |me: u64, recorder: Arc<Recorder>, turn: Arc<Turn>| {
        move |other: Arc<Thread>| {
            let mut woken = me == 1; // player 0 starts without being handed the turn
            loop {
                turn.wait_for(me);
                if woken {
                    recorder.mark_end();
                }
                woken = true;
                if recorder.is_full() {
                    turn.pass();
                    other.unpark(); // let the other see the end too
                    return;
                }
                recorder.mark_start();
                turn.pass();
                other.unpark();
            }
        }
    };
    let first = {
        let play = player(0, Arc::clone(recorder), Arc::clone(&turn));
        Builder::new()
            .cpu(HERE)
            .spawn(move || play(partner.recv().expect("the partner")))
            .expect("memory for a thread")
    };
    let second = {
        let play = player(1, Arc::clone(recorder), Arc::clone(&turn));
        let first = Arc::clone(first.thread());
        Builder::new()
            .cpu(second_cpu)
            .spawn(move || play(first))
            .expect("memory for a thread")
    };
    partner_sender
        .send(Arc::clone(second.thread()))
        .expect("the first player waits");
    first.join();
    second.join();
}

/// A flag an async task waits for, and the waker that wakes it.
struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

/// A thread on CPU 0 wakes a task on an executor whose host thread runs on CPU 0, then on
/// CPU 1. One sample runs from the `wake()` call to the task's poll; before each wake the
/// waker waits until the host thread has parked, so every wake finds it asleep (and, on
/// CPU 1, that CPU idle).
fn task_wake() {
    pin_main(HERE);
    let overhead = overhead();
    for (name, host_cpu) in [
        ("smp_task_wake_same_cpu", HERE),
        ("smp_task_wake_cross_cpu", THERE),
    ] {
        let recorder = recorder();
        wake_task(&recorder, host_cpu);
        recorder.report(name, overhead, 1);
    }
    pin_main_anywhere();
}

/// Runs [`task_wake`]'s measurement with the executor's host thread on `host_cpu`.
fn wake_task(recorder: &Arc<Recorder>, host_cpu: u32) {
    let signal = Arc::new(Signal {
        raised: AtomicBool::new(false),
        waker: AtomicWaker::new(),
    });
    let (started, ready) = oneshot::channel::<()>();
    let host = {
        let (recorder, signal) = (Arc::clone(recorder), Arc::clone(&signal));
        Builder::new()
            .cpu(host_cpu)
            .spawn(move || {
                let executor = Executor::new("woken", 4);
                let waiter = executor
                    .spawn(wait_for_signals(recorder, signal, started))
                    .expect("room for the task");
                let _ = executor.block_on(waiter);
            })
            .expect("memory for a thread")
    };
    ready.recv().expect("the waiting task started");
    let wait = || {
        if host_cpu == thread::current_cpu() {
            thread::yield_now(); // lets the host thread run
        } else {
            core::hint::spin_loop(); // it runs on its own CPU: stay out of the scheduler
        }
    };
    while !recorder.is_full() {
        while host.thread().state() != ThreadState::Blocked {
            wait();
        }
        let before = recorder.len();
        recorder.mark_start();
        signal.raised.store(true, Ordering::Release);
        signal.waker.wake();
        while recorder.len() == before {
            wait();
        }
    }
    host.join();
}

/// The woken task: records one sample per signal until the recorder is full.
async fn wait_for_signals(
    recorder: Arc<Recorder>,
    signal: Arc<Signal>,
    started: oneshot::Sender<()>,
) {
    let _ = started.send(());
    while !recorder.is_full() {
        core::future::poll_fn(|cx| {
            signal.waker.register(cx.waker());
            if signal.raised.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        recorder.mark_end();
    }
}

/// CPU 0's APIC ID, where [`on_ping`] replies to.
static PINGER: AtomicU32 = AtomicU32::new(0);
/// Set by [`on_pong`] on CPU 0 when the reply arrived.
static PONGED: AtomicBool = AtomicBool::new(false);

/// CPU 1's handler: answer at once.
fn on_ping(_: &mut TrapFrame) {
    apic::send_ipi(PINGER.load(Ordering::Relaxed), vectors::BENCH_PONG);
}

/// CPU 0's handler: the round trip is complete.
fn on_pong(_: &mut TrapFrame) {
    PONGED.store(true, Ordering::Release);
}

/// CPU 0 sends an IPI to CPU 1, whose handler sends one back; CPU 0 spins until its own
/// handler has run. One sample is one round trip, measured with CPU 1 idle (halted: the
/// IPI must wake it) and busy (a thread spinning there, which the IPI interrupts).
fn ipi_round_trip() {
    pin_main(HERE);
    PINGER.store(apic::id(), Ordering::Relaxed);
    interrupts::set_handler(vectors::BENCH_PING, on_ping);
    interrupts::set_handler(vectors::BENCH_PONG, on_pong);
    let target = Builder::new()
        .cpu(THERE)
        .spawn(apic::id)
        .expect("memory for a thread")
        .join();
    let overhead = overhead();
    let idle = round_trips(target);
    idle.report("smp_ipi_round_trip_idle", overhead, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = {
        let stop = Arc::clone(&stop);
        Builder::new()
            .cpu(THERE)
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    core::hint::spin_loop();
                }
            })
            .expect("memory for a thread")
    };
    while spinner.thread().state() != ThreadState::Running {
        core::hint::spin_loop();
    }
    let busy = round_trips(target);
    stop.store(true, Ordering::Relaxed);
    spinner.join();
    busy.report("smp_ipi_round_trip_busy", overhead, 1);
    pin_main_anywhere();
}

/// Times IPI round trips to the CPU with APIC ID `target` until a recorder is full.
fn round_trips(target: u32) -> Recorder {
    let recorder = Recorder::with_samples(WARMUP, SAMPLES);
    while !recorder.is_full() {
        PONGED.store(false, Ordering::Relaxed);
        let begin = start();
        apic::send_ipi(target, vectors::BENCH_PING);
        while !PONGED.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        recorder.push(end() - begin);
    }
    recorder
}

/// Two threads pinned to CPU 0 and CPU 1 pass a counter back and forth by spinning on
/// it: the least a cross-CPU hand-off can cost under this emulator. One sample is a round
/// trip, reported halved (one way).
fn cache_line_one_way() {
    /// The counter's value that sends the returner home.
    const STOP: u64 = u64::MAX;
    let ball = Arc::new(AtomicU64::new(0));
    let recorder = recorder();
    let returner = {
        let ball = Arc::clone(&ball);
        Builder::new()
            .cpu(THERE)
            .spawn(move || {
                loop {
                    match ball.load(Ordering::Acquire) {
                        STOP => return,
                        odd if odd % 2 == 1 => ball.store(odd + 1, Ordering::Release),
                        _ => core::hint::spin_loop(),
                    }
                }
            })
            .expect("memory for a thread")
    };
    let server = {
        let (ball, recorder) = (Arc::clone(&ball), Arc::clone(&recorder));
        Builder::new()
            .cpu(HERE)
            .spawn(move || {
                let mut served = 0;
                while !recorder.is_full() {
                    let begin = start();
                    ball.store(served + 1, Ordering::Release);
                    while ball.load(Ordering::Acquire) != served + 2 {
                        core::hint::spin_loop();
                    }
                    recorder.push(end() - begin);
                    served += 2;
                }
                ball.store(STOP, Ordering::Release);
            })
            .expect("memory for a thread")
    };
    server.join();
    returner.join();
    recorder.report("smp_cache_line_one_way", overhead(), 2);
}
