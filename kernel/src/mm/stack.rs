//! Kernel stacks with guard pages, and a small cache of ready ones.
//!
//! A stack is a block of whole pages from the heap (physically contiguous, so it is
//! also visible in the physical-memory window) mapped at the top of a 2 MiB *slot* of
//! the kernel area. Everything below the stack in its slot stays unmapped, so running
//! off the bottom faults on a guard at least one page deep, and the double-fault handler
//! names the thread.
//!
//! Dropping a stack first offers it to the cache of the CPU it is dropped on: up to
//! [`CACHE_CAPACITY`] stacks per CPU stay mapped, ready for the next spawn of the same
//! size there (spawning then maps nothing and takes no lock another CPU takes: see
//! `local`). A stack the cache does not take is unmapped, and its memory and page table
//! go back to the heap. A cached stack is a mapped slot like any other, whichever CPU's
//! cache holds it, so a stack dropped on one CPU may serve a spawn on another after a
//! move between CPUs without any flush. When the heap runs dry it empties every cache
//! before failing ([`release_cache`]); [`super::usage`] reports the caches apart from
//! what is in use.
//!
//! Slots are found in a bitmap of every slot of the kernel area (static: taking or
//! returning one never allocates), lowest first, among the slots that have page tables
//! above them (`paging::stack_slots`: as many as the heap can fill with stacks; the
//! tables are made at boot, so that no spawn leaves one behind in the middle of the heap).
//! With several CPUs online a returned slot is not reused until every CPU
//! has flushed its TLB since the unmap (see `tlb`): until then it is *quarantined*, in
//! one of two more bitmaps (one filling, one waiting for its epoch).
//!
//! The stack's memory and page table go back to the heap at once, even while other CPUs
//! may still hold stale translations of the slot: nothing uses a dead thread's stack
//! addresses, and the slot, the only way back to them, stays out of reach.

use x86_64::{PhysAddr, VirtAddr};

use super::{
    PAGE_SIZE,
    frames::PageBlock,
    local::{self, MAX_CPUS, PerCpu},
    paging::{self, MapError, STACK_SLOT_SIZE, STACK_SLOTS},
    tlb,
};
use crate::arch::IrqSpinLock;

/// The largest stack a slot can hold while keeping at least one guard page.
pub const MAX_STACK_SIZE: usize = (STACK_SLOT_SIZE - PAGE_SIZE) as usize;

/// Stacks each CPU's cache keeps at most.
pub const CACHE_CAPACITY: usize = 8;

/// Why a stack could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackError {
    /// No memory for the stack or its page table.
    OutOfMemory,
    /// Every stack slot is taken.
    NoFreeSlot,
    /// The size is zero or above [`MAX_STACK_SIZE`].
    InvalidSize,
}

/// A mapped stack, as plain data: whoever holds it (a [`KernelStack`] or the cache) owns
/// the slot, the mapping and the pages.
#[derive(Debug, Clone, Copy)]
struct Mapped {
    slot: usize,
    pages: usize,
    /// The stack's memory: a heap block given up with `PageBlock::into_phys`.
    memory: PhysAddr,
}

/// A mapped kernel stack; dropping it caches it or unmaps it and frees its memory.
#[derive(Debug)]
pub struct KernelStack {
    mapped: Mapped,
    /// One past the highest byte, worked out once: the address arithmetic checks that
    /// the result is canonical, which the spawn path would otherwise pay for each use.
    top: VirtAddr,
}

impl KernelStack {
    /// A stack of at least `size` bytes (rounded up to whole pages).
    ///
    /// # Errors
    /// [`StackError`] when memory, slots or the size do not allow it; nothing is leaked.
    pub fn new(size: usize) -> Result<Self, StackError> {
        if size == 0 || size > MAX_STACK_SIZE {
            return Err(StackError::InvalidSize);
        }
        let pages = size.div_ceil(PAGE_SIZE as usize);
        let mapped = match take_cached(pages) {
            Some(mapped) => mapped,
            None => {
                let mapped = map_new(pages)?;
                log::debug!(
                    "none of {} KiB cached: mapped a new one in slot {}",
                    size.div_ceil(1024),
                    mapped.slot
                );
                mapped
            }
        };
        let top = paging::stack_slot_base(mapped.slot) + STACK_SLOT_SIZE;
        Ok(Self { mapped, top })
    }

