//! `thread::set_affinity` while another thread changes the caller's set: the caller (the
//! "mover") asks for CPU 1 and waits in CPU 1's run queue, which a thread that disabled
//! preemption keeps busy; meanwhile a controller retargets it with
//! `Thread::set_affinity`, to CPU 2 alone, or widened to every CPU. The mover can then
//! only run elsewhere (CPU 1 never switches while it is held), so it is pulled to a CPU
//! of its new set, and `set_affinity` must return there: the later set wins.
//!
//! Regression: the wait loop checked the set it was given, not the thread's set, so the
//! mover yielded forever on a CPU of the new set at 100 % CPU (issue 18, defect 1).
//@ smp: 4
//@ timeout: 20
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};

use spindle::thread::{self, Builder, CpuSet, ThreadState};
use spindle_test::input::wait_until;

spindle_test::test_kernel!(
    four_cpus_are_online,
    a_mover_retargeted_to_cpu_2_returns_there,
    a_mover_widened_to_every_cpu_returns_where_it_was_pulled,
);

fn four_cpus_are_online() {
    assert_eq!(thread::cpu_count(), 4);
}

fn a_mover_retargeted_to_cpu_2_returns_there() {
    let (cpu, set) = retarget_a_mover_waiting_on_cpu_1(CpuSet::single(2));
    assert_eq!(cpu, 2, "the mover may only run on CPU 2 now");
    assert_eq!(set, CpuSet::single(2), "the later set wins");
}

fn a_mover_widened_to_every_cpu_returns_where_it_was_pulled() {
    let (cpu, set) = retarget_a_mover_waiting_on_cpu_1(CpuSet::ALL);
    // CPU 1 is held until the mover returns, so another CPU pulled it.
    assert_ne!(cpu, 1, "CPU 1 was held without preemption");
    assert_eq!(set, CpuSet::ALL, "the later set wins");
}

/// Holds CPU 1 with a thread that disabled preemption, lets a mover ask for CPU 1 and
/// queue there, retargets it to `retarget` while it waits, and returns the CPU on which
/// its `set_affinity` returned and its set then. Fails (rather than hangs) if the mover
/// has not returned five seconds after the retarget.
fn retarget_a_mover_waiting_on_cpu_1(retarget: CpuSet) -> (u32, CpuSet) {
    static HOLDING: AtomicBool = AtomicBool::new(false);
    static RELEASE: AtomicBool = AtomicBool::new(false);
    HOLDING.store(false, Ordering::SeqCst);
    RELEASE.store(false, Ordering::SeqCst);
    let holder = Builder::new()
        .name("holder")
        .cpu(1)
        .spawn(|| {
            let _no_preemption = thread::disable_preemption();
            HOLDING.store(true, Ordering::SeqCst);
            while !RELEASE.load(Ordering::SeqCst) {
                core::hint::spin_loop();
            }
        })
        .expect("the holder");
    wait_until("the holder to hold CPU 1", || {
        HOLDING.load(Ordering::SeqCst)
    });
    let mover = Builder::new()
        .name("mover")
        .cpu(3)
        .spawn(|| {
            thread::set_affinity(CpuSet::single(1)).expect("CPU 1 is online");
            (thread::current_cpu(), thread::current().affinity())
        })
        .expect("the mover");
    // Queued on CPU 1, which cannot switch to it: no CPU but 1 may steal it yet.
    wait_until("the mover to wait in CPU 1's queue", || {
        mover.thread().cpu() == 1 && mover.thread().state() == ThreadState::Ready
    });
    mover
        .thread()
        .set_affinity(retarget)
        .expect("the set names an online CPU");
    wait_until("the retargeted mover's set_affinity to return", || {
        mover.is_finished()
    });
    RELEASE.store(true, Ordering::SeqCst);
    holder.join();
    mover.join()
}
