//! A fatal panic (here with preemption disabled) on an application processor stops the
//! whole machine: while threads on the other CPUs print without pause, a thread on CPU 1
//! panics; the report names the CPU and the thread, and the session ends right after it.
//@ smp: 2 4
//@ expect-failure: KERNEL PANIC at src/bin/smp_panic.rs:
//@ expect-failure: a deliberate panic on CPU 1
//@ expect-failure: on CPU 1, thread
//@ expect-failure: 'panicker'
//@ expect-failure: not contained: with preemption disabled
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU32, Ordering};

use spindle::{
    println,
    thread::{self, Builder},
};

spindle_test::test_kernel!(a_panic_on_an_application_processor_stops_every_cpu);

fn a_panic_on_an_application_processor_stops_every_cpu() {
    static PRINTING: AtomicU32 = AtomicU32::new(0);
    let printers: alloc::vec::Vec<u32> = (0..thread::cpu_count()).filter(|&cpu| cpu != 1).collect();
    for &cpu in &printers {
        Builder::new()
            .cpu(cpu)
            .spawn(move || {
                PRINTING.fetch_add(1, Ordering::SeqCst);
                let mut line = 0u64;
                loop {
                    println!("printer on CPU {cpu}: line {line}");
                    line += 1;
                }
            })
            .unwrap();
    }
    while PRINTING.load(Ordering::SeqCst) < printers.len() as u32 {
        thread::yield_now();
    }
    let panicker = Builder::new()
        .name("panicker")
        .cpu(1)
        .spawn(|| {
            let _fatal = thread::disable_preemption(); // a contained panic would not stop it
            panic!("a deliberate panic on CPU {}", thread::current_cpu())
        })
        .unwrap();
    panicker.join();
    unreachable!("the panic ended the session");
}
