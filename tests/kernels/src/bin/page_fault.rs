//! A write to an unmapped address is reported as a page fault naming the address; in
//! `main!`'s app function (no catch frame) it is fatal, as a panic there is.
//@ expect-failure: CPU EXCEPTION: Page Fault (#PF, vector 14)
//@ expect-failure: cr2 (faulting address) 0x00000deadbeef000
//@ expect-failure: access: write, page not present, kernel mode
//@ expect-failure: not contained: no catch frame
//@ expect-failure: page_fault::write_to_unmapped_address_faults+0x
//@ expect-failure: (trapped here)
#![no_std]
#![no_main]

use spindle::mm::paging;
use x86_64::VirtAddr;

spindle_test::test_kernel!(write_to_unmapped_address_faults);

fn write_to_unmapped_address_faults() {
    let address = VirtAddr::new(0x0dea_dbee_f000);
    assert_eq!(
        paging::translate(address),
        None,
        "the test address must be unmapped"
    );
    // SAFETY: the test relies on the fault: the address is unmapped, so the write faults and never completes.
    unsafe { address.as_mut_ptr::<u64>().write_volatile(42) };
}
