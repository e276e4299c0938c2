//! Scheduling policy: the decisions the scheduler makes, apart from the mechanism that
//! carries them out (locks, switching, per-CPU state). Portable; host-tested, including
//! a simulated CPU that runs threads through the real run queue and these rules.
//!
//! - **Slices.** A thread at priority `p` runs `base × (p + 1) / 4` ticks (at least one)
//!   before others get a turn: higher priorities run longer.
//! - **Ticks.** Each tick charges the running thread one tick; the slice stops at zero,
//!   and at zero the thread should give way. A thread that cannot be preempted (it
//!   disabled preemption) keeps running with zero left, and gives way as soon as it can.
//! - **Epochs.** A thread that gives way with slice left (it yielded, or a wake preempted
//!   it) stays in the current epoch, at the back of its level; one that used its slice up
//!   waits for the next epoch, with a fresh slice. The run queue serves the current epoch
//!   first, highest priority first, and a slice is refilled only for the next epoch: every
//!   ready thread runs for at most one slice per epoch, so nothing starves, and a yield
//!   costs no epoch work.
//! - **Wakes.** A woken thread preempts the running one if its priority is at least as
//!   high, or if the CPU is idle.
//! - **Placement** (several CPUs). Only CPUs in a thread's set are considered. A woken
//!   thread goes back to the CPU it last ran on if that CPU idles (its cache may still be
//!   warm), else to an idle CPU (the waking one first), else back to its last CPU. A new
//!   thread goes to the least loaded CPU (running plus queued threads; the spawning CPU
//!   wins ties).
//! - **Balancing.** A CPU pulls a queued thread from the most loaded CPU when that one's
//!   load exceeds its own by two or more (by one would just move the imbalance): at once
//!   when it is about to idle, and every few ticks otherwise. So a thread queued behind a
//!   running one moves to an idle CPU, a lone one stays where it is.
//!
//! Placement reads other CPUs' load without locks: the figures may be a moment old, which
//! costs at worst a less than ideal choice (stealing evens it out), never a lost thread.

use super::{control_block::Priority, cpu_set::CpuSet};

/// Tick period, time slice, idle polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Tick periods per second: the unit of time slices (the slice timer charges one
    /// tick per period while threads wait for a CPU), and the timer wheel's slot. Timer
    /// interrupts come only when something is due (with the PIT fallback: this many a
    /// second, always).
    pub tick_hz: u32,
    /// Ticks a normal-priority thread runs before others get a turn. A thread at
    /// priority `p` gets `time_slice_ticks * (p + 1) / 4` ticks (at least one).
    pub time_slice_ticks: u32,
    /// How long an idle CPU polls for work before it halts (`Duration::ZERO`: it halts
    /// at once); see [`set_idle_poll`](super::set_idle_poll).
    pub idle_poll: core::time::Duration,
}

impl SchedulerConfig {
    /// The defaults: 1000 ticks a second, 4-tick slices, 100 µs of idle polling.
    pub const DEFAULT: Self = Self {
        tick_hz: 1000,
        time_slice_ticks: 4,
        idle_poll: core::time::Duration::from_micros(100),
    };
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Ticks a thread at `priority` runs per turn, with `base` ticks at normal priority.
pub fn slice_for(base: u32, priority: Priority) -> u32 {
    (base.saturating_mul(priority.level() as u32 + 1) / 4).max(1)
}

/// Charges one tick to a slice with `left` ticks: returns what is left (never below
/// zero) and whether the thread should give way now.
pub fn charge_tick(left: u32) -> (u32, bool) {
    let left = left.saturating_sub(1);
    (left, left == 0)
}

/// Which epoch a thread that stops running, still runnable, goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    /// The current one: it yielded or was preempted with slice left.
    Current,
    /// The next one, with a fresh slice: it used its slice up.
    Next,
}

/// Where a thread with `slice_left` ticks goes when it stops running.
#[inline(always)]
pub fn requeue_epoch(slice_left: u32) -> Epoch {
    match slice_left {
        0 => Epoch::Next,
        _ => Epoch::Current,
    }
}

/// Whether waking a thread at `woken` priority should preempt what runs: `running` is
/// `None` when the CPU is idle.
pub fn wake_preempts(woken: Priority, running: Option<Priority>) -> bool {
    running.is_none_or(|running| woken >= running)
}

/// What placement knows about a CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuLoad {
    /// Whether it runs a thread (not its idle loop).
    pub busy: bool,
    /// Threads waiting in its run queue.
    pub queued: u32,
}

impl CpuLoad {
    fn weight(self) -> u32 {
        u32::from(self.busy) + self.queued
    }
}

