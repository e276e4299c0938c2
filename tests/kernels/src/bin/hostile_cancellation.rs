//! Waits cancelled in the middle, on four CPUs: tasks on every worker take a semaphore,
//! a mutex and a channel's values and room under timeouts and `select_biased!` that may
//! fire at any moment (before the wait, while queued, just after a wake-up), while
//! threads use the same primitives blocking and are moved between CPUs. Conservation is
//! checked exactly: never more permit holders than permits and every permit back, every
//! mutex increment counted, every value whose send completed received exactly once and
//! no value whose send was cancelled received at all.
//@ smp: 4
//@ timeout: 60
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    pin::pin,
    sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Executor, FutureExt, Workers},
    mm, println,
    sync::{Mutex, Semaphore, channel},
    thread::{self, Builder, CpuSet},
};

spindle_test::test_kernel!(cancelled_waits_lose_no_permit_lock_or_value);

const PERMITS: usize = 3;
const TASKS_PER_WORKER: usize = 6;
const THREADS: usize = 4;
const ROUNDS: u64 = 1500;
/// Value ids: `(participant << 16) | round`.
const IDS: usize = (4 * TASKS_PER_WORKER + THREADS) << 16;

static SEMAPHORE: Semaphore = Semaphore::new(PERMITS);
static HOLDERS: AtomicUsize = AtomicUsize::new(0);
static MOST_HOLDERS: AtomicUsize = AtomicUsize::new(0);
static COUNTER: Mutex<u64> = Mutex::new(0);
static INCREMENTS: AtomicU64 = AtomicU64::new(0);
static CANCELLED: AtomicU64 = AtomicU64::new(0);

