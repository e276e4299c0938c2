//! The kernel boots on both firmwares and its basic services work.
//@ firmware: bios uefi
// The machine has no empty CD-ROM drive for OVMF to fail to boot from first.
//@ reject-output: DVD-ROM
//@ reject-output: Not Found
#![no_std]
#![no_main]

use spindle::{arch, mm, thread, time};
use x86_64::{PhysAddr, VirtAddr};

spindle_test::test_kernel!(
    clock_is_calibrated_and_monotonic,
    physical_memory_window_maps_physical_memory,
    bring_up_ends_with_interrupts_on_and_the_tick_running,
);

fn clock_is_calibrated_and_monotonic() {
    let hz = time::tsc_frequency();
    assert!(
        (100_000_000..20_000_000_000).contains(&hz),
        "implausible TSC frequency {hz} Hz"
    );
    let mut previous = time::now();
    for _ in 0..10_000 {
        let now = time::now();
        assert!(
            now >= previous,
            "clock went backwards: {previous:?} -> {now:?}"
        );
        previous = now;
    }
    assert!(previous > time::Instant::from_nanos(0));
}

fn physical_memory_window_maps_physical_memory() {
    for physical in [0x1000u64, 0x10_0000, 0x20_0000] {
        let virt = mm::phys_to_virt(PhysAddr::new(physical));
        assert_eq!(mm::paging::translate(virt), Some(PhysAddr::new(physical)));
    }
    assert_eq!(
        mm::paging::translate(VirtAddr::new(0)),
        None,
        "page zero must stay unmapped"
    );
}

fn bring_up_ends_with_interrupts_on_and_the_tick_running() {
    assert!(arch::cpu::interrupts_enabled());
    let start = thread::timer_interrupts();
    thread::sleep(core::time::Duration::from_millis(5));
    assert!(
        thread::timer_interrupts() > start,
        "no timer interrupt ended the sleep"
    );
}
