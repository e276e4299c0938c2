//! A randomized soak on four CPUs: tokens hop at random between 32 workers of three
//! kinds (threads that block in `recv`, tasks on one pinned executor per CPU, tasks on
//! two executors whose threads move freely), 2^20 hops in all, each hop a blocking
//! channel receive that a thread, a task or an executor on any CPU may satisfy. Between
//! hops the workers yield, sleep, take a shared mutex (threads `lock`, tasks `lock_async`),
//! and (threads) move to other CPUs.
//!
//! Every count is exact: hops per token, hops in all, mutex increments. A lost wake-up
//! hangs (the harness reports the time-out); a lost or doubled token fails an assertion.
//@ smp: 2 4
//@ timeout: 600
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, ExecutorThread, Workers},
    println,
    sync::{
        Mutex,
        channel::{self, Receiver, Sender},
    },
    thread::{self, CpuSet},
};

spindle_test::test_kernel!(a_million_random_hops_between_threads_and_tasks_on_four_cpus);

const TOKENS: u64 = 64;
const HOPS_PER_TOKEN: u64 = 16 * 1024;
const THREADS: usize = 8;
const PINNED_TASKS: usize = 16;
const FREE_TASKS: usize = 8;
const WORKERS: usize = THREADS + PINNED_TASKS + FREE_TASKS;

/// What travels between workers.
#[derive(Debug)]
enum Message {
    Token(Token),
    Stop,
}

#[derive(Debug)]
struct Token {
    id: u64,
    hops_left: u64,
    /// The token's own random sequence (xorshift): where it goes next, what the worker
    /// does before passing it on.
    random: u64,
}

impl Token {
    fn next_random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }
}

/// What every worker shares.
struct World {
    inboxes: Vec<Sender<Message>>,
    finished: Sender<u64>,
    hops: Vec<AtomicU64>,
    shared: Mutex<u64>,
    mutex_adds: AtomicU64,
}

impl World {
    /// Handles one token at worker `me`; returns where it goes (`None`: it is finished),
    /// and what to do before passing it on (0: add one under the shared mutex, which a
    /// thread locks and a task awaits).
    fn hop(&self, me: usize, token: &mut Token) -> (Option<usize>, u64) {
        self.hops[me].fetch_add(1, Ordering::Relaxed);
        token.hops_left -= 1;
        let action = token.next_random() % 16;
        if action == 0 {
            self.mutex_adds.fetch_add(1, Ordering::Relaxed);
        }
        let next = (token.hops_left > 0).then(|| (token.next_random() % WORKERS as u64) as usize);
        (next, action)
    }
}

fn a_million_random_hops_between_threads_and_tasks_on_four_cpus() {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..WORKERS)
        .map(|_| channel::bounded::<Message>(TOKENS as usize + 1))
        .unzip();
    let (finished, finished_tokens) = channel::bounded::<u64>(TOKENS as usize);
    let world = Arc::new(World {
        inboxes: senders,
        finished,
        hops: (0..WORKERS).map(|_| AtomicU64::new(0)).collect(),
        shared: Mutex::new(0),
        mutex_adds: AtomicU64::new(0),
    });
    let mut receivers = receivers.into_iter().enumerate();
    let threads: Vec<_> = receivers
        .by_ref()
        .take(THREADS)
        .map(|(me, inbox)| {
            let world = Arc::clone(&world);
            thread::spawn(move || thread_worker(&world, me, inbox))
        })
        .collect();
    let workers = Workers::start("soak", PINNED_TASKS).unwrap();
    let free = [
        ExecutorThread::start("soak-free-a", FREE_TASKS).unwrap(),
        ExecutorThread::start("soak-free-b", FREE_TASKS).unwrap(),
    ];
    let tasks: Vec<_> = receivers
        .map(|(me, inbox)| {
            let task = task_worker(Arc::clone(&world), me, inbox);
            match me < THREADS + PINNED_TASKS {
                true => workers.spawn(task),
                false => free[me % 2].spawner().spawn(task),
            }
        })
        .collect();
    for id in 0..TOKENS {
        let token = Token {
            id,
            hops_left: HOPS_PER_TOKEN,
            random: 0x9e37_79b9_7f4a_7c15 ^ (id + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
        };
        let first = (id as usize * 7) % WORKERS;
        world.inboxes[first].send(Message::Token(token)).unwrap();
    }
    let mut done: Vec<u64> = (0..TOKENS)
        .map(|_| finished_tokens.recv().unwrap())
        .collect();
    done.sort_unstable();
    assert_eq!(
        done,
        (0..TOKENS).collect::<Vec<_>>(),
        "each token finished once"
    );
    for inbox in &world.inboxes {
        inbox.send(Message::Stop).unwrap();
    }
    threads.into_iter().for_each(|worker| worker.join());
    for task in tasks {
        executor::block_on(task).unwrap();
    }
    workers.stop();
    free.into_iter().for_each(ExecutorThread::stop);
    let hops: u64 = world.hops.iter().map(|h| h.load(Ordering::Relaxed)).sum();
    assert_eq!(hops, TOKENS * HOPS_PER_TOKEN);
    assert_eq!(
        *world.shared.lock(),
        world.mutex_adds.load(Ordering::Relaxed)
    );
    assert!(
        world.hops.iter().all(|h| h.load(Ordering::Relaxed) > 0),
        "every worker hopped"
    );
    let stats = thread::cpu_stats();
    println!("soak: {hops} hops; per CPU: {stats:?}");
    println!(
        "soak: lock waits {:?}, thread table {}",
        spindle::mm::lock_contention(),
        thread::table_contention()
    );
    assert!(
        stats.iter().all(|cpu| cpu.switches > 0),
        "every CPU ran threads"
    );
}

/// A thread worker: blocks in `recv`; sometimes yields, sleeps or moves to another CPU.
fn thread_worker(world: &World, me: usize, inbox: Receiver<Message>) {
    while let Ok(Message::Token(mut token)) = inbox.recv() {
        let (next, action) = world.hop(me, &mut token);
        match action {
            0 => *world.shared.lock() += 1,
            1 => thread::yield_now(),
            2 => thread::sleep(Duration::from_micros(50)),
            3 => {
                let cpu = (token.random % u64::from(thread::cpu_count())) as u32;
                thread::set_affinity(CpuSet::single(cpu)).unwrap();
                thread::set_affinity(CpuSet::ALL).unwrap();
            }
            _ => {}
        }
        pass_on(world, next, token);
    }
}

/// A task worker: awaits its inbox; sometimes yields, sleeps or locks asynchronously.
async fn task_worker(world: Arc<World>, me: usize, inbox: Receiver<Message>) {
    while let Ok(Message::Token(mut token)) = inbox.recv_async().await {
        let (next, action) = world.hop(me, &mut token);
        match action {
            0 => *world.shared.lock_async().await += 1,
            1 => executor::yield_now().await,
            2 => executor::sleep(Duration::from_micros(50)).await,
            _ => {}
        }
        match next {
            Some(worker) => world.inboxes[worker]
                .send_async(Message::Token(token))
                .await
                .unwrap_or_else(|_| panic!("worker {worker} stopped early")),
            None => world.finished.send_async(token.id).await.unwrap(),
        }
    }
}

fn pass_on(world: &World, next: Option<usize>, token: Token) {
    match next {
        Some(worker) => {
            let sent = world.inboxes[worker].send(Message::Token(token));
            assert!(sent.is_ok(), "worker {worker} stopped early");
        }
        None => world.finished.send(token.id).unwrap(),
    }
}
