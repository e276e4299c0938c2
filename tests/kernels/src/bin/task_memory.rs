//! What a waiting async task costs in heap memory: 100,000 tasks of a 112-byte future
//! wait on one event, on one executor; the heap's free bytes before and after (tags and
//! the executor's own arrays included) are divided by the tasks. A regression guard for
//! `smp_scale`, which needs a million such tasks beside 10,000 threads in 512 MiB: it
//! was ~560 bytes per task when the task table grew by doubling and each task took three
//! heap blocks.
//@ qemu-args: -m 256M
//@ timeout: 120
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};

use spindle::{executor::Executor, mm, println, sync::Event};

spindle_test::test_kernel!(a_waiting_task_costs_at_most_300_heap_bytes);

const TASKS: usize = 100_000;

/// The task: waits for `gate`, then returns its number (the shape `smp_scale` spawns).
async fn waiter(gate: Arc<Event>, n: u64) -> u64 {
    gate.wait_async().await;
    n
}

fn a_waiting_task_costs_at_most_300_heap_bytes() {
    let gate = Arc::new(Event::new());
    let future_bytes = size_of_val(&waiter(Arc::clone(&gate), 0));
    let mut handles = Vec::with_capacity(TASKS); // the test's own, not the executor's
    let free_before = mm::usage().free_bytes;
    let executor = Executor::new("memory", TASKS);
    for n in 0..TASKS as u64 {
        handles.push(executor.spawn(waiter(Arc::clone(&gate), n)));
    }
    executor.run_until_stalled();
    let per_task = (free_before - mm::usage().free_bytes) / TASKS;
    println!(
        "task memory: {per_task} heap bytes per waiting task, {future_bytes} of them the future"
    );
    gate.set();
    let sum = executor.block_on(async {
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (TASKS as u64) * (TASKS as u64 - 1) / 2);
    assert!(per_task <= 300, "{per_task} bytes per task");
}
