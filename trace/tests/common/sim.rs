//! A tiny two-CPU scheduler simulation that records what Spindle's trace points would:
//! timer ticks that preempt and wake sleepers, a serial interrupt that wakes the console
//! thread and its shell task, an executor polling tasks that wake each other, a
//! producer waking a consumer on the other CPU, a short-lived job that exits, idle
//! halts, marks, a ring overflow, names given late, and two dumps (segments).
//!
//! The result is a correct trace by construction, long enough (40 ms) that the SVG's
//! automatic window kicks in: the realistic fixture for the checker and the pictures.

use std::collections::VecDeque;

use spindle_trace::{Header, Kind, Record, SwitchReason, VERSION, WakeSource};

/// The simulated TSC: 2.4 GHz.
pub(crate) const TSC_HZ: u64 = 2_400_000_000;
/// Where the TSC stands when tracing starts.
const BASE_TSC: u64 = 7_000_000_000;
const TIMER: u64 = 48;
const SERIAL: u64 = 36;
const EXECUTOR: u64 = 1;
const SHELL: u32 = 21;
const BLINK: u32 = 22;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Running,
    Ready,
    Blocked,
    Sleeping(u64),
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Idle,
    Worker { burst: (u64, u64), nap: (u64, u64) },
    Producer,
    Consumer,
    Console,
    Job,
}

#[derive(Debug)]
struct Thread {
    id: u32,
    name: &'static str,
    cpu: usize,
    role: Role,
    state: State,
    work_left: u64,
    ticks: u32,
    phase: u32,
}

#[derive(Debug, Default)]
struct Cpu {
    current: usize,
    idle: usize,
    queue: VecDeque<usize>,
    halted: bool,
    resched: Option<SwitchReason>,
    ring: Vec<Record>,
    /// Records made in the current µs (spaces their timestamps).
    seq: u64,
    lost: u64,
}

/// The simulation; [`Sim::run`] returns the stream.
#[derive(Debug)]
pub(crate) struct Sim {
    now: u64,
    threads: Vec<Thread>,
    cpus: Vec<Cpu>,
    rng: u64,
    out: Vec<u8>,
    next_serial: u64,
    batches: u32,
}

/// The stream of a 40 ms simulated run.
pub(crate) fn demo_stream() -> Vec<u8> {
    Sim::new(0x5eed).run(40_000)
}

impl Sim {
    pub(crate) fn new(seed: u64) -> Self {
        let worker = |burst, nap| Role::Worker { burst, nap };
        let specs: [(u32, &'static str, usize, Role, State); 9] = [
            (1, "idle/0", 0, Role::Idle, State::Ready),
            (2, "idle/1", 1, Role::Idle, State::Ready),
            (3, "console", 0, Role::Console, State::Blocked),
            (4, "producer", 0, Role::Producer, State::Running),
            (
                5,
                "compute",
                0,
                worker((800, 2500), (1000, 3000)),
                State::Ready,
            ),
            (6, "consumer", 1, Role::Consumer, State::Running),
            (
                7,
                "hasher",
                1,
                worker((1500, 4000), (500, 2000)),
                State::Ready,
            ),
            (
                8,
                "logger",
                1,
                worker((100, 300), (2000, 5000)),
                State::Sleeping(1200),
            ),
            (9, "job", 1, Role::Job, State::Dead),
        ];
        let threads = specs
            .into_iter()
            .map(|(id, name, cpu, role, state)| Thread {
                id,
                name,
                cpu,
                role,
                state,
                work_left: 0,
                ticks: 0,
                phase: 0,
            })
            .collect();
        let cpus = vec![
            Cpu {
                current: 3,
                idle: 0,
                queue: VecDeque::from([4]),
                ..Cpu::default()
            },
            Cpu {
                current: 5,
                idle: 1,
                queue: VecDeque::from([6]),
                lost: 37,
                ..Cpu::default()
            },
        ];
        let mut sim = Sim {
            now: 0,
            threads,
            cpus,
            rng: seed | 1,
            out: Vec::new(),
            next_serial: 2500,
            batches: 0,
        };
        sim.threads[3].work_left = 400;
        sim.threads[5].work_left = 300;
        sim.name_threads(&[1, 3, 4, 5, 8]);
        sim.record(
            0,
            Kind::ExecutorName,
            EXECUTOR as u32,
            0,
            0,
            Some("console"),
        );
        sim.record(0, Kind::TaskName, SHELL, 0, 0, Some("shell"));
        sim.record(0, Kind::TaskName, BLINK, 0, 0, Some("blink"));
        sim
    }

    /// Runs for `micros` µs with a dump halfway and at the end.
    pub(crate) fn run(mut self, micros: u64) -> Vec<u8> {
        for now in 0..micros {
            self.now = now;
            self.cpus.iter_mut().for_each(|cpu| cpu.seq = 0);
            if now == micros / 2 {
                self.dump();
                // Threads that existed before are named when tracing is turned on.
                self.name_threads(&[2, 6, 7]);
            }
            for cpu in 0..self.cpus.len() {
                self.step(cpu);
            }
        }
        self.dump();
        self.out
    }

    fn random(&mut self, (low, high): (u64, u64)) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        low + self.rng % (high - low + 1)
    }

