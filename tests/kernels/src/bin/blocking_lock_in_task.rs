//! A `Mutex::lock` that has to wait, inside an async task, panics in debug builds naming
//! the task and pointing at the async lock.
#![no_std]
#![no_main]

use core::time::Duration;

use spindle::{
    executor::{self, Executor, TaskError},
    sync::Mutex,
    thread,
};

spindle_test::test_kernel!(a_contended_lock_inside_a_task_panics);

fn a_contended_lock_inside_a_task_panics() {
    static MUTEX: Mutex<u32> = Mutex::new(0);
    let holder = thread::spawn(|| {
        let _held = MUTEX.lock();
        thread::sleep(Duration::from_millis(50));
    });
    while MUTEX.try_lock().is_some() {
        thread::yield_now(); // until the holder has it
    }
    let executor = Executor::new("lock-check", 8);
    let task = executor.spawn_named(Some("locker".into()), async {
        executor::yield_now().await;
        *MUTEX.lock() += 1; // held by another thread: would block the executor
    });
    spindle_test::expect_contained_panics(1);
    match executor.block_on(task) {
        Err(TaskError::Panicked(report)) => assert_eq!(
            report.message(),
            "blocking call `Mutex::lock` inside async task 'locker' (executor 'lock-check'): \
             use `Mutex::lock_async().await`"
        ),
        other => panic!("the blocking lock inside the task was not reported: {other:?}"),
    }
    holder.join();
}
