//! CPU exceptions: a breakpoint logs and continues; a fault in a thread's own code may
//! become a panic of that thread (`fault`); everything else is fatal and gets a report
//! (name, error code, faulting address, registers, why it was not contained, the call
//! chain) before QEMU exits with failure.

use core::fmt::{self, Display};

use x86_64::registers::control::Cr2;

use super::{
    TrapFrame,
    backtrace::{self, Backtrace},
    debug_port, exception_names,
    fn_slot::{self, FnSlot},
    qemu,
    stop::{self, Claim},
    vectors,
};

const BREAKPOINT: u64 = vectors::BREAKPOINT as u64;
const DEVICE_NOT_AVAILABLE: u64 = vectors::DEVICE_NOT_AVAILABLE as u64;
const DOUBLE_FAULT: u64 = vectors::DOUBLE_FAULT as u64;
const NMI: u64 = vectors::NMI as u64;
const PAGE_FAULT: u64 = vectors::PAGE_FAULT as u64;

/// Handles exception `frame.vector` (< 32).
pub(super) fn handle(frame: &mut TrapFrame) {
    match frame.vector {
        // int3 leaves rip after itself, so returning continues with the next instruction.
        BREAKPOINT => log::info!("breakpoint at {:#x}, continuing", frame.rip - 1),
        // Another CPU failed and is reporting: this one stops.
        NMI if stop::stopping() => stop::halt(),
        DOUBLE_FAULT => fatal(frame, double_fault_note(frame)),
        DEVICE_NOT_AVAILABLE => fatal(
            frame,
            "x87/SSE instruction on a thread that did not opt in to FPU state (Builder::fpu)",
        ),
        _ => match take_over(frame) {
            Ok(()) => {} // returns into the faulting thread's panic
            Err(why) => report(frame, "", why),
        },
    }
}

#[cfg(target_os = "none")]
use super::fault::take_over;

/// Host builds: no fault becomes a panic (there is no unwinder to run it).
#[cfg(not(target_os = "none"))]
fn take_over(_frame: &mut TrapFrame) -> Result<(), Option<&'static str>> {
    Err(None)
}

/// Adds context to fault reports: given the faulting address (CR2), describes what was
/// running (the layer above knows threads and their stacks).
pub type FaultReporter = fn(&mut dyn fmt::Write, u64) -> fmt::Result;

// SAFETY: a function pointer type.
unsafe impl fn_slot::FnPointer for FaultReporter {}

static FAULT_REPORTER: FnSlot<FaultReporter> = FnSlot::empty();

/// Installs the function that describes the current context in fault reports.
pub fn set_fault_reporter(reporter: FaultReporter) {
    FAULT_REPORTER.set(reporter);
}

/// Reports the trap described by `frame` with an optional `note` and ends the session.
pub(super) fn fatal(frame: &TrapFrame, note: &str) -> ! {
    report(frame, note, None)
}

/// [`fatal`], with why the fault was not contained, if it could have been.
fn report(frame: &TrapFrame, note: &str, not_contained: Option<&str>) -> ! {
    match stop::claim_report() {
        Claim::Report => debug_port::print(format_args!(
            "{}",
            Report {
                frame,
                note,
                not_contained
            }
        )),
        Claim::Nested => {}
        Claim::Halt => stop::halt(),
    }
    qemu::exit(qemu::ExitCode::Failure)
}

/// A double fault whose stack pointer sits next to the address that faulted is a stack
/// that ran into its guard page: the page fault could not be delivered on that stack.
fn double_fault_note(frame: &TrapFrame) -> &'static str {
    const PAGE: u64 = 4096;
    if Cr2::read_raw().abs_diff(frame.rsp) < 2 * PAGE {
        "kernel stack overflow: rsp ran into the unmapped guard page below the stack"
    } else {
        ""
    }
}

struct Report<'a> {
    frame: &'a TrapFrame,
    note: &'a str,
    not_contained: Option<&'a str>,
}

impl Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.frame;
        match u8::try_from(frame.vector) {
            Ok(vector) if vector < vectors::FIRST_INTERRUPT => {
                let (mnemonic, name) = exception_names::name(vector);
                writeln!(
                    f,
                    "\nCPU EXCEPTION: {name} ({mnemonic}, vector {vector}), error code {:#x}",
                    frame.error_code
                )?
            }
            _ => writeln!(f, "\nINTERRUPT: vector {}", frame.vector)?,
        }
        if frame.vector == PAGE_FAULT || frame.vector == DOUBLE_FAULT {
            writeln!(f, "  cr2 (faulting address) {:#018x}", Cr2::read_raw())?;
        }
        if frame.vector == PAGE_FAULT {
            writeln!(
                f,
                "  access: {}",
                exception_names::PageFaultCause(frame.error_code)
            )?;
        }
        if !self.note.is_empty() {
            writeln!(f, "  {}", self.note)?;
        }
        if let Some(why) = self.not_contained {
            writeln!(f, "  not contained: {why}")?;
        }
        write_registers(f, frame)?;
        if let Some(reporter) = FAULT_REPORTER.get() {
            reporter(f, Cr2::read_raw())?;
        }
        write!(f, "{}", Backtrace::capture(backtrace::Start::AtTrap))
    }
}

fn write_registers(f: &mut fmt::Formatter<'_>, frame: &TrapFrame) -> fmt::Result {
    let rows = [
        [
            ("rip", frame.rip),
            ("rsp", frame.rsp),
            ("rflags", frame.rflags),
        ],
        [("cs", frame.cs), ("ss", frame.ss), ("rbp", frame.rbp)],
        [("rax", frame.rax), ("rbx", frame.rbx), ("rcx", frame.rcx)],
        [("rdx", frame.rdx), ("rsi", frame.rsi), ("rdi", frame.rdi)],
        [("r8", frame.r8), ("r9", frame.r9), ("r10", frame.r10)],
        [("r11", frame.r11), ("r12", frame.r12), ("r13", frame.r13)],
        [("r14", frame.r14), ("r15", frame.r15), ("", 0)],
    ];
    for row in rows {
        for (name, value) in row.iter().filter(|(name, _)| !name.is_empty()) {
            write!(f, "  {name:>6} {value:#018x}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}