/// The CPU a woken thread goes to: `last` is where it ran, `here` the waking CPU,
/// `candidates` the online CPUs its set allows (never empty).
pub fn wake_target(last: u32, here: u32, candidates: CpuSet, load: impl Fn(u32) -> CpuLoad) -> u32 {
    let idle = |cpu: u32| candidates.contains(cpu) && !load(cpu).busy;
    if idle(last) {
        return last;
    }
    if idle(here) {
        return here;
    }
    if let Some(cpu) = candidates.iter().find(|&cpu| idle(cpu)) {
        return cpu;
    }
    match candidates.contains(last) {
        true => last,
        false => least_loaded(here, candidates, load),
    }
}

/// The CPU a new thread goes to: the least loaded candidate, `here` on a tie.
pub fn spawn_target(here: u32, candidates: CpuSet, load: impl Fn(u32) -> CpuLoad) -> u32 {
    least_loaded(here, candidates, load)
}

fn least_loaded(here: u32, candidates: CpuSet, load: impl Fn(u32) -> CpuLoad) -> u32 {
    let start = match candidates.contains(here) {
        true => here,
        false => candidates.first().expect("no candidate CPU"),
    };
    candidates
        .iter()
        .map(|cpu| (load(cpu).weight(), cpu != start, cpu))
        .min()
        .map_or(start, |(_, _, cpu)| cpu)
}

/// The CPU a CPU whose load is `here` should give one of its queued threads to, among
/// the online `others`: the least loaded one, if `here` has a queued thread and at least
/// two threads more than it.
pub fn push_target(here: CpuLoad, others: CpuSet, load: impl Fn(u32) -> CpuLoad) -> Option<u32> {
    if here.queued == 0 {
        return None;
    }
    others
        .iter()
        .map(|cpu| (load(cpu).weight(), cpu))
        .filter(|&(weight, _)| weight + 2 <= here.weight())
        .min()
        .map(|(_, cpu)| cpu)
}

/// The CPU a CPU whose load is `here` should pull a queued thread from, among the online
/// `others`: the most loaded one, if it has a queued thread and at least two more
/// threads than `here`.
pub fn pull_source(here: CpuLoad, others: CpuSet, load: impl Fn(u32) -> CpuLoad) -> Option<u32> {
    others
        .iter()
        .map(|cpu| (load(cpu), cpu))
        .filter(|(load, _)| load.queued > 0 && load.weight() >= here.weight() + 2)
        .max_by_key(|(load, cpu)| (load.weight(), core::cmp::Reverse(*cpu)))
        .map(|(_, cpu)| cpu)
}

#[cfg(test)]
#[allow(unsafe_code)] // queueing the simulated threads in the real, intrusive run queue
mod tests {
    use alloc::{sync::Arc, vec, vec::Vec};
    use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

    use super::*;
    use crate::task::thread::run_queue::{LEVELS, RunLink, RunLinked, RunQueue, Unqueued};

    /// A simulated thread: a priority, its slice, and how many ticks it got.
    struct SimThread {
        id: usize,
        priority: Priority,
        slice_left: AtomicU32,
        ran: AtomicU32,
        link: RunLink<SimThread>,
    }

    // SAFETY: always the same field.
    unsafe impl RunLinked for SimThread {
        fn run_link(&self) -> &RunLink<Self> {
            &self.link
        }
    }

    /// One CPU running simulated threads through the real run queue and this policy.
    struct Cpu {
        base: u32,
        threads: Vec<Arc<SimThread>>,
        queue: RunQueue<SimThread>,
        running: Arc<SimThread>,
        /// Preemption disabled for this many more ticks.
        no_preempt_for: u32,
        want_resched: bool,
    }

    impl Cpu {
        fn new(base: u32, priorities: &[u8]) -> Self {
            let threads: Vec<_> = priorities
                .iter()
                .enumerate()
                .map(|(id, &level)| {
                    let priority = Priority::new(level).unwrap();
                    Arc::new(SimThread {
                        id,
                        priority,
                        slice_left: AtomicU32::new(slice_for(base, priority)),
                        ran: AtomicU32::new(0),
                        link: RunLink::new(),
                    })
                })
                .collect();
            let running = Arc::clone(&threads[0]);
            let mut queue = RunQueue::new();
            for thread in &threads[1..] {
                let level = thread.priority.level().min(LEVELS - 1);
                // SAFETY: fresh threads, each queued once.
                queue.push_active(level, unsafe { Unqueued::new(Arc::clone(thread)) });
            }
            Self {
                base,
                threads,
                queue,
                running,
                no_preempt_for: 0,
                want_resched: false,
            }
        }

        /// One timer tick, as `next_event::on_timer` and the exit hook handle it.
        fn tick(&mut self) {
            let running = &self.running;
            running.ran.store(running.ran.load(Relaxed) + 1, Relaxed);
            let (left, resched) = charge_tick(running.slice_left.load(Relaxed));
            running.slice_left.store(left, Relaxed);
            self.want_resched |= resched;
            if self.no_preempt_for > 0 {
                self.no_preempt_for -= 1;
                if self.no_preempt_for > 0 {
                    return;
                }
            }
            if self.want_resched {
                self.switch();
            }
        }

