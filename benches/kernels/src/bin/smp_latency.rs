//! Cross-CPU latencies, each next to its same-CPU counterpart measured in the same boot:
//! a thread waking a thread, a thread waking an async task; and what a cross-CPU wake is
//! made of: an IPI (one way and round trip, to an idle and to a busy CPU) and the floor
//! under everything (a cache line passed between two CPUs).
//!
//! Booted under MTTCG only (`-icount` cannot run several vCPUs in parallel), so every
//! figure is host time and only ratios within one boot are worth comparing: the host
//! runner boots this kernel several times and reports medians and spread.
//@ smp: 2
//@ ratio: smp_thread_wake_cross_cpu / smp_thread_wake_same_cpu
//@ ratio: smp_thread_wake_cross_cpu_busy / smp_thread_wake_same_cpu
//@ ratio: smp_thread_wake_cross_cpu_halting / smp_thread_wake_cross_cpu
//@ ratio: smp_thread_wake_cross_cpu / smp_cache_line_one_way
//@ ratio: smp_thread_wake_cross_cpu_busy / smp_cache_line_one_way
//@ ratio: smp_thread_wake_same_cpu / smp_cache_line_one_way
//@ ratio: smp_task_wake_cross_cpu / smp_task_wake_same_cpu
//@ ratio: smp_ipi_one_way_idle / smp_thread_wake_cross_cpu
//@ ratio: smp_ipi_one_way_idle / smp_ipi_one_way_busy
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{format, sync::Arc};
use core::{
    sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    task::Poll,
};

use futures_util::task::AtomicWaker;
use spindle::{
    arch::{TrapFrame, apic, cpu, interrupts, vectors},
    executor::Executor,
    sync::oneshot,
    thread::{self, Builder, CpuSet, Priority, Thread, ThreadState},
};
use spindle_bench::{Recorder, end, overhead, start};

spindle_bench::bench_kernel!(thread_wake, task_wake, ipi_latency, cache_line_one_way);

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
/// CPU 0, then one on CPU 0 and one on CPU 1 (the CPU a player leaves idles, polling
/// first: see `thread::set_idle_poll`), then so with both CPUs *busy* (a spinning thread
/// of the lowest priority on each, which the woken player preempts: the wake is an IPI to
/// a running vCPU), then with the idle CPU halting at once instead of polling (the waker
/// then sends an IPI that wakes a halted vCPU). One sample is one hand-off: from the
/// waker's stamp before `unpark` to the woken thread's stamp after its `park` returned.
fn thread_wake() {
    let overhead = overhead();
    let poll = thread::idle_poll();
    for (name, second_cpu, poll, busy) in [
        ("smp_thread_wake_same_cpu", HERE, poll, false),
        ("smp_thread_wake_cross_cpu", THERE, poll, false),
        ("smp_thread_wake_cross_cpu_busy", THERE, poll, true),
        (
            "smp_thread_wake_cross_cpu_halting",
            THERE,
            core::time::Duration::ZERO,
            false,
        ),
    ] {
        thread::set_idle_poll(poll);
        let stop = Arc::new(AtomicBool::new(false));
        let spinners: alloc::vec::Vec<_> = match busy {
            true => [HERE, THERE]
                .map(|cpu| background_spinner(cpu, &stop))
                .into(),
            false => alloc::vec::Vec::new(),
        };
        let recorder = recorder();
        hand_offs(&recorder, second_cpu);
        recorder.report(name, overhead, 1);
        stop.store(true, Ordering::Relaxed);
        spinners.into_iter().for_each(thread::JoinHandle::join);
    }
    thread::set_idle_poll(poll);
}

/// A thread of the lowest priority spinning on `cpu` until `stop`: the CPU never idles,
/// and any other thread woken there preempts it.
fn background_spinner(cpu: u32, stop: &Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let stop = Arc::clone(stop);
    Builder::new()
        .cpu(cpu)
        .priority(Priority::LOWEST)
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                spin();
            }
        })
        .expect("memory for a thread")
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

/// A flag an async task waits for, the waker that wakes it, and how often the task saw
/// the flag (what the waking thread polls: an atomic, not the recorder's lock, which the
/// task needs to record).
struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
    seen: AtomicU64,
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
        seen: AtomicU64::new(0),
    });
    let (started, ready) = oneshot::channel::<()>();
    let host = {
        let (recorder, signal) = (Arc::clone(recorder), Arc::clone(&signal));
        Builder::new()
            .cpu(host_cpu)
            .spawn(move || {
                let executor = Executor::new("woken", 4);
                let waiter = executor.spawn(wait_for_signals(recorder, signal, started));
                let _ = executor.block_on(waiter);
            })
            .expect("memory for a thread")
    };
    ready.recv().expect("the waiting task started");
    let wait = || {
        if host_cpu == thread::current_cpu() {
            thread::yield_now(); // lets the host thread run
        } else {
            spin(); // it runs on its own CPU: stay out of the scheduler
        }
    };
    while !recorder.is_full() {
        while host.thread().state() != ThreadState::Blocked {
            wait();
        }
        let before = signal.seen.load(Ordering::Acquire);
        recorder.mark_start();
        signal.raised.store(true, Ordering::Release);
        signal.waker.wake();
        while signal.seen.load(Ordering::Acquire) == before {
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
        signal.seen.fetch_add(1, Ordering::Release);
    }
}

