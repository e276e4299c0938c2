//! What the `virtio-drivers` crate needs from the kernel ([`Hal`]): DMA memory, device
//! registers mapped, and the device-visible address of a buffer.
//!
//! There is no IOMMU and no bounce buffer: devices see physical memory as it is.
//! - **DMA memory** (the virtqueues) is whole zeroed pages from the heap, the kernel's
//!   frame allocator (`PageBlock`): physically contiguous, since the heap is made of
//!   the physical-memory window's contiguous regions.
//! - **A buffer handed to the device** is shared by its physical address. Every buffer
//!   the network driver hands over is a heap block, which lies in the physical-memory
//!   window, where a virtual range is a physical range: its address is enough.
//! - **Registers** (a BAR's regions) are mapped uncached in the kernel area.

use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PhysAddr};
use x86_64::VirtAddr;

use crate::mm::{self, frames::PageBlock, paging};

/// The kernel's side of `virtio-drivers`.
#[derive(Debug)]
pub struct KernelHal;

// SAFETY: `dma_alloc` returns fresh, zeroed, page-aligned heap pages owned by the caller
// until `dma_dealloc` (a `PageBlock` given up and taken back); `mmio_phys_to_virt` maps
// the device's registers on pages nothing else uses; `share` returns the physical
// address of memory in the physical-memory window, which is what the device reads.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match PageBlock::new(pages, true) {
            Some(block) => {
                let phys = block.into_phys();
                let virt = mm::phys_to_virt(phys).as_mut_ptr::<u8>();
                // A heap address in the window is never null.
                (phys.as_u64(), NonNull::new(virt).expect("a heap block"))
            }
            // The crate takes 0 as "no memory" (`Error::DmaError`).
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: `paddr` and `pages` come from one `dma_alloc` (the caller's contract),
        // which gave up a block of `pages` pages there, and the queue that used it is gone.
        drop(unsafe { PageBlock::from_phys(x86_64::PhysAddr::new(paddr), pages) });
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let virt = paging::map_mmio_range(x86_64::PhysAddr::new(paddr), size as u64)
            .expect("memory for the page tables of a device's registers");
        NonNull::new(virt.as_mut_ptr()).expect("the kernel area is not at 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let start = VirtAddr::from_ptr(buffer.as_ptr().cast::<u8>());
        mm::virt_to_phys(start).as_u64()
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        // Shared in place: nothing to copy back.
    }
}
