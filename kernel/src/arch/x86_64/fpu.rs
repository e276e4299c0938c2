//! Opt-in x87/SSE state for threads.
//!
//! The kernel target is soft-float, so kernel code never touches x87 or SSE registers and
//! an ordinary thread switch saves none. A thread that opts in gets an [`FpuState`] that
//! the scheduler saves and restores with `fxsave`/`fxrstor` when it switches away from and
//! back to that thread. For every other thread CR0.TS is set, so a stray x87/SSE
//! instruction raises #NM (reported as such) instead of silently clobbering an opted-in
//! thread's registers.

use core::arch::asm;

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

/// Default x87 control word: all exceptions masked, 64-bit precision, round to nearest.
const DEFAULT_FCW: u16 = 0x037f;
/// Default MXCSR: all SIMD exceptions masked, round to nearest.
const DEFAULT_MXCSR: u32 = 0x1f80;

/// A thread's saved x87/SSE registers: the 512-byte `fxsave` image.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState([u8; 512]);

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpuState")
    }
}

impl Default for FpuState {
    /// The state after `fninit` with the default MXCSR: what a fresh thread starts with.
    fn default() -> Self {
        let mut image = [0u8; 512];
        image[0..2].copy_from_slice(&DEFAULT_FCW.to_le_bytes());
        image[24..28].copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
        Self(image)
    }
}

impl FpuState {
    /// Saves this CPU's x87/SSE registers here. FPU access must be enabled.
    pub fn save(&mut self) {
        // SAFETY: the buffer is 512 bytes and 16-byte aligned, as fxsave64 requires; the
        // caller enabled FPU access (CR0.TS clear), so it cannot fault.
        unsafe {
            asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack, preserves_flags))
        };
    }

    /// Loads this CPU's x87/SSE registers from here. FPU access must be enabled.
    pub fn restore(&self) {
        // SAFETY: as in `save`; the image was produced by fxsave64 or by `default`, whose
        // reserved MXCSR bits are zero, so fxrstor64 cannot raise #GP.
        unsafe {
            asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, preserves_flags))
        };
    }
}

/// Enables SSE (CR4.OSFXSR, OSXMMEXCPT; CR0.MP, not EM) and then denies FPU access until
/// a thread that opted in runs.
pub(super) fn init() {
    // SAFETY: these bits only govern x87/SSE availability, which no kernel code relies on.
    unsafe {
        Cr4::update(|flags| flags.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
        Cr0::update(|flags| {
            flags.remove(Cr0Flags::EMULATE_COPROCESSOR);
            flags.insert(Cr0Flags::MONITOR_COPROCESSOR);
        });
    }
    set_access(false);
}

/// Allows or denies x87/SSE use on this CPU (clears or sets CR0.TS).
pub fn set_access(allowed: bool) {
    // SAFETY: CR0.TS only decides whether FPU instructions trap with #NM.
    unsafe {
        Cr0::update(|flags| flags.set(Cr0Flags::TASK_SWITCHED, !allowed));
    }
}

/// Diagnostics for the FPU test kernel: loads `seed + i` into xmm`i` for all sixteen
/// registers. Only meaningful on a thread that opted in to FPU state.
pub fn fill_xmm_registers(seed: u64) {
    // SAFETY: writes only xmm0-15, which soft-float kernel code never uses; FPU access is
    // enabled for an opted-in thread (otherwise this raises #NM, which is reported).
    unsafe {
        asm!(
            "movq xmm0, {v}", "inc {v}", "movq xmm1, {v}", "inc {v}",
            "movq xmm2, {v}", "inc {v}", "movq xmm3, {v}", "inc {v}",
            "movq xmm4, {v}", "inc {v}", "movq xmm5, {v}", "inc {v}",
            "movq xmm6, {v}", "inc {v}", "movq xmm7, {v}", "inc {v}",
            "movq xmm8, {v}", "inc {v}", "movq xmm9, {v}", "inc {v}",
            "movq xmm10, {v}", "inc {v}", "movq xmm11, {v}", "inc {v}",
            "movq xmm12, {v}", "inc {v}", "movq xmm13, {v}", "inc {v}",
            "movq xmm14, {v}", "inc {v}", "movq xmm15, {v}",
            v = inout(reg) seed => _,
            options(nostack, nomem),
        );
    }
}

/// Diagnostics for the FPU test kernel: the low 64 bits of xmm0-15.
pub fn read_xmm_registers() -> [u64; 16] {
    let mut values = [0u64; 16];
    // SAFETY: stores sixteen u64s into `values`; reads only xmm registers (see above).
    unsafe {
        asm!(
            "movq [{p}], xmm0", "movq [{p} + 8], xmm1", "movq [{p} + 16], xmm2",
            "movq [{p} + 24], xmm3", "movq [{p} + 32], xmm4", "movq [{p} + 40], xmm5",
            "movq [{p} + 48], xmm6", "movq [{p} + 56], xmm7", "movq [{p} + 64], xmm8",
            "movq [{p} + 72], xmm9", "movq [{p} + 80], xmm10", "movq [{p} + 88], xmm11",
            "movq [{p} + 96], xmm12", "movq [{p} + 104], xmm13", "movq [{p} + 112], xmm14",
            "movq [{p} + 120], xmm15",
            p = in(reg) values.as_mut_ptr(),
            options(nostack),
        );
    }
    values
}
