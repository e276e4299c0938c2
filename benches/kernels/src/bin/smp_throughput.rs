//! Throughput of independent pairs of threads on one CPU and on two, and of one
//! ping-pong pair kept on one CPU or split across two, in the same boot (see
//! `spindle_bench::throughput`).
//!
//! Booted under MTTCG only, several times: see `smp_latency`.
//@ smp: 2
//@ ratio: smp_compute_2_cpus / smp_compute_1_cpu
//@ ratio: smp_rdtsc_2_cpus / smp_rdtsc_1_cpu
//@ ratio: smp_yield_2_cpus / smp_yield_1_cpu
//@ ratio: smp_semaphore_pairs_2_cpus / smp_semaphore_pairs_1_cpu
//@ ratio: smp_spawn_join_2_cpus / smp_spawn_join_1_cpu
//@ ratio: smp_ping_pong_split / smp_ping_pong_same_cpu
#![no_std]
#![no_main]

use spindle_bench::throughput::{
    compute_pairs, rdtsc_pairs, semaphore_pairs, spawn_join_pairs, split_pair, yield_pairs,
};

spindle_bench::bench_kernel!(
    compute_pairs,
    rdtsc_pairs,
    yield_pairs,
    semaphore_pairs,
    spawn_join_pairs,
    split_pair
);
