//! The default Spindle kernel: what `cargo run` boots.
//!
//! It shows the scheduler at work: two CPU-bound threads that never yield and still
//! interleave (the timer preempts them), a thread that sleeps between lines, and threads
//! sharing a mutex; then it prints the thread listing and idles.
//!
//! Built for `x86_64-unknown-none` only. On the host this file compiles to a stub so that
//! workspace-wide host commands (`cargo build --workspace`, `cargo clippy --workspace`)
//! never try to link a bare-metal kernel.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
bootloader_api::entry_point!(kernel_main, config = &kernel::BOOTLOADER_CONFIG);

#[cfg(target_os = "none")]
fn kernel_main(boot_info: &'static mut bootloader_api::BootInfo) -> ! {
    kernel::init(boot_info);
    kernel::println!("Spindle {} is up.", env!("CARGO_PKG_VERSION"));
    demo::run();
    log::info!("main loop reached: idling until an interrupt arrives (Ctrl-C quits QEMU)");
    loop {
        kernel::task::park();
    }
}

#[cfg(target_os = "none")]
mod demo {
    use alloc::{sync::Arc, vec::Vec};
    use core::time::Duration;

    use kernel::{
        println,
        sync::Mutex,
        task::{self, Builder, JoinHandle, ThreadInfo},
        time,
    };

    /// Starts the demo threads, waits for them, and prints the thread listing.
    pub(crate) fn run() {
        let mut threads: Vec<JoinHandle<()>> = ["counter-a", "counter-b"]
            .into_iter()
            .map(|name| {
                Builder::new()
                    .name(name)
                    .spawn(move || count_without_yielding(name))
                    .unwrap()
            })
            .collect();
        threads.push(Builder::new().name("sleeper").spawn(sleeper).unwrap());
        let shared = Arc::new(Mutex::new(0u64));
        for user in 0..3 {
            let shared = Arc::clone(&shared);
            threads.push(
                Builder::new()
                    .name(alloc::format!("mutex-user-{user}"))
                    .spawn(move || add_under_mutex(user, &shared))
                    .unwrap(),
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

    /// Counts for a while, reporting every 250 ms, never yielding: only preemption lets
    /// the other counter (and everything else) run.
    fn count_without_yielding(name: &str) {
        let start = time::now();
        let mut next_report = start + Duration::from_millis(250);
        let mut count = 0u64;
        while start.elapsed() < Duration::from_millis(1500) {
            count += 1;
            if time::now() >= next_report {
                println!(
                    "{name}: {count} iterations, {} preemptions so far",
                    task::current().info().switches
                );
                next_report = next_report + Duration::from_millis(250);
            }
        }
    }

    fn sleeper() {
        for round in 1..=5 {
            task::sleep(Duration::from_millis(300));
            println!("sleeper: woke up ({round}/5) at {:?}", time::uptime());
        }
    }

    fn add_under_mutex(user: u32, shared: &Mutex<u64>) {
        for _ in 0..1000 {
            *shared.lock() += 1;
            task::yield_now();
        }
        println!("mutex-user-{user}: done");
    }

    fn print_threads() {
        println!("{}", ThreadInfo::HEADER);
        task::threads().iter().for_each(|info| println!("{info}"));
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the Spindle kernel only runs under QEMU: use `cargo run` at the workspace root");
    std::process::exit(2);
}
