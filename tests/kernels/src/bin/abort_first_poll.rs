//! Aborts against first polls on another CPU (issue 18, defect 5): two threads each spawn
//! tasks onto a busy executor on another CPU and abort each a random while later, so
//! that the abort lands anywhere around the task's first poll, again and again.
//!
//! The old poll read the join state, then cleared `queued`: an abort in between (its
//! compare-exchange, then its wake, which found `queued` still set and queued nothing)
//! was lost, the future was polled as if pending, and the task never ran again. Counted
//! exactly: after a batch of aborts, a probe task spawned onto the same executor runs to
//! its end; every aborted task's wake was queued before it (or its poll saw the abort),
//! so each handle is finished by then, or its abort was lost.
//@ smp: 4
//@ timeout: 120
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spindle::{
    executor::{self, Spawner, TaskHandle, Workers, yield_now},
    thread::{self, Builder},
};

spindle_test::test_kernel!(no_abort_of_a_starting_task_is_lost);

/// Aborts per thread.
const ABORTS: u32 = 100_000;
/// Aborts between two probes.
const BATCH: usize = 16;

static ABORTING: AtomicBool = AtomicBool::new(true);

/// Spawns and aborts `ABORTS` tasks on `spawner`'s executor; returns how many of them a
/// probe that ran after their abort found unfinished.
fn abort_starting_tasks(spawner: &Spawner, mut seed: u32) -> u32 {
    let mut lost = 0;
    let mut batch: Vec<TaskHandle<()>> = Vec::with_capacity(BATCH);
    for _ in 0..ABORTS {
        let task = spawner.spawn(core::future::pending::<()>());
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        for _ in 0..seed % 512 {
            core::hint::spin_loop();
        }
        task.abort();
        batch.push(task);
        if batch.len() == BATCH {
            assert_eq!(executor::block_on(spawner.spawn(async {})), Ok(()));
            lost += batch.iter().filter(|task| !task.is_finished()).count() as u32;
            batch.clear(); // a lost task stays on its executor, until it stops
        }
    }
    lost
}

fn no_abort_of_a_starting_task_is_lost() {
    assert_eq!(thread::cpu_count(), 4);
    let workers = Workers::start("abort-target", 1024).unwrap();
    // Keeps the executors on CPUs 1 and 3 polling, so that a new task's first poll
    // comes soon after its spawn.
    let busy: Vec<_> = [1, 3]
        .map(|cpu| {
            workers.on(cpu).unwrap().spawn(async {
                while ABORTING.load(Ordering::Relaxed) {
                    yield_now().await;
                }
            })
        })
        .into();
    let aborters = [(0, 1), (2, 3)].map(|(cpu, target)| {
        let spawner = workers.on(target).unwrap().clone();
        Builder::new()
            .cpu(cpu)
            .spawn(move || abort_starting_tasks(&spawner, 0x9e37_79b9 ^ target))
            .unwrap()
    });
    let lost: u32 = aborters.into_iter().map(|aborter| aborter.join()).sum();
    ABORTING.store(false, Ordering::Relaxed);
    for task in busy {
        assert_eq!(executor::block_on(task), Ok(()));
    }
    workers.stop();
    spindle::println!(
        "aborts against first polls: {} aborts, {lost} lost",
        2 * ABORTS
    );
    assert_eq!(lost, 0, "aborts lost");
}
