//! The default kernel's serial console (`kernel/src/console`, compiled into this kernel),
//! driven by typed keys. Each edited line must run as the command it became, which the
//! expected outputs check: text that only that command prints, never the typed echo.
// Left, Delete: `pq` becomes `ps`.
//@ serial-input: pq\x1b[D\x1b[3~s\n
//@ expect-output: NAME              STATE     PRIO
// Ctrl-W deletes `foo`; then Up recalls the line and runs it again.
//@ serial-input: spawn foo\x17task\n\x1b[A\n
//@ expect-output: spawned task demo-task-1
//@ expect-output: spawned task demo-task-2
// An unknown sequence (F5) is swallowed whole.
//@ serial-input: sta\x1b[15~ts\n
//@ expect-output: thread switches:
// Ctrl-C abandons the line: were it run, QEMU would stop before this case passed.
//@ serial-input: poweroff\x03\n
//@ expect-output: spindle> poweroff^C
// Ctrl-U, then Backspace as 0x7f and 0x08.
//@ serial-input: bogus\x15helq\x7fp\n
//@ expect-output: this list
// Home (CSI and SS3), End; the sleep also outlasts the demo tasks.
//@ serial-input: eep 1200\x1b[Hl\x1bOHs\x1b[F\x08\x0800\n
//@ expect-output: slept 1.2
// A line past the limit is refused whole at Enter.
//@ serial-input: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n
//@ expect-output: line too long (max 200 characters): discarded
// The log level, raised at run time: the spawn is then logged at debug level.
//@ serial-input: log debug\nspawn thread\nlog loud\nlog info\nlog\n
//@ expect-output: log level: debug
//@ expect-output: 'demo-thread-3' spawned by thread
//@ expect-output: log: `loud` is not off, error, warn, info, debug or trace
//@ expect-output: log level: info
// A thread and a task that panic: their handles' reports with their backtraces, both
// panics contained and counted; the prompt comes back.
//@ serial-input: spawn panic\nstats\n
//@ expect-output: thread joined: Err(Panicked): thread
//@ expect-output: 'panic-thread-1' panicked at
//@ expect-output: : a deliberate panic in a thread
//@ expect-output: task joined: Err(Panicked): task
//@ expect-output: 'panic-task-1' of executor 'console' on thread
//@ expect-output: : a deliberate panic in a task
//@ expect-output: console/commands.rs:
//@ expect-output: spindle::task::thread::spawn::thread_entry::<…>+
//@ expect-output: as spindle::task::executor::cell::Run<…>>::poll+
//@ expect-output: contained panics: 2
//@ serial-input: exit\n
#![no_std]
#![no_main]

extern crate alloc;

#[path = "../../../../kernel/src/console/mod.rs"]
mod console;

use spindle::executor::Executor;

spindle_test::test_kernel!(the_console_runs_edited_commands);

/// Runs the console as the default kernel does, until the typed `exit`.
fn the_console_runs_edited_commands() {
    spindle_test::expect_contained_panics(2); // `spawn panic`
    let executor = Executor::new("console", 64);
    executor.block_on(console::run(executor.spawner()));
}
