//! A growable array made of fixed-size blocks, for the task table and the listing.
//!
//! A `Vec` grows by doubling: up to half of it is unused, and while it moves to a bigger
//! block both blocks are live (three times the old size). For an executor of a million
//! tasks that is megabytes of slack and a peak that can fail when the heap is nearly full.
//! Blocks of [`CHUNK`] elements grow one at a time and never move: at most one block is
//! partly unused, and growing needs room for one block only. An index is found with a
//! shift and a mask (two bounds checks, no division).

use alloc::{boxed::Box, collections::TryReserveError, vec::Vec};

/// Elements per block, a power of two: 4 KiB of 16-byte elements.
pub(super) const CHUNK: usize = 256;

/// Blocks of [`CHUNK`] elements (the last one may be shorter).
pub(super) struct Chunks<T> {
    chunks: Vec<Box<[T]>>,
    len: usize,
}

impl<T> Chunks<T> {
    /// No elements, with room in the list of blocks for `elements` elements' worth, so
    /// that adding the blocks for them never allocates (only the blocks themselves do).
    ///
    /// # Panics
    /// When the heap has no room for the list (a pointer per [`CHUNK`] elements).
    pub(super) fn with_room_for(elements: usize) -> Self {
        Self {
            chunks: Vec::with_capacity(elements.div_ceil(CHUNK)),
            len: 0,
        }
    }

    /// How many elements there are.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The element at `index`.
    #[inline]
    pub(super) fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The element at `index`, mutably.
    #[inline]
    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)
    }

    /// Every element, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// Allocates a block of `count` elements made by `fill` (at most [`CHUNK`]), to be
    /// added with [`push_block`](Self::push_block): separate, so that a caller can
    /// allocate before taking a lock, and grow several arrays all or none.
    ///
    /// # Errors
    /// When the heap has no room for it.
    pub(super) fn new_block(
        count: usize,
        fill: impl FnMut() -> T,
    ) -> Result<Box<[T]>, TryReserveError> {
        debug_assert!(count <= CHUNK);
        let mut block = Vec::new();
        block.try_reserve_exact(count)?;
        block.extend(core::iter::repeat_with(fill).take(count));
        Ok(block.into_boxed_slice())
    }

    /// Appends `block` (from [`new_block`](Self::new_block)); only the last block may be
    /// shorter than [`CHUNK`]. Allocates unless [`with_room_for`](Self::with_room_for)
    /// made room.
    pub(super) fn push_block(&mut self, block: Box<[T]>) {
        debug_assert!(
            self.len.is_multiple_of(CHUNK),
            "only the last block may be short"
        );
        self.len += block.len();
        self.chunks.push(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_cross_blocks_and_stop_at_the_end() {
        let mut chunks = Chunks::with_room_for(2 * CHUNK + 3);
        let mut next = 0;
        for count in [CHUNK, CHUNK, 3] {
            let block = Chunks::new_block(count, || {
                next += 1;
                next - 1
            });
            chunks.push_block(block.unwrap());
        }
        assert_eq!(chunks.len(), 2 * CHUNK + 3);
        for index in [0, CHUNK - 1, CHUNK, 2 * CHUNK + 2] {
            assert_eq!(chunks.get(index), Some(&index));
        }
        assert_eq!(chunks.get(2 * CHUNK + 3), None);
        *chunks.get_mut(CHUNK).unwrap() = 7;
        assert_eq!(chunks.iter().filter(|&&value| value == 7).count(), 2);
    }
}
