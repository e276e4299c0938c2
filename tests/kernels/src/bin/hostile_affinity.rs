//! `Thread::set_affinity` from other threads while the target blocks, sleeps, parks, is
//! woken, moves itself and exits, on four CPUs; executor host threads are moved the same
//! way while their tasks serve the targets. Every round of every target is counted, every
//! wake a server delivers is consumed exactly once, and once everything is joined the
//! heap holds what it held before, to the byte.
//!
//! Each target runs a seeded xorshift sequence of actions: wait on its own semaphore for
//! a server (a thread or a task) to release it, park until a server hands it a token and
//! unparks it, sleep, move itself to a random set of CPUs, or spin. Three controllers
//! pinned to CPUs 1-3 retarget random targets (and the executor hosts) to random sets
//! meanwhile, joined and exited threads included.
//@ smp: 4
//@ timeout: 60
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, ExecutorThread},
    mm, println,
    sync::{Mutex, Semaphore, channel},
    thread::{self, Builder, CpuSet, Thread},
};

spindle_test::test_kernel!(targets_moved_by_others_while_they_wait_count_exactly);

const TARGETS_PER_WAVE: usize = 8;
const WAVES: usize = 4;
const ROUNDS: u64 = 400;
const CONTROLLERS: u32 = 3;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A random non-empty set of the four CPUs.
fn random_set(state: &mut u64) -> CpuSet {
    CpuSet::from_bits(xorshift(state) % 15 + 1)
}

/// What a target asks a server for.
enum Request {
    /// Release the target's semaphore.
    Release(Arc<Target>),
    /// Hand the target a token and unpark it.
    Unpark(Arc<Target>, Arc<Thread>),
    Stop,
}

/// One target's side of the bookkeeping.
struct Target {
    semaphore: Semaphore,
    token: AtomicBool,
}

static RELEASES: AtomicU64 = AtomicU64::new(0);
static UNPARKS: AtomicU64 = AtomicU64::new(0);
static ACQUIRED: AtomicU64 = AtomicU64::new(0);
static TOKENS_TAKEN: AtomicU64 = AtomicU64::new(0);
static ROUNDS_DONE: AtomicU64 = AtomicU64::new(0);
static SELF_MOVES: AtomicU64 = AtomicU64::new(0);
static RETARGETS: AtomicU64 = AtomicU64::new(0);
static CONTROLLING: AtomicBool = AtomicBool::new(true);

fn serve(request: Request) -> bool {
    match request {
        Request::Release(target) => {
            RELEASES.fetch_add(1, Ordering::Relaxed);
            target.semaphore.release();
        }
        Request::Unpark(target, thread) => {
            UNPARKS.fetch_add(1, Ordering::Relaxed);
            target.token.store(true, Ordering::Release);
            thread.unpark();
        }
        Request::Stop => return false,
    }
    true
}

fn ask(requests: &channel::Sender<Request>, request: Request) {
    assert!(requests.send(request).is_ok(), "the servers are gone");
}

fn run_target(seed: u64, requests: &channel::Sender<Request>) -> u64 {
    let me = Arc::new(Target {
        semaphore: Semaphore::new(0),
        token: AtomicBool::new(false),
    });
    let mut random = seed;
    for _ in 0..ROUNDS {
        match xorshift(&mut random) % 6 {
            0 => {
                ask(requests, Request::Release(Arc::clone(&me)));
                me.semaphore.acquire();
                ACQUIRED.fetch_add(1, Ordering::Relaxed);
            }
            1 => {
                ask(
                    requests,
                    Request::Unpark(Arc::clone(&me), thread::current()),
                );
                while !me.token.swap(false, Ordering::Acquire) {
                    thread::park();
                }
                TOKENS_TAKEN.fetch_add(1, Ordering::Relaxed);
            }
            2 => thread::sleep(Duration::from_micros(xorshift(&mut random) % 300)),
            3 => {
                thread::set_affinity(random_set(&mut random)).unwrap();
                SELF_MOVES.fetch_add(1, Ordering::Relaxed);
            }
            4 => thread::yield_now(),
            _ => {
                for _ in 0..xorshift(&mut random) % 2000 {
                    core::hint::spin_loop();
                }
            }
        }
        ROUNDS_DONE.fetch_add(1, Ordering::Relaxed);
    }
    // Every wake asked for was consumed: nothing may be left over.
    assert_eq!(me.semaphore.available(), 0, "a release left over");
    assert!(!me.token.load(Ordering::Acquire), "a token left over");
    ROUNDS
}

