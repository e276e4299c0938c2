//! A CPU exception inside an async task names the thread, the task and its executor.
//@ expect-failure: CPU EXCEPTION: Page Fault (#PF, vector 14)
//@ expect-failure: cr2 (faulting address) 0x00000deadbeef000
//@ expect-failure: 'fault-host'
//@ expect-failure: polling task 1 'faulty' of executor 'faults'
#![no_std]
#![no_main]

use spindle::{executor::Executor, mm::paging, thread::Builder};
use x86_64::VirtAddr;

spindle_test::test_kernel!(page_fault_in_a_task_names_it);

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
                    // SAFETY: the test relies on the fault: the address is unmapped, so
                    // the write faults and never completes.
                    unsafe { address.as_mut_ptr::<u64>().write_volatile(42) };
                });
            let _ = executor.block_on(faulty);
        })
        .expect("a thread")
        .join();
}
