//! Threads that opt in to FPU state keep their SSE registers across preemption.
#![no_std]
#![no_main]

use spindle::{
    arch::fpu,
    thread::{self, Builder},
};

spindle_test::test_kernel!(two_sse_threads_keep_their_xmm_registers);

/// Each thread loads its own pattern into xmm0-15 and checks it until it has been
/// switched out and back in at least 20 times while the other thread ran with a
/// different pattern. Without saving FPU state the patterns would mix.
fn two_sse_threads_keep_their_xmm_registers() {
    let worker = |seed: u64| {
        move || {
            let expected: [u64; 16] = core::array::from_fn(|i| seed + i as u64);
            fpu::fill_xmm_registers(seed);
            let first = thread::current().info().switches;
            let mut checks = 0u64;
            while thread::current().info().switches < first + 20 {
                assert_eq!(
                    fpu::read_xmm_registers(),
                    expected,
                    "thread with seed {seed:#x}"
                );
                checks += 1;
            }
            checks
        }
    };
    let a = Builder::new()
        .name("sse-a")
        .fpu(true)
        .spawn(worker(0x1111_0000))
        .unwrap();
    let b = Builder::new()
        .name("sse-b")
        .fpu(true)
        .spawn(worker(0x2222_0000))
        .unwrap();
    assert!(a.join() > 0 && b.join() > 0);
}
