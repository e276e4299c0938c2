//! Host-side tooling shared by the runner, the QEMU test harness and the
//! benchmarks: building kernels, turning a kernel ELF into a bootable BIOS
//! or UEFI disk image, and booting that image in QEMU.
//!
//! A typical run builds kernels with [`build_kernels`], checks and images
//! one with [`build_image`], builds the QEMU command with [`command`], then
//! runs it with [`run_interactive`] or [`run_captured`] and reads the
//! [`Outcome`].

mod cargo;
mod directives;
mod elf;
mod image;
mod qemu;
mod staging;

pub use cargo::{
    KERNEL_BUILD_STD, KERNEL_RUSTFLAGS, KERNEL_TARGET, Profile, build_kernels, kernel_build_flags,
    target_dir,
};
pub use directives::for_each_directive;
pub use elf::check_kernel_elf;
pub use image::{Firmware, build_image, image_path};
pub use qemu::{
    Captured, Drive, Driver, EXIT_FAILURE_VALUE, EXIT_SUCCESS_VALUE, Hang, KvmUnavailable, Outcome,
    QemuOptions, SerialInput, TimeLimit, Usage, command, locate_qemu, machine_args,
    minimum_memory_mib, net_args, run_captured, run_driven, run_forwarding, run_interactive,
};
