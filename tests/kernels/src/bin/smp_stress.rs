//! Several CPUs racing through the scheduler's hand-offs, each case with exact totals: a
//! lost wake-up hangs (the harness reports the time-out), a lost update or a corrupted
//! stack fails an assertion.
//@ smp: 2 4
//@ timeout: 300
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    arch::fpu,
    executor,
    executor::ExecutorThread,
    sync::{Mutex, Semaphore, channel},
    thread::{self, Builder, CpuSet, Thread},
    time,
};

spindle_test::test_kernel!(
    park_unpark_hand_offs_between_two_cpus,
    semaphore_ping_pong_between_cpus,
    a_mutex_counts_exactly_with_every_cpu_contending,
    threads_and_tasks_on_executors_on_other_cpus_exchange_messages,
    spawn_join_churn_keeps_every_stack_intact,
    fpu_registers_survive_moving_between_cpus,
    busy_threads_moved_mid_loop_keep_registers_fpu_and_stack,
    sleepers_on_every_cpu_never_wake_early,
    preemption_guards_balance_while_threads_move,
);

fn cpus() -> u32 {
    thread::cpu_count()
}

/// Passes a turn back and forth with `park`/`unpark` only, the players pinned to the last
/// two CPUs: the unpark races with the park on another CPU every time.
fn park_unpark_hand_offs_between_two_cpus() {
    const HAND_OFFS: u64 = 40_000;
    static TURN: AtomicU64 = AtomicU64::new(0);
    fn play(me: u64, other: &Arc<Thread>) {
        for round in 0..HAND_OFFS / 2 {
            while TURN.load(Ordering::SeqCst) != 2 * round + me {
                thread::park();
            }
            TURN.store(2 * round + me + 1, Ordering::SeqCst);
            other.unpark();
        }
    }
    let (to_first, first_slot) = channel::bounded::<Arc<Thread>>(1);
    let first = Builder::new()
        .cpu(cpus() - 2)
        .spawn(move || {
            let second = first_slot.recv().unwrap();
            play(0, &second);
        })
        .unwrap();
    let first_thread = Arc::clone(first.thread());
    let second = Builder::new()
        .cpu(cpus() - 1)
        .spawn(move || play(1, &first_thread))
        .unwrap();
    to_first.send(Arc::clone(second.thread())).unwrap();
    first.join();
    second.join();
    assert_eq!(TURN.load(Ordering::SeqCst), HAND_OFFS);
}

/// Two threads on different CPUs block on each other's semaphore 20,000 times.
fn semaphore_ping_pong_between_cpus() {
    const ROUNDS: u64 = 20_000;
    let ping = Arc::new(Semaphore::new(0));
    let pong = Arc::new(Semaphore::new(0));
    let (ping2, pong2) = (Arc::clone(&ping), Arc::clone(&pong));
    let other = Builder::new()
        .cpu(cpus() - 1)
        .spawn(move || {
            for _ in 0..ROUNDS {
                ping2.acquire();
                pong2.release();
            }
        })
        .unwrap();
    thread::set_affinity(CpuSet::single(0)).unwrap();
    for _ in 0..ROUNDS {
        ping.release();
        pong.acquire();
    }
    other.join();
    thread::set_affinity(CpuSet::ALL).unwrap();
    assert!(!ping.try_acquire() && !pong.try_acquire());
}

