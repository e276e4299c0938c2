//! `cargo run`: build the Spindle kernel (or take `--kernel`), image it and
//! boot it in QEMU with the serial port on this terminal. `--help` has the
//! options and the exit statuses.

mod cli;
mod outcome;
mod trace;
mod workspace;

use std::{
    env,
    io::{self, IsTerminal},
    path::Path,
    process::Command,
};

use boot_image::{
    KvmUnavailable, Outcome, QemuOptions, build_image, image_path, run_forwarding, run_interactive,
};
use clap::Parser;

use crate::{
    cli::Args,
    outcome::{SETUP_ERROR, exit_status},
    trace::TraceFiles,
    workspace::Workspace,
};

fn main() {
    let args = Args::parse();
    std::process::exit(run(&args));
}

/// Boots as `args` ask, writes the trace if one was asked for, and returns the exit
/// status (the table in `--help`; `trace::TraceFiles::finish` for the trace's part).
fn run(args: &Args) -> i32 {
    let trace = match args.trace.as_deref().map(TraceFiles::for_file).transpose() {
        Ok(trace) => trace,
        Err(err) => return setup_error(&err),
    };
    let status = match boot(args, trace.as_ref()) {
        Ok(outcome) => {
            if outcome != Outcome::Success {
                eprintln!("spindle: {}", outcome.describe());
            }
            exit_status(&outcome)
        }
        Err(err) => return setup_error(&err),
    };
    match trace {
        Some(files) => files.finish(status),
        None => status,
    }
}

fn setup_error(err: &anyhow::Error) -> i32 {
    eprintln!("spindle: error: {err:#}");
    SETUP_ERROR
}

/// Everything from building the kernel to QEMU's exit; with `trace`, the kernel is
/// built to record its schedule and QEMU writes the stream to `trace.stream`.
fn boot(args: &Args, trace: Option<&TraceFiles>) -> anyhow::Result<Outcome> {
    let mut opts = args.qemu_options();
    // Before the build: a machine QEMU or the bootloader cannot run is
    // refused at once, not after minutes of compiling.
    opts.validate()?;
    if trace.is_some() {
        trace::check_qemu_args(&opts.extra_args)?;
    }
    let workspace = Workspace::locate()?;
    let kernel = match &args.kernel {
        Some(kernel) => kernel.clone(),
        None => workspace.build_kernel(args.release, trace.is_some())?,
    };
    let image = image_path(&workspace.images_dir(), &kernel, opts.firmware);
    build_image(&kernel, opts.firmware, &image)?;
    if let Some(files) = trace {
        files.clear_stream()?;
        opts.debugcon = Some(files.stream.clone());
    }
    let command = qemu_command(&image, &mut opts)?;
    eprintln!(
        "spindle: booting {} ({})",
        shown(&kernel),
        machine_summary(&opts)
    );
    if opts.gdb {
        eprintln!(
            "spindle: QEMU waits for a debugger on tcp::1234; attach with: {}",
            // Absolute: the command works from any directory (`x run` changes it).
            gdb_command(
                &kernel
                    .canonicalize()
                    .unwrap_or_else(|_| kernel.clone())
                    .display()
                    .to_string()
            )
        );
    }
    if io::stdin().is_terminal() {
        if trace.is_some() {
            eprintln!(
                "spindle: recording the schedule trace: end with `poweroff` to keep it \
                 (Ctrl-C stops QEMU before the kernel streams it)"
            );
        }
        run_interactive(command, args.timeout())
    } else {
        // Scripted input (`printf 'ps\npoweroff\n' | cargo run`): held back until the
        // console shows its prompt, so firmware and the kernel's UART set-up eat none of it.
        run_forwarding(command, args.timeout(), CONSOLE_PROMPT)
    }
}

/// What the default kernel's console prints when it is ready for a command
/// (`spindle::console::PROMPT`).
const CONSOLE_PROMPT: &str = "spindle> ";

/// The QEMU command; when KVM was asked for but is unusable, says why on
/// one line and falls back to TCG (`opts.kvm` is cleared).
fn qemu_command(image: &Path, opts: &mut QemuOptions) -> anyhow::Result<Command> {
    match boot_image::command(image, opts) {
        Err(err) if err.downcast_ref::<KvmUnavailable>().is_some() => {
            eprintln!("spindle: note: {err}; falling back to TCG");
            opts.kvm = false;
            boot_image::command(image, opts)
        }
        other => other,
    }
}

/// Where the bootloader loads Spindle's kernel image, above its link addresses:
/// `spindle::boot::KERNEL_LOAD_OFFSET`, which `BOOTLOADER_CONFIG` fixes.
const KERNEL_LOAD_OFFSET: u64 = 0x100_0000_0000;

/// The gdb command line that attaches to QEMU with `kernel`'s symbols where the kernel
/// runs (it is position-independent and loaded [`KERNEL_LOAD_OFFSET`] higher, so `gdb
/// KERNEL` alone would put every breakpoint at an unmapped address).
fn gdb_command(kernel: &str) -> String {
    format!(
        "gdb -ex 'add-symbol-file {kernel} -o {KERNEL_LOAD_OFFSET:#x}' -ex 'target remote :1234'"
    )
}

/// E.g. `uefi, TCG, 1 CPU, 256M`.
fn machine_summary(opts: &QemuOptions) -> String {
    let accel = if opts.kvm { "KVM" } else { "TCG" };
    let cpus = if opts.smp == 1 { "CPU" } else { "CPUs" };
    format!(
        "{}, {accel}, {} {cpus}, {}",
        opts.firmware, opts.smp, opts.memory
    )
}

/// `path` relative to the current directory when it lies below it.
fn shown(path: &Path) -> String {
    let cwd = env::current_dir().unwrap_or_default();
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_the_machine() {
        assert_eq!(
            machine_summary(&QemuOptions::default()),
            "uefi, TCG, 1 CPU, 256M"
        );
        let opts = QemuOptions {
            smp: 4,
            kvm: true,
            ..QemuOptions::default()
        };
        assert_eq!(machine_summary(&opts), "uefi, KVM, 4 CPUs, 256M");
    }

    #[test]
    fn the_gdb_hint_places_symbols_at_the_load_address() {
        assert_eq!(
            gdb_command("target/k"),
            "gdb -ex 'add-symbol-file target/k -o 0x10000000000' -ex 'target remote :1234'"
        );
    }

    #[test]
    fn the_load_offset_is_the_kernels() {
        let boot = include_str!("../../kernel/src/boot.rs");
        let declared = "pub const KERNEL_LOAD_OFFSET: u64 = 0x100_0000_0000;";
        assert!(
            boot.contains(declared),
            "kernel/src/boot.rs: `{declared}` changed?"
        );
        assert_eq!(KERNEL_LOAD_OFFSET, 0x100_0000_0000);
    }

    #[test]
    fn shows_paths_below_the_current_directory_relatively() {
        let cwd = env::current_dir().unwrap();
        assert_eq!(shown(&cwd.join("target/k")), "target/k");
        assert_eq!(shown(Path::new("/elsewhere/k")), "/elsewhere/k");
    }
}
