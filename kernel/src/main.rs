//! The default Spindle kernel: what `cargo run` boots.
//!
//! Built for `x86_64-unknown-none` only. On the host this file compiles to a stub so that
//! workspace-wide host commands (`cargo build --workspace`, `cargo clippy --workspace`)
//! never try to link a bare-metal kernel.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
bootloader_api::entry_point!(kernel_main, config = &kernel::BOOTLOADER_CONFIG);

#[cfg(target_os = "none")]
fn kernel_main(boot_info: &'static mut bootloader_api::BootInfo) -> ! {
    kernel::init(boot_info);
    kernel::println!("Spindle {} is up.", env!("CARGO_PKG_VERSION"));
    log::info!("main loop reached: idling until an interrupt arrives (Ctrl-C quits QEMU)");
    kernel::arch::cpu::idle_forever()
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the Spindle kernel only runs under QEMU: use `cargo run` at the workspace root");
    std::process::exit(2);
}
