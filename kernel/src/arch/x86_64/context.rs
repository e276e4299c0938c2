//! Kernel-thread contexts: the naked switch routine and the first frames of a new thread.
//!
//! A switched-out thread is fully described by one number, its saved stack pointer. On
//! its stack lies a `SwitchFrame`: the callee-saved registers and the address
//! `switch_stacks` returns to. Caller-saved registers need no saving: `switch_stacks` is
//! an ordinary `extern "sysv64"` call as far as the compiler is concerned.
//!
//! A new thread gets a faked pair of frames, as if it had been interrupted just before
//! its first instruction and then switched out (see [`prepare_stack`]):
//!
//! ```text
//!   stack top ->  +---------------------------+
//!                 | TrapFrame                 |  rip = bootstrap_stage1, rflags.IF = 1,
//!                 |   rbx = argument          |  rsp = stack top, kernel cs/ss
//!                 |   r12 = entry             |
//!                 +---------------------------+
//!                 | SwitchFrame               |  r15..rbp = 0,
//!                 |   return = trap_return    |  returns into the trap exit path
//!   saved rsp ->  +---------------------------+
//! ```
//!
//! The first `switch_stacks` into it pops the zeroed callee-saved registers and `ret`s
//! into `spindle_trap_return`, which pops the trap frame and `iretq`s into
//! `bootstrap_stage1` with interrupts enabled; that moves the argument into `rdi` and
//! calls `entry(argument)`, which never returns.
//!
//! [`prepare_switch_frame`] makes the bare minimum instead, a switch frame alone whose
//! return address is the entry itself: no trap frame, no selectors, no change of the
//! interrupt flag. That is what a raw-switch benchmark needs, and it works anywhere the
//! switch routine does, the host included (the host benchmark switches between two host
//! stacks with exactly this code).

use core::{
    arch::naked_asm,
    mem::{offset_of, size_of},
};

use x86_64::{VirtAddr, registers::rflags::RFlags};

use super::{TrapFrame, gdt};

/// What `switch_stacks` leaves on a switched-out stack, lowest address first.
#[repr(C)]
#[derive(Debug, Default)]
struct SwitchFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    rbx: u64,
    rbp: u64,
    return_address: u64,
}

/// Soundness requirement: `switch_stacks` pushes rbp, rbx, r12-r15 in this order on top
/// of its return address, and pops them in reverse.
const _: () = {
    assert!(size_of::<SwitchFrame>() == 7 * 8);
    assert!(offset_of!(SwitchFrame, r15) == 0);
    assert!(offset_of!(SwitchFrame, rbx) == 4 * 8);
    assert!(offset_of!(SwitchFrame, return_address) == 6 * 8);
};

/// The Rust function a new thread starts in; it receives the argument given to
/// [`prepare_stack`] and must never return.
pub type ThreadEntry = extern "sysv64" fn(argument: u64) -> !;

/// Switches from the running context to the one whose saved stack pointer is `next`,
/// storing the running context's stack pointer in `*save_rsp`.
///
/// The store into `*save_rsp` is the last thing done on the old stack: once it is
/// visible, the old context is completely saved and may be resumed (by any CPU).
///
/// # Safety
/// - `next` must be a stack pointer saved by this function or made by
///   [`prepare_stack`] or [`prepare_switch_frame`], whose context is not running
///   anywhere and is resumed only once;
/// - `save_rsp` must be valid for a write and stay valid until the saved value is used;
/// - interrupts must be disabled (the scheduler's bookkeeping must not be observed
///   half-done by an interrupt handler on this CPU).
pub unsafe fn switch(save_rsp: *mut u64, next: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { switch_stacks(save_rsp, next) }
}

