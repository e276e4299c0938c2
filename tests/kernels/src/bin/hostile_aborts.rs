//! Tasks on four CPUs aborted at random moments (before their first poll, mid-run, as
//! they complete), detached, left on executors that are stopped under them, and woken by
//! stashed wakers, timers and other executors after they finished; `JoinSet`s dropped or
//! aborted half-joined. Counted per task: a handle that says `Ok` belongs to a task whose
//! future returned (with its own value), one that says `Cancelled` to one whose future
//! never returned, and every future is dropped exactly once. Afterwards the heap holds
//! what it held before, to the byte.
//!
//! Regression: a stopped executor's shared block stayed allocated (held by the executor
//! registry's weak reference) until another executor was created, so `mm::usage` was
//! not back after `ExecutorThread::stop` (112 bytes per executor).
//@ smp: 4
//@ timeout: 60
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    future::{Future, poll_fn},
    pin::pin,
    sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering},
    task::{Poll, Waker},
    time::Duration,
};

use spindle::{
    executor::{
        self, Executor, ExecutorThread, JoinSet, Spawner, TaskError, TaskSpawnError, Workers,
    },
    println,
    sync::{IrqSpinLock, Semaphore},
    thread::{self, Builder, Timer},
    time,
};
use spindle_test::memory::{assert_heap_back_to, heap_in_use};

spindle_test::test_kernel!(
    stopped_executors_give_their_memory_back,
    aborts_race_polls_completions_and_executor_stops,
    join_sets_dropped_and_aborted_half_joined,
);

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Executors started and stopped (threads and executors of its own) give back all
/// their memory.
fn stopped_executors_give_their_memory_back() {
    // The registry's table grows to hold the most executors alive at once, once; then
    // one executor alone (a registry that kept dead executors' blocks until the next
    // registration would hold one block here, and eight after the rounds).
    executors_round(0);
    drop(Executor::new("alone", 1));
    let before = heap_in_use();
    for round in 1..5 {
        executors_round(round);
    }
    assert_eq!(
        heap_in_use(),
        before,
        "stopped executors left memory behind"
    );
}

/// Four executor threads and four executors of this thread, one task, all stopped.
fn executors_round(round: usize) {
    let hosts: Vec<_> = (0..4)
        .map(|_| ExecutorThread::start("short-lived", 8).unwrap())
        .collect();
    let own: Vec<_> = (0..4).map(|_| Executor::new("own", 8)).collect();
    let answer = hosts[round % 4].spawn(async move { round * 2 });
    assert_eq!(executor::block_on(answer), Ok(round * 2));
    drop(own);
    hosts.into_iter().for_each(ExecutorThread::stop);
}

/// Task states, by global task number.
const UNSEEN: u8 = 0;
const RETURNED: u8 = 1;

static SPAWNED: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static STASH: IrqSpinLock<Vec<Waker>> = IrqSpinLock::new(Vec::new());
static PERMITS: Semaphore = Semaphore::new(0);

/// Counts its drop; lives inside each task's future.
struct DropCount;

