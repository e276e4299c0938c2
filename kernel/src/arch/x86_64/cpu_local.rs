//! Per-CPU data through the GS segment base.
//!
//! Each CPU's GS base points at a small [`Block`]: the address of that CPU's data (owned
//! by the scheduler) and two counters that the layers above check their rules against:
//!
//! - `interrupt_depth`, non-zero while a hardware interrupt handler runs: memory is never
//!   allocated in interrupt context;
//! - `spinlocks_held`, the interrupt-disabling spinlocks this CPU holds: a thread never
//!   blocks or yields while it holds one.
//!
//! Every access is one `gs`-relative instruction, so it cannot be split by a migration to
//! another CPU (an increment is a single `inc`, which an interrupt cannot cut in half).
//! The boot CPU's block is static and installed first thing in `arch::init`, so the
//! counters work before the heap exists; other CPUs get theirs when they start.
//!
//! On the build machine (host unit tests) there is no GS block: the data pointer is null
//! and the counters read zero.

#[cfg(not(target_os = "none"))]
pub use self::host::*;
#[cfg(target_os = "none")]
pub use self::kernel::*;

#[cfg(target_os = "none")]
mod kernel {
    use core::{arch::asm, cell::UnsafeCell, mem::offset_of};

    use x86_64::{VirtAddr, registers::model_specific::GsBase};

    /// What GS points at. Only its own CPU touches it, through `gs`-relative instructions.
    #[repr(C)]
    struct Block {
        data: UnsafeCell<*const ()>,
        interrupt_depth: UnsafeCell<u32>,
        spinlocks_held: UnsafeCell<u32>,
    }

    /// Soundness requirement: the `gs:[offset]` operands below name these fields.
    const _: () = {
        assert!(offset_of!(Block, data) == 0);
        assert!(offset_of!(Block, interrupt_depth) == 8);
        assert!(offset_of!(Block, spinlocks_held) == 12);
    };

    // SAFETY: each block is used by exactly one CPU (the one whose GS base points at it),
    // so its cells are never accessed concurrently.
    unsafe impl Sync for Block {}

    static BOOT_CPU: Block = Block {
        data: UnsafeCell::new(core::ptr::null()),
        interrupt_depth: UnsafeCell::new(0),
        spinlocks_held: UnsafeCell::new(0),
    };

    /// Points this (the boot) CPU's GS base at its block. First thing `arch::init` does.
    pub(in crate::arch) fn init_boot_cpu() {
        GsBase::write(VirtAddr::from_ptr(&BOOT_CPU));
    }

    /// Makes `data` this CPU's per-CPU data pointer (once the scheduler made its state).
    pub fn install(data: *const ()) {
        // SAFETY: GS points at this CPU's block (`init_boot_cpu` ran first), whose first
        // field is the data pointer; nothing else on this CPU holds a reference to it.
        unsafe { asm!("mov gs:[0], {}", in(reg) data, options(nostack, preserves_flags)) };
    }

    /// This CPU's per-CPU data pointer, as given to [`install`]; null before that.
    pub fn get() -> *const () {
        let data: *const ();
        // SAFETY: GS points at this CPU's block; the read has no other effect.
        unsafe {
            asm!("mov {}, gs:[0]", out(reg) data, options(nostack, preserves_flags, readonly));
        }
        data
    }

    /// Counts entering a hardware interrupt handler on this CPU.
    pub(in crate::arch) fn enter_interrupt() {
        // SAFETY: one instruction on this CPU's own block.
        unsafe { asm!("inc dword ptr gs:[8]", options(nostack)) };
    }

    /// Counts leaving it.
    pub(in crate::arch) fn leave_interrupt() {
        // SAFETY: one instruction on this CPU's own block.
        unsafe { asm!("dec dword ptr gs:[8]", options(nostack)) };
    }

    /// Whether this CPU is running a hardware interrupt handler.
    pub fn in_interrupt() -> bool {
        let depth: u32;
        // SAFETY: a read of this CPU's own block.
        unsafe {
            asm!("mov {:e}, gs:[8]", out(reg) depth, options(nostack, preserves_flags, readonly));
        }
        depth != 0
    }

    /// Counts acquiring an interrupt-disabling spinlock on this CPU.
    pub(crate) fn spinlock_acquired() {
        // SAFETY: one instruction on this CPU's own block.
        unsafe { asm!("inc dword ptr gs:[12]", options(nostack)) };
    }

    /// Counts releasing one.
    pub(crate) fn spinlock_released() {
        // SAFETY: one instruction on this CPU's own block.
        unsafe { asm!("dec dword ptr gs:[12]", options(nostack)) };
    }

    /// How many interrupt-disabling spinlocks this CPU holds.
    pub fn spinlocks_held() -> u32 {
        let held: u32;
        // SAFETY: a read of this CPU's own block.
        unsafe {
            asm!("mov {:e}, gs:[12]", out(reg) held, options(nostack, preserves_flags, readonly));
        }
        held
    }
}

/// Host builds: nothing per CPU; the kernel's portable logic runs on `std` threads.
#[cfg(not(target_os = "none"))]
mod host {
    pub(in crate::arch) fn init_boot_cpu() {}

    pub(in crate::arch) fn enter_interrupt() {}

    pub(in crate::arch) fn leave_interrupt() {}

    /// Host builds have no per-CPU data.
    pub fn install(_data: *const ()) {}

    /// Always null on the host.
    pub fn get() -> *const () {
        core::ptr::null()
    }

    /// Host code never runs in interrupt context.
    pub fn in_interrupt() -> bool {
        false
    }

    pub(crate) fn spinlock_acquired() {}

    pub(crate) fn spinlock_released() {}

    /// Not counted on the host.
    pub fn spinlocks_held() -> u32 {
        0
    }
}
