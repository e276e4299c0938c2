//! Starting the other CPUs (application processors, APs).
//!
//! The bootloader starts only the boot CPU; the others wait, halted in firmware code
//! (SeaBIOS and OVMF both leave them in 32-bit protected mode, not waiting for a
//! start-up IPI, so INIT always comes first). Each is started in turn:
//!
//! 1. the trampoline below is copied to physical page [`TRAMPOLINE_PAGE`] (a start-up
//!    IPI can only start a CPU in real mode, below 1 MiB), identity-mapped and
//!    executable, and a copy of the active level-4 table goes to [`LOW_PML4_PAGE`] (in
//!    32-bit mode `mov cr3` takes 32 bits, and the real table may lie above 4 GiB);
//! 2. the boot CPU fills the trampoline's data block (both tables, the AP's stack, the
//!    entry, its CPU index) and sends INIT, then a start-up IPI, then another if the AP
//!    did not report in time;
//! 3. the AP runs the trampoline: real mode → protected mode (a GDT in the page) → long
//!    mode (PAE, the low table, EFER.LME and EFER.NXE, which the bootloader set on the
//!    boot CPU only and without which every no-execute mapping is a reserved-bit fault,
//!    paging and write protection), loads the real CR3 and stack, sets `started`, and
//!    calls `ap_entry`;
//! 4. `ap_entry` gives the CPU its own per-CPU block, GDT, TSS and double-fault stack,
//!    loads the shared IDT, enables SSE and its local APIC (LINT0 masked), and hands over
//!    to the layer above (the AP main installed with [`set_ap_main`]), which never returns.
//!
//! The boot CPU starts one AP at a time, because the data block is shared. An AP that
//! does not report `started` within a second is reported and skipped, never waited for
//! forever.

use core::{
    arch::global_asm,
    ptr,
    sync::atomic::{Ordering, fence},
};

use x86_64::registers::control::Cr3;

use super::{
    apic, cpu_local,
    fn_slot::{self, FnSlot},
    fpu, gdt, idt, tsc,
};

/// Where the trampoline runs: the start-up IPI's vector 0x08 means physical 0x8000.
pub const TRAMPOLINE_PAGE: u64 = 0x8000;

/// Where the copy of the level-4 table goes (below 4 GiB for 32-bit `mov cr3`).
pub const LOW_PML4_PAGE: u64 = 0x9000;

/// What the layer above runs on a started AP once its CPU state is set up: it receives
/// the CPU's index and makes the CPU schedule threads. It never returns.
pub type ApMain = fn(u32) -> !;

// SAFETY: a function pointer type.
unsafe impl fn_slot::FnPointer for ApMain {}

static AP_MAIN: FnSlot<ApMain> = FnSlot::empty();

/// Installs the function every AP runs after `ap_entry` (before any AP is started).
pub fn set_ap_main(main: ApMain) {
    AP_MAIN.set(main);
}