        /// The running thread gives way (by itself, or because its slice is used up).
        fn switch(&mut self) {
            self.want_resched = false;
            let level = self.running.priority.level().min(LEVELS - 1);
            let epoch = requeue_epoch(self.running.slice_left.load(Relaxed));
            // SAFETY: the running thread is in no queue, and this is its only token.
            let previous = unsafe { Unqueued::new(Arc::clone(&self.running)) };
            match epoch {
                Epoch::Current => self.queue.push_active(level, previous),
                Epoch::Next => {
                    previous
                        .slice_left
                        .store(slice_for(self.base, previous.priority), Relaxed);
                    self.queue.push_expired(level, previous)
                }
            }
            self.running = self
                .queue
                .pop()
                .expect("the queue holds the previous thread")
                .into_arc();
        }

        fn ticks_of(&self, id: usize) -> u32 {
            self.threads[id].ran.load(Relaxed)
        }
    }

    #[test]
    fn slices_grow_with_priority_and_never_reach_zero() {
        let slices: Vec<u32> = (0..=7)
            .map(|level| slice_for(4, Priority::new(level).unwrap()))
            .collect();
        assert_eq!(slices, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(slice_for(1, Priority::LOWEST), 1);
        assert_eq!(slice_for(u32::MAX, Priority::HIGHEST), u32::MAX / 4);
    }

    #[test]
    fn a_slice_stops_at_zero_however_many_ticks_come() {
        assert_eq!(charge_tick(2), (1, false));
        assert_eq!(charge_tick(1), (0, true));
        assert_eq!(charge_tick(0), (0, true), "no wrap to u32::MAX");
    }

    #[test]
    fn wakes_preempt_equal_or_lower_priorities_and_idle() {
        assert!(wake_preempts(Priority::NORMAL, None));
        assert!(wake_preempts(Priority::NORMAL, Some(Priority::NORMAL)));
        assert!(wake_preempts(Priority::HIGHEST, Some(Priority::NORMAL)));
        assert!(!wake_preempts(Priority::LOWEST, Some(Priority::NORMAL)));
    }

    /// Loads for CPUs 0.. from `(busy, queued)` pairs.
    fn loads(table: &'static [(bool, u32)]) -> impl Fn(u32) -> CpuLoad {
        |cpu| {
            let (busy, queued) = table[cpu as usize];
            CpuLoad { busy, queued }
        }
    }

    const FOUR: CpuSet = CpuSet::from_bits(0b1111);

    #[test]
    fn a_woken_thread_returns_to_its_idle_cpu_else_finds_an_idle_one() {
        let all_idle = loads(&[(false, 0); 4]);
        assert_eq!(wake_target(2, 0, FOUR, &all_idle), 2, "its last CPU idles");
        let last_busy = loads(&[(false, 0), (false, 0), (true, 0), (false, 0)]);
        assert_eq!(
            wake_target(2, 3, FOUR, &last_busy),
            3,
            "the waker's CPU idles"
        );
        assert_eq!(wake_target(2, 2, FOUR, &last_busy), 0, "the first idle CPU");
        let all_busy = loads(&[(true, 3), (true, 0), (true, 1), (true, 0)]);
        assert_eq!(wake_target(2, 1, FOUR, &all_busy), 2, "back where it ran");
    }

    #[test]
    fn a_woken_thread_stays_inside_its_set() {
        let last_busy = loads(&[(false, 0), (true, 0), (true, 2), (false, 0)]);
        let set = CpuSet::single(1).with(2);
        assert_eq!(wake_target(2, 0, set, &last_busy), 2);
        assert_eq!(
            wake_target(0, 0, set, &last_busy),
            1,
            "least loaded in the set"
        );
        assert_eq!(wake_target(3, 3, CpuSet::single(1), &last_busy), 1);
    }

    #[test]
    fn a_new_thread_goes_to_the_least_loaded_cpu_here_on_a_tie() {
        let table = loads(&[(true, 1), (true, 0), (false, 0), (false, 0)]);
        assert_eq!(spawn_target(0, FOUR, &table), 2);
        assert_eq!(spawn_target(3, FOUR, &table), 3, "a tie: stay here");
        assert_eq!(spawn_target(0, CpuSet::single(0).with(1), &table), 1);
        assert_eq!(spawn_target(2, CpuSet::single(0), &table), 0);
    }

    const IDLE: CpuLoad = CpuLoad {
        busy: false,
        queued: 0,
    };

    #[test]
    fn an_idle_cpu_pulls_a_thread_waiting_behind_a_running_one() {
        let table = loads(&[(false, 0), (true, 1), (false, 1), (true, 3)]);
        let others = CpuSet::from_bits(0b1110);
        assert_eq!(pull_source(IDLE, others, &table), Some(3), "the busiest");
        assert_eq!(
            pull_source(IDLE, CpuSet::from_bits(0b0110), &table),
            Some(1)
        );
        assert_eq!(
            pull_source(IDLE, CpuSet::single(2), &table),
            None,
            "an idle CPU with one queued thread runs it itself"
        );
        let alone = loads(&[(false, 0), (true, 0)]);
        assert_eq!(
            pull_source(IDLE, CpuSet::single(1), &alone),
            None,
            "a lone thread stays"
        );
    }

    #[test]
    fn a_busy_cpu_gives_a_queued_thread_only_to_one_two_threads_behind() {
        let table = loads(&[(true, 2), (true, 1), (true, 0), (false, 0)]);
        let here = CpuLoad {
            busy: true,
            queued: 2,
        };
        let others = CpuSet::from_bits(0b1110);
        assert_eq!(
            push_target(here, others, &table),
            Some(3),
            "the least loaded"
        );
        assert_eq!(push_target(here, CpuSet::single(2), &table), Some(2));
        assert_eq!(
            push_target(here, CpuSet::single(1), &table),
            None,
            "one thread fewer: moving would only move the imbalance"
        );
        let nothing_queued = CpuLoad {
            busy: true,
            queued: 0,
        };
        assert_eq!(push_target(nothing_queued, others, &table), None);
    }

    #[test]
    fn a_busy_cpu_pulls_only_from_one_two_threads_ahead() {
        let busy_one = CpuLoad {
            busy: true,
            queued: 0,
        };
        let table = loads(&[(true, 0), (true, 1), (true, 2)]);
        assert_eq!(pull_source(busy_one, CpuSet::single(1), &table), None);
        assert_eq!(
            pull_source(busy_one, CpuSet::from_bits(0b110), &table),
            Some(2)
        );
    }

    #[test]
    fn equal_priorities_share_the_cpu_equally() {
        let mut cpu = Cpu::new(4, &[3, 3, 3]);
        (0..1200).for_each(|_| cpu.tick());
        for id in 0..3 {
            assert_eq!(cpu.ticks_of(id), 400, "thread {id}");
        }
    }

    /// Per epoch every thread runs one slice: priority 7 gets 8 ticks for priority 0's 1.
    #[test]
    fn higher_priorities_run_longer_but_never_starve_lower_ones() {
        let mut cpu = Cpu::new(4, &[7, 0]);
        (0..900).for_each(|_| cpu.tick());
        assert_eq!(cpu.ticks_of(0), 800);
        assert_eq!(cpu.ticks_of(1), 100);
    }

    /// The starvation of the hostile review: a section without preemption longer than the
    /// slice used to wrap the slice to `u32::MAX` and keep the thread in the current
    /// epoch for good. Now its turn ends when the section does, and the other runs.
    #[test]
    fn a_long_no_preemption_section_ends_the_turn_when_it_ends() {
        let mut cpu = Cpu::new(4, &[3, 3]);
        cpu.no_preempt_for = 50;
        (0..50).for_each(|_| cpu.tick());
        assert_eq!(cpu.running.id, 1, "the section's end handed the CPU over");
        (0..400).for_each(|_| cpu.tick());
        assert_eq!(cpu.ticks_of(0), 50 + 200);
        assert_eq!(cpu.ticks_of(1), 200);
    }

    /// A yield ends the turn at once but keeps the slice: the thread goes to the back of
    /// its level in the current epoch, and to the next epoch only once its slice is used.
    #[test]
    fn a_yield_keeps_the_slice_and_the_epoch() {
        let mut cpu = Cpu::new(4, &[3, 3]);
        cpu.tick();
        cpu.switch();
        assert_eq!(cpu.running.id, 1);
        cpu.switch();
        assert_eq!(cpu.running.id, 0, "back at once: same level, same epoch");
        assert_eq!(cpu.running.slice_left.load(Relaxed), 3, "what was left");
        (0..3).for_each(|_| cpu.tick());
        assert_eq!(cpu.running.id, 1, "its slice used up, the other runs");
        assert_eq!(cpu.threads[0].slice_left.load(Relaxed), 4, "refilled");
    }

    /// A high-priority thread that yields all the time runs no more than one that never
    /// does: one slice per epoch, then the low-priority thread gets its turn.
    #[test]
    fn a_yielding_high_level_does_not_starve_a_low_one() {
        let mut cpu = Cpu::new(4, &[7, 0]);
        for _ in 0..900 {
            cpu.tick();
            if cpu.running.id == 0 {
                cpu.switch();
            }
        }
        assert_eq!(cpu.ticks_of(0), 800);
        assert_eq!(cpu.ticks_of(1), 100);
    }
}
