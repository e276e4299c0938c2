//! The atomics, the fence and the spin-wait hint that the kernel's cross-CPU state
//! machines are written with: `core`'s, or the model checker's.
//!
//! Code whose handshakes are model-checked on the host (the spinlock, the executor's task
//! cell and ready queue, the inbox, `Event`, the semaphore, the channels, the mutex, the
//! condition variable, a thread's run state and exit flag, the IRQ queue) takes these
//! names from here instead of `core::sync::atomic`. In every kernel build and every
//! ordinary host test they *are* `core`'s: this module adds nothing at run time.
//!
//! Under the host-only cargo feature `model` they are `shuttle`'s instead, whose every
//! operation is a point where the checker may switch threads, and [`spin_loop`] yields to
//! it (a spinning thread would otherwise keep the one it waits for from ever running).
//! The models (`cargo test -p spindle --lib --features model models`, run by
//! `cargo test --workspace` through the `models` test of `spindle-tests`) then explore
//! the interleavings of the real code. The checker treats every ordering as `SeqCst`:
//! what the models show is the logic of each handshake; whether its orderings are strong
//! enough on x86 (a load passing an earlier store) is what the litmus tests on the real
//! CPU check (`litmus`), and the module docs of each handshake argue.
//!
//! The feature replaces the atomics of every static too, which work only inside a model:
//! a build with `model` runs the models and nothing else.
//!
//! **Checked by:** the models it switches to shuttle's atomics (`./x test` runs them:
//! `task/{thread,sync,executor}/models.rs`, `drivers/models.rs`).

#[cfg(not(all(feature = "model", not(target_os = "none"))))]
pub(crate) use core::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};

#[cfg(all(feature = "model", not(target_os = "none")))]
pub(crate) use shuttle::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};

/// The hint for a busy-wait loop: the CPU's `pause`, or under the model checker a yield
/// to another thread.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(not(all(feature = "model", not(target_os = "none"))))]
    core::hint::spin_loop();
    #[cfg(all(feature = "model", not(target_os = "none")))]
    shuttle::hint::spin_loop();
}