    /// One past the highest byte: the initial stack pointer (16-byte aligned).
    pub fn top(&self) -> VirtAddr {
        self.top
    }

    /// The lowest mapped byte.
    pub fn bottom(&self) -> VirtAddr {
        self.top() - self.size() as u64
    }

    /// Usable bytes.
    pub fn size(&self) -> usize {
        self.mapped.pages * PAGE_SIZE as usize
    }

    /// Whether `addr` lies in the unmapped guard part of this stack's slot.
    pub fn guard_contains(&self, addr: VirtAddr) -> bool {
        (paging::stack_slot_base(self.mapped.slot)..self.bottom()).contains(&addr)
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        if let Err(mapped) = offer_to_cache(self.mapped) {
            release(mapped);
        }
    }
}

/// Whether `addr` lies in the area of the kernel stack slots: a page fault there is a
/// stack overflow (a guard page) or a touch of a dead thread's stack.
pub fn in_stack_area(addr: VirtAddr) -> bool {
    let start = paging::stack_slot_base(0);
    (start..start + STACK_SLOTS as u64 * STACK_SLOT_SIZE).contains(&addr)
}

/// Allocates `pages` pages and a slot, and maps them; undoes everything on failure.
fn map_new(pages: usize) -> Result<Mapped, StackError> {
    let memory = PageBlock::new(pages, false).ok_or(StackError::OutOfMemory)?;
    let slot = SLOTS.lock().take().ok_or(StackError::NoFreeSlot)?;
    if let Err(error) = paging::map_stack(slot, memory.phys(), pages) {
        SLOTS.lock().give_back(slot);
        return Err(match error {
            MapError::OutOfMemory => StackError::OutOfMemory,
            MapError::AlreadyMapped => unreachable!("free stack slot {slot} was mapped"),
        });
    }
    Ok(Mapped {
        slot,
        pages,
        memory: memory.into_phys(),
    })
}

/// Unmaps a stack nobody uses any more and gives its memory and slot back.
fn release(mapped: Mapped) {
    paging::unmap_stack(mapped.slot, mapped.pages);
    SLOTS.lock().give_back(mapped.slot);
    // SAFETY: the memory came from `into_phys` in `map_new` and is mapped nowhere now
    // (stale translations on other CPUs are not used: see the module docs).
    drop(unsafe { PageBlock::from_phys(mapped.memory, mapped.pages) });
}

/// Ready stacks, kept mapped: one cache per CPU.
static CACHES: PerCpu<Shelf> = [const { IrqSpinLock::new([None; CACHE_CAPACITY]) }; MAX_CPUS];

/// One CPU's ready stacks.
type Shelf = [Option<Mapped>; CACHE_CAPACITY];

fn take_cached(pages: usize) -> Option<Mapped> {
    local::lock_local(&CACHES)
        .iter_mut()
        .find(|entry| entry.is_some_and(|mapped| mapped.pages == pages))
        .and_then(Option::take)
}

/// Keeps `mapped` in this CPU's cache, or hands it back if that cache is full.
fn offer_to_cache(mapped: Mapped) -> Result<(), Mapped> {
    let mut cache = local::lock_local(&CACHES);
    match cache.iter_mut().find(|entry| entry.is_none()) {
        Some(entry) => {
            *entry = Some(mapped);
            Ok(())
        }
        None => Err(mapped),
    }
}

/// Unmaps every cached stack of every CPU and gives its memory back to the heap; returns
/// how many.
///
/// Called by the heap when an allocation fails, from wherever that allocation was made
/// (possibly while this CPU holds its own cache's lock): so it only tries each cache's
/// lock, and passes over a cache whose lock is taken.
pub fn release_cache() -> usize {
    let mut released = 0;
    for cache in &CACHES {
        loop {
            let Some(mut shelf) = cache.try_lock() else {
                break;
            };
            let Some(mapped) = shelf.iter_mut().find_map(Option::take) else {
                break;
            };
            drop(shelf);
            release(mapped);
            released += 1;
        }
    }
    released
}

