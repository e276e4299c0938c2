//! The console's commands.

use alloc::{format, string::String, vec::Vec};
use core::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use spindle::{
    arch::{self, qemu},
    executor::{self, Spawner},
    input, logger, mm, println,
    thread::{self, Builder},
    time, tracing,
};

use super::listing::{CPU_HEADER, CpuRow, TASK_HEADER, THREAD_HEADER, TaskRow, ThreadRow};

/// Whether the console goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Read the next line.
    Continue,
    /// Stop reading.
    Quit,
}

const HELP: &str = "\
commands:
  help                  this list
  ps                    threads and async tasks
  spawn thread|task     start a demo thread or task that prints five lines
  spawn panic           a thread and a task that panic: what their handles say
  sleep MILLIS          sleep (asynchronously) and report how long it took
  demo                  the scheduler at work: CPU-bound threads, a sleeper, a mutex
  bench                 a short context-switch measurement (TSC ticks)
  stats                 switches, wake-ups, interrupts, memory, input
  idle-poll [MICROS]    show or set how long an idle CPU polls before it halts
  log [LEVEL]           show or set the log level: off, error, warn, info,
                        debug (thread spawns and exits, executors, ...), trace
  trace on|off|dump     record the schedule trace; stream it to the debug console
                        port (`cargo run -- --trace FILE` collects it)
  poweroff              leave QEMU (exit status 0)";

/// Runs one command line. `spawner` spawns onto the console's own executor.
pub(super) async fn execute(line: &str, spawner: &Spawner) -> Flow {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => {}
        ["help"] => println!("{HELP}"),
        ["ps"] => ps(),
        ["spawn", "panic"] => spawn_panics(spawner).await,
        ["spawn", what] => spawn_demo(what, spawner),
        ["sleep", millis] => match millis.parse::<u64>() {
            Ok(millis) => sleep(millis).await,
            Err(_) => println!("sleep: `{millis}` is not a number of milliseconds"),
        },
        ["bench"] => bench().await,
        ["demo"] => match executor::try_spawn_blocking(super::demo::run) {
            Ok(demo) => _ = demo.await,
            Err(error) => println!("demo: cannot start: {error}"),
        },
        ["stats"] => stats(),
        ["idle-poll"] => println!(
            "idle CPUs poll for {:?} before they halt",
            thread::idle_poll()
        ),
        ["idle-poll", micros] => match micros.parse::<u64>() {
            Ok(micros) => thread::set_idle_poll(core::time::Duration::from_micros(micros)),
            Err(_) => println!("idle-poll: `{micros}` is not a number of microseconds"),
        },
        ["log"] => println!("log level: {}", level_name(logger::level())),
        ["log", level] => match logger::parse_level(level) {
            Some(level) => {
                logger::set_level(level);
                println!("log level: {}", level_name(level));
            }
            None => println!("log: `{level}` is not off, error, warn, info, debug or trace"),
        },
        ["trace", what] => trace(what),
        ["poweroff"] => {
            println!("powering off");
            qemu::exit(qemu::ExitCode::Success);
        }
        ["exit" | "quit"] => return Flow::Quit,
        [command, ..] => println!("unknown command `{command}` (or wrong arguments); type `help`"),
    }
    Flow::Continue
}

fn ps() {
    println!("{THREAD_HEADER}");
    thread::threads()
        .iter()
        .for_each(|thread| println!("{}", ThreadRow(thread)));
    println!("{TASK_HEADER}");
    executor::tasks()
        .iter()
        .for_each(|task| println!("{}", TaskRow(task)));
}

/// `debug`, as typed, rather than the `log` crate's `DEBUG`.
fn level_name(level: log::LevelFilter) -> String {
    level.as_str().to_ascii_lowercase()
}

fn trace(what: &str) {
    match what {
        "on" => match tracing::start() {
            Ok(()) => println!("tracing"),
            Err(error) => println!("trace: {error}"),
        },
        "off" => {
            tracing::stop();
            println!("tracing stopped (`trace dump` streams what was recorded)");
        }
        "dump" => println!("trace: streamed {} records", tracing::dump()),
        other => println!("trace: `{other}`: on, off or dump"),
    }
}

fn spawn_demo(what: &str, spawner: &Spawner) {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    match what {
        "thread" => {
            let name = format!("demo-thread-{number}");
            let spawned = Builder::new().name(name.clone()).spawn(move || {
                for round in 1..=5 {
                    thread::sleep(Duration::from_millis(200));
                    println!("{name}: {round}/5");
                }
            });
            match spawned {
                Ok(_) => println!("spawned thread demo-thread-{number}"),
                Err(error) => println!("spawn failed: {error}"),
            }
        }
        "task" => {
            let name = format!("demo-task-{number}");
            let label = name.clone();
            let spawned = spawner.try_spawn_named(Some(name), async move {
                for round in 1..=5 {
                    executor::sleep(Duration::from_millis(200)).await;
                    println!("{label}: {round}/5");
                }
            });
            match spawned {
                Ok(_) => println!("spawned task demo-task-{number}"),
                Err(error) => println!("spawn failed: {error}"),
            }
        }
        other => println!("spawn: `{other}` is neither `thread` nor `task`"),
    }
}

