//! CPU exceptions: a breakpoint logs and continues; a fault in a thread's own code may
//! become a panic of that thread (`fault`); everything else is fatal and gets a report
//! (name, error code, faulting address, registers, why it was not contained, the call
//! chain) before QEMU exits with failure.

use core::fmt::{self, Display};

use x86_64::registers::control::Cr2;

use super::{
    TrapFrame,
    backtrace::{self, Backtrace},
    debug_port,
    fn_slot::FnSlot,
    qemu,
    stop::{self, Claim},
    vectors,
};

const BREAKPOINT: u64 = vectors::BREAKPOINT as u64;
const DEVICE_NOT_AVAILABLE: u64 = vectors::DEVICE_NOT_AVAILABLE as u64;
const DOUBLE_FAULT: u64 = vectors::DOUBLE_FAULT as u64;
const NMI: u64 = vectors::NMI as u64;
const PAGE_FAULT: u64 = vectors::PAGE_FAULT as u64;

/// Mnemonic and name of each exception vector (Intel SDM vol. 3, table 6-1).
const EXCEPTIONS: [(&str, &str); 32] = [
    ("#DE", "Divide Error"),
    ("#DB", "Debug"),
    ("NMI", "Non-Maskable Interrupt"),
    ("#BP", "Breakpoint"),
    ("#OF", "Overflow"),
    ("#BR", "Bound Range Exceeded"),
    ("#UD", "Invalid Opcode"),
    ("#NM", "Device Not Available"),
    ("#DF", "Double Fault"),
    ("--", "Coprocessor Segment Overrun"),
    ("#TS", "Invalid TSS"),
    ("#NP", "Segment Not Present"),
    ("#SS", "Stack-Segment Fault"),
    ("#GP", "General Protection"),
    ("#PF", "Page Fault"),
    ("--", "Reserved"),
    ("#MF", "x87 Floating-Point Error"),
    ("#AC", "Alignment Check"),
    ("#MC", "Machine Check"),
    ("#XM", "SIMD Floating-Point"),
    ("#VE", "Virtualization"),
    ("#CP", "Control Protection"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("#HV", "Hypervisor Injection"),
    ("#VC", "VMM Communication"),
    ("#SX", "Security"),
    ("--", "Reserved"),
];

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

/// The mnemonic and name of exception `vector` (< 32).
pub(super) fn name(vector: u8) -> (&'static str, &'static str) {
    EXCEPTIONS
        .get(usize::from(vector))
        .copied()
        .unwrap_or(("--", "Reserved"))
}

/// Adds context to fault reports: given the faulting address (CR2), describes what was
/// running (the layer above knows threads and their stacks).
pub type FaultReporter = fn(&mut dyn fmt::Write, u64) -> fmt::Result;

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
                let (mnemonic, name) = name(vector);
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
            writeln!(f, "  access: {}", PageFaultCause(frame.error_code))?;
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

/// The page-fault error code, decoded.
pub(super) struct PageFaultCause(pub(super) u64);

impl Display for PageFaultCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |n: u32| self.0 & (1 << n) != 0;
        let presence = if bit(0) {
            "protection violation"
        } else {
            "page not present"
        };
        let access = match (bit(4), bit(1)) {
            (true, _) => "instruction fetch",
            (false, true) => "write",
            (false, false) => "read",
        };
        let mode = if bit(2) { "user" } else { "kernel" };
        write!(f, "{access}, {presence}, {mode} mode")?;
        if bit(3) {
            write!(f, ", reserved bit set in a page-table entry")?;
        }
        Ok(())
    }
}
