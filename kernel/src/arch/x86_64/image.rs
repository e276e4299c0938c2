//! The loaded kernel image, as its own program headers describe it: where the bootloader
//! put it (the load bias) and where its unwind tables are.
//!
//! Spindle has no linker script and the bootloader loads the kernel as a position-
//! independent ELF wherever it chooses, so both are found at run time: lld defines
//! `__ehdr_start` at the ELF header, which the first `PT_LOAD` segment maps (it starts at
//! file offset 0); the program headers follow it. The load bias is `__ehdr_start` minus
//! that first segment's `p_vaddr`: a link-time address plus the bias is a run-time one.

#[cfg(not(target_os = "none"))]
pub(super) use self::host::*;
#[cfg(target_os = "none")]
pub(super) use self::kernel::*;

#[cfg(target_os = "none")]
mod kernel {
    /// `PT_LOAD` and `PT_GNU_EH_FRAME`, from the ELF specification and the GNU extension.
    const PT_LOAD: u32 = 1;
    const PT_GNU_EH_FRAME: u32 = 0x6474_e550;

    unsafe extern "C" {
        /// lld: the ELF header, where the first loadable segment maps it.
        static __ehdr_start: u8;
    }

    /// ELF64 header fields: `e_phoff` at 32, `e_phentsize` at 54, `e_phnum` at 56.
    const E_PHOFF: usize = 32;
    const E_PHENTSIZE: usize = 54;
    const E_PHNUM: usize = 56;
    /// ELF64 program header fields: `p_type` at 0, `p_offset` at 8, `p_vaddr` at 16,
    /// `p_memsz` at 40.
    const P_TYPE: usize = 0;
    const P_OFFSET: usize = 8;
    const P_VADDR: usize = 16;
    const P_MEMSZ: usize = 40;

    /// `len` bytes of the loaded image at `address`.
    pub(in crate::arch) fn bytes(address: usize, len: usize) -> &'static [u8] {
        // SAFETY: callers pass a range of a loaded segment (the `PT_GNU_EH_FRAME` one,
        // as `eh_frame_segment` found it), mapped and never written for as long as the
        // kernel runs.
        unsafe { core::slice::from_raw_parts(address as *const u8, len) }
    }

    /// Reads the program headers: `u16_at`/`u32_at`/`u64_at` of the loaded ELF header's
    /// bytes, the headers' offset, size and count.
    fn read(offset: usize, len: usize) -> &'static [u8] {
        let base = (&raw const __ehdr_start) as usize;
        // SAFETY: `__ehdr_start` is the loaded ELF header (64 bytes); the program headers
        // lie in the same first segment, right after it (lld's layout: the bootloader
        // maps that segment like any other). Callers read within those.
        unsafe { core::slice::from_raw_parts((base + offset) as *const u8, len) }
    }

    fn u64_at(at: usize) -> usize {
        u64::from_ne_bytes(read(at, 8).try_into().expect("8 bytes")) as usize
    }

    /// Field `at` of program header `i`, and `p_type` of it.
    fn header(i: usize, at: usize) -> usize {
        let u16_at = |at| usize::from(u16::from_ne_bytes(read(at, 2).try_into().expect("2 bytes")));
        u64_at(E_PHOFF) + i * u16_at(E_PHENTSIZE) + at
    }

    /// The index of the first program header of type `kind`.
    fn find(kind: u32) -> Option<usize> {
        let count = usize::from(u16::from_ne_bytes(
            read(E_PHNUM, 2).try_into().expect("2 bytes"),
        ));
        (0..count).find(|&i| {
            u32::from_ne_bytes(read(header(i, P_TYPE), 4).try_into().expect("4 bytes")) == kind
        })
    }

    /// What to add to a link-time address to get the run-time one, or `None` if the
    /// first loadable segment does not map the ELF header (not lld's layout).
    pub(in crate::arch) fn load_bias() -> Option<usize> {
        let first_load = find(PT_LOAD)?;
        if u64_at(header(first_load, P_OFFSET)) != 0 {
            return None; // the ELF header is not where `__ehdr_start` says
        }
        let base = (&raw const __ehdr_start) as usize;
        Some(base.wrapping_sub(u64_at(header(first_load, P_VADDR))))
    }

    /// The address and size of the segment `PT_GNU_EH_FRAME` describes.
    pub(in crate::arch) fn eh_frame_segment() -> Option<(usize, usize)> {
        let bias = load_bias()?;
        let eh_frame = find(PT_GNU_EH_FRAME)?;
        let address = bias.wrapping_add(u64_at(header(eh_frame, P_VADDR)));
        Some((address, u64_at(header(eh_frame, P_MEMSZ))))
    }
}

/// Host builds: the kernel image is not there to read.
#[cfg(not(target_os = "none"))]
mod host {
    pub(in crate::arch) fn bytes(_address: usize, _len: usize) -> &'static [u8] {
        &[]
    }

    pub(in crate::arch) fn eh_frame_segment() -> Option<(usize, usize)> {
        None
    }

    pub(in crate::arch) fn load_bias() -> Option<usize> {
        None
    }
}
