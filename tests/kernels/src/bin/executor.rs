//! Async executors hosted by kernel threads, and wakes from everywhere.
//@ smp: 1 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Executor, ExecutorThread, TaskState, spawn_blocking},
    sync::{IrqSpinLock, channel, oneshot},
    thread::{self, ThreadState},
    time,
};

spindle_test::test_kernel!(
    ten_thousand_tasks_ping_pong_through_channels,
    the_timer_interrupt_wakes_sleeping_tasks_in_order,
    a_thread_and_a_task_wake_each_other,
    a_task_on_one_executor_wakes_a_task_on_another,
    executors_on_several_threads_cross_spawn_and_join,
    an_executor_progresses_while_cpu_bound_threads_compete,
    an_idle_executor_blocks_its_thread,
    spawn_blocking_runs_the_closure_on_a_thread,
    timeout_and_interval,
    the_task_listing_shows_names_executors_and_polls,
    the_readme_example_works,
);

/// 5,000 pairs of tasks bounce a counter through two channels; every reply is checked
/// and the totals are exact.
fn ten_thousand_tasks_ping_pong_through_channels() {
    const PAIRS: u64 = 5_000;
    const ROUNDS: u64 = 3;
    let executor = Executor::new("ping-pong", 16_384);
    let mut handles = Vec::new();
    for pair in 0..PAIRS {
        let (to_pong, from_ping) = channel::bounded::<u64>(1);
        let (to_ping, from_pong) = channel::bounded::<u64>(1);
        handles.push(executor.spawn(async move {
            let mut total = 0;
            for round in 0..ROUNDS {
                to_pong.send_async(pair + round).await.unwrap();
                let reply = from_pong.recv_async().await.unwrap();
                assert_eq!(reply, pair + round + 1);
                total += reply;
            }
            total
        }));
        executor.spawn(async move {
            while let Ok(value) = from_ping.recv_async().await {
                to_ping.send_async(value + 1).await.unwrap();
            }
        });
    }
    let total: u64 = executor.block_on(async {
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap();
        }
        total
    });
    let expected: u64 = (0..PAIRS)
        .map(|pair| (0..ROUNDS).map(|round| pair + round + 1).sum::<u64>())
        .sum();
    assert_eq!(total, expected);
}

/// Deadlines two ticks apart, from one instant (timers fire at their deadlines; within
/// one tick period they fire in the order they were armed).
fn the_timer_interrupt_wakes_sleeping_tasks_in_order() {
    static ORDER: IrqSpinLock<Vec<u64>> = IrqSpinLock::new(Vec::new());
    static POLLED_LATE: IrqSpinLock<Vec<u64>> = IrqSpinLock::new(Vec::new());
    let executor = Executor::new("sleepers", 16);
    // Deadlines from one instant, 20 ms ahead: their order must not depend on how far
    // apart the executor happens to poll the five tasks the first time.
    let start = time::now() + Duration::from_millis(20);
    let handles: Vec<_> = [10u64, 2, 8, 4, 6]
        .into_iter()
        .map(|millis| {
            executor.spawn(async move {
                let deadline = start + Duration::from_millis(millis);
                // A task first polled after its deadline (a host that took the vCPU away
                // for 20 ms) finishes in that poll: no timer wakes it, so it has no place
                // in the order checked.
                if time::now() >= deadline {
                    POLLED_LATE.lock().push(millis);
                }
                executor::sleep_until(deadline).await;
                assert!(time::now() >= deadline, "woke early");
                ORDER.lock().push(millis);
            })
        })
        .collect();
    executor.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let late = POLLED_LATE.lock().clone();
    let by_timer: Vec<u64> = ORDER
        .lock()
        .iter()
        .copied()
        .filter(|millis| !late.contains(millis))
        .collect();
    let expected: Vec<u64> = [2, 4, 6, 8, 10]
        .into_iter()
        .filter(|millis| !late.contains(millis))
        .collect();
    assert_eq!(
        by_timer, expected,
        "first polled after their deadline: {late:?}"
    );
    if !late.is_empty() {
        spindle::println!("note: first polled after their deadline: {late:?}");
    }
}

/// A thread sends to a task over a channel (the task awaits), the task answers over a
/// oneshot (the thread blocks).
fn a_thread_and_a_task_wake_each_other() {
    let host = ExecutorThread::start("task-host", 16).unwrap();
    let (to_task, from_thread) = channel::bounded::<u32>(1);
    let (answer, answered) = oneshot::channel();
    host.spawner().spawn(async move {
        let mut sum = 0;
        while let Ok(value) = from_thread.recv_async().await {
            sum += value;
        }
        answer.send(sum).unwrap();
    });
    for value in 1..=100 {
        to_task.send(value).unwrap();
    }
    drop(to_task);
    assert_eq!(answered.recv(), Ok(5050));
    host.stop();
}

fn a_task_on_one_executor_wakes_a_task_on_another() {
    let (first, second) = (
        ExecutorThread::start("first", 16).unwrap(),
        ExecutorThread::start("second", 16).unwrap(),
    );
    let (sender, receiver) = oneshot::channel::<&'static str>();
    let waiting = first
        .spawner()
        .spawn(async move { receiver.await.unwrap() });
    second.spawner().spawn(async move {
        executor::sleep(Duration::from_millis(1)).await;
        sender.send("from the second executor").unwrap();
    });
    assert_eq!(executor::block_on(waiting), Ok("from the second executor"));
    first.stop();
    second.stop();
}