/// How often the stack caches' (all CPUs together) and the slot map's locks were found
/// taken.
pub(super) fn lock_contention() -> (u32, u32) {
    (local::contention(&CACHES), crate::arch::contention(&SLOTS))
}

/// Stacks in the caches and the bytes they hold (stack pages and the slot's page table).
///
/// Each CPU's cache is read under its lock, one after the other: exact when no stack is
/// spawned or dropped meanwhile (what a leak check measures), a moment's approximation
/// otherwise.
pub fn cached() -> (usize, usize) {
    CACHES.iter().fold((0, 0), |totals, cache| {
        cache
            .lock()
            .iter()
            .flatten()
            .fold(totals, |(stacks, bytes), mapped| {
                (stacks + 1, bytes + (mapped.pages + 1) * PAGE_SIZE as usize)
            })
    })
}

const WORDS: usize = STACK_SLOTS / 64;

/// One bit per stack slot of the kernel area: set while the slot is taken (quarantined
/// slots count as taken).
struct SlotMap {
    words: [u64; WORDS],
    /// No free slot below word `first_free_word`.
    first_free_word: usize,
    /// Returned slots not yet safe to reuse: `filling` collects them, `waiting` waits
    /// for every CPU to flush since its epoch.
    quarantine: [Quarantine; 2],
    filling: usize,
    waiting_epoch: u64,
}

/// A set of quarantined slots.
struct Quarantine {
    words: [u64; WORDS],
    count: usize,
    /// The words that may have bits set: `lowest..=highest` when `count > 0`.
    lowest: usize,
    highest: usize,
}

impl Quarantine {
    const EMPTY: Quarantine = Quarantine {
        words: [0; WORDS],
        count: 0,
        lowest: WORDS,
        highest: 0,
    };

    fn insert(&mut self, slot: usize) {
        let index = slot / 64;
        self.words[index] |= 1 << (slot % 64);
        self.count += 1;
        self.lowest = self.lowest.min(index);
        self.highest = self.highest.max(index);
    }
}

static SLOTS: IrqSpinLock<SlotMap> = IrqSpinLock::new(SlotMap {
    words: [0; WORDS],
    first_free_word: 0,
    quarantine: [Quarantine::EMPTY, Quarantine::EMPTY],
    filling: 0,
    waiting_epoch: 0,
});

impl SlotMap {
    /// The lowest free slot that can be mapped, now taken.
    fn take(&mut self) -> Option<usize> {
        self.recycle();
        let mappable = paging::stack_slots() / 64;
        let (index, word) = self.words[..mappable]
            .iter_mut()
            .enumerate()
            .skip(self.first_free_word)
            .find(|(_, word)| **word != u64::MAX)?;
        let bit = word.trailing_ones() as usize;
        *word |= 1 << bit;
        self.first_free_word = index;
        Some(index * 64 + bit)
    }

    /// Returns a slot that was unmapped: free at once when no other CPU can hold stale
    /// translations of it, quarantined otherwise.
    fn give_back(&mut self, slot: usize) {
        let (index, bit) = (slot / 64, slot % 64);
        debug_assert!(self.words[index] & (1 << bit) != 0, "slot {slot} was free");
        if tlb::others_online() {
            self.quarantine[self.filling].insert(slot);
        } else {
            self.words[index] &= !(1 << bit);
            self.first_free_word = self.first_free_word.min(index);
        }
    }

    /// Frees the waiting quarantine once every CPU flushed since its epoch; then starts
    /// the filling one waiting, with a new epoch.
    fn recycle(&mut self) {
        let waiting = 1 - self.filling;
        if self.quarantine[waiting].count > 0 {
            if !tlb::all_caught_up(self.waiting_epoch) {
                return;
            }
            let quarantine = &mut self.quarantine[waiting];
            for index in quarantine.lowest..=quarantine.highest {
                self.words[index] &= !quarantine.words[index];
                quarantine.words[index] = 0;
            }
            self.first_free_word = self.first_free_word.min(quarantine.lowest);
            quarantine.count = 0;
            quarantine.lowest = WORDS;
            quarantine.highest = 0;
        }
        if self.quarantine[self.filling].count > 0 {
            self.waiting_epoch = tlb::advance();
            self.filling = waiting;
        }
    }
}
