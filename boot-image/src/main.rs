//! `boot-image`: make disk images of a kernel ELF without booting them,
//! e.g. to boot them by hand or on another machine.

use std::{path::PathBuf, process::ExitCode};

use boot_image::{Firmware, build_image, image_path};
use clap::Parser;

/// Turn a kernel ELF into bootable disk images (BIOS and UEFI by default)
/// and print their paths.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The x86_64 kernel ELF to put on the images.
    kernel: PathBuf,
    /// Directory for the images [default: the kernel's directory].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Only make the BIOS (MBR) image.
    #[arg(long, conflicts_with = "uefi")]
    bios: bool,
    /// Only make the UEFI (GPT) image.
    #[arg(long)]
    uefi: bool,
}

impl Args {
    fn firmwares(&self) -> Vec<Firmware> {
        match (self.bios, self.uefi) {
            (true, _) => vec![Firmware::Bios],
            (_, true) => vec![Firmware::Uefi],
            _ => vec![Firmware::Bios, Firmware::Uefi],
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| args.kernel.parent().map(PathBuf::from).unwrap_or_default());
    for firmware in args.firmwares() {
        let out = image_path(&dir, &args.kernel, firmware);
        if let Err(err) = build_image(&args.kernel, firmware, &out) {
            eprintln!("boot-image: error: {err:#}");
            return ExitCode::FAILURE;
        }
        println!("{}", out.display());
    }
    ExitCode::SUCCESS
}
