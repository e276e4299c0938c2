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
//! Each stub is at most 12 bytes (`push imm8` + `push imm32` + `jmp rel32`) and padded to
//! 16 with `.org`, so stub `v` lives at `spindle_trap_stubs + 16 * v`; a stub that outgrew
//! its slot would make `.org` move backwards, which the assembler rejects.

use core::arch::global_asm;

use super::trap::trap_dispatch;

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
    call {dispatch}

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
);

unsafe extern "C" {
    /// The first of the 256 entry stubs (only its address is meaningful).
    static spindle_trap_stubs: u8;
}

/// The address of the entry stub for `vector`, for the IDT.
pub(super) fn stub_address(vector: u8) -> u64 {
    (&raw const spindle_trap_stubs) as u64 + (STUB_SIZE * usize::from(vector)) as u64
}
