//! The assembly trap path: 256 entry stubs, the common save path and `trap_return`.
//!
//! Stack on entry to `spindle_trap_common` (addresses grow upwards):
//!
//! ```text
//!   ss, rsp, rflags, cs, rip     pushed by the CPU
//!   error code                   pushed by the CPU, or a 0 pushed by the stub
//!   vector                       pushed by the stub      <- rsp
//! ```
//!
//! The common path pushes rax..r15 on top, which completes a `TrapFrame` at rsp, and
//! calls `trap_dispatch(&mut TrapFrame)`. `spindle_trap_return` pops it all again and
//! `iretq`s. A new thread's first switch also "returns" through `spindle_trap_return`,
//! from a frame that was faked instead of pushed.
//!
//! The call into Rust has unwind information (`.cfi_*`) that says where the frame holds
//! each register of the interrupted context, with the frame's end as its address: a
//! backtrace taken in a handler walks on into the interrupted code (`backtrace`). The
//! frame is marked a signal frame, so the interrupted `rip` is taken as the instruction
//! itself, not a return address. DWARF numbers the registers rax 0, rdx 1, rcx 2, rbx 3,
//! rsi 4, rdi 5, rbp 6, rsp 7, r8-r15 8-15, and the return address 16. Nothing unwinds
//! through a trap frame (a panic in a handler is never contained): only backtraces read
//! it. The stubs and the pushes have no unwind information: no walk starts inside them.
//!
//! Each stub is at most 12 bytes (`push imm8` + `push imm32` + `jmp rel32`) and padded to
//! 16 with `.org`, so stub `v` lives at `spindle_trap_stubs + 16 * v`; a stub that outgrew
//! its slot would make `.org` move backwards, which the assembler rejects.

use core::{
    arch::global_asm,
    mem::{offset_of, size_of},
};

use super::trap::{TrapFrame, trap_dispatch};

/// Bytes between consecutive entry stubs.
pub(super) const STUB_SIZE: usize = 16;

global_asm!(
    r#"
    .pushsection .text.spindle_trap, "ax"
    .balign 16
    .global spindle_trap_stubs
spindle_trap_stubs:
    .set vector, 0
    .rept 256
        .org spindle_trap_stubs + vector * 16, 0xcc
        .if vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30
        .else
            push 0
        .endif
        push vector
        jmp spindle_trap_common
        .set vector, vector + 1
    .endr
    .org spindle_trap_stubs + 256 * 16, 0xcc

spindle_trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    cld
    mov rdi, rsp
    .cfi_startproc simple
    .cfi_signal_frame
    .cfi_def_cfa rsp, {frame_size}
    .cfi_offset 16, {rip}
    .cfi_offset 7, {rsp}
    .cfi_offset 0, {rax}
    .cfi_offset 3, {rbx}
    .cfi_offset 2, {rcx}
    .cfi_offset 1, {rdx}
    .cfi_offset 4, {rsi}
    .cfi_offset 5, {rdi}
    .cfi_offset 6, {rbp}
    .cfi_offset 8, {r8}
    .cfi_offset 9, {r9}
    .cfi_offset 10, {r10}
    .cfi_offset 11, {r11}
    .cfi_offset 12, {r12}
    .cfi_offset 13, {r13}
    .cfi_offset 14, {r14}
    .cfi_offset 15, {r15}
    call {dispatch}
    .cfi_endproc

    .global spindle_trap_return
spindle_trap_return:
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
    .popsection
    "#,
    dispatch = sym trap_dispatch,
    frame_size = const size_of::<TrapFrame>(),
    rip = const saved_at(offset_of!(TrapFrame, rip)),
    rsp = const saved_at(offset_of!(TrapFrame, rsp)),
    rax = const saved_at(offset_of!(TrapFrame, rax)),
    rbx = const saved_at(offset_of!(TrapFrame, rbx)),
    rcx = const saved_at(offset_of!(TrapFrame, rcx)),
    rdx = const saved_at(offset_of!(TrapFrame, rdx)),
    rsi = const saved_at(offset_of!(TrapFrame, rsi)),
    rdi = const saved_at(offset_of!(TrapFrame, rdi)),
    rbp = const saved_at(offset_of!(TrapFrame, rbp)),
    r8 = const saved_at(offset_of!(TrapFrame, r8)),
    r9 = const saved_at(offset_of!(TrapFrame, r9)),
    r10 = const saved_at(offset_of!(TrapFrame, r10)),
    r11 = const saved_at(offset_of!(TrapFrame, r11)),
    r12 = const saved_at(offset_of!(TrapFrame, r12)),
    r13 = const saved_at(offset_of!(TrapFrame, r13)),
    r14 = const saved_at(offset_of!(TrapFrame, r14)),
    r15 = const saved_at(offset_of!(TrapFrame, r15)),
);

/// Where the trap frame holds the register at `offset` within it, as unwind information
/// counts: from the frame's end (the address it gives the frame).
const fn saved_at(offset: usize) -> isize {
    offset as isize - size_of::<TrapFrame>() as isize
}

unsafe extern "C" {
    /// The first of the 256 entry stubs (only its address is meaningful).
    static spindle_trap_stubs: u8;
}

/// The address of the entry stub for `vector`, for the IDT.
pub(super) fn stub_address(vector: u8) -> u64 {
    (&raw const spindle_trap_stubs) as u64 + (STUB_SIZE * usize::from(vector)) as u64
}
