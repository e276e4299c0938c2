//! CPU exceptions in a thread's own code, turned into panics of that thread.
//!
//! A divide error (#DE), an invalid opcode (#UD), a general-protection fault (#GP) or a
//! page fault (#PF) is the thread's own bug, like a failed `unwrap`. If the layer above
//! lets it ([`set_fault_containment`]: the panic rule, which also keeps a guard-page fault
//! fatal), the handler does not report it: it rewrites the trap frame so that `iretq`
//! "returns" into [`spindle_fault_stub`] on the faulting thread's own stack, with the
//! interrupt flag as the faulting code had it (the frame's `rflags`), and the stub calls
//! [`raise`], which panics with the exception's name, the faulting instruction and what
//! it touched. From there it is an ordinary panic: the containment rule is checked again,
//! and the thread (or the task it polls) unwinds to its catch frame.
//!
//! The stub's frame is what lets the unwinder walk from the panic into the faulting
//! function: the stub pushes the faulting `rip` where a call would have left its return
//! address, saves `rbp` and keeps the frame's address in it, and its unwind information
//! (`.cfi_*`) says so. It is marked a signal frame (`.cfi_signal_frame`: the CIE's `S`
//! augmentation), so the unwinder looks up the faulting instruction itself, not the byte
//! before it, as it would for a return address. The faulting function's caller-saved
//! registers are lost (the stub uses them for the exception's details), which unwinding
//! never needs; its callee-saved ones are untouched.
//!
//! The compiler prepares cleanups only for calls (in Rust only a call can unwind), so the
//! faulting function's *own* values are not dropped: a guard or a value it held at the
//! faulting instruction is leaked (seen: a `Dropper` local to the faulting function was
//! not dropped; the callers' values and lock guards were). Where its unwind tables say the
//! instruction cannot unwind at all, the unwinder's search stops there without running
//! anything, and the panic is fatal (the report says so). A fault is a bug that already
//! broke the rules (a wild pointer, an unchecked division): containing it is best-effort,
//! as in Theseus.

use core::{
    arch::global_asm,
    fmt::{self, Display},
};

use x86_64::registers::control::Cr2;

use super::{
    TrapFrame, exception_names,
    fn_slot::{self, FnSlot},
    symbols, vectors,
};

/// The exceptions that may become a panic of the thread that raised them.
const CONTAINABLE: [u8; 4] = [
    vectors::DIVIDE_ERROR,
    vectors::INVALID_OPCODE,
    vectors::GENERAL_PROTECTION,
    vectors::PAGE_FAULT,
];

/// A CPU exception raised by the interrupted code, as the containment rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    /// The exception's vector.
    pub vector: u8,
    /// The error code the CPU pushed (0 for exceptions without one).
    pub error_code: u64,
    /// For a page fault, the address it could not access (CR2); else 0.
    pub address: u64,
    /// The faulting instruction.
    pub rip: u64,
    /// Whether the faulting code ran with interrupts enabled.
    pub interrupts_on: bool,
}

/// Decides whether a [`Fault`] becomes a panic of the interrupted thread: `Ok`, or why
/// not (for the report's `not contained:` line).
pub type FaultContainment = fn(&Fault) -> Result<(), &'static str>;

// SAFETY: a function pointer type.
unsafe impl fn_slot::FnPointer for FaultContainment {}

static CONTAINMENT: FnSlot<FaultContainment> = FnSlot::empty();

/// Installs the rule that decides which faults become panics (none until then).
pub fn set_fault_containment(rule: FaultContainment) {
    CONTAINMENT.set(rule);
}

/// Handles exception `frame.vector` if it may become a panic: `Ok` if the frame now
/// returns into the stub, else why it stays fatal (`None`: not such an exception, or no
/// rule installed).
pub(super) fn take_over(frame: &mut TrapFrame) -> Result<(), Option<&'static str>> {
    let vector = frame.vector as u8;
    if !CONTAINABLE.contains(&vector) {
        return Err(None);
    }
    const INTERRUPT_FLAG: u64 = 1 << 9;
    let fault = Fault {
        vector,
        error_code: frame.error_code,
        address: if vector == vectors::PAGE_FAULT {
            Cr2::read_raw()
        } else {
            0
        },
        rip: frame.rip,
        interrupts_on: frame.rflags & INTERRUPT_FLAG != 0,
    };
    let rule = CONTAINMENT.get().ok_or(None)?;
    rule(&fault).map_err(Some)?;
    // The stub's arguments, in registers the faulting code's unwinding does not need.
    frame.rdi = fault.rip;
    frame.rsi = u64::from(fault.vector);
    frame.rdx = fault.error_code;
    frame.rcx = fault.address;
    frame.rip = (&raw const spindle_fault_stub) as u64;
    Ok(())
}

global_asm!(
    r#"
    .pushsection .text.spindle_fault_stub, "ax"
    .global spindle_fault_stub
spindle_fault_stub:
    push rdi
    push rbp
    mov rbp, rsp
    .cfi_startproc simple
    .cfi_signal_frame
    .cfi_def_cfa rbp, 16
    .cfi_offset 16, -8
    .cfi_offset 6, -16
    and rsp, -16
    mov rdi, rsi
    mov rsi, rdx
    mov rdx, rcx
    mov rcx, [rbp + 8]
    call {raise}
    ud2
    .cfi_endproc
    .popsection
    "#,
    raise = sym raise,
);

unsafe extern "C" {
    /// Where a contained fault "returns" to (`rdi` = the faulting `rip`, `rsi` = the
    /// vector, `rdx` = the error code, `rcx` = the page fault's address): only its
    /// address is meaningful.
    static spindle_fault_stub: u8;
}

/// Called by the stub, on the faulting thread, as if by the faulting instruction:
/// panics with what the exception was.
extern "C-unwind" fn raise(vector: u64, error_code: u64, address: u64, rip: u64) -> ! {
    let fault = Fault {
        vector: vector as u8,
        error_code,
        address,
        rip,
        interrupts_on: true,
    };
    panic!("{}", Described(&fault))
}

/// A fault as a panic message: `Page Fault (#PF) at 0x... in function+0x12: read, page
/// not present, kernel mode, address 0x...`.
struct Described<'a>(&'a Fault);

impl Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = self.0;
        let (mnemonic, name) = exception_names::name(fault.vector);
        write!(f, "{name} ({mnemonic}) at {:#x}", fault.rip)?;
        if let Some(symbol) = symbols::lookup(fault.rip as usize) {
            write!(f, " in {symbol}")?;
        }
        match fault.vector {
            vectors::PAGE_FAULT => write!(
                f,
                ": {}, address {:#x}",
                exception_names::PageFaultCause(fault.error_code),
                fault.address
            ),
            vectors::GENERAL_PROTECTION => write!(f, ", error code {:#x}", fault.error_code),
            _ => Ok(()),
        }
    }
}
