//! Stopping the machine when one CPU fails.
//!
//! A panic or a fatal exception ends the session, but on several CPUs the others would go
//! on running (and printing) while the report is written, and a second failure could end
//! the session before the first report is out. So the first CPU to fail claims the report
//! ([`claim_report`]) and stops every other CPU with a non-maskable interrupt, which even
//! a CPU spinning with interrupts off takes; a CPU that fails later, or takes the NMI,
//! halts for good. The claim records which CPU holds it, so a failure *inside* the report
//! (a fault while formatting) on that same CPU ends the session instead of halting it.
//!
//! The reporting CPU waits until the others have halted before it writes a word: a CPU
//! in the middle of printing a line would otherwise go on printing into the report until
//! the NMI reached it (a vCPU can take a while to). Each halting CPU counts itself
//! (Release) after its last output; the reporter reads the count (Acquire). The wait is
//! bounded, for a CPU that never takes the NMI: the report then comes out regardless.

use core::sync::atomic::{AtomicU32, Ordering};

use super::{apic, cpu, cpu_local, tsc};

/// The index of the CPU writing the report, or `NOBODY`.
static REPORTING: AtomicU32 = AtomicU32::new(NOBODY);
const NOBODY: u32 = u32::MAX;

/// CPUs halted for good by [`halt`].
static HALTED: AtomicU32 = AtomicU32::new(0);

/// How long the reporter waits for the others to halt, in TSC ticks: about a second at
/// 2-3 GHz (the TSC's rate may not be known yet when a failure comes early at boot).
const HALT_WAIT_TICKS: u64 = 3 << 30;

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
            let others = cpu_local::online_count().saturating_sub(1);
            if others > 0 && apic::is_available() {
                apic::send_nmi_to_others();
                wait_for_halts(others);
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

/// Waits (boundedly) until `others` CPUs have halted.
fn wait_for_halts(others: u32) {
    let start = tsc::read();
    while HALTED.load(Ordering::Acquire) < others
        && tsc::read().wrapping_sub(start) < HALT_WAIT_TICKS
    {
        core::hint::spin_loop();
    }
}

/// Stops this CPU for good, leaving the session to the reporting CPU.
pub fn halt() -> ! {
    HALTED.fetch_add(1, Ordering::Release);
    cpu::halt_forever()
}
