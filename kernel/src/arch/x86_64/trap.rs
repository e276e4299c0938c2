//! The trap frame and the one Rust dispatcher every interrupt and exception goes through.
//!
//! `trap_entry` builds a [`TrapFrame`] on the current stack for every vector and calls
//! [`trap_dispatch`]; whatever the dispatcher leaves in the frame is what `iretq` resumes.

use core::mem::{offset_of, size_of};
#[cfg(feature = "diag")]
use core::sync::atomic::{AtomicU64, Ordering};

use super::{cpu_local, exception, interrupts, pic, vectors};

/// The registers of an interrupted context, as the trap entry path leaves them on the
/// stack: general registers pushed by software (r15 at the lowest address), then the
/// vector and error code (a zero where the CPU pushes none), then the frame the CPU
/// itself pushed for `iretq`.
#[repr(C)]
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Soundness requirements of the assembly in `trap_entry`, which pushes and pops exactly
/// these fields in this order and assumes the frame keeps the stack 16-byte aligned
/// (the CPU aligns rsp before pushing its 5-word frame; 22 words keep it aligned for the
/// `call` into Rust, as the SysV ABI demands).
const _: () = {
    assert!(size_of::<TrapFrame>() == 22 * 8);
    assert!(size_of::<TrapFrame>().is_multiple_of(16));
    assert!(offset_of!(TrapFrame, r15) == 0);
    assert!(offset_of!(TrapFrame, rax) == 14 * 8);
    assert!(offset_of!(TrapFrame, vector) == 15 * 8);
    assert!(offset_of!(TrapFrame, error_code) == 16 * 8);
    assert!(offset_of!(TrapFrame, rip) == 17 * 8);
    assert!(offset_of!(TrapFrame, ss) == 21 * 8);
};

/// The TSC when the latest hardware interrupt entered the dispatcher, on any CPU: a
/// benchmark hook ("from interrupt entry to ..."), built only with the `diag` feature so
/// that no product kernel pays an `rdtsc` and a shared store per interrupt.
#[cfg(feature = "diag")]
static LAST_INTERRUPT_ENTRY: AtomicU64 = AtomicU64::new(0);

/// The TSC when the latest hardware interrupt (vector 32 or above) was dispatched.
#[cfg(feature = "diag")]
pub fn last_interrupt_entry_tsc() -> u64 {
    LAST_INTERRUPT_ENTRY.load(Ordering::Relaxed)
}

/// Entered from the assembly trap path with interrupts disabled.
pub(super) extern "sysv64" fn trap_dispatch(frame: &mut TrapFrame) {
    let vector = (frame.vector & 0xff) as u8;
    cpu_local::count_trap(vector);
    #[cfg(feature = "diag")]
    if vector >= vectors::FIRST_INTERRUPT {
        LAST_INTERRUPT_ENTRY.store(super::tsc::read(), Ordering::Relaxed);
    }
    match vector {
        _ if vector < vectors::FIRST_INTERRUPT => exception::handle(frame),
        vectors::PIC_SPURIOUS_MASTER | vectors::PIC_SPURIOUS_SLAVE => {
            pic::acknowledge_spurious(vector)
        }
        vectors::APIC_SPURIOUS => {}
        _ => {
            if !interrupts::dispatch(frame, vector) {
                exception::fatal(frame, "unexpected interrupt: no handler for this vector");
            }
        }
    }
}
