//! A fatal panic inside an async task (here with preemption disabled; a contained one goes
//! to the task's handle instead) names the thread, the task and its executor.
//@ expect-failure: KERNEL PANIC at src/bin/task_panic.rs:
//@ expect-failure: deliberate panic in a task
//@ expect-failure: 'task-host'
//@ expect-failure: polling task 2 'doomed' of executor 'panicky'
//@ expect-failure: not contained: with preemption disabled
#![no_std]
#![no_main]

use spindle::{
    executor::{self, Executor},
    thread::{self, Builder},
};

spindle_test::test_kernel!(panic_in_a_task_names_it);

fn panic_in_a_task_names_it() {
    Builder::new()
        .name("task-host")
        .spawn(|| {
            let executor = Executor::new("panicky", 4);
            // Task 1 finishes first: its poll must not linger as the one reported.
            let first = executor.spawn(async {});
            executor.block_on(first).expect("the first task finishes");
            let doomed = executor
                .spawner()
                .spawn_named(Some("doomed".into()), async {
                    executor::yield_now().await;
                    let _fatal = thread::disable_preemption(); // a contained one is not reported
                    panic!("deliberate panic in a task");
                });
            let _ = executor.block_on(doomed);
        })
        .expect("a thread")
        .join();
}
