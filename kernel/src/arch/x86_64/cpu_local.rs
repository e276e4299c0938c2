//! Per-CPU data through the GS segment base.
//!
//! Each CPU's GS base points at a small `Block`: the address of that CPU's data (owned
//! by the scheduler) and two counters that the layers above check their rules against:
//!
//! - `interrupt_depth`, non-zero while a hardware interrupt handler runs: memory is never
//!   allocated in interrupt context;
//! - `spinlocks_held`, the interrupt-disabling spinlocks this CPU holds: a thread never
//!   blocks or yields while it holds one;
//!
//! two facts the trace stamps its records with (the vector of the interrupt being
//! handled, and the CPU's index), whether the trace records on this CPU (a trace point
//! tests that with one `gs`-relative compare), and how many times each vector was taken
//! on this CPU (one `gs`-relative `inc` per trap; [`trap_count`] sums every CPU's).
//!
//! Every access is one `gs`-relative instruction, so it cannot be split by a migration to
//! another CPU (an increment is a single `inc`, which an interrupt cannot cut in half).
//! The boot CPU's block is static and installed first thing in `arch::init`, so the
//! counters work before the heap exists; other CPUs get theirs when they start.
//!
//! On the build machine (host unit tests) there is no GS block: the data pointer is null
//! and the counters read zero.

use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(target_os = "none"))]
pub use self::host::*;
#[cfg(target_os = "none")]
pub use self::kernel::*;

/// The most CPUs Spindle runs on: a set of CPUs is one 64-bit word. CPUs are numbered
/// 0 (the boot CPU) to `MAX_CPUS - 1` in the order they came up.
pub const MAX_CPUS: usize = 64;

/// Bit `n` is set once CPU `n` runs the scheduler. CPUs join, never leave.
static ONLINE: AtomicU64 = AtomicU64::new(1);

/// The CPUs that are online, one bit per index (the boot CPU always is).
pub fn online_mask() -> u64 {
    ONLINE.load(Ordering::Acquire)
}

/// How many CPUs are online.
pub fn online_count() -> u32 {
    online_mask().count_ones()
}

/// Marks this CPU online. Everything it published before (its scheduler state, the
/// flush epoch it has seen) is visible to whoever sees the bit: the Release pairs with
/// the Acquire in [`online_mask`].
pub fn mark_online() {
    ONLINE.fetch_or(1 << cpu_index(), Ordering::Release);
}

#[cfg(target_os = "none")]
mod kernel {
    use core::{
        arch::asm,
        cell::UnsafeCell,
        mem::offset_of,
        sync::atomic::{AtomicPtr, AtomicU64, Ordering},
    };

    use x86_64::{VirtAddr, registers::model_specific::GsBase};

    use super::MAX_CPUS;

    /// What GS points at. Only its own CPU touches it, through `gs`-relative instructions.
    #[repr(C)]
    struct Block {
        data: UnsafeCell<*const ()>,
        interrupt_depth: UnsafeCell<u32>,
        spinlocks_held: UnsafeCell<u32>,
        vector: UnsafeCell<u32>,
        index: UnsafeCell<u32>,
        tracing: UnsafeCell<u32>,
        /// Traps taken by vector. Written only by this CPU's `inc`; other CPUs read it
        /// (atomically: an aligned quadword written by one instruction is never torn).
        trap_counts: [AtomicU64; 256],
    }

    /// Soundness requirement: the `gs:[offset]` operands below name these fields.
    const _: () = {
        assert!(offset_of!(Block, data) == 0);
        assert!(offset_of!(Block, interrupt_depth) == 8);
        assert!(offset_of!(Block, spinlocks_held) == 12);
        assert!(offset_of!(Block, vector) == 16);
        assert!(offset_of!(Block, index) == 20);
        assert!(offset_of!(Block, tracing) == 24);
        assert!(offset_of!(Block, trap_counts) == TRAP_COUNTS_OFFSET);
    };

    /// Where `trap_counts` starts in the block (named in `count_trap`'s operand).
    const TRAP_COUNTS_OFFSET: usize = 32;