fn control(cpu: u32, victims: Arc<Mutex<Vec<Arc<Thread>>>>) -> u64 {
    let mut random = 0x1234_5678_9abc_def0 ^ u64::from(cpu) << 40;
    let mut moves = 0;
    while CONTROLLING.load(Ordering::Relaxed) {
        let victim = {
            let victims = victims.lock();
            if victims.is_empty() {
                None
            } else {
                let index = (xorshift(&mut random) % victims.len() as u64) as usize;
                Some(Arc::clone(&victims[index]))
            }
        };
        if let Some(victim) = victim {
            victim.set_affinity(random_set(&mut random)).unwrap();
            moves += 1;
        }
        if xorshift(&mut random).is_multiple_of(4) {
            thread::yield_now();
        }
    }
    RETARGETS.fetch_add(moves, Ordering::Relaxed);
    moves
}

fn targets_moved_by_others_while_they_wait_count_exactly() {
    assert_eq!(thread::cpu_count(), 4);
    // The executor registry's table grows once, with the first executor.
    drop(executor::Executor::new("warm-up", 1));
    mm::reclaim();
    let before = mm::usage();
    {
        let victims: Arc<Mutex<Vec<Arc<Thread>>>> = Arc::new(Mutex::new(Vec::new()));
        let controllers: Vec<_> = (1..=CONTROLLERS)
            .map(|cpu| {
                let victims = Arc::clone(&victims);
                Builder::new()
                    .cpu(cpu)
                    .spawn(move || control(cpu, victims))
                    .unwrap()
            })
            .collect();
        let (requests, inbox) = channel::bounded::<Request>(16);
        // Servers: two threads and two tasks on executors whose hosts are moved too.
        let server_threads: Vec<_> = (0..2)
            .map(|_| {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    let mut served = 0u64;
                    while inbox.recv().is_ok_and(serve) {
                        served += 1;
                    }
                    served
                })
            })
            .collect();
        let hosts: Vec<_> = (0..2)
            .map(|_| ExecutorThread::start("moved-host", 8).unwrap())
            .collect();
        let server_tasks: Vec<_> = hosts
            .iter()
            .map(|host| {
                let inbox = inbox.clone();
                host.spawn(async move {
                    let mut served = 0u64;
                    while inbox.recv_async().await.is_ok_and(serve) {
                        served += 1;
                    }
                    served
                })
            })
            .collect();
        victims
            .lock()
            .extend(hosts.iter().map(|host| Arc::clone(host.thread())));
        let mut total = 0;
        for wave in 0..WAVES {
            let targets: Vec<_> = (0..TARGETS_PER_WAVE)
                .map(|n| {
                    let requests = requests.clone();
                    let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul((wave * 64 + n + 1) as u64);
                    Builder::new()
                        .stack_size(16 * 1024)
                        .spawn(move || run_target(seed, &requests))
                        .unwrap()
                })
                .collect();
            victims
                .lock()
                .extend(targets.iter().map(|target| Arc::clone(target.thread())));
            // Joined while the controllers keep moving them (and after they exited).
            total += targets.into_iter().map(|target| target.join()).sum::<u64>();
        }
        for _ in 0..4 {
            ask(&requests, Request::Stop);
        }
        let mut served: u64 = server_threads.into_iter().map(|s| s.join()).sum();
        served += executor::block_on(async move {
            let mut sum = 0;
            for task in server_tasks {
                sum += task.await.unwrap();
            }
            sum
        });
        CONTROLLING.store(false, Ordering::Relaxed);
        let retargets: u64 = controllers.into_iter().map(|c| c.join()).sum();
        hosts.into_iter().for_each(ExecutorThread::stop);
        victims.lock().clear();
        let expected = (WAVES * TARGETS_PER_WAVE) as u64 * ROUNDS;
        assert_eq!(total, expected);
        assert_eq!(ROUNDS_DONE.load(Ordering::SeqCst), expected);
        let releases = RELEASES.load(Ordering::SeqCst);
        let unparks = UNPARKS.load(Ordering::SeqCst);
        assert_eq!(ACQUIRED.load(Ordering::SeqCst), releases);
        assert_eq!(TOKENS_TAKEN.load(Ordering::SeqCst), unparks);
        assert_eq!(served, releases + unparks);
        println!(
            "hostile_affinity: {expected} rounds, {releases} semaphore wakes, {unparks} unparks, \
             {} self-moves, {retargets} retargets",
            SELF_MOVES.load(Ordering::SeqCst)
        );
        assert!(retargets > 0);
    }
    mm::reclaim();
    let after = mm::usage();
    assert_eq!(
        (after.bytes, after.allocations),
        (before.bytes, before.allocations),
        "memory left behind"
    );
}