// The trampoline. It is assembled into the kernel image but never runs there: the boot
// CPU copies the bytes between the two labels to `TRAMPOLINE_PAGE`, so every absolute
// address in it is `TRAMPOLINE_PAGE` plus an offset from its start (label differences
// are assembler constants: nothing needs relocating in this position-independent kernel).
global_asm!(
    ".pushsection .text.spindle_ap_trampoline, \"ax\"",
    ".balign 16",
    ".global spindle_ap_trampoline",
    ".global spindle_ap_trampoline_data",
    ".global spindle_ap_trampoline_end",
    ".code16",
    "spindle_ap_trampoline:",
    "    cli",
    "    cld",
    "    movw %cs, %ax",
    "    movw %ax, %ds",
    "    lgdtl (2f - spindle_ap_trampoline)",
    "    movl %cr0, %eax",
    "    orl $1, %eax",
    "    movl %eax, %cr0",
    // ljmpl $0x08, $protected (a far jump with a 32-bit offset: operand-size prefix)
    "    .byte 0x66, 0xea",
    "    .long {base} + (3f - spindle_ap_trampoline)",
    "    .word 0x08",
    ".code32",
    "3:",
    "    movw $0x10, %ax",
    "    movw %ax, %ds",
    "    movw %ax, %es",
    "    movw %ax, %ss",
    "    movl ${base} + (spindle_ap_trampoline_data - spindle_ap_trampoline), %ebx",
    "    movl %cr4, %eax",
    "    orl $0x20, %eax", // PAE
    "    movl %eax, %cr4",
    "    movl (%ebx), %eax", // the low copy of the level-4 table
    "    movl %eax, %cr3",
    "    movl $0xc0000080, %ecx", // EFER
    "    rdmsr",
    "    orl $0x900, %eax", // LME | NXE
    "    wrmsr",
    "    movl %cr0, %eax",
    "    orl $0x80010000, %eax", // PG | WP
    "    movl %eax, %cr0",
    // ljmp $0x18, $long (the 64-bit code segment)
    "    .byte 0xea",
    "    .long {base} + (4f - spindle_ap_trampoline)",
    "    .word 0x18",
    ".code64",
    "4:",
    "    movq 8(%rbx), %rax", // the kernel's CR3 (rbx: the data block, upper half zero)
    "    movq %rax, %cr3",
    "    movq 16(%rbx), %rsp",
    "    movq 32(%rbx), %rdi",
    "    movq 24(%rbx), %rax",
    // Everything is in registers: the boot CPU may reuse the block from here on.
    "    movl $1, 40(%rbx)",
    "    callq *%rax",
    "    ud2",
    ".balign 8",
    "1:", // GDT: null, 32-bit code, 32-bit data, 64-bit code
    "    .quad 0",
    "    .quad 0x00cf9a000000ffff",
    "    .quad 0x00cf92000000ffff",
    "    .quad 0x00af9a000000ffff",
    "2:",
    "    .word 2b - 1b - 1",
    "    .long {base} + (1b - spindle_ap_trampoline)",
    ".balign 8",
    "spindle_ap_trampoline_data:",
    "    .quad 0, 0, 0, 0, 0, 0",
    "spindle_ap_trampoline_end:",
    ".popsection",
    base = const TRAMPOLINE_PAGE,
    options(att_syntax),
);

unsafe extern "C" {
    static spindle_ap_trampoline: u8;
    static spindle_ap_trampoline_data: u8;
    static spindle_ap_trampoline_end: u8;
}

/// The trampoline's data block, as the assembly above reads it.
#[repr(C)]
struct BootData {
    low_pml4: u64,
    kernel_cr3: u64,
    stack_top: u64,
    entry: u64,
    argument: u64,
    started: u32,
    _pad: u32,
}

/// Soundness requirement: the offsets the trampoline reads the block at.
const _: () = {
    assert!(core::mem::offset_of!(BootData, kernel_cr3) == 8);
    assert!(core::mem::offset_of!(BootData, stack_top) == 16);
    assert!(core::mem::offset_of!(BootData, entry) == 24);
    assert!(core::mem::offset_of!(BootData, argument) == 32);
    assert!(core::mem::offset_of!(BootData, started) == 40);
    assert!(core::mem::size_of::<BootData>() == 48);
};

/// Low memory, seen through the physical-memory window.
#[derive(Debug, Clone, Copy)]
pub struct LowPages {
    /// Where [`TRAMPOLINE_PAGE`] is mapped (writable).
    pub trampoline: *mut u8,
    /// Where [`LOW_PML4_PAGE`] is mapped (writable).
    pub low_pml4: *mut u8,
    /// Where the active level-4 table is mapped.
    pub active_pml4: *const u8,
}

/// Why an AP did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// It did not run the trampoline within the time allowed.
    NoAnswer,
}

/// Copies the trampoline and the level-4 table into low memory.
///
/// # Safety
/// `pages` must map [`TRAMPOLINE_PAGE`] and [`LOW_PML4_PAGE`], which nothing else may use
/// while APs start, and the active level-4 table; `TRAMPOLINE_PAGE` must be
/// identity-mapped and executable in the active tables.
pub unsafe fn install_trampoline(pages: LowPages) {
    let start = &raw const spindle_ap_trampoline;
    let end = &raw const spindle_ap_trampoline_end;
    let len = end as usize - start as usize;
    assert!(len <= 4096, "the AP trampoline outgrew its page");
    // SAFETY: per the contract, both low pages are ours to write and mapped; the
    // trampoline bytes are part of the kernel image.
    unsafe {
        ptr::copy_nonoverlapping(start, pages.trampoline, len);
        ptr::copy_nonoverlapping(pages.active_pml4, pages.low_pml4, 4096);
    }
}

