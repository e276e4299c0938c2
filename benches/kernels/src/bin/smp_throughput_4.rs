//! Throughput of independent pairs of threads on one CPU and on four, in the same boot
//! (see `spindle_bench::throughput`). On a host with fewer than four free cores the
//! `compute` ratio is the ceiling the others are read against.
//!
//! Booted under MTTCG only, several times: see `smp_latency`.
//@ smp: 4
//@ ratio: smp_compute_4_pairs_4_cpus / smp_compute_4_pairs_1_cpu
//@ ratio: smp_semaphore_pairs_4_pairs_4_cpus / smp_semaphore_pairs_4_pairs_1_cpu
//@ ratio: smp_spawn_join_4_pairs_4_cpus / smp_spawn_join_4_pairs_1_cpu
#![no_std]
#![no_main]

use spindle_bench::throughput::{compute_pairs, semaphore_pairs, spawn_join_pairs};

spindle_bench::bench_kernel!(compute_pairs, semaphore_pairs, spawn_join_pairs);