/// Twelve threads, free to go anywhere, add to one mutex-protected counter.
fn a_mutex_counts_exactly_with_every_cpu_contending() {
    const THREADS: u64 = 12;
    const ADDS: u64 = 4_000;
    let counter = Arc::new(Mutex::new(0u64));
    let workers: Vec<_> = (0..THREADS)
        .map(|n| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                for add in 0..ADDS {
                    *counter.lock() += 1;
                    if (add + n) % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|worker| worker.join());
    assert_eq!(*counter.lock(), THREADS * ADDS);
}

/// Executors hosted by threads pinned to every CPU but 0 run echo tasks; two threads
/// (one pinned to CPU 0, one free) send them numbers and add up the replies.
fn threads_and_tasks_on_executors_on_other_cpus_exchange_messages() {
    const MESSAGES: u64 = 6_000;
    let hosts: Vec<_> = (1..cpus())
        .map(|cpu| {
            let host = ExecutorThread::start("echo-host", 8).unwrap();
            let moved = host.spawner().spawn(async move {
                thread::set_affinity(CpuSet::single(cpu)).unwrap();
            });
            executor::block_on(moved).unwrap();
            host
        })
        .collect();
    let senders: Vec<_> = [Some(0), None]
        .into_iter()
        .map(|pin| {
            let (to_task, from_thread) = channel::bounded::<u64>(4);
            let (to_thread, from_task) = channel::bounded::<u64>(4);
            let echo = async move {
                while let Ok(value) = from_thread.recv_async().await {
                    to_thread.send_async(value * 2).await.unwrap();
                }
            };
            let index = usize::from(pin.is_some());
            drop(hosts[index % hosts.len()].spawner().spawn(echo)); // detached: it ends with its channel
            let builder = match pin {
                Some(cpu) => Builder::new().cpu(cpu),
                None => Builder::new(),
            };
            builder
                .spawn(move || {
                    let mut sum = 0;
                    for value in 0..MESSAGES {
                        to_task.send(value).unwrap();
                        sum += from_task.recv().unwrap();
                    }
                    sum
                })
                .unwrap()
        })
        .collect();
    for sender in senders {
        assert_eq!(sender.join(), MESSAGES * (MESSAGES - 1));
    }
    hosts.into_iter().for_each(ExecutorThread::stop);
}

/// A spawner per CPU, each spawning and joining 600 threads, 12 at a time: more than
/// the stack cache holds, so stacks are unmapped and their slots recycled while other
/// CPUs may have run on them. Each thread fills 12 KiB of its stack with its own pattern,
/// moves, and checks it.
fn spawn_join_churn_keeps_every_stack_intact() {
    const PER_SPAWNER: u64 = 600;
    const AT_ONCE: u64 = 12;
    let spawners: Vec<_> = (0..cpus())
        .map(|cpu| {
            Builder::new()
                .cpu(cpu)
                .spawn(move || {
                    let mut checked = 0;
                    for batch in 0..PER_SPAWNER / AT_ONCE {
                        let children: Vec<_> = (0..AT_ONCE)
                            .map(|n| {
                                let seed = u64::from(cpu) << 32 | batch << 8 | n;
                                Builder::new()
                                    .stack_size(16 * 1024)
                                    .spawn(move || touch_stack(seed))
                                    .unwrap()
                            })
                            .collect();
                        checked += children.into_iter().map(|c| c.join()).sum::<u64>();
                    }
                    checked
                })
                .unwrap()
        })
        .collect();
    let checked: u64 = spawners.into_iter().map(|s| s.join()).sum();
    assert_eq!(checked, u64::from(cpus()) * PER_SPAWNER);
    spindle::println!(
        "churn: lock waits {:?}, thread table {}",
        spindle::mm::lock_contention(),
        thread::table_contention()
    );
}

/// Writes a pattern over 12 KiB of stack, hops to two other CPUs, checks it; returns 1.
#[inline(never)]
fn touch_stack(seed: u64) -> u64 {
    let mut block = [0u64; 1536];
    for (i, word) in block.iter_mut().enumerate() {
        *word = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    core::hint::black_box(&mut block);
    for hop in 1..=2 {
        let cpu = (thread::current_cpu() + hop) % cpus();
        thread::set_affinity(CpuSet::single(cpu)).unwrap();
    }
    thread::set_affinity(CpuSet::ALL).unwrap();
    let block = core::hint::black_box(&block);
    for (i, word) in block.iter().enumerate() {
        assert_eq!(
            *word,
            seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            "stack word {i} of thread {seed:#x}"
        );
    }
    1
}

/// Threads with FPU state fill their SSE registers, move between CPUs (and run beside
/// other FPU threads there), and find their registers unchanged.
fn fpu_registers_survive_moving_between_cpus() {
    let workers: Vec<_> = (0..6u64)
        .map(|n| {
            Builder::new()
                .fpu(true)
                .spawn(move || {
                    let seed = 0x5eed_0000 + n * 0x100;
                    let expected: [u64; 16] = core::array::from_fn(|i| seed + i as u64);
                    fpu::fill_xmm_registers(seed);
                    for round in 0..100u64 {
                        let cpu = ((n + round) % u64::from(cpus())) as u32;
                        thread::set_affinity(CpuSet::single(cpu)).unwrap();
                        assert_eq!(fpu::read_xmm_registers(), expected, "round {round}");
                        thread::yield_now();
                    }
                })
                .unwrap()
        })
        .collect();
    workers.into_iter().for_each(|worker| worker.join());
}

/// Busy threads that never yield or block are moved between CPUs by another thread
/// (`Thread::set_affinity`), so every move happens at a preemption, in the middle of
/// their loops: general registers (a hash chain kept in locals), SSE registers and a
/// stack array must come through unchanged. Each loops until it has run on three CPUs
/// (both, when there are two).
fn busy_threads_moved_mid_loop_keep_registers_fpu_and_stack() {
    const WORKERS: u64 = 6;
    static DONE: AtomicU64 = AtomicU64::new(0);
    DONE.store(0, Ordering::SeqCst);
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| {
            Builder::new()
                .fpu(true)
                .spawn(move || {
                    let result = busy_loop(n);
                    DONE.fetch_add(1, Ordering::SeqCst);
                    result
                })
                .unwrap()
        })
        .collect();
    let threads: Vec<_> = workers.iter().map(|w| Arc::clone(w.thread())).collect();
    let mut turn = 0u32;
    while DONE.load(Ordering::SeqCst) < WORKERS {
        for (n, thread) in threads.iter().enumerate() {
            let cpu = (turn + n as u32) % cpus();
            if !thread.has_exited() {
                thread.set_affinity(CpuSet::single(cpu)).unwrap();
            }
        }
        turn += 1;
        thread::sleep(Duration::from_millis(2));
    }
    for (n, worker) in (0..WORKERS).zip(workers) {
        assert_eq!(worker.join(), hash_chain(n, ROUNDS_PER_CHECK), "worker {n}");
    }
}

const ROUNDS_PER_CHECK: u64 = 20_000;

/// A hash chain with eight live values: the compiler keeps them in registers.
fn hash_chain(seed: u64, rounds: u64) -> u64 {
    let mut v = [
        seed,
        seed ^ 1,
        seed ^ 2,
        seed ^ 3,
        seed ^ 4,
        seed ^ 5,
        seed ^ 6,
        seed ^ 7,
    ];
    for round in 0..rounds {
        for i in 0..8 {
            v[i] = v[i].rotate_left(7) ^ v[(i + 1) % 8].wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round;
        }
    }
    v.iter().fold(0, |acc, value| acc ^ value)
}

/// Runs hash chains (checking each against the first), SSE and stack patterns until it
/// has seen three CPUs (or all of them); returns the chain's value.
#[inline(never)]
fn busy_loop(n: u64) -> u64 {
    let expected_xmm: [u64; 16] = core::array::from_fn(|i| 0xf00d_0000 + n * 0x100 + i as u64);
    fpu::fill_xmm_registers(0xf00d_0000 + n * 0x100);
    let mut stack = [0u64; 512];
    stack
        .iter_mut()
        .enumerate()
        .for_each(|(i, w)| *w = n << 32 | i as u64);
    let first = hash_chain(n, ROUNDS_PER_CHECK);
    let mut seen = 0u64;
    while seen.count_ones() < 3.min(cpus()) {
        seen |= 1 << thread::current_cpu();
        assert_eq!(
            hash_chain(n, ROUNDS_PER_CHECK),
            first,
            "registers of worker {n}"
        );
        assert_eq!(
            fpu::read_xmm_registers(),
            expected_xmm,
            "SSE registers of worker {n}"
        );
        let stack = core::hint::black_box(&stack);
        assert!(
            stack
                .iter()
                .enumerate()
                .all(|(i, w)| *w == n << 32 | i as u64)
        );
    }
    first
}

/// Sleepers pinned to every CPU (each sleeping on its own CPU's timer wheel) and free
/// ones (woken wherever they last ran) never wake before their deadline.
fn sleepers_on_every_cpu_never_wake_early() {
    let sleepers: Vec<_> = (0..2 * cpus())
        .map(|n| {
            let builder = match n < cpus() {
                true => Builder::new().cpu(n),
                false => Builder::new(),
            };
            builder
                .spawn(move || {
                    for round in 0..40u64 {
                        let pause = Duration::from_micros(200 + 150 * ((round + u64::from(n)) % 7));
                        let deadline = time::now() + pause;
                        thread::sleep_until(deadline);
                        assert!(time::now() >= deadline, "woke early in round {round}");
                    }
                })
                .unwrap()
        })
        .collect();
    sleepers.into_iter().for_each(|sleeper| sleeper.join());
}

/// Threads open and close no-preemption sections while moving between CPUs; afterwards
/// a busy thread is still preempted (the counts balanced, on the threads, not the CPUs).
fn preemption_guards_balance_while_threads_move() {
    let movers: Vec<_> = (0..6u32)
        .map(|n| {
            thread::spawn(move || {
                for round in 0..300u32 {
                    let guard = thread::disable_preemption();
                    core::hint::black_box(round);
                    drop(guard);
                    if round % 10 == 0 {
                        let cpu = (n + round / 10) % cpus();
                        thread::set_affinity(CpuSet::single(cpu)).unwrap();
                    }
                }
            })
        })
        .collect();
    movers.into_iter().for_each(|mover| mover.join());
    // Preemption still works on the last CPU: a spinning thread pinned there does not
    // keep a second one pinned there from running.
    static SPIN: AtomicBool = AtomicBool::new(true);
    let last = cpus() - 1;
    let spinner = Builder::new()
        .cpu(last)
        .spawn(|| {
            while SPIN.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        })
        .unwrap();
    Builder::new()
        .cpu(last)
        .spawn(|| SPIN.store(false, Ordering::Relaxed))
        .unwrap()
        .join();
    spinner.join();
}