/// Three executor threads; every task spawns a task onto each of the others and joins them.
fn executors_on_several_threads_cross_spawn_and_join() {
    let hosts: Vec<ExecutorThread> = ["exec-a", "exec-b", "exec-c"]
        .into_iter()
        .map(|name| ExecutorThread::start(name, 64).unwrap())
        .collect();
    let spawners: Arc<Vec<_>> = Arc::new(hosts.iter().map(|host| host.spawner().clone()).collect());
    let handles: Vec<_> = (0..3)
        .map(|me| {
            let all = Arc::clone(&spawners);
            spawners[me].spawn(async move {
                let spawners = all;
                let mut total = 0;
                for other in (0..3).filter(|&other| other != me) {
                    let value = (me * 10 + other) as u64;
                    let handle = spawners[other].spawn(async move { value * 2 });
                    total += handle.await.unwrap();
                }
                total
            })
        })
        .collect();
    let total: u64 = executor::block_on(async {
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap();
        }
        total
    });
    assert_eq!(total, 2 * (1 + 2 + 10 + 12 + 20 + 21));
    hosts.into_iter().for_each(ExecutorThread::stop);
}

/// Two threads spin until the executor's task has yielded 1,000 times: the executor must
/// get CPU time while they compete (or the kernel times out).
fn an_executor_progresses_while_cpu_bound_threads_compete() {
    static DONE: AtomicBool = AtomicBool::new(false);
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(|| {
                while !DONE.load(Ordering::Acquire) {
                    core::hint::spin_loop();
                }
            })
        })
        .collect();
    let executor = Executor::new("busy", 4);
    let rounds = executor.block_on(async {
        let mut rounds = 0u64;
        for _ in 0..1000 {
            executor::yield_now().await;
            rounds += 1;
        }
        rounds
    });
    DONE.store(true, Ordering::Release);
    spinners.into_iter().for_each(thread::JoinHandle::join);
    assert_eq!(rounds, 1000);
}

/// While its task waits, an executor's thread is blocked (parked), not spinning.
fn an_idle_executor_blocks_its_thread() {
    let host = ExecutorThread::start("idle-host", 4).unwrap();
    let (release, released) = oneshot::channel::<()>();
    let waiting = host.spawner().spawn(async move { released.await.unwrap() });
    while host.thread().state() != ThreadState::Blocked {
        thread::yield_now();
    }
    let switches = host.thread().info().switches;
    thread::sleep(Duration::from_millis(5)); // plenty of ticks: a spinning host would run
    assert_eq!(
        host.thread().info().switches,
        switches,
        "the idle executor's thread ran"
    );
    release.send(()).unwrap();
    executor::block_on(waiting).unwrap();
    host.stop();
}

fn spawn_blocking_runs_the_closure_on_a_thread() {
    let executor = Executor::new("bridge", 4);
    let caller = thread::current().id();
    let (ran_on, value) = executor.block_on(async move {
        spawn_blocking(move || {
            thread::sleep(Duration::from_millis(2)); // blocking is fine here
            (thread::current().id(), 41 + 1)
        })
        .await
        .unwrap()
    });
    assert_ne!(ran_on, caller);
    assert_eq!(value, 42);
}

fn timeout_and_interval() {
    let executor = Executor::new("time", 4);
    executor.block_on(async {
        let never = core::future::pending::<()>();
        assert_eq!(
            executor::timeout(Duration::from_millis(2), never).await,
            Err(executor::Elapsed)
        );
        assert_eq!(
            executor::timeout(Duration::from_millis(50), async { 7 }).await,
            Ok(7)
        );
        let mut interval = executor::interval(Duration::from_millis(2));
        let mut previous = time::now();
        for _ in 0..5 {
            let scheduled = interval.tick().await;
            assert!(time::now() >= scheduled && scheduled > previous);
            previous = scheduled;
        }
    });
}

fn the_task_listing_shows_names_executors_and_polls() {
    static POLLS: AtomicU64 = AtomicU64::new(0);
    let executor = Executor::new("listed-executor", 4);
    let (release, released) = oneshot::channel::<()>();
    let handle = executor
        .spawner()
        .spawn_named(Some("listed-task".into()), async move {
            POLLS.fetch_add(1, Ordering::Relaxed);
            released.await.unwrap();
        });
    executor.run_until_stalled();
    let listing = executor::tasks();
    let row = listing
        .iter()
        .find(|info| info.name == "listed-task")
        .expect("listed");
    assert_eq!(
        (row.executor.as_str(), row.state, row.polls),
        ("listed-executor", TaskState::Waiting, 1)
    );
    release.send(()).unwrap();
    executor.block_on(handle).unwrap();
    assert!(
        !executor::tasks()
            .iter()
            .any(|info| info.name == "listed-task")
    );
}

/// The example in the README's "Threads host executors", verbatim.
fn the_readme_example_works() {
    let (to_task, from_thread) = channel::bounded::<u32>(8);
    let worker = thread::spawn(move || {
        let executor = Executor::new("worker", 64); // hosted by this thread
        let sum = executor.spawn(async move {
            // a task; the handle is a future
            let mut sum = 0;
            while let Ok(value) = from_thread.recv_async().await {
                sum += value;
            }
            sum
        });
        executor.block_on(sum).unwrap() // runs tasks, parks when idle
    });
    for value in 1..=10 {
        to_task.send(value).unwrap(); // a thread wakes the task
    }
    drop(to_task);
    assert_eq!(worker.join(), 55);
}