impl Drop for DropCount {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Leaves a clone of the task's waker in the stash on its first poll; ready on the next.
fn stashed_once() -> impl Future<Output = ()> {
    let mut stashed = false;
    poll_fn(move |cx| {
        if stashed {
            return Poll::Ready(());
        }
        stashed = true;
        let mut stash = STASH.lock();
        if stash.len() < stash.capacity() {
            stash.push(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(()) // the stash is full (room is reserved up front: no allocation)
        }
    })
}

/// The future of task `id` of kind `kind`: returns `id` (recording it returned).
fn task(id: usize, kind: u64, states: Arc<Vec<AtomicU8>>) -> impl Future<Output = usize> {
    let guard = DropCount;
    async move {
        let _guard = guard;
        match kind {
            0 => {}
            1 => {
                for _ in 0..id % 4 {
                    executor::yield_now().await;
                }
            }
            2 => executor::sleep(Duration::from_micros(id as u64 % 200)).await,
            3 => stashed_once().await,
            4 => {
                // Released by tasks of other executors (kind 5) or at the end.
                PERMITS.acquire_async().await.forget();
            }
            5 => PERMITS.release(),
            _ => core::future::pending::<()>().await, // only ever aborted or dropped
        }
        let previous = states[id].swap(RETURNED, Ordering::Relaxed);
        assert_eq!(previous, UNSEEN, "task {id} returned twice");
        id
    }
}

const SPAWNERS: u32 = 4;
const TASKS_PER_SPAWNER: usize = 3000;
const BATCH: usize = 24;

/// Spawns `TASKS_PER_SPAWNER` tasks at random onto `executors`, aborts some at random
/// moments, detaches some, awaits the rest in batches; returns (Ok, Cancelled) counts.
fn spawn_and_abort(
    me: u32,
    executors: &[Spawner],
    states: &Arc<Vec<AtomicU8>>,
    progress: &AtomicUsize,
) -> (u64, u64) {
    let mut random = 0x2545_f491_4f6c_dd1d ^ (u64::from(me) + 1) << 32;
    let (mut ok, mut cancelled) = (0, 0);
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..TASKS_PER_SPAWNER {
        let id = me as usize * TASKS_PER_SPAWNER + n;
        let kind = xorshift(&mut random) % 7;
        let spawner = &executors[(xorshift(&mut random) % executors.len() as u64) as usize];
        SPAWNED.fetch_add(1, Ordering::Relaxed);
        let handle = match spawner.try_spawn(task(id, kind, Arc::clone(states))) {
            Ok(handle) => handle,
            Err(error) => {
                assert!(matches!(
                    error,
                    TaskSpawnError::Closed | TaskSpawnError::Full
                ));
                REFUSED.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let abort = kind == 6 || xorshift(&mut random).is_multiple_of(3);
        if abort {
            for _ in 0..xorshift(&mut random) % 300 {
                core::hint::spin_loop();
            }
            handle.abort();
        }
        if !abort && xorshift(&mut random).is_multiple_of(5) {
            drop(handle); // detached: runs on regardless
        } else {
            batch.push((id, handle));
        }
        if batch.len() == BATCH {
            let (o, c) = await_batch(&mut batch, states);
            ok += o;
            cancelled += c;
        }
        progress.fetch_add(1, Ordering::Relaxed);
    }
    let (o, c) = await_batch(&mut batch, states);
    (ok + o, cancelled + c)
}

/// Awaits each handle of `batch` and checks its result against what its task did.
fn await_batch(
    batch: &mut Vec<(usize, executor::TaskHandle<usize>)>,
    states: &[AtomicU8],
) -> (u64, u64) {
    let (mut ok, mut cancelled) = (0, 0);
    for (id, handle) in batch.drain(..) {
        match executor::block_on(handle) {
            Ok(value) => {
                assert_eq!(value, id, "task {id} returned another task's value");
                assert_eq!(states[id].load(Ordering::Relaxed), RETURNED);
                ok += 1;
            }
            Err(TaskError::Cancelled) => {
                assert_eq!(
                    states[id].load(Ordering::Relaxed),
                    UNSEEN,
                    "task {id} returned, but its handle says Cancelled"
                );
                cancelled += 1;
            }
            Err(TaskError::Panicked(report)) => panic!("task {id} panicked: {report}"),
        }
    }
    (ok, cancelled)
}

/// Wakes every stashed waker twice (the tasks may have finished, been aborted, or lost
/// their executor) until told to stop, and arms a timer with every other one, so that
/// the tick wakes it again from interrupt context (or the timer is disarmed when the
/// next one replaces it).
fn wake_stashed(stop: &AtomicBool) -> u64 {
    let timers = [
        pin!(Timer::new()),
        pin!(Timer::new()),
        pin!(Timer::new()),
        pin!(Timer::new()),
    ];
    let mut woken = 0;
    let mut taken = Vec::with_capacity(4096);
    loop {
        let stopping = stop.load(Ordering::Acquire);
        core::mem::swap(&mut taken, &mut *STASH.lock());
        for waker in taken.drain(..) {
            if woken % 2 == 0 {
                let deadline = time::now() + Duration::from_micros(woken % 300);
                timers[(woken / 2 % 4) as usize]
                    .as_ref()
                    .arm(deadline, &waker);
            }
            waker.wake_by_ref();
            waker.wake();
            woken += 1;
        }
        if stopping {
            return woken;
        }
        thread::yield_now();
    }
}

fn aborts_race_polls_completions_and_executor_stops() {
    assert_eq!(thread::cpu_count(), 4);
    drop(Executor::new("warm-up", 1));
    let before = heap_in_use();
    {
        STASH.lock().reserve_exact(4096);
        let states: Arc<Vec<AtomicU8>> = Arc::new(
            (0..SPAWNERS as usize * TASKS_PER_SPAWNER)
                .map(|_| AtomicU8::new(UNSEEN))
                .collect(),
        );
        let workers = Workers::start("steady", 512).unwrap();
        let doomed: Vec<_> = (0..2)
            .map(|_| ExecutorThread::start("doomed", 512).unwrap())
            .collect();
        let mut spawners: Vec<Spawner> =
            (0..4).map(|cpu| workers.on(cpu).unwrap().clone()).collect();
        spawners.extend(doomed.iter().map(|host| host.spawner().clone()));
        let stop_waking = Arc::new(AtomicBool::new(false));
        let waker_thread = {
            let stop = Arc::clone(&stop_waking);
            thread::spawn(move || wake_stashed(&stop))
        };
        let progress = Arc::new(AtomicUsize::new(0));
        let spawner_threads: Vec<_> = (0..SPAWNERS)
            .map(|me| {
                let spawners = spawners.clone();
                let states = Arc::clone(&states);
                let progress = Arc::clone(&progress);
                Builder::new()
                    .cpu(me)
                    .spawn(move || spawn_and_abort(me, &spawners, &states, &progress))
                    .unwrap()
            })
            .collect();
        // The doomed executors stop under the spawners, at a third and two thirds of the
        // way (progress, not time).
        let total = SPAWNERS as usize * TASKS_PER_SPAWNER;
        for (n, host) in doomed.into_iter().enumerate() {
            while progress.load(Ordering::Relaxed) < total * (n + 1) / 3 {
                // Acquires waiting for a release whose task went with an executor.
                PERMITS.release();
                thread::yield_now();
            }
            host.stop();
        }
        // Waiting acquires (kind 4) outnumber the releases (kind 5): release until
        // every spawner is done.
        while spawner_threads.iter().any(|s| !s.is_finished()) {
            PERMITS.release();
            thread::yield_now();
        }
        let (mut ok, mut cancelled) = (0, 0);
        for s in spawner_threads {
            let (o, c) = s.join();
            ok += o;
            cancelled += c;
        }
        // Detached tasks may still wait for a permit or a stashed wake.
        while DROPPED.load(Ordering::SeqCst) < SPAWNED.load(Ordering::SeqCst) {
            PERMITS.release();
            thread::yield_now();
        }
        workers.stop();
        stop_waking.store(true, Ordering::Release);
        let woken = waker_thread.join();
        assert_eq!(
            DROPPED.load(Ordering::SeqCst),
            SPAWNED.load(Ordering::SeqCst)
        );
        assert_eq!(SPAWNED.load(Ordering::SeqCst), total as u64);
        let returned = states
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) == RETURNED)
            .count() as u64;
        assert!(returned >= ok);
        println!(
            "hostile_aborts: {total} tasks, {} refused, {ok} Ok, {cancelled} TaskError, \
             {returned} returned in all, {woken} stashed wakers woken twice",
            REFUSED.load(Ordering::SeqCst)
        );
        assert!(REFUSED.load(Ordering::SeqCst) > 0 && cancelled > 0 && ok > 0);
        while PERMITS.try_acquire() {}
        *STASH.lock() = Vec::new();
    }
    assert_heap_back_to(before);
}

/// Join sets with members on every worker, joined partly, then aborted or dropped: each
/// member's future is dropped exactly once, and what `join_next` yields agrees with what
/// the member did.
fn join_sets_dropped_and_aborted_half_joined() {
    drop(Executor::new("warm-up", 1));
    let before = heap_in_use();
    {
        static DROPS_BEFORE: AtomicU64 = AtomicU64::new(0);
        DROPS_BEFORE.store(DROPPED.load(Ordering::SeqCst), Ordering::SeqCst);
        const SETS: usize = 300;
        const MEMBERS: usize = 12;
        let states: Arc<Vec<AtomicU8>> =
            Arc::new((0..SETS * MEMBERS).map(|_| AtomicU8::new(UNSEEN)).collect());
        let workers = Workers::start("set-worker", 256).unwrap();
        let spawners: Vec<Spawner> = (0..4).map(|cpu| workers.on(cpu).unwrap().clone()).collect();
        let host = ExecutorThread::start("set-owner", 16).unwrap();
        let mut random = 0xdead_beef_cafe_f00du64;
        let (mut ok, mut cancelled) = (0u64, 0u64);
        for set_number in 0..SETS {
            let seed = xorshift(&mut random);
            let states = Arc::clone(&states);
            let spawners = spawners.clone();
            let joined = host.spawn(async move {
                let mut random = seed;
                let mut set = JoinSet::new();
                for member in 0..MEMBERS {
                    let id = set_number * MEMBERS + member;
                    // No stashed wakes here: kinds 0-2 and the pending one.
                    let kind = match xorshift(&mut random) % 4 {
                        3 => 6,
                        kind => kind,
                    };
                    let spawner = &spawners[(xorshift(&mut random) % 4) as usize];
                    set.spawn(spawner, task(id, kind, Arc::clone(&states)));
                }
                let (mut ok, mut cancelled) = (0u64, 0u64);
                let take = xorshift(&mut random) % 6;
                let mut tally = |result: Result<usize, TaskError>| match result {
                    Ok(id) => {
                        assert_eq!(states[id].load(Ordering::Relaxed), RETURNED);
                        ok += 1;
                    }
                    Err(TaskError::Cancelled) => cancelled += 1,
                    Err(TaskError::Panicked(report)) => panic!("a member panicked: {report}"),
                };
                // Only members that finish by themselves can be awaited before an abort.
                for _ in 0..take {
                    match executor::timeout(Duration::from_micros(200), set.join_next()).await {
                        Ok(Some(result)) => tally(result),
                        Ok(None) | Err(_) => break,
                    }
                }
                match xorshift(&mut random) % 3 {
                    0 => drop(set), // aborts the rest
                    1 => {
                        set.abort_all();
                        while let Some(result) = set.join_next().await {
                            tally(result);
                        }
                    }
                    _ => {
                        // Abort only the ones still pending after a yield: drop a
                        // `join_next` in the middle, then abort and drain.
                        let _ = executor::timeout(Duration::ZERO, set.join_next()).await;
                        set.abort_all();
                        while let Some(result) = set.join_next().await {
                            tally(result);
                        }
                    }
                }
                (ok, cancelled)
            });
            let (o, c) = executor::block_on(joined).unwrap();
            ok += o;
            cancelled += c;
        }
        let spawned = (SETS * MEMBERS) as u64;
        while DROPPED.load(Ordering::SeqCst) - DROPS_BEFORE.load(Ordering::SeqCst) < spawned {
            thread::yield_now();
        }
        host.stop();
        workers.stop();
        assert_eq!(
            DROPPED.load(Ordering::SeqCst) - DROPS_BEFORE.load(Ordering::SeqCst),
            spawned
        );
        println!("join sets: {spawned} members, {ok} joined Ok, {cancelled} joined Cancelled");
    }
    assert_heap_back_to(before);
}
