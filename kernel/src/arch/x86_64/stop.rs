//! Stopping the machine when one CPU fails.
//!
//! A panic or a fatal exception ends the session, but on several CPUs the others would go
//! on running (and printing) while the report is written, and a second failure could end
//! the session before the first report is out. So the first CPU to fail claims the report
//! ([`claim_report`]) and stops every other CPU with a non-maskable interrupt, which even
//! a CPU spinning with interrupts off takes; a CPU that fails later, or takes the NMI,
//! halts for good. The claim records which CPU holds it, so a failure *inside* the report
//! (a fault while formatting) on that same CPU ends the session instead of halting it.

use core::sync::atomic::{AtomicU32, Ordering};

use super::{apic, cpu, cpu_local};

/// The index of the CPU writing the report, or `NOBODY`.
static REPORTING: AtomicU32 = AtomicU32::new(NOBODY);
const NOBODY: u32 = u32::MAX;

/// What a failing CPU should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Write the report, then end the session: the other CPUs are stopped.
    Report,
    /// This CPU failed again while reporting: end the session now.
    Nested,
    /// Another CPU is reporting: halt (see [`halt`]) and let it finish.
    Halt,
}

/// Called first by every fatal path (panic, fatal exception), with interrupts off.
pub fn claim_report() -> Claim {
    let me = cpu_local::cpu_index();
    match REPORTING.compare_exchange(NOBODY, me, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            if cpu_local::online_count() > 1 && apic::is_available() {
                apic::send_nmi_to_others();
            }
            Claim::Report
        }
        Err(holder) if holder == me => Claim::Nested,
        Err(_) => Claim::Halt,
    }
}

/// Whether a CPU is writing a failure report (an NMI then means "stop").
pub(super) fn stopping() -> bool {
    REPORTING.load(Ordering::Acquire) != NOBODY
}

/// Stops this CPU for good, leaving the session to the reporting CPU.
pub fn halt() -> ! {
    cpu::halt_forever()
}