    fn record(&mut self, cpu: usize, kind: Kind, id: u32, small: u8, a: u64, text: Option<&str>) {
        let state = &mut self.cpus[cpu];
        let ns = self.now * 1000 + state.seq * 20;
        state.seq += 1;
        let record = Record {
            tsc: BASE_TSC + ns * 12 / 5,
            kind: kind as u8,
            cpu: cpu as u8,
            small,
            id,
            a,
            b: 0,
        };
        state.ring.push(match text {
            Some(text) => record.with_text(text),
            None => record,
        });
    }

    fn name_threads(&mut self, indexes: &[usize]) {
        for &index in indexes {
            let (id, name) = (self.threads[index - 1].id, self.threads[index - 1].name);
            self.record(0, Kind::ThreadName, id, 0, 0, Some(name));
        }
    }

    /// A dump, as the kernel makes it: a header, then each CPU's ring in turn, a loss
    /// first (stamped now) if the ring overflowed.
    fn dump(&mut self) {
        let header = Header {
            version: VERSION,
            cpus: self.cpus.len() as u16,
            tsc_hz: TSC_HZ,
        };
        self.out.extend_from_slice(&header.encode());
        let now_tsc = BASE_TSC + self.now * 1000 * 12 / 5;
        for (index, cpu) in self.cpus.iter_mut().enumerate() {
            if cpu.lost > 0 {
                let dropped = Record {
                    tsc: now_tsc,
                    kind: Kind::Dropped as u8,
                    cpu: index as u8,
                    a: cpu.lost,
                    ..Record::default()
                };
                self.out.extend_from_slice(&dropped.encode());
                cpu.lost = 0;
            }
            for record in cpu.ring.drain(..) {
                self.out.extend_from_slice(&record.encode());
            }
        }
    }

    fn step(&mut self, cpu: usize) {
        if (self.now + 500 * cpu as u64).is_multiple_of(1000) {
            self.tick(cpu);
        }
        if cpu == 0 && self.now == self.next_serial {
            self.serial();
            self.next_serial += self.random((2000, 6000));
        }
        if let Some(reason) = self.cpus[cpu].resched.take() {
            self.schedule(cpu, reason);
        }
        self.work(cpu);
        let state = &self.cpus[cpu];
        if state.current == state.idle && !state.halted && state.queue.is_empty() {
            self.record(cpu, Kind::IdleEnter, 0, 0, 0, None);
            self.cpus[cpu].halted = true;
        }
    }

    fn interrupt(&mut self, cpu: usize, vector: u64, handler: impl FnOnce(&mut Self)) {
        self.record(cpu, Kind::IrqEnter, vector as u32, 0, 0, None);
        handler(self);
        self.record(cpu, Kind::IrqExit, vector as u32, 0, 0, None);
        if self.cpus[cpu].halted {
            self.record(cpu, Kind::IdleExit, 0, 0, 0, None);
            self.cpus[cpu].halted = false;
        }
        let state = &mut self.cpus[cpu];
        if state.current == state.idle && !state.queue.is_empty() {
            state.resched = Some(SwitchReason::Preempt);
        }
    }

    /// The timer: wakes this CPU's sleepers that are due, charges the running thread.
    fn tick(&mut self, cpu: usize) {
        self.interrupt(cpu, TIMER, |sim| {
            let due: Vec<usize> = (0..sim.threads.len())
                .filter(|&t| sim.threads[t].cpu == cpu)
                .filter(
                    |&t| matches!(sim.threads[t].state, State::Sleeping(until) if until <= sim.now),
                )
                .collect();
            for thread in due {
                sim.wake(cpu, thread, WakeSource::Interrupt, TIMER);
            }
            let current = sim.cpus[cpu].current;
            if current != sim.cpus[cpu].idle {
                sim.threads[current].ticks += 1;
                if sim.threads[current].ticks >= 3 && !sim.cpus[cpu].queue.is_empty() {
                    sim.cpus[cpu].resched = Some(SwitchReason::Preempt);
                }
            }
        });
    }

    /// Input: queues the shell task and wakes the console thread that polls it.
    fn serial(&mut self) {
        self.interrupt(0, SERIAL, |sim| {
            sim.record(
                0,
                Kind::WakeTask,
                SHELL,
                WakeSource::Interrupt as u8,
                SERIAL,
                None,
            );
            if sim.threads[2].state == State::Blocked {
                sim.wake(0, 2, WakeSource::Interrupt, SERIAL);
            }
        });
    }

    /// Records the wake on `on_cpu` and queues the thread on its own CPU.
    fn wake(&mut self, on_cpu: usize, thread: usize, source: WakeSource, by: u64) {
        let id = self.threads[thread].id;
        self.record(on_cpu, Kind::WakeThread, id, source as u8, by, None);
        self.threads[thread].state = State::Ready;
        let home = self.threads[thread].cpu;
        self.cpus[home].queue.push_back(thread);
        if self.cpus[home].current == self.cpus[home].idle && home != on_cpu {
            self.cpus[home].resched = Some(SwitchReason::Preempt);
        }
    }

