//! A panic with an interrupt-disabling spinlock held is fatal: the data the lock protects
//! may be half-updated, and everyone else spins on it.
//@ expect-failure: KERNEL PANIC at src/bin/panic_with_spinlock_held.rs:
//@ expect-failure: a panic under a spinlock
//@ expect-failure: not contained: with an interrupt-disabling spinlock held
#![no_std]
#![no_main]

use spindle::{arch::IrqSpinLock, thread};

spindle_test::test_kernel!(a_panic_with_a_spinlock_held_stops_the_machine);

static LOCK: IrqSpinLock<u32> = IrqSpinLock::new(0);

fn a_panic_with_a_spinlock_held_stops_the_machine() {
    let _ = thread::spawn(|| {
        let mut value = LOCK.lock();
        *value += 1;
        panic!("a panic under a spinlock");
    })
    .try_join();
    unreachable!("the panic with a spinlock held was contained");
}
