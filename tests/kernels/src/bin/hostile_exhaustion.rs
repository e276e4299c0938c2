//! Exhaustion on four CPUs at once: four fillers, one per CPU, spawn parked threads and
//! pending tasks until the heap says no, while thread pairs and task pairs keep passing
//! a turn back and forth across CPUs (waking never allocates, so they must go on through
//! the full heap); then everything is released and joined, spawning works again, and
//! the heap holds what it held before, to the byte. And executors at capacity, filled
//! from four CPUs at once: exactly `capacity` spawns succeed each time.
//@ smp: 4
//@ qemu-args: -m 128M
//@ timeout: 60
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use spindle::{
    executor::{self, Executor, TaskError, TaskHandle, TaskSpawnError, Workers},
    println,
    sync::{Event, Semaphore, channel},
    thread::{self, Builder, JoinHandle, SpawnError},
};
use spindle_test::memory::{assert_heap_back_to, heap_in_use};

spindle_test::test_kernel!(
    four_cpus_fill_the_heap_while_pairs_keep_waking_each_other,
    executors_at_capacity_take_exactly_capacity_spawns_from_four_cpus,
);

/// Turns passed by the pairs.
static TURNS: AtomicU64 = AtomicU64::new(0);
static PLAYING: AtomicBool = AtomicBool::new(true);
/// Fillers whose spawns have both run out of memory.
static FULL: AtomicU32 = AtomicU32::new(0);
/// Released once every filler is full and the pairs made progress through it.
static RELEASE: Event = Event::new();

const THREAD_ROOM: usize = 8 * 1024;
const TASK_ROOM: usize = 48 * 1024;

/// What one filler spawned: parked threads and pending tasks.
struct Filled {
    threads: Vec<JoinHandle<usize>>,
    tasks: Vec<TaskHandle<usize>>,
}

/// Spawns a thread, then four tasks, again and again, until both kinds fail for lack of
/// memory; allocates nothing else meanwhile (room for the handles is reserved first).
fn fill(me: u32, workers: &Workers) -> Filled {
    let mut filled = Filled {
        threads: Vec::with_capacity(THREAD_ROOM),
        tasks: Vec::with_capacity(TASK_ROOM),
    };
    let spawner = workers.on(me).unwrap();
    let (mut threads_full, mut tasks_full) = (false, false);
    let mut n = 0usize;
    while !(threads_full && tasks_full) {
        n += 1;
        if !threads_full {
            let index = filled.threads.len();
            match Builder::new().stack_size(16 * 1024).spawn(move || {
                RELEASE.wait();
                index
            }) {
                Ok(handle) => filled.threads.push(handle),
                Err(error) => {
                    assert_eq!(error, SpawnError::OutOfMemory);
                    threads_full = true;
                }
            }
            assert!(filled.threads.len() < THREAD_ROOM, "threads never ran out");
        }
        for _ in 0..4 {
            let index = filled.tasks.len();
            // Half a KiB of cargo, so that the heap fills within the room for handles.
            let cargo = [index as u8; 512];
            match spawner.try_spawn(async move {
                RELEASE.wait_async().await;
                let cargo = core::hint::black_box(cargo);
                assert!(cargo.iter().all(|&byte| byte == index as u8));
                index
            }) {
                Ok(handle) => filled.tasks.push(handle),
                Err(error) => {
                    assert_eq!(error, TaskSpawnError::OutOfMemory);
                    tasks_full = true;
                    break;
                }
            }
            assert!(filled.tasks.len() < TASK_ROOM, "tasks never ran out");
        }
        if n.is_multiple_of(64) {
            thread::yield_now();
        }
    }
    FULL.fetch_add(1, Ordering::SeqCst);
    filled
}

/// Joins what a filler spawned; returns (threads, tasks). Every task whose spawn
/// succeeded runs: its executor never drops it for want of memory (the spawn made room
/// for it, or failed).
fn release(filled: Filled) -> (usize, usize) {
    let threads = filled.threads.len();
    for (index, handle) in filled.threads.into_iter().enumerate() {
        assert_eq!(handle.join(), index);
    }
    let tasks = filled.tasks.len();
    for (index, handle) in filled.tasks.into_iter().enumerate() {
        assert_eq!(
            executor::block_on(handle),
            Ok(index),
            "a spawned task was dropped"
        );
    }
    (threads, tasks)
}

/// Two threads on different CPUs pass a turn with semaphores until told to stop;
/// returns the turns they passed.
fn thread_pair(cpus: (u32, u32)) -> [JoinHandle<u64>; 2] {
    let ping = Arc::new(Semaphore::new(1));
    let pong = Arc::new(Semaphore::new(0));
    let player = |cpu, mine: Arc<Semaphore>, theirs: Arc<Semaphore>| {
        Builder::new()
            .cpu(cpu)
            .spawn(move || {
                let mut turns = 0;
                loop {
                    mine.acquire();
                    if !PLAYING.load(Ordering::Acquire) {
                        theirs.release(); // lets the other one see it too
                        return turns;
                    }
                    turns += 1;
                    TURNS.fetch_add(1, Ordering::Relaxed);
                    theirs.release();
                }
            })
            .unwrap()
    };
    [
        player(cpus.0, Arc::clone(&ping), Arc::clone(&pong)),
        player(cpus.1, pong, ping),
    ]
}