    fn schedule(&mut self, cpu: usize, reason: SwitchReason) {
        let prev = self.cpus[cpu].current;
        let giving_way = matches!(reason, SwitchReason::Yield | SwitchReason::Preempt);
        if giving_way && self.cpus[cpu].queue.is_empty() {
            return; // nobody to give way to: the kernel switches to no one
        }
        let Some(next) = self.cpus[cpu].queue.pop_front().or_else(|| {
            let idle = self.cpus[cpu].idle;
            (prev != idle).then_some(idle)
        }) else {
            return;
        };
        if self.cpus[cpu].halted {
            self.record(cpu, Kind::IdleExit, 0, 0, 0, None);
            self.cpus[cpu].halted = false;
        }
        if giving_way && prev != self.cpus[cpu].idle {
            self.threads[prev].state = State::Ready;
            self.cpus[cpu].queue.push_back(prev);
        }
        let (from, to) = (self.threads[prev].id, self.threads[next].id);
        self.record(cpu, Kind::Switch, from, reason as u8, u64::from(to), None);
        self.cpus[cpu].current = next;
        self.threads[next].state = State::Running;
        self.threads[next].ticks = 0;
        self.start(cpu, next);
    }

    /// A thread switched in starts its next burst (or goes on with the one it had).
    fn start(&mut self, cpu: usize, thread: usize) {
        if self.threads[thread].work_left > 0 {
            return;
        }
        let work = match self.threads[thread].role {
            Role::Idle => 0,
            Role::Worker { burst, .. } => self.random(burst),
            Role::Producer => self.random((300, 700)),
            Role::Consumer => self.random((300, 900)),
            Role::Job => 1500,
            Role::Console => {
                self.record(cpu, Kind::PollBegin, SHELL, 0, EXECUTOR, None);
                self.threads[thread].phase = 1;
                self.random((60, 150))
            }
        };
        self.threads[thread].work_left = work;
    }

    fn work(&mut self, cpu: usize) {
        let current = self.cpus[cpu].current;
        let thread = &mut self.threads[current];
        if thread.role == Role::Idle || thread.work_left == 0 {
            return;
        }
        thread.work_left -= 1;
        if thread.work_left == 0 {
            self.burst_done(cpu, current);
        }
    }

    fn burst_done(&mut self, cpu: usize, thread: usize) {
        match self.threads[thread].role {
            Role::Worker { nap, .. } => {
                let until = self.now + self.random(nap);
                self.block(cpu, thread, State::Sleeping(until), SwitchReason::Sleep);
            }
            Role::Producer => self.produce(cpu, thread),
            Role::Consumer => self.block(cpu, thread, State::Blocked, SwitchReason::Block),
            Role::Console => self.console_step(cpu, thread),
            Role::Job => {
                let id = self.threads[thread].id;
                self.record(cpu, Kind::Exit, id, 0, 0, None);
                self.block(cpu, thread, State::Dead, SwitchReason::Exit);
            }
            Role::Idle => {}
        }
    }

    fn block(&mut self, cpu: usize, thread: usize, state: State, reason: SwitchReason) {
        self.threads[thread].state = state;
        self.schedule(cpu, reason);
    }

    /// A batch: wakes the consumer on the other CPU, marks every fifth batch, spawns
    /// the job once, then naps.
    fn produce(&mut self, cpu: usize, thread: usize) {
        self.batches += 1;
        let id = u64::from(self.threads[thread].id);
        if self.threads[5].state == State::Blocked {
            self.wake(cpu, 5, WakeSource::Thread, id);
        }
        if self.batches.is_multiple_of(5) {
            let text = format!("batch {}", self.batches);
            self.record(cpu, Kind::Mark, 0, 0, 0, Some(&text));
        }
        if self.batches == 12 {
            self.record(cpu, Kind::Spawn, 9, 0, id, None);
            self.record(cpu, Kind::ThreadName, 9, 0, 0, Some("job"));
            self.threads[8].state = State::Ready;
            self.cpus[1].queue.push_back(8);
        }
        let until = self.now + self.random((1500, 3000));
        self.block(cpu, thread, State::Sleeping(until), SwitchReason::Sleep);
    }

    /// The console's executor: polls shell (which wakes blink), then blink, then waits.
    fn console_step(&mut self, cpu: usize, thread: usize) {
        if self.threads[thread].phase == 1 {
            self.record(
                cpu,
                Kind::WakeTask,
                BLINK,
                WakeSource::Task as u8,
                u64::from(SHELL),
                None,
            );
            self.record(cpu, Kind::PollEnd, SHELL, 0, 0, None);
            self.record(cpu, Kind::PollBegin, BLINK, 0, EXECUTOR, None);
            self.threads[thread].phase = 2;
            self.threads[thread].work_left = self.random((30, 80));
        } else {
            self.record(cpu, Kind::PollEnd, BLINK, 0, 0, None);
            self.threads[thread].phase = 0;
            self.block(cpu, thread, State::Blocked, SwitchReason::Block);
        }
    }
}
