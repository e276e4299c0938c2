//! The `demo` command: the scheduler at work. Two CPU-bound threads that never yield
//! still interleave (the timer preempts them), a thread sleeps between lines, and three
//! threads share a mutex; the thread listing is printed before and after.

use alloc::{sync::Arc, vec::Vec};
use core::time::Duration;

use spindle::{
    println,
    sync::Mutex,
    thread::{self, Builder, JoinHandle},
    time,
};

use super::listing::{THREAD_HEADER, ThreadRow};

/// Runs the demo; blocks the calling thread until every demo thread finished.
pub(super) fn run() {
    spindle::tracing::mark("demo starts");
    let mut threads: Vec<JoinHandle<()>> = ["counter-a", "counter-b"]
        .into_iter()
        .filter_map(|name| {
            Builder::new()
                .name(name)
                .spawn(move || count_without_yielding(name))
                .ok()
        })
        .collect();
    threads.extend(Builder::new().name("sleeper").spawn(sleeper).ok());
    let shared = Arc::new(Mutex::new(0u64));
    for user in 0..3 {
        let shared = Arc::clone(&shared);
        let name = alloc::format!("mutex-user-{user}");
        threads.extend(
            Builder::new()
                .name(name)
                .spawn(move || add_under_mutex(user, &shared))
                .ok(),
        );
    }
    print_threads();
    threads.into_iter().for_each(JoinHandle::join);
    println!(
        "demo: the mutex-protected total is {} (3 users x 1000)",
        *shared.lock()
    );
    print_threads();
}

/// Counts for 1.5 s, reporting every 250 ms, never yielding: only preemption lets the
/// other counter (and everything else) run.
fn count_without_yielding(name: &str) {
    let start = time::now();
    let mut next_report = start + Duration::from_millis(250);
    let mut count = 0u64;
    while start.elapsed() < Duration::from_millis(1500) {
        count += 1;
        if time::now() >= next_report {
            let switches = thread::current().info().switches;
            println!("{name}: {count} iterations, switched in {switches} times so far");
            next_report = next_report + Duration::from_millis(250);
        }
    }
}

fn sleeper() {
    for round in 1..=5 {
        thread::sleep(Duration::from_millis(300));
        println!("sleeper: woke up ({round}/5) at {:?}", time::uptime());
    }
}

fn add_under_mutex(user: u32, shared: &Mutex<u64>) {
    for _ in 0..1000 {
        *shared.lock() += 1;
        thread::yield_now();
    }
    println!("mutex-user-{user}: done");
}

fn print_threads() {
    println!("{THREAD_HEADER}");
    thread::threads()
        .iter()
        .for_each(|info| println!("{}", ThreadRow(info)));
}
