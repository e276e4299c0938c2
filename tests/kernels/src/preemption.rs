//! Preemption cases, run by the `preemption` (local APIC timer) and `preemption_pit`
//! (PIT through the 8259) test kernels.

use core::sync::atomic::{AtomicU64, Ordering};

use spindle::thread;

/// Each thread counts until *both* counters reached a target. Without preemption the
/// first to run would count forever alone (and the kernel would time out).
pub fn two_spinning_threads_both_progress() {
    const TARGET: u64 = 100_000;
    static COUNTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
    let spinner = |me: usize| {
        move || {
            while COUNTS
                .iter()
                .any(|count| count.load(Ordering::Relaxed) < TARGET)
            {
                COUNTS[me].fetch_add(1, Ordering::Relaxed);
            }
            thread::current().info().switches
        }
    };
    let a = thread::spawn(spinner(0));
    let b = thread::spawn(spinner(1));
    let (switches_a, switches_b) = (a.join(), b.join());
    assert!(
        switches_a >= 2 || switches_b >= 2,
        "one thread must have been preempted and resumed"
    );
}

/// A never-yielding thread at the highest priority still lets a low-priority sleeper run.
pub fn a_spinner_cannot_starve_a_sleeper() {
    static SLEEPER_ROUNDS: AtomicU64 = AtomicU64::new(0);
    let spinner = thread::Builder::new()
        .priority(thread::Priority::HIGHEST)
        .spawn(|| {
            while SLEEPER_ROUNDS.load(Ordering::Relaxed) < 5 {
                core::hint::spin_loop();
            }
        })
        .unwrap();
    let sleeper = thread::Builder::new()
        .priority(thread::Priority::LOWEST)
        .spawn(|| {
            for _ in 0..5 {
                thread::sleep(core::time::Duration::from_millis(2));
                SLEEPER_ROUNDS.fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap();
    sleeper.join();
    spinner.join();
}
