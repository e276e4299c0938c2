//! The kernel's own unwind tables, found through its program headers: what lets a panic
//! unwind (the `unwinding` crate asks [`KernelTables`] where the tables are).
//!
//! Spindle has no linker script and the bootloader loads the kernel as a position-
//! independent ELF wherever it chooses, so the tables are found at run time: lld defines
//! `__ehdr_start` at the ELF header, which the first `PT_LOAD` segment maps (it starts at
//! file offset 0); the program headers follow it, and `PT_GNU_EH_FRAME` locates
//! `.eh_frame_hdr`, the sorted table of every function's frame description. The load bias
//! (where the bootloader put the image) is `__ehdr_start` minus that first segment's
//! `p_vaddr`. This avoids the crate's `fde-static` and `fde-gnu-eh-frame-hdr` finders,
//! which need linker-script symbols (`unwinding` issues #45 and #51 are both that lookup
//! failing on bare metal).
//!
//! A kernel crate built without `-Cforce-unwind-tables=yes` has an almost empty table; one
//! built against the prebuilt `core` (no `-Zbuild-std`) has none for `core`'s functions,
//! so a panic could not unwind out of `core::panicking`. [`KernelTables::covers`] is what
//! the boot-time check (`panic::check_unwinding`) asks to tell these apart.

use super::image;

/// The kernel's `.eh_frame_hdr`, as its program headers locate it.
#[derive(Debug, Clone, Copy)]
pub struct KernelTables {
    /// The address of `.eh_frame_hdr`.
    header: usize,
    /// Its size in bytes.
    len: usize,
}

/// The `.eh_frame_hdr` layout lld writes: version 1, a pc-relative `.eh_frame` pointer,
/// a 4-byte count and a table of pairs of 4-byte offsets from the header's start
/// (`DW_EH_PE_datarel | DW_EH_PE_sdata4`).
const HDR_VERSION: u8 = 1;
const HDR_COUNT_UDATA4: u8 = 0x03;
const HDR_TABLE_DATAREL_SDATA4: u8 = 0x3b;
const HDR_TABLE_START: usize = 12;

impl KernelTables {
    /// The tables of the running kernel, or `None` if it has no `PT_GNU_EH_FRAME`.
    pub fn find() -> Option<Self> {
        image::eh_frame_segment().map(|(header, len)| Self { header, len })
    }

    /// The address of `.eh_frame_hdr`.
    pub fn header(self) -> usize {
        self.header
    }

    /// How many functions have a frame description (0 if the table has a layout this
    /// code does not read).
    pub fn function_count(self) -> usize {
        self.table().map_or(0, |(count, _)| count)
    }

    /// Whether a frame description starts exactly at `function`, the address of a
    /// function: whether that function can be unwound through.
    pub fn covers(self, function: usize) -> bool {
        let Some((count, entry)) = self.table() else {
            return false;
        };
        let (mut low, mut high) = (0, count);
        while low < high {
            let middle = low + (high - low) / 2;
            let start = self.header.wrapping_add_signed(entry(middle) as isize);
            match start.cmp(&function) {
                core::cmp::Ordering::Equal => return true,
                core::cmp::Ordering::Less => low = middle + 1,
                core::cmp::Ordering::Greater => high = middle,
            }
        }
        false
    }

    /// The table's length and a reader of entry `i`'s start (an offset from the header),
    /// if the header has lld's layout and the table fits in the segment.
    fn table(self) -> Option<(usize, impl Fn(usize) -> i32)> {
        let bytes = image::bytes(self.header, self.len);
        let (&[version, _, count_encoding, table_encoding], rest) = bytes.split_first_chunk()?;
        if version != HDR_VERSION
            || count_encoding != HDR_COUNT_UDATA4
            || table_encoding != HDR_TABLE_DATAREL_SDATA4
        {
            return None;
        }
        let count = u32::from_ne_bytes(*rest.get(4..8)?.first_chunk()?) as usize;
        let table = bytes.get(HDR_TABLE_START..HDR_TABLE_START + count.checked_mul(8)?)?;
        Some((count, move |i: usize| {
            i32::from_ne_bytes(*table[i * 8..].first_chunk().expect("entry within table"))
        }))
    }
}

/// Makes the kernel's tables the ones the unwinder searches. Called once at boot, before
/// anything can panic in a way that is contained.
#[cfg(target_os = "none")]
pub fn register(tables: KernelTables) {
    use core::sync::atomic::Ordering;
    // Relaxed: the unwinder reads it on the same CPU after this returns, or on another
    // one after that CPU was started (which publishes everything the boot CPU wrote).
    HEADER.store(tables.header, Ordering::Relaxed);
    // A second registration (never made) would keep the first: the same finder.
    let _ = unwinding::custom_eh_frame_finder::set_custom_eh_frame_finder(&Finder);
}

/// The address of the kernel's `.eh_frame_hdr`, once [`register`]ed.
#[cfg(target_os = "none")]
static HEADER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

#[cfg(target_os = "none")]
struct Finder;

// SAFETY: `find` returns the address of the kernel's own `.eh_frame_hdr`, which is mapped,
// read-only and never moves for as long as the kernel runs.
#[cfg(target_os = "none")]
unsafe impl unwinding::custom_eh_frame_finder::EhFrameFinder for Finder {
    fn find(&self, _pc: usize) -> Option<unwinding::custom_eh_frame_finder::FrameInfo> {
        Some(unwinding::custom_eh_frame_finder::FrameInfo {
            text_base: None,
            kind: unwinding::custom_eh_frame_finder::FrameInfoKind::EhFrameHdr(
                HEADER.load(core::sync::atomic::Ordering::Relaxed),
            ),
        })
    }
}
