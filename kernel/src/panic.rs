//! The panic report: message and location on serial, then a failure exit.
//!
//! Every kernel binary (default, test and benchmark kernels) shares this handler, so the
//! host sees one format: a line starting `KERNEL PANIC` and QEMU exiting with the failure
//! status, and a second line naming the CPU and thread. The report is written without
//! taking the serial lock, which the panicking code may hold. On several CPUs the first
//! to fail stops the others (`arch::stop`).

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use crate::arch::{
        cpu, debug_port, qemu,
        stop::{self, Claim},
    };

    cpu::disable_interrupts();
    match stop::claim_report() {
        Claim::Report => {}
        Claim::Nested => qemu::exit(qemu::ExitCode::Failure),
        Claim::Halt => stop::halt(),
    }
    let location = info.location().map_or(("<unknown>", 0, 0), |location| {
        (location.file(), location.line(), location.column())
    });
    debug_port::print(format_args!(
        "\nKERNEL PANIC at {}:{}:{}: {}\n  on {}\n",
        location.0,
        location.1,
        location.2,
        info.message(),
        crate::thread::setup::RunningContext
    ));
    qemu::exit(qemu::ExitCode::Failure)
}