/// What happened to each value id.
const SENT: u8 = 1;
const RECEIVED: u8 = 2;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs while a permit is held: counts the holders, never more than the permits.
fn holding() -> impl Drop {
    struct Holder;
    impl Drop for Holder {
        fn drop(&mut self) {
            HOLDERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let holders = HOLDERS.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(holders <= PERMITS, "{holders} permit holders");
    MOST_HOLDERS.fetch_max(holders, Ordering::Relaxed);
    Holder
}

fn received(id: u64, values: &[AtomicU8]) {
    let before = values[id as usize].fetch_or(RECEIVED, Ordering::SeqCst);
    assert_eq!(before & RECEIVED, 0, "value {id:#x} received twice");
}

struct World {
    sender: channel::Sender<u64>,
    receiver: channel::Receiver<u64>,
    values: Vec<AtomicU8>,
}

/// One task's rounds: each a wait that a timeout or a select may cancel.
async fn task_rounds(me: u64, world: Arc<World>) {
    let mut random = 0x9e37_79b9_7f4a_7c15 ^ (me + 1) << 24;
    for round in 0..ROUNDS {
        let patience = Duration::from_micros(xorshift(&mut random) % 120);
        match xorshift(&mut random) % 4 {
            0 => match executor::timeout(patience, SEMAPHORE.acquire_async()).await {
                Ok(permit) => {
                    let holder = holding();
                    if round % 3 == 0 {
                        executor::yield_now().await;
                    }
                    drop(holder);
                    drop(permit);
                }
                Err(_) => _ = CANCELLED.fetch_add(1, Ordering::Relaxed),
            },
            1 => match executor::timeout(patience, COUNTER.lock_async()).await {
                Ok(mut guard) => {
                    *guard += 1;
                    INCREMENTS.fetch_add(1, Ordering::Relaxed);
                    if round % 5 == 0 {
                        executor::yield_now().await; // the guard is held across it
                    }
                }
                Err(_) => _ = CANCELLED.fetch_add(1, Ordering::Relaxed),
            },
            2 => {
                let id = me << 16 | round;
                match executor::timeout(patience, world.sender.send_async(id)).await {
                    Ok(sent) => {
                        assert!(sent.is_ok());
                        world.values[id as usize].fetch_or(SENT, Ordering::SeqCst);
                    }
                    Err(_) => _ = CANCELLED.fetch_add(1, Ordering::Relaxed),
                }
            }
            _ => {
                let mut receive = pin!(world.receiver.recv_async().fuse());
                let mut give_up = pin!(executor::sleep(patience).fuse());
                executor::select_biased! {
                    value = receive => received(value.unwrap(), &world.values),
                    () = give_up => _ = CANCELLED.fetch_add(1, Ordering::Relaxed),
                }
            }
        }
    }
}

/// One thread's rounds: the same primitives, blocking; the thread moves itself now and
/// then (and main moves it too).
fn thread_rounds(me: u64, world: &World) {
    let mut random = 0x2545_f491_4f6c_dd1d ^ (me + 1) << 24;
    for round in 0..ROUNDS {
        match xorshift(&mut random) % 4 {
            0 => {
                SEMAPHORE.acquire();
                drop(holding());
                SEMAPHORE.release();
            }
            1 => {
                *COUNTER.lock() += 1;
                INCREMENTS.fetch_add(1, Ordering::Relaxed);
            }
            2 => {
                let id = me << 16 | round;
                // Marked first: a receiver may take it before `send` returns.
                world.values[id as usize].fetch_or(SENT, Ordering::SeqCst);
                world.sender.send(id).unwrap();
            }
            _ => {
                let cpus = CpuSet::from_bits(xorshift(&mut random) % 15 + 1);
                thread::set_affinity(cpus).unwrap();
            }
        }
    }
}

fn cancelled_waits_lose_no_permit_lock_or_value() {
    assert_eq!(thread::cpu_count(), 4);
    drop(Executor::new("warm-up", 1));
    Workers::start("warm-up", 1).unwrap().stop();
    mm::reclaim();
    let before = mm::usage();
    {
        let (sender, receiver) = channel::bounded::<u64>(4);
        let world = Arc::new(World {
            sender,
            receiver,
            values: (0..IDS).map(|_| AtomicU8::new(0)).collect(),
        });
        let workers = Workers::start("cancelling", 64).unwrap();
        let tasks: Vec<_> = (0..4 * TASKS_PER_WORKER as u64)
            .map(|me| {
                let world = Arc::clone(&world);
                workers
                    .on((me % 4) as u32)
                    .unwrap()
                    .spawn(task_rounds(me, world))
            })
            .collect();
        let threads: Vec<_> = (0..THREADS as u64)
            .map(|n| {
                let world = Arc::clone(&world);
                let me = 4 * TASKS_PER_WORKER as u64 + n;
                Builder::new()
                    .stack_size(16 * 1024)
                    .spawn(move || thread_rounds(me, &world))
                    .unwrap()
            })
            .collect();
        // A task joins each thread while this thread moves them about and drains the
        // channel (the tasks may be done receiving before the threads are done sending).
        let watchers: Vec<_> = threads
            .into_iter()
            .map(|thread| {
                let moved = Arc::clone(thread.thread());
                (moved, workers.spawn(thread.join_async()))
            })
            .collect();
        let mut random = 0xfeed_f00d_u64;
        let drain = |world: &World| {
            while let Ok(id) = world.receiver.try_recv() {
                received(id, &world.values);
            }
        };
        while watchers.iter().any(|(_, watcher)| !watcher.is_finished())
            || tasks.iter().any(|task| !task.is_finished())
        {
            for (thread, _) in &watchers {
                thread
                    .set_affinity(CpuSet::from_bits(xorshift(&mut random) % 15 + 1))
                    .unwrap();
            }
            drain(&world);
            thread::yield_now();
        }
        drain(&world);
        executor::block_on(async move {
            for (_, watcher) in watchers {
                assert_eq!(watcher.await.unwrap(), Ok(()));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
        workers.stop();
        let (mut sent, mut unsent_received) = (0, 0);
        for (id, value) in world.values.iter().enumerate() {
            match value.load(Ordering::SeqCst) {
                0 => {}
                SENT => panic!("value {id:#x} was sent and never received"),
                RECEIVED => unsent_received += 1,
                _ => sent += 1,
            }
        }
        assert_eq!(unsent_received, 0, "values received that were never sent");
        assert_eq!(SEMAPHORE.available(), PERMITS, "permits lost or made up");
        assert_eq!(HOLDERS.load(Ordering::SeqCst), 0);
        assert_eq!(*COUNTER.lock(), INCREMENTS.load(Ordering::SeqCst));
        println!(
            "hostile_cancellation: {sent} values sent and received once, {} increments, \
             {} waits cancelled, at most {} permit holders",
            INCREMENTS.load(Ordering::SeqCst),
            CANCELLED.load(Ordering::SeqCst),
            MOST_HOLDERS.load(Ordering::SeqCst)
        );
    }
    mm::reclaim();
    let after = mm::usage();
    assert_eq!(
        (after.bytes, after.allocations),
        (before.bytes, before.allocations),
        "memory left behind"
    );
}
