//! Locking a mutex the calling thread already holds panics instead of deadlocking.
//@ expect-failure: Mutex::lock: the calling thread already holds this mutex
#![no_std]
#![no_main]

use spindle::sync::Mutex;

spindle_test::test_kernel!(relocking_a_held_mutex_panics);

fn relocking_a_held_mutex_panics() {
    static MUTEX: Mutex<u32> = Mutex::new(0);
    let _held = MUTEX.lock();
    let _again = MUTEX.lock();
    unreachable!("the second lock returned");
}
