//! A CPU exception in a thread's own code (a division by zero, a read of an unmapped or a
//! non-canonical address, an invalid instruction) becomes a panic of that thread,
//! contained like any other: the frames above the faulting function unwind (destructors
//! run, the Spindle locks they hold are released), the thread ends, its handle has a
//! report naming the exception and the function, and everything else runs on. The same
//! in an async task: the task ends, its executor goes on.
//@ smp: 1 4
#![no_std]
#![no_main]
#![feature(core_intrinsics)]
#![allow(internal_features)]

extern crate alloc;

use alloc::format;
use core::{
    hint::black_box,
    sync::atomic::{AtomicU32, Ordering},
};

use spindle::{
    executor::{self, ExecutorThread, TaskError},
    mm::paging,
    sync::Mutex,
    thread::{self, Builder, JoinError, PanicReport},
};
use x86_64::VirtAddr;

spindle_test::test_kernel!(
    a_thread_dividing_by_zero_ends_alone,
    a_thread_reading_an_unmapped_address_ends_alone,
    a_thread_executing_ud2_ends_alone,
    a_thread_reading_a_non_canonical_address_ends_alone,
    a_faulting_task_ends_alone_beside_its_sibling,
    the_faults_leave_the_machine_running,
);

/// Unmapped: the page-fault test checks it is.
const UNMAPPED: u64 = 0x0dea_dbee_f000;
/// Not canonical (bits 63..47 differ): any access is a general-protection fault.
const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;

static LOCK: Mutex<u32> = Mutex::new(0);
static DROPPED: AtomicU32 = AtomicU32::new(0);

struct Dropper;

impl Drop for Dropper {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Divides by a zero the compiler cannot see: Rust checks a division it can (and panics),
/// so only the intrinsic reaches the CPU's `div`, which raises #DE.
#[inline(never)]
fn divide(dividend: u64, divisor: u64) -> u64 {
    // SAFETY: none: the division by zero is the point of the test, and the CPU's divide
    // error stops this function before the result would exist.
    unsafe { core::intrinsics::unchecked_div(dividend, divisor) }
}

#[inline(never)]
fn read(address: u64) -> u64 {
    // SAFETY: none: the address is unmapped or non-canonical on purpose, and the fault
    // stops this function before the read completes.
    unsafe { (address as *const u64).read_volatile() }
}

/// `ud2`: what the compiler emits for the abort intrinsic (`llvm.trap`).
#[inline(never)]
fn invalid_instruction() -> u64 {
    core::intrinsics::abort()
}

/// Holds the lock and a value to drop while `fault` faults two frames down.
#[inline(never)]
fn holding_a_lock_and_a_value(fault: fn() -> u64) -> u64 {
    let mut held = LOCK.lock(); // released by the unwinding
    *held += 1;
    let _dropper = Dropper; // dropped by the unwinding
    black_box(fault()) + *held as u64
}

/// Runs `fault` on a thread of its own; returns the panic report its handle gives, after
/// checking that the frames above the faulting function unwound.
fn report_of(fault: fn() -> u64) -> PanicReport {
    spindle_test::expect_contained_panics(1);
    let dropped = DROPPED.load(Ordering::SeqCst);
    let handle = Builder::new()
        .name("faulty")
        .spawn(move || holding_a_lock_and_a_value(fault))
        .unwrap();
    let report = match handle.try_join() {
        Err(JoinError::Panicked(report)) => report,
        other => panic!("expected the fault to end the thread by panic, got {other:?}"),
    };
    assert_eq!(report.thread_name(), "faulty");
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        dropped + 1,
        "the value was dropped"
    );
    assert!(LOCK.try_lock().is_some(), "the lock was released");
    report
}

/// The report's message starts with `exception` and names `function` (the faulting one),
/// and its backtrace goes from the fault's panic through the faulting instruction to the
/// thread's entry.
#[track_caller]
fn assert_names(report: &PanicReport, exception: &str, function: &str) {
    let message = report.message();
    assert!(message.starts_with(exception), "{message}");
    assert!(message.contains(&format!(" in {function}+0x")), "{message}");
    let backtrace = format!("{}", report.backtrace());
    let mut rest = backtrace.as_str();
    for frame in [
        "spindle::arch::x86_64::fault::raise+",
        "spindle_fault_stub+",
        &format!("{function}+"),
        "(trapped here)",
        "fault_containment::holding_a_lock_and_a_value+",
        "spindle::task::thread::spawn::thread_entry::<…>+",
    ] {
        match rest.find(frame) {
            Some(at) => rest = &rest[at + frame.len()..],
            None => panic!("no {frame} (after the frames before it) in\n{backtrace}"),
        }
    }
}

fn a_thread_dividing_by_zero_ends_alone() {
    let report = report_of(|| divide(black_box(7), black_box(0)));
    assert_names(
        &report,
        "Divide Error (#DE) at 0x",
        "fault_containment::divide",
    );
}

fn a_thread_reading_an_unmapped_address_ends_alone() {
    assert_eq!(paging::translate(VirtAddr::new(UNMAPPED)), None);
    let report = report_of(|| read(black_box(UNMAPPED)));
    assert_names(&report, "Page Fault (#PF) at 0x", "fault_containment::read");
    spindle::println!("contained: {report}\n{}", report.backtrace());
    assert!(
        report
            .message()
            .ends_with(": read, page not present, kernel mode, address 0xdeadbeef000"),
        "{}",
        report.message()
    );
}

fn a_thread_executing_ud2_ends_alone() {
    let report = report_of(invalid_instruction);
    assert_names(
        &report,
        "Invalid Opcode (#UD) at 0x",
        "fault_containment::invalid_instruction",
    );
}

fn a_thread_reading_a_non_canonical_address_ends_alone() {
    let report = report_of(|| read(black_box(NON_CANONICAL)));
    assert_names(
        &report,
        "General Protection (#GP) at 0x",
        "fault_containment::read",
    );
}

fn a_faulting_task_ends_alone_beside_its_sibling() {
    let tasks = ExecutorThread::start("faults", 8).unwrap();
    let spawner = tasks.spawner();
    spindle_test::expect_contained_panics(1);
    let faulty = spawner.spawn_named(Some("faulty".into()), async {
        executor::yield_now().await;
        read(black_box(UNMAPPED))
    });
    let sibling = spawner.spawn(async {
        for _ in 0..10 {
            executor::yield_now().await;
        }
        42
    });
    let report = match executor::block_on(faulty) {
        Err(TaskError::Panicked(report)) => report,
        other => panic!("expected the fault to end the task by panic, got {other:?}"),
    };
    assert!(report.message().starts_with("Page Fault (#PF)"), "{report}");
    assert!(
        report
            .task()
            .is_some_and(|task| task.ends_with("'faulty' of executor 'faults'")),
        "{report}"
    );
    assert_eq!(executor::block_on(sibling), Ok(42));
    assert_eq!(executor::block_on(spawner.spawn(async { 7 })), Ok(7));
    tasks.stop();
}

/// After all that, threads still start, run and are joined on every CPU.
fn the_faults_leave_the_machine_running() {
    let workers: alloc::vec::Vec<_> = (0..8u64)
        .map(|index| thread::spawn(move || index * 2))
        .collect();
    let sum: u64 = workers.into_iter().map(thread::JoinHandle::join).sum();
    assert_eq!(sum, 56);
}