    /// Every CPU's block, by index, for [`trap_count`]: set before the CPU starts.
    static BLOCKS: [AtomicPtr<Block>; MAX_CPUS] =
        [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

    // SAFETY: each block is used by exactly one CPU (the one whose GS base points at it),
    // so its cells are never accessed concurrently.
    unsafe impl Sync for Block {}

    static BOOT_CPU: Block = Block {
        data: UnsafeCell::new(core::ptr::null()),
        interrupt_depth: UnsafeCell::new(0),
        spinlocks_held: UnsafeCell::new(0),
        vector: UnsafeCell::new(0),
        index: UnsafeCell::new(0),
        tracing: UnsafeCell::new(0),
        trap_counts: [const { AtomicU64::new(0) }; 256],
    };

    /// Points this (the boot) CPU's GS base at its block. First thing `arch::init` does.
    pub(in crate::arch) fn init_boot_cpu() {
        BLOCKS[0].store((&raw const BOOT_CPU).cast_mut(), Ordering::Release);
        GsBase::write(VirtAddr::from_ptr(&BOOT_CPU));
    }

    /// Another CPU's block, index `index`, made by the boot CPU before it starts that CPU
    /// (from the heap, never freed: a CPU, once up, stays up).
    pub struct CpuBlock(Block);

    impl CpuBlock {
        pub(in crate::arch) fn new(index: u32) -> &'static CpuBlock {
            let block = alloc::boxed::Box::leak(alloc::boxed::Box::new(CpuBlock(Block {
                data: UnsafeCell::new(core::ptr::null()),
                interrupt_depth: UnsafeCell::new(0),
                spinlocks_held: UnsafeCell::new(0),
                vector: UnsafeCell::new(0),
                index: UnsafeCell::new(index),
                tracing: UnsafeCell::new(0),
                trap_counts: [const { AtomicU64::new(0) }; 256],
            })));
            BLOCKS[index as usize % MAX_CPUS].store(&raw mut block.0, Ordering::Release);
            block
        }

        /// Points this CPU's GS base at the block: the first thing a starting CPU does
        /// in Rust (before any spinlock, allocation or per-CPU read).
        pub(in crate::arch) fn install(&'static self) {
            GsBase::write(VirtAddr::from_ptr(&self.0));
        }
    }

    impl core::fmt::Debug for CpuBlock {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("CpuBlock").finish_non_exhaustive()
        }
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

    /// Notes the vector of the interrupt being handled (recorded only while tracing).
    pub(in crate::arch) fn set_interrupt_vector(vector: u8) {
        // SAFETY: one store to this CPU's own block.
        unsafe { asm!("mov dword ptr gs:[16], {:e}", in(reg) u32::from(vector), options(nostack)) };
    }

    /// The vector of the interrupt this CPU is handling, as noted while tracing
    /// (meaningful while [`in_interrupt`] and [`tracing`]).
    pub fn interrupt_vector() -> u8 {
        let vector: u32;
        // SAFETY: a read of this CPU's own block.
        unsafe {
            asm!("mov {:e}, gs:[16]", out(reg) vector, options(nostack, preserves_flags, readonly));
        }
        vector as u8
    }

    /// Whether the schedule trace records on this CPU: a compare and a jump, which is all
    /// a trace point costs while tracing is off.
    #[inline(always)]
    pub fn tracing() -> bool {
        // SAFETY: a read of this CPU's own block; the jump only selects the result.
        unsafe {
            asm!(
                "cmp byte ptr gs:[24], 0",
                "jne {on}",
                on = label { return true; },
                options(nostack, readonly)
            );
        }
        false
    }

    /// Turns the trace's recording on this CPU on or off.
    pub fn set_tracing(on: bool) {
        // SAFETY: one store to this CPU's own block.
        unsafe { asm!("mov byte ptr gs:[24], {}", in(reg_byte) u8::from(on), options(nostack)) };
    }

    /// This CPU's index (0 for the boot CPU).
    pub fn cpu_index() -> u32 {
        let index: u32;
        // SAFETY: a read of this CPU's own block.
        unsafe {
            asm!("mov {:e}, gs:[20]", out(reg) index, options(nostack, preserves_flags, readonly));
        }
        index
    }

    /// Counts a trap of `vector` on this CPU.
    #[inline(always)]
    pub(in crate::arch) fn count_trap(vector: u8) {
        // SAFETY: one instruction on this CPU's own block, inside `trap_counts` (the
        // vector is below 256, the array's length).
        unsafe {
            asm!(
                "inc qword ptr gs:[{offset} + {vector} * 8]",
                offset = const TRAP_COUNTS_OFFSET,
                vector = in(reg) usize::from(vector),
                options(nostack)
            );
        }
    }

    /// How many times `vector` (exception or interrupt) was taken since boot, on every
    /// CPU.
    pub fn trap_count(vector: u8) -> u64 {
        BLOCKS
            .iter()
            .map(|block| block.load(Ordering::Acquire))
            .filter(|block| !block.is_null())
            // SAFETY: a block, once made, is never freed (a CPU, once up, stays up), and
            // its counters are atomics.
            .map(|block| unsafe { &(*block).trap_counts[usize::from(vector)] })
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
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
    /// No per-CPU blocks on the host.
    #[derive(Debug)]
    pub struct CpuBlock;

    impl CpuBlock {
        pub(in crate::arch) fn new(_index: u32) -> &'static CpuBlock {
            &CpuBlock
        }

        pub(in crate::arch) fn install(&'static self) {}
    }

    pub(in crate::arch) fn init_boot_cpu() {}

    pub(in crate::arch) fn enter_interrupt() {}

    pub(in crate::arch) fn set_interrupt_vector(_vector: u8) {}

    /// No interrupts on the host.
    pub fn interrupt_vector() -> u8 {
        0
    }

    /// No trace on the host.
    pub fn tracing() -> bool {
        false
    }

    /// No trace on the host.
    pub fn set_tracing(_on: bool) {}

    /// The host is "CPU 0".
    pub fn cpu_index() -> u32 {
        0
    }

    pub(in crate::arch) fn leave_interrupt() {}

    pub(in crate::arch) fn count_trap(_vector: u8) {}

    /// No traps on the host.
    pub fn trap_count(_vector: u8) -> u64 {
        0
    }

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
