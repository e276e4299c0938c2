//! Every interrupt vector Spindle uses, in one table: the IDT covers all 256 and sends
//! each through the same trap path; these are the ones that mean something.
//!
//! | vectors   | source                                                       |
//! |-----------|--------------------------------------------------------------|
//! | 0-31      | CPU exceptions (Intel SDM vol. 3, table 6-1)                 |
//! | 32-47     | the 8259 pair, remapped: IRQ `n` on `PIC_FIRST + n`          |
//! | 48        | the local APIC timer                                         |
//! | 64-79     | ISA IRQs through the I/O APIC: IRQ `n` on `IO_APIC_FIRST + n` |
//! | 224-225   | the IPI round-trip benchmark's ping and pong (benches only)  |
//! | 240       | reschedule: another CPU queued work for this one             |
//! | 255       | the local APIC's spurious interrupt                          |
//!
//! A device's ISA line (`interrupts::route_legacy_irq`) gets `IO_APIC_FIRST + line` when
//! the I/O APIC routes it and `PIC_FIRST + line` when the 8259 does (no APIC); the PIT is
//! IRQ 0 of the 8259. Vectors below `APIC_FIRST` are acknowledged at the 8259, the rest at
//! the local APIC. Vectors 49-63 and 80-223 are free for future sources (MSI);
//! inter-processor interrupts sit near the top, where the APIC's priority classes (the
//! vector's upper four bits) rank them first.

/// Division by zero (or a quotient too large): a thread's bug, contained as its panic.
pub const DIVIDE_ERROR: u8 = 0;
/// A non-maskable interrupt: how a failing CPU stops the others.
pub const NMI: u8 = 2;
/// `int3`: logged, execution continues.
pub const BREAKPOINT: u8 = 3;
/// An invalid instruction (`ud2`): contained as a panic of the thread.
pub const INVALID_OPCODE: u8 = 6;
/// An x87/SSE instruction by a thread that did not opt in to the FPU.
pub const DEVICE_NOT_AVAILABLE: u8 = 7;
/// Runs on its own IST stack, so a stack overflow is reported.
pub const DOUBLE_FAULT: u8 = 8;
/// A general-protection fault (a non-canonical address, ...): contained as a panic.
pub const GENERAL_PROTECTION: u8 = 13;
/// Reported with the faulting address from CR2; contained as a panic of the thread, unless
/// it hit a stack's guard page.
pub const PAGE_FAULT: u8 = 14;

/// The first vector that is not a CPU exception.
pub const FIRST_INTERRUPT: u8 = 32;

/// IRQ 0 of the remapped 8259 pair.
pub const PIC_FIRST: u8 = 32;
/// The PIT (channel 0) on IRQ 0.
pub const PIT: u8 = PIC_FIRST;
/// IRQ 7: how the master 8259 reports a spurious interrupt (no EOI).
pub const PIC_SPURIOUS_MASTER: u8 = PIC_FIRST + 7;
/// IRQ 15: the slave's spurious interrupt.
pub const PIC_SPURIOUS_SLAVE: u8 = PIC_FIRST + 15;

/// The first vector past the 8259's sixteen: local APIC sources from here on.
pub const APIC_FIRST: u8 = PIC_FIRST + 16;
/// The local APIC timer (the tick).
pub const APIC_TIMER: u8 = APIC_FIRST;
/// ISA IRQ 0 as the I/O APIC delivers it: a priority class of its own, above the tick.
pub const IO_APIC_FIRST: u8 = 0x40;
/// The IPI round-trip benchmark (`benches/kernels/src/bin/smp_latency.rs`) pings another
/// CPU on this vector. No kernel code installs a handler: the numbers are reserved here so
/// that no future source takes them, and they sit in the priority class just below
/// [`RESCHEDULE`], as a real cross-CPU call would.
pub const BENCH_PING: u8 = 0xe0;
/// The IPI round-trip benchmark's reply, sent back from [`BENCH_PING`]'s handler.
pub const BENCH_PONG: u8 = 0xe1;
/// Sent by one CPU to another that should look at its run queue.
pub const RESCHEDULE: u8 = 0xf0;
/// The local APIC's spurious-interrupt vector (no EOI).
pub const APIC_SPURIOUS: u8 = 0xff;
