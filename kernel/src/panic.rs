//! The panic report: message and location on serial, then a failure exit.
//!
//! Every kernel binary (default, test and benchmark kernels) shares this handler, so the
//! host sees one format: a line starting `KERNEL PANIC` and QEMU exiting with the failure
//! status. The report is written without taking the serial lock, which the panicking
//! code may hold.

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::sync::atomic::{AtomicBool, Ordering};

    use crate::arch::{cpu, debug_port, qemu};

    static PANICKING: AtomicBool = AtomicBool::new(false);

    cpu::disable_interrupts();
    if !PANICKING.swap(true, Ordering::SeqCst) {
        let location = info.location().map_or(("<unknown>", 0, 0), |location| {
            (location.file(), location.line(), location.column())
        });
        debug_port::print(format_args!(
            "\nKERNEL PANIC at {}:{}:{}: {}\n",
            location.0,
            location.1,
            location.2,
            info.message()
        ));
    }
    qemu::exit(qemu::ExitCode::Failure)
}
