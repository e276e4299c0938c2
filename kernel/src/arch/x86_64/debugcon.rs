//! QEMU's debug console port (0xE9): a byte sink that QEMU can send to a file
//! (`-debugcon file:PATH`), apart from the serial console. The schedule trace streams
//! through it, so a trace never mixes with console output. Without the device, writes to
//! the port are ignored.

use core::arch::asm;

const PORT: u16 = 0xe9;

/// Writes `bytes` to the debug console in one `rep outsb`.
pub fn write(bytes: &[u8]) {
    // SAFETY: `rep outsb` reads `rcx` bytes from `rsi` (a valid slice) and writes them to
    // port `dx`, the debug console: an output-only device with no other effect.
    unsafe {
        asm!(
            "rep outsb",
            in("dx") PORT,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(nostack, preserves_flags, readonly)
        )
    };
}