/// CPU 0's APIC ID, where [`on_ping`] replies to.
static PINGER: AtomicU32 = AtomicU32::new(0);
/// The TSC when [`on_ping`] started on CPU 1.
static PINGED_AT: AtomicU64 = AtomicU64::new(0);
/// Set by [`on_pong`] on CPU 0 when the reply arrived.
static PONGED: AtomicBool = AtomicBool::new(false);

/// CPU 1's handler: note the arrival, answer at once.
fn on_ping(_: &mut TrapFrame) {
    PINGED_AT.store(end(), Ordering::Relaxed);
    apic::send_ipi(PINGER.load(Ordering::Relaxed), vectors::BENCH_PONG);
}

/// CPU 0's handler: the round trip is complete.
fn on_pong(_: &mut TrapFrame) {
    PONGED.store(true, Ordering::Release);
}

/// CPU 0 sends an IPI to CPU 1, whose handler notes the time and sends one back; CPU 0
/// waits until its own handler has run. Each exchange gives two samples: one way (the
/// send to CPU 1's handler starting) and the round trip. Measured twice: *idle*, both
/// CPUs halted between messages (CPU 1 in its idle loop, CPU 0 halting for the reply),
/// as in a cross-CPU wake, where the waker soon blocks and the woken CPU idles; and
/// *busy*, both spinning (a thread on CPU 1, CPU 0 polling for the reply), so that only
/// the delivery to a running vCPU is left.
///
/// One way compares stamps of two CPUs: under TCG every vCPU reads one clock (QEMU's
/// `cpu_get_ticks`, a single host counter that never goes backwards), so they agree.
fn ipi_latency() {
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
    ping_pongs(target, overhead, Reply::HaltFor);
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = {
        let stop = Arc::clone(&stop);
        Builder::new()
            .cpu(THERE)
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    spin();
                }
            })
            .expect("memory for a thread")
    };
    while spinner.thread().state() != ThreadState::Running {
        spin();
    }
    ping_pongs(target, overhead, Reply::SpinFor);
    stop.store(true, Ordering::Relaxed);
    spinner.join();
    pin_main_anywhere();
}

/// How CPU 0 waits for the reply to its ping.
#[derive(Clone, Copy)]
enum Reply {
    /// Halted (interrupts off from before the send, so the reply cannot slip in between).
    HaltFor,
    /// Polling the flag.
    SpinFor,
}

impl Reply {
    /// The name the figures get: CPU 0 halts while CPU 1 idles, or both run.
    fn state(self) -> &'static str {
        match self {
            Self::HaltFor => "idle",
            Self::SpinFor => "busy",
        }
    }

    /// Sends the ping and waits for the reply as `self` says; returns the TSC at the
    /// send and after the reply.
    fn exchange(self, target: u32) -> (u64, u64) {
        let halting = matches!(self, Self::HaltFor);
        PONGED.store(false, Ordering::Relaxed);
        if halting {
            cpu::disable_interrupts();
        }
        let begin = start();
        apic::send_ipi(target, vectors::BENCH_PING);
        while !PONGED.load(Ordering::Acquire) {
            if halting {
                cpu::enable_and_halt(); // the reply (or a tick) ends the halt
                cpu::disable_interrupts();
            } else {
                spin();
            }
        }
        let now = end();
        if halting {
            cpu::enable_interrupts();
        }
        (begin, now)
    }
}

/// Pings the CPU with APIC ID `target` until the recorders are full and reports
/// `smp_ipi_one_way_<state>` and `smp_ipi_round_trip_<state>`.
fn ping_pongs(target: u32, overhead: u64, reply: Reply) {
    let one_way = Recorder::with_samples(WARMUP, SAMPLES);
    let round_trip = Recorder::with_samples(WARMUP, SAMPLES);
    while !round_trip.is_full() {
        let (begin, now) = reply.exchange(target);
        one_way.push(PINGED_AT.load(Ordering::Relaxed).saturating_sub(begin));
        round_trip.push(now - begin);
    }
    let state = reply.state();
    one_way.report(&format!("smp_ipi_one_way_{state}"), overhead, 1);
    round_trip.report(&format!("smp_ipi_round_trip_{state}"), overhead, 1);
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
                        _ => spin(),
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
                        spin();
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

/// One turn of a spin-wait, without `pause`: under MTTCG a `pause` ends the vCPU's run
/// of translated code and takes QEMU's global lock on the way back in, the lock the other
/// vCPU needs to send and take interrupts, so a `pause` loop slows down the very
/// hand-off it waits for.
#[inline(always)]
fn spin() {}
