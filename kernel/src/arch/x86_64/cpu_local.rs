//! Per-CPU data through the GS segment base.
//!
//! Each CPU's GS base points at a small block whose first word is the address of that
//! CPU's data (owned by `task`), so finding it is one `mov rax, gs:[0]`: no global
//! "current CPU" variable, nothing to change for SMP but calling [`install`] on each CPU.

use alloc::boxed::Box;
use core::arch::asm;

use x86_64::{VirtAddr, registers::model_specific::GsBase};

/// What GS points at.
#[repr(C)]
struct Block {
    data: *const (),
}

/// Makes `data` this CPU's per-CPU data pointer. Call once per CPU, before [`get`].
pub fn install(data: *const ()) {
    let block = Box::leak(Box::new(Block { data }));
    GsBase::write(VirtAddr::from_ptr(block));
}

/// This CPU's per-CPU data pointer, as given to [`install`].
pub fn get() -> *const () {
    let data: *const ();
    // SAFETY: after `install`, GS points at a live `Block` whose first field is `data`;
    // the read has no other effect. Before `install` GS base is 0 and this reads address
    // 0, which is unmapped: a clear page fault, not silent corruption.
    unsafe { asm!("mov {}, gs:[0]", out(reg) data, options(nostack, preserves_flags, readonly)) };
    data
}

/// Whether [`install`] ran on this CPU (reads the GS base MSR: for slow paths only).
pub fn is_installed() -> bool {
    GsBase::read().as_u64() != 0
}
