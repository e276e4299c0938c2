//! Task abort, `JoinSet`, a task awaiting a thread, and `join!`/`select_biased!` from
//! `spindle::executor`, on one CPU and on four.
//@ smp: 1 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    pin::pin,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Executor, FutureExt, JoinSet, TaskError, Workers, select_biased},
    sync::{IrqSpinLock, channel},
    thread::{self, JoinError},
};

spindle_test::test_kernel!(
    abort_cancels_tasks_on_other_executors,
    a_join_set_joins_in_completion_order,
    a_join_set_spans_executors_and_aborts_on_drop,
    a_task_awaits_a_thread_while_its_executor_runs_on,
    join_and_select_from_the_executor_module
);

/// Counts its drops in a static.
struct DropCount(&'static AtomicUsize);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn abort_cancels_tasks_on_other_executors() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let workers = Workers::start("abort", 16).expect("workers");
    let handles: Vec<_> = (0..8)
        .map(|index| {
            let counter = DropCount(&DROPS);
            workers.spawn(async move {
                let _counter = counter;
                STARTED.fetch_add(1, Ordering::SeqCst);
                if index % 2 == 0 {
                    core::future::pending::<()>().await; // waits for nothing
                } else {
                    executor::sleep(Duration::from_secs(3600)).await; // a timer armed
                }
            })
        })
        .collect();
    while STARTED.load(Ordering::SeqCst) < handles.len() {
        thread::yield_now();
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    for handle in &handles {
        handle.abort();
    }
    executor::block_on(async {
        for handle in handles {
            assert_eq!(handle.await, Err(TaskError::Cancelled));
        }
    });
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        8,
        "every aborted future was dropped"
    );
    // A finished task's output survives an abort.
    let done = workers.spawn(async { 5 });
    while !done.is_finished() {
        thread::yield_now();
    }
    done.abort();
    assert_eq!(executor::block_on(done), Ok(5));
    workers.stop();
}

fn a_join_set_joins_in_completion_order() {
    let executor = Executor::new("set", 64);
    let spawner = executor.spawner();
    let finished = Arc::new(IrqSpinLock::new(Vec::new()));
    let members_finished = Arc::clone(&finished);
    let order = executor.block_on(async move {
        let mut set = JoinSet::new();
        let start = spindle::time::now();
        for millis in [40u64, 10, 30, 0, 20] {
            let finished = Arc::clone(&members_finished);
            set.spawn(&spawner, async move {
                executor::sleep_until(start + Duration::from_millis(millis)).await;
                finished.lock().push(millis);
                millis
            });
        }
        let mut order = Vec::new();
        while let Some(result) = set.join_next().await {
            order.push(result.expect("a member finished"));
        }
        order
    });
    // The order they finished in, as each recorded it: by deadline, unless the host
    // paused the guest past a deadline before that member's first poll (which then
    // finishes at once, possibly before an earlier deadline's member is first polled).
    assert_eq!(order, *finished.lock(), "joined in the order they finished");
    let mut members = order.clone();
    members.sort_unstable();
    assert_eq!(members, [0, 10, 20, 30, 40]);
}

fn a_join_set_spans_executors_and_aborts_on_drop() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let workers = Workers::start("set", 128).expect("workers");
    let spawners: Vec<_> = (0..thread::cpu_count())
        .filter_map(|cpu| workers.on(cpu).cloned())
        .collect();
    let sum = executor::block_on(async {
        let mut set = JoinSet::new();
        for value in 0..100u64 {
            let spawner = &spawners[value as usize % spawners.len()];
            set.spawn(spawner, async move {
                executor::yield_now().await;
                value
            });
        }
        let mut sum = 0;
        while let Some(result) = set.join_next().await {
            sum += result.expect("a member finished");
        }
        sum
    });
    assert_eq!(sum, 99 * 100 / 2);
    let mut set = JoinSet::new();
    for spawner in spawners.iter().cycle().take(12) {
        let counter = DropCount(&DROPS);
        set.spawn(spawner, async move {
            let _counter = counter;
            core::future::pending::<()>().await;
        });
    }
    assert_eq!(set.len(), 12);
    drop(set); // aborts all twelve
    while DROPS.load(Ordering::SeqCst) < 12 {
        thread::yield_now();
    }
    workers.stop();
}

fn a_task_awaits_a_thread_while_its_executor_runs_on() {
    static TICKS: AtomicUsize = AtomicUsize::new(0);
    static JOINED: AtomicBool = AtomicBool::new(false);
    let executor = Executor::new("joiner", 8);
    executor.spawn(async {
        while !JOINED.load(Ordering::SeqCst) {
            TICKS.fetch_add(1, Ordering::SeqCst);
            executor::sleep(Duration::from_millis(1)).await;
        }
    });
    let joiner = executor.spawn(async {
        let crunch = thread::spawn(|| {
            thread::sleep(Duration::from_millis(20)); // blocking is fine on its own thread
            42
        });
        let answer = crunch.join_async().await;
        let exited = thread::spawn(|| -> u32 { thread::exit() })
            .join_async()
            .await;
        JOINED.store(true, Ordering::SeqCst);
        (answer, exited)
    });
    let (answer, exited) = executor.block_on(joiner).expect("the joiner finished");
    assert_eq!(answer, Ok(42));
    assert_eq!(exited, Err(JoinError::Exited));
    assert!(
        TICKS.load(Ordering::SeqCst) >= 5,
        "the executor stalled while a task awaited a thread"
    );
}

fn join_and_select_from_the_executor_module() {
    let (sender, values) = channel::bounded::<u32>(4);
    let executor = Executor::new("select", 8);
    let result = executor.block_on(async move {
        let (a, b) = executor::join!(async { 1 }, async {
            executor::sleep(Duration::from_millis(2)).await;
            2
        });
        assert_eq!(a + b, 3);
        // Nothing sent yet: the timer wins, and the receive is dropped (cancelled).
        let timed_out = {
            let mut value = pin!(values.recv_async().fuse());
            let mut timer = pin!(executor::sleep(Duration::from_millis(5)).fuse());
            select_biased! {
                value = value => value.ok(),
                () = timer => None,
            }
        };
        sender.send_async(7).await.expect("the receiver is here");
        let received = {
            let mut value = pin!(values.recv_async().fuse());
            let mut timer = pin!(executor::sleep(Duration::from_secs(10)).fuse());
            select_biased! {
                value = value => value.ok(),
                () = timer => None,
            }
        };
        let both: Result<(u32, u32), ()> = executor::try_join!(async { Ok(3) }, async { Ok(4) });
        (timed_out, received, both)
    });
    assert_eq!(result, (None, Some(7), Ok((3, 4))));
}
