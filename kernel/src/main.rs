//! The default Spindle kernel: what `cargo run` boots. It brings the machine up and runs
//! the serial console (`console/`, an application of this binary, not of the kernel
//! library) as an async task on the boot thread.
//!
//! Built for `x86_64-unknown-none` only. On the host this file compiles to a stub so that
//! workspace-wide host commands (`cargo build --workspace`, `cargo clippy --workspace`)
//! never try to link a bare-metal kernel.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod console;

#[cfg(target_os = "none")]
bootloader_api::entry_point!(kernel_main, config = &spindle::BOOTLOADER_CONFIG);

#[cfg(target_os = "none")]
fn kernel_main(boot_info: &'static mut bootloader_api::BootInfo) -> ! {
    spindle::init(boot_info);
    spindle::println!(
        "Spindle {} is up. Type `help` for commands.",
        env!("CARGO_PKG_VERSION")
    );
    let executor = spindle::executor::Executor::new("console", 64);
    executor.block_on(console::run(executor.spawner()));
    log::info!("console closed: idling (Ctrl-C quits QEMU)");
    loop {
        spindle::thread::park();
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the Spindle kernel only runs under QEMU: use `cargo run` at the workspace root");
    std::process::exit(2);
}