/// `switch_stacks(rdi = save_rsp, rsi = next)`: push the callee-saved registers, store rsp
/// to `*rdi`, load rsp from `rsi`, pop the callee-saved registers, return on the new stack.
#[unsafe(naked)]
unsafe extern "sysv64" fn switch_stacks(save_rsp: *mut u64, next: u64) {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// First instructions of every thread, entered by `iretq` from the faked trap frame:
/// `entry` (in r12) is called with `argument` (in rbx) on an ABI-aligned stack (rsp is the
/// 16-byte-aligned stack top, and `call` pushes the return address).
#[unsafe(naked)]
unsafe extern "sysv64" fn bootstrap_stage1() -> ! {
    naked_asm!(
        "xor ebp, ebp", // a zero frame pointer ends stack walks here
        "mov rdi, rbx",
        "call r12",
        "ud2",
    )
}

/// Bytes a new thread's stack needs for its faked frames.
pub const INITIAL_FRAMES_SIZE: usize = size_of::<TrapFrame>() + size_of::<SwitchFrame>();

/// Writes the faked trap frame and switch frame of a new thread below `stack_top` and
/// returns the stack pointer to hand to [`switch`].
///
/// # Safety
/// `stack_top` must be 16-byte aligned and the [`INITIAL_FRAMES_SIZE`] bytes below it
/// mapped, writable and owned by the caller (a fresh stack no context runs on).
pub unsafe fn prepare_stack(stack_top: VirtAddr, entry: ThreadEntry, argument: u64) -> u64 {
    unsafe extern "C" {
        fn spindle_trap_return();
    }
    assert!(
        stack_top.is_aligned(16u64),
        "stack top {stack_top:?} is not 16-byte aligned"
    );
    let selectors = gdt::selectors();
    let trap_frame = TrapFrame {
        rbx: argument,
        r12: entry as usize as u64,
        rip: bootstrap_stage1 as *const () as u64,
        cs: u64::from(selectors.code.0),
        rflags: (RFlags::INTERRUPT_FLAG | RFlags::from_bits_retain(1 << 1)).bits(),
        rsp: stack_top.as_u64(),
        ss: u64::from(selectors.data.0),
        ..TrapFrame::default()
    };
    let switch_frame = SwitchFrame {
        return_address: spindle_trap_return as *const () as u64,
        ..SwitchFrame::default()
    };
    let trap_frame_at = (stack_top - size_of::<TrapFrame>() as u64).as_mut_ptr::<TrapFrame>();
    let switch_frame_at = (stack_top - INITIAL_FRAMES_SIZE as u64).as_mut_ptr::<SwitchFrame>();
    // SAFETY: both frames lie in the caller-owned, mapped bytes below `stack_top`; the
    // frames' sizes are multiples of 8 and `stack_top` is 16-byte aligned, so both
    // pointers are suitably aligned.
    unsafe {
        trap_frame_at.write(trap_frame);
        switch_frame_at.write(switch_frame);
    }
    switch_frame_at as u64
}

/// The Rust function a context made by [`prepare_switch_frame`] starts in. It takes no
/// argument (it finds its data through memory it shares with whoever prepared it) and
/// must never return: there is nothing to return to.
pub type SwitchEntry = extern "sysv64" fn() -> !;

/// Bytes [`prepare_switch_frame`] writes below the stack top: the switch frame and the
/// zero return address of the entry, which keeps the entry ABI-aligned.
pub const SWITCH_ENTRY_FRAME_SIZE: usize = size_of::<SwitchFrame>() + 8;

/// The entry's address sits 16 bytes below the (aligned) stack top, so after `ret` pops
/// it, rsp % 16 == 8.
const _: () = assert!(SWITCH_ENTRY_FRAME_SIZE - offset_of!(SwitchFrame, return_address) == 16);

/// Writes, below `stack_top`, a switch frame that makes the first [`switch`] to the
/// returned stack pointer land on `entry`'s first instruction, and returns that pointer.
///
/// Nothing else is set up: the callee-saved registers start at zero (a zero rbp ends
/// frame-pointer walks), interrupts stay as they are at the switch, and the entry runs in
/// the segments of whoever switches to it. Layout, with `stack_top` 16-byte aligned:
///
/// ```text
///   stack_top -  8:  0                      the entry's (never used) return address
///   stack_top - 16:  entry                  `ret` pops this: rsp = stack_top - 8
///   stack_top - 64:  r15 .. rbp = 0         <- the returned stack pointer
/// ```
///
/// so `entry` starts with rsp % 16 == 8, as after a `call`, as the ABI requires.
///
/// # Safety
/// `stack_top` must be 16-byte aligned and the [`SWITCH_ENTRY_FRAME_SIZE`] bytes below it
/// mapped, writable and owned by the caller: a fresh stack no context runs on. The stack
/// must stay mapped while the context it starts can still run (and be large enough for
/// `entry`: there is no guard here).
pub unsafe fn prepare_switch_frame(stack_top: VirtAddr, entry: SwitchEntry) -> u64 {
    assert!(
        stack_top.is_aligned(16u64),
        "stack top {stack_top:?} is not 16-byte aligned"
    );
    let return_slot = (stack_top - 8u64).as_mut_ptr::<u64>();
    let switch_frame_at = (stack_top - SWITCH_ENTRY_FRAME_SIZE as u64).as_mut_ptr::<SwitchFrame>();
    let switch_frame = SwitchFrame {
        return_address: entry as usize as u64,
        ..SwitchFrame::default()
    };
    // SAFETY: both writes lie in the caller-owned, mapped bytes below `stack_top`, which
    // is 16-byte aligned, so the 8-byte-aligned pointers are suitably aligned.
    unsafe {
        return_slot.write(0);
        switch_frame_at.write(switch_frame);
    }
    switch_frame_at as u64
}
