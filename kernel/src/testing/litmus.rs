//! A litmus harness for host tests: two `std` threads race through a handshake on the
//! real CPU, over and over, and the harness counts the races where both sides missed each
//! other. This is how each cross-thread handshake of the kernel is tested on the build
//! machine, before any second CPU runs kernel code.
//!
//! The two threads meet at a barrier, then each walks the same array of independent
//! instances of the handshake, one side playing the sleeper on every instance and the
//! other the waker. Running at the same pace, they reach the same instance at nearly the
//! same moment again and again, which is what exposes a store overtaken by a later load
//! (one rendezvous per race would leave them too far apart to ever collide).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    thread,
    vec::Vec,
};

/// Races `sleeper` against `waker` on each of `instances`, `batches` times (calling
/// `reset` on every instance before each batch), and returns the number of races where
/// the sleeper decided to sleep (`true`) while the waker decided it need not wake it
/// (`false`): a lost wake-up.
pub(crate) fn litmus<S: Send + Sync + 'static>(
    instances: Vec<S>,
    batches: u32,
    sleeper: fn(&S) -> bool,
    waker: fn(&S) -> bool,
    reset: fn(&S),
) -> usize {
    let instances: Arc<[S]> = instances.into();
    let barrier = Arc::new(SpinBarrier::default());
    let other = {
        let (instances, barrier) = (Arc::clone(&instances), Arc::clone(&barrier));
        thread::spawn(move || {
            let mut woke = Vec::with_capacity(instances.len() * batches as usize);
            for _ in 0..batches {
                barrier.wait(); // instances reset
                woke.extend(instances.iter().map(waker));
                barrier.wait(); // both sides done
            }
            woke
        })
    };
    let mut slept = Vec::with_capacity(instances.len() * batches as usize);
    for _ in 0..batches {
        instances.iter().for_each(reset);
        barrier.wait();
        slept.extend(instances.iter().map(sleeper));
        barrier.wait();
    }
    let woke = other.join().expect("the waker side panicked");
    slept
        .iter()
        .zip(&woke)
        .filter(|&(&slept, &woke)| slept && !woke)
        .count()
}

/// A barrier for two threads that spins (yielding to the OS now and then, so a loaded
/// machine with fewer cores than spinning threads still makes progress).
#[derive(Default)]
struct SpinBarrier {
    arrived: AtomicU32,
    generation: AtomicU32,
}

impl SpinBarrier {
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) == 1 {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.store(generation + 1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            spins += 1;
            if spins.is_multiple_of(1024) {
                thread::yield_now();
            } else {
                core::hint::spin_loop();
            }
        }
    }
}
