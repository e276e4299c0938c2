//! The heap allocator: small and large allocations, churn, and reuse of freed memory.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{boxed::Box, collections::BTreeMap, vec::Vec};

use spindle::mm::heap;

spindle_test::test_kernel!(
    box_holds_its_value,
    vec_grows_to_eight_mib,
    btree_map_survives_churn,
    freed_memory_is_reused,
);

fn box_holds_its_value() {
    let boxed = Box::new([0x5a_u8; 1000]);
    assert!(boxed.iter().all(|&byte| byte == 0x5a));
}

fn vec_grows_to_eight_mib() {
    let words = 8 << 20 >> 3;
    let mut vec = Vec::new();
    for i in 0..words as u64 {
        vec.push(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
    assert_eq!(vec.len(), words);
    assert!(
        vec.iter()
            .enumerate()
            .all(|(i, &v)| v == (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    );
}

/// Random inserts and removals checked against a shadow bitmap of which keys are present.
fn btree_map_survives_churn() {
    const KEYS: u64 = 4096;
    let mut map = BTreeMap::new();
    let mut present = [false; KEYS as usize];
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..50_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = rng % KEYS;
        if present[key as usize] {
            assert_eq!(map.remove(&key), Some(key * 3));
        } else {
            assert_eq!(map.insert(key, key * 3), None);
        }
        present[key as usize] ^= true;
    }
    assert_eq!(map.len(), present.iter().filter(|&&p| p).count());
    assert!(map.iter().all(|(&k, &v)| present[k as usize] && v == k * 3));
}

/// Allocates and frees far more than the machine's memory in total: only possible if
/// freed blocks are handed out again. The counters must return to where they started.
fn freed_memory_is_reused() {
    const BLOCK: usize = 16 << 20;
    let before = heap::stats();
    let rounds = 2 * (before.available_bytes / BLOCK) + 8;
    for round in 0..rounds {
        let mut block: Vec<u8> = Vec::new();
        block
            .try_reserve_exact(BLOCK)
            .unwrap_or_else(|_| panic!("round {round}: 16 MiB not available"));
        block.resize(BLOCK, round as u8);
        assert_eq!(block[BLOCK - 1], round as u8);
    }
    let after = heap::stats();
    assert_eq!(after.allocated_bytes, before.allocated_bytes);
    assert_eq!(after.allocation_count, before.allocation_count);
    assert!(after.total_allocation_count >= before.total_allocation_count + rounds as u64);
}
