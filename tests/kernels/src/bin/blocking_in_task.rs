//! A blocking call inside an async task panics in debug builds, naming the call, the task
//! and its executor; the executor's own idle wait, calls that do not block, and blocking
//! on threads of their own (`spawn_blocking`, `join_async`) are not flagged.
//@ expect-output: spindle-test: ok what_does_not_block_is_not_flagged
#![no_std]
#![no_main]

use core::time::Duration;

use spindle::{
    executor::{self, Executor, TaskError},
    sync::{Mutex, Semaphore},
    thread,
};

spindle_test::test_kernel!(
    what_does_not_block_is_not_flagged,
    thread_sleep_inside_a_task_panics
);

fn what_does_not_block_is_not_flagged() {
    static MUTEX: Mutex<u32> = Mutex::new(0);
    static SEMAPHORE: Semaphore = Semaphore::new(1);
    let executor = Executor::new("quiet", 8);
    let task = executor.spawn(async {
        *MUTEX.lock() += 1; // uncontended: never waits
        SEMAPHORE.acquire(); // a permit is there: never waits
        SEMAPHORE.release();
        executor::sleep(Duration::from_millis(2)).await; // the host parks: not inside a poll
        let slow = executor::spawn_blocking(|| {
            thread::sleep(Duration::from_millis(1)); // its own thread: fine
            5
        });
        let joined = thread::spawn(|| 6).join_async().await.unwrap();
        slow.await.unwrap() + joined
    });
    assert_eq!(executor.block_on(task), Ok(11));
    // Blocking in `block_on`'s own future (not a task) is the thread's business.
    executor.block_on(async { thread::sleep(Duration::from_millis(1)) });
    assert_eq!(*MUTEX.lock(), 1);
}

fn thread_sleep_inside_a_task_panics() {
    let executor = Executor::new("blocking-check", 8);
    let task = executor.spawn_named(Some("sleeper".into()), async {
        executor::yield_now().await;
        thread::sleep(Duration::from_millis(1)); // stalls the executor: reported
    });
    spindle_test::expect_contained_panics(1);
    match executor.block_on(task) {
        Err(TaskError::Panicked(report)) => assert_eq!(
            report.message(),
            "blocking call `thread::sleep` inside async task 'sleeper' (executor \
             'blocking-check'): use `executor::sleep(..).await`"
        ),
        other => panic!("the blocking call inside the task was not reported: {other:?}"),
    }
}
