//! A CPU exception inside an async task that cannot become a panic of the task (here with
//! an interrupt-disabling spinlock held; without one the fault is contained, see
//! `fault_containment`) is fatal, and its report names the thread, the task and its
//! executor, and says why it was not contained.
//@ expect-failure: CPU EXCEPTION: Page Fault (#PF, vector 14)
//@ expect-failure: cr2 (faulting address) 0x00000deadbeef000
//@ expect-failure: not contained: with an interrupt-disabling spinlock held
//@ expect-failure: 'fault-host'
//@ expect-failure: polling task 1 'faulty' of executor 'faults'
//@ expect-failure: as spindle::task::executor::cell::Run<…>>::poll+
//@ expect-failure: (trapped here)
#![no_std]
#![no_main]

use spindle::{arch::IrqSpinLock, executor::Executor, mm::paging, thread::Builder};
use x86_64::VirtAddr;

spindle_test::test_kernel!(page_fault_in_a_task_names_it);

static LOCK: IrqSpinLock<u32> = IrqSpinLock::new(0);

fn page_fault_in_a_task_names_it() {
    Builder::new()
        .name("fault-host")
        .spawn(|| {
            let executor = Executor::new("faults", 4);
            let faulty = executor
                .spawner()
                .spawn_named(Some("faulty".into()), async {
                    let address = VirtAddr::new(0x0dea_dbee_f000);
                    assert_eq!(paging::translate(address), None, "the address is unmapped");
                    let _held = LOCK.lock(); // makes the fault fatal
                    // SAFETY: the test relies on the fault: the address is unmapped, so
                    // the write faults and never completes.
                    unsafe { address.as_mut_ptr::<u64>().write_volatile(42) };
                });
            let _ = executor.block_on(faulty);
        })
        .expect("a thread")
        .join();
}