/// A thread and a task (on the console's own executor) that panic: each panic is
/// contained, and what the thread's join handle and the task's handle yield is printed,
/// with the call chain. The console goes on: its executor only loses the task.
async fn spawn_panics(spawner: &Spawner) {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let thread = Builder::new()
        .name(format!("panic-thread-{number}"))
        .spawn(|| -> u32 { panic!("a deliberate panic in a thread") });
    let task = spawner.try_spawn_named(Some(format!("panic-task-{number}")), async {
        executor::yield_now().await;
        panic!("a deliberate panic in a task")
    });
    match thread {
        Ok(thread) => match thread.join_async().await {
            Ok(_) => println!("thread joined: Ok"),
            Err(thread::JoinError::Panicked(report)) => {
                println!(
                    "thread joined: Err(Panicked): {report}\n{}",
                    report.backtrace()
                )
            }
            Err(error) => println!("thread joined: Err({error})"),
        },
        Err(error) => println!("spawn failed: {error}"),
    }
    match task {
        Ok(task) => match task.await {
            Ok(_) => println!("task joined: Ok"),
            Err(executor::TaskError::Panicked(report)) => {
                println!(
                    "task joined: Err(Panicked): {report}\n{}",
                    report.backtrace()
                )
            }
            Err(error) => println!("task joined: Err({error})"),
        },
        Err(error) => println!("spawn failed: {error}"),
    }
}

async fn sleep(millis: u64) {
    let start = time::now();
    executor::sleep(Duration::from_millis(millis)).await;
    println!("slept {:?}", start.elapsed());
}

/// Thread yield ping-pong and async yield ping-pong, in TSC ticks per switch, each
/// measured on a thread of its own (so the console's executor is not blocked).
async fn bench() {
    match (
        executor::try_spawn_blocking(thread_switch_ticks),
        executor::try_spawn_blocking(task_switch_ticks),
    ) {
        (Ok(threads), Ok(tasks)) => {
            let (threads, tasks) = (threads.await.unwrap_or(0), tasks.await.unwrap_or(0));
            println!(
                "thread yield switch: {threads} TSC ticks; async task yield switch: {tasks} TSC ticks"
            );
            println!(
                "(under TCG the TSC follows host time; see BENCHMARKS.md for the real benchmarks)"
            );
        }
        _ => println!("bench: cannot spawn the benchmark threads"),
    }
}

const BENCH_ROUNDS: u64 = 5_000;

fn thread_switch_ticks() -> u64 {
    let partner = thread::spawn(|| (0..BENCH_ROUNDS).for_each(|_| thread::yield_now()));
    let start = arch::tsc::read();
    (0..BENCH_ROUNDS).for_each(|_| thread::yield_now());
    let ticks = arch::tsc::read() - start;
    partner.join();
    ticks / (2 * BENCH_ROUNDS)
}

fn task_switch_ticks() -> u64 {
    let executor = executor::Executor::new("bench", 4);
    let tasks: Vec<_> = (0..2)
        .filter_map(|_| {
            executor
                .try_spawn(async {
                    for _ in 0..BENCH_ROUNDS {
                        executor::yield_now().await;
                    }
                })
                .ok()
        })
        .collect();
    let start = arch::tsc::read();
    executor.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    (arch::tsc::read() - start) / (2 * BENCH_ROUNDS)
}

fn stats() {
    let interrupts: u64 = (32..=255u8).map(arch::trap_count).sum();
    let usage = mm::usage();
    let heap = mm::heap::stats();
    let serial = input::serial::stats();
    let keyboard = input::keyboard::stats();
    let locks = mm::lock_contention();
    let lines: [(&str, String); 13] = [
        ("uptime", format!("{:?}", time::uptime())),
        (
            "CPUs",
            format!(
                "{} (this is CPU {})",
                thread::cpu_count(),
                thread::current_cpu()
            ),
        ),
        (
            "timer",
            format!(
                "{}, {} Hz slice ticks, idle poll {:?}",
                match arch::timer::source().is_some_and(|source| source.is_one_shot()) {
                    true => "tickless (one-shot local APIC timer)",
                    false => "periodic (PIT)",
                },
                thread::tick_hz(),
                thread::idle_poll()
            ),
        ),
        (
            "timer interrupts",
            format!("{}", thread::timer_interrupts()),
        ),
        ("thread switches", format!("{}", thread::switch_count())),
        ("thread wake-ups", format!("{}", thread::wake_count())),
        ("interrupts", format!("{interrupts}")),
        (
            "contained panics",
            format!("{}", thread::contained_panics()),
        ),
        (
            "threads / tasks",
            format!("{} / {}", thread::thread_count(), executor::tasks().len()),
        ),
        (
            "memory in use",
            format!(
                "{} KiB in {} allocations",
                usage.bytes >> 10,
                usage.allocations
            ),
        ),
        ("heap free", format!("{} KiB", heap.available_bytes >> 10)),
        (
            "lock waits",
            format!(
                "heap {}, page tables {}, stack caches {}, small-block caches {}, stack slots {}, \
                 thread table {}",
                locks.heap,
                locks.page_tables,
                locks.stack_cache,
                locks.small_blocks,
                locks.stack_slots,
                thread::table_contention()
            ),
        ),
        (
            "input",
            format!(
                "serial {} bytes ({} dropped), keyboard {} scancodes",
                serial.received, serial.dropped, keyboard.received
            ),
        ),
    ];
    for (label, value) in lines {
        println!("{label:>16}: {value}");
    }
    println!("{CPU_HEADER}");
    for cpu in thread::cpu_stats() {
        println!("{}", CpuRow(&cpu));
    }
}