/// What an AP starts with, made by the boot CPU beforehand (from the heap: the AP
/// cannot allocate before its per-CPU block is installed, which is its first step).
#[derive(Debug)]
struct ApStart {
    index: u32,
    block: &'static cpu_local::CpuBlock,
    tables: &'static gdt::CpuTables,
}

/// Starts the AP whose APIC ID is `apic_id` as CPU `index`, on the stack ending at
/// `stack_top` (16-byte aligned, mapped, never freed); returns once it runs the kernel's
/// code. `tsc_hz` times the waits.
///
/// # Safety
/// [`install_trampoline`] ran with `pages`, which are still mapped and unused otherwise;
/// `apic_id` names an AP that has not been started; no other AP is starting.
pub unsafe fn start_ap(
    pages: LowPages,
    apic_id: u32,
    index: u32,
    stack_top: u64,
    tsc_hz: u64,
) -> Result<(), StartError> {
    let start: &'static ApStart = alloc::boxed::Box::leak(alloc::boxed::Box::new(ApStart {
        index,
        block: cpu_local::CpuBlock::new(index),
        tables: gdt::CpuTables::new(),
    }));
    let data_offset = (&raw const spindle_ap_trampoline_data) as usize
        - (&raw const spindle_ap_trampoline) as usize;
    // SAFETY: the data block lies inside the copied trampoline page, 8-byte aligned; it
    // is only accessed through raw pointers, since the AP writes `started` meanwhile.
    let data = unsafe { pages.trampoline.add(data_offset).cast::<BootData>() };
    let (level_4, _) = Cr3::read();
    let boot_data = BootData {
        low_pml4: LOW_PML4_PAGE,
        kernel_cr3: level_4.start_address().as_u64(),
        stack_top,
        entry: ap_entry as *const () as u64,
        argument: ptr::from_ref(start) as u64,
        started: 0,
        _pad: 0,
    };
    // SAFETY: as above; no AP reads the block until the IPIs below.
    unsafe { ptr::write_volatile(data, boot_data) };
    // The block is complete before the AP can see it: the IPIs below are the release.
    fence(Ordering::SeqCst);
    let started = || {
        // SAFETY: as above; the AP writes this word once.
        unsafe { ptr::read_volatile(&raw const (*data).started) != 0 }
    };
    apic::send_init(apic_id);
    wait_micros(tsc_hz, 10_000, || false);
    let page = (TRAMPOLINE_PAGE >> 12) as u8;
    apic::send_startup(apic_id, page);
    if !wait_micros(tsc_hz, 200, started) {
        apic::send_startup(apic_id, page);
    }
    // Generous: an emulated CPU on a loaded host can take long to get going.
    match wait_micros(tsc_hz, 1_000_000, started) {
        true => Ok(()),
        false => Err(StartError::NoAnswer),
    }
}

/// Puts the AP `apic_id`, which did not answer [`start_ap`], back into its reset state
/// (INIT): there it waits for a start-up IPI that it will not get, so it cannot run the
/// trampoline later with another AP's data.
pub fn park_ap(apic_id: u32) {
    apic::send_init(apic_id);
}

/// Spins for up to `micros` microseconds of TSC time, or until `done`; returns `done()`.
fn wait_micros(tsc_hz: u64, micros: u64, done: impl Fn() -> bool) -> bool {
    let ticks = tsc_hz / 1_000_000 * micros;
    let start = tsc::read();
    while tsc::read().wrapping_sub(start) < ticks {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    done()
}

/// Where an AP enters Rust, in long mode on its own stack, interrupts off, with the
/// address of its [`ApStart`].
extern "sysv64" fn ap_entry(start: u64) -> ! {
    // SAFETY: `start_ap` passed the address of a leaked, never-freed `ApStart`.
    let start = unsafe { &*(start as *const ApStart) };
    start.block.install();
    tsc::set_cpu_index(start.index);
    start.tables.load();
    idt::load();
    fpu::init();
    apic::enable_ap();
    match AP_MAIN.get() {
        Some(main) => main(start.index),
        None => super::cpu::halt_forever(),
    }
}