/// Two tasks on workers of different CPUs pass a turn over channels.
fn task_pair(workers: &Workers, cpus: (u32, u32)) -> [TaskHandle<u64>; 2] {
    let (to_first, first_inbox) = channel::bounded::<u64>(1);
    let (to_second, second_inbox) = channel::bounded::<u64>(1);
    to_first.send(0).unwrap();
    let player = |inbox: channel::Receiver<u64>, out: channel::Sender<u64>| async move {
        let mut turns = 0;
        while let Ok(turn) = inbox.recv_async().await {
            if !PLAYING.load(Ordering::Acquire) {
                break; // dropping `out` ends the other one
            }
            turns += 1;
            TURNS.fetch_add(1, Ordering::Relaxed);
            if out.send_async(turn + 1).await.is_err() {
                break;
            }
        }
        turns
    };
    [
        workers
            .on(cpus.0)
            .unwrap()
            .spawn(player(first_inbox, to_second)),
        workers
            .on(cpus.1)
            .unwrap()
            .spawn(player(second_inbox, to_first)),
    ]
}

fn four_cpus_fill_the_heap_while_pairs_keep_waking_each_other() {
    assert_eq!(thread::cpu_count(), 4);
    // The executor registry's table grows once, with the most executors alive at once.
    Workers::start("warm-up", 1).unwrap().stop();
    let before = heap_in_use();
    {
        let workers = Arc::new(Workers::start("filled", 64 * 1024).unwrap());
        let thread_pairs = [thread_pair((0, 2)), thread_pair((1, 3))];
        let task_pairs = [task_pair(&workers, (0, 3)), task_pair(&workers, (2, 1))];
        let fillers: Vec<_> = (0..4)
            .map(|cpu| {
                let workers = Arc::clone(&workers);
                Builder::new()
                    .cpu(cpu)
                    .spawn(move || fill(cpu, &workers))
                    .unwrap()
            })
            .collect();
        while FULL.load(Ordering::SeqCst) < 4 {
            thread::yield_now();
        }
        // The heap is full (each filler's last spawns failed): the pairs go on.
        let turns_when_full = TURNS.load(Ordering::SeqCst);
        while TURNS.load(Ordering::SeqCst) < turns_when_full + 2_000 {
            thread::yield_now();
        }
        RELEASE.set();
        let (mut threads, mut ran) = (0, 0);
        for filler in fillers {
            let (t, r) = release(filler.join());
            threads += t;
            ran += r;
        }
        PLAYING.store(false, Ordering::Release);
        let mut turns = 0;
        for pair in thread_pairs {
            turns += pair.into_iter().map(JoinHandle::join).sum::<u64>();
        }
        turns += executor::block_on(async move {
            let mut turns = 0;
            for pair in task_pairs {
                for player in pair {
                    turns += player.await.unwrap();
                }
            }
            turns
        });
        assert_eq!(turns, TURNS.load(Ordering::SeqCst));
        println!(
            "hostile_exhaustion: {threads} threads and {ran} tasks filled the heap; \
             {turns} turns passed"
        );
        // Spawning works again, threads and tasks.
        let again: Vec<_> = (0..64u64).map(|n| thread::spawn(move || n)).collect();
        assert_eq!(
            again.into_iter().map(JoinHandle::join).sum::<u64>(),
            63 * 32
        );
        let again: Vec<_> = (0..64u64)
            .map(|n| workers.spawn(async move { n }))
            .collect();
        let sum = executor::block_on(async move {
            let mut sum = 0;
            for task in again {
                sum += task.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 63 * 32);
        Arc::into_inner(workers).unwrap().stop();
    }
    assert_heap_back_to(before);
}

/// Four threads, one per CPU, spawn pending tasks onto one executor until it says
/// `Full`, while the thread that owns it polls it: exactly `capacity` get in. Then all
/// are aborted and polled away, and it starts over.
fn executors_at_capacity_take_exactly_capacity_spawns_from_four_cpus() {
    const ROUNDS: usize = 150;
    for capacity in [0usize, 1, 7, 64] {
        let owner = Builder::new()
            .cpu(0)
            .spawn(move || {
                let executor = Executor::new("at-capacity", capacity);
                for _ in 0..ROUNDS {
                    fill_to_capacity(&executor, capacity);
                }
            })
            .unwrap();
        owner.join();
    }
}

/// One round of [`executors_at_capacity_take_exactly_capacity_spawns_from_four_cpus`].
fn fill_to_capacity(executor: &Executor, capacity: usize) {
    let spawners: Vec<_> = (0..4)
        .map(|cpu| {
            let spawner = executor.spawner();
            Builder::new()
                .cpu(cpu)
                .spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        match spawner.try_spawn(core::future::pending::<()>()) {
                            Ok(handle) => mine.push(handle),
                            Err(TaskSpawnError::Full) => return mine,
                            Err(error) => panic!("spawn failed: {error}"),
                        }
                    }
                })
                .unwrap()
        })
        .collect();
    // Polled while they spawn: the tasks move from the inbox into the table meanwhile.
    while spawners.iter().any(|s| !s.is_finished()) {
        executor.run_until_stalled();
        thread::yield_now();
    }
    let handles: Vec<_> = spawners.into_iter().flat_map(|s| s.join()).collect();
    assert_eq!(handles.len(), capacity, "capacity {capacity}");
    handles.iter().for_each(TaskHandle::abort);
    executor.run_until_stalled();
    for handle in handles {
        assert!(handle.is_finished());
        assert_eq!(executor.block_on(handle), Err(TaskError::Cancelled));
    }
}
