//! The QEMU command line for booting a Spindle disk image.

use std::{
    ffi::OsString,
    os::unix::ffi::{OsStrExt, OsStringExt},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context;

use super::{
    QemuOptions,
    locate::{Ovmf, check_kvm, locate_ovmf, locate_qemu},
};
use crate::{image::Firmware, staging::staging_file};

/// Builds (without running) the QEMU command that boots `image`.
///
/// Fails when QEMU, or OVMF for a UEFI image, cannot be found, when the
/// options are invalid, and, with `kvm`, when `/dev/kvm` cannot be opened
/// read-write: that error is a [`super::KvmUnavailable`], so a caller can
/// retry without KVM. For a split OVMF install, a fresh copy of the UEFI
/// variable store is written next to `image` on every call.
pub fn command(image: &Path, opts: &QemuOptions) -> anyhow::Result<Command> {
    opts.validate()?;
    let qemu = locate_qemu()?;
    if opts.kvm {
        check_kvm()?;
    }
    let firmware = match opts.firmware {
        Firmware::Bios => Vec::new(),
        Firmware::Uefi => ovmf_args(image, locate_ovmf()?)?,
    };
    let mut command = Command::new(qemu);
    command.args(args(image, opts, firmware));
    Ok(command)
}

/// How the disk image is attached: as a virtio-blk disk rather than QEMU's
/// default IDE disk. SeaBIOS reads an IDE disk by PIO, one 512-byte sector
/// per request, and each request is a round trip between QEMU's vCPU thread
/// and its I/O threads; on a busy host every round trip waits milliseconds
/// for a CPU, which stretched BIOS boots to minutes. Over virtio the
/// firmware asks for a whole read at once (70 requests instead of 2,000
/// for a test kernel's image). OVMF boots from virtio-blk as well, and no
/// Spindle kernel touches the disk. Read-only because nothing writes it,
/// and so that two runs (two test suites in one target directory) can boot
/// the same image at once: QEMU refuses a second writer ("Failed to get
/// "write" lock").
const DISK: &str = "if=virtio,format=raw,readonly=on,file=";

/// QEMU's arguments: machine, devices and optional behaviour, then the
/// firmware and the disk, then the caller's extras (last, so that where a
/// later option wins in QEMU, theirs do).
fn args(image: &Path, opts: &QemuOptions, firmware: Vec<OsString>) -> Vec<OsString> {
    let mut args = machine_args(opts);
    args.extend(firmware);
    args.extend(["-drive".into(), drive(DISK, image)]);
    args.extend(opts.extra_args.iter().map(OsString::from));
    args
}

/// The machine `opts` describe, without a way in (firmware and disk) and without the
/// caller's extra arguments: CPU model and accelerator, CPUs and memory, devices, the
/// serial port on stdio, the debug-exit device, and the optional display, icount, gdb
/// stub and debug console. What boots something else on the same machine (the Linux
/// benchmark, with `-kernel`) starts from this.
pub fn machine_args(opts: &QemuOptions) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |list: &[&str]| args.extend(list.iter().map(OsString::from));
    push(if opts.kvm {
        &["-enable-kvm", "-cpu", "host"]
    } else {
        &["-cpu", "max"]
    });
    push(accel(opts));
    push(&["-smp", &opts.smp.to_string(), "-m", &opts.memory]);
    push(DEVICES);
    push(&["-serial", "stdio", "-monitor", "none", "-no-reboot"]);
    push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    if !opts.display {
        push(&["-display", "none"]);
    }
    if opts.icount {
        push(ICOUNT);
    }
    if opts.gdb {
        push(&["-s", "-S"]);
    }
    if let Some(path) = &opts.debugcon {
        args.extend(debugcon_args(path));
    }
    if let Some(port) = opts.net {
        args.extend(net_args(port, !opts.net_unrestricted));
    }
    args
}

/// A virtio network card (modern only: `disable-legacy=on`) on QEMU's user network
/// (slirp), the guest at 10.0.2.15 behind 10.0.2.2. The host's TCP port `port` is
/// forwarded to the guest's port 80 and its UDP port `port` to the guest's port 7,
/// bound to 127.0.0.1 only: an empty host address would listen on every interface.
/// `restrict` (`restrict=on`) keeps the guest inside: it reaches nothing beyond QEMU's
/// 10.0.2.x (connections forwarded in still work), but its UDP datagrams are all dropped,
/// answers included (see [`QemuOptions::net_unrestricted`]).
pub fn net_args(port: u16, restrict: bool) -> Vec<OsString> {
    let restrict = if restrict { ",restrict=on" } else { "" };
    let netdev = format!(
        "user,id=net0{restrict},hostfwd=tcp:127.0.0.1:{port}-:80,hostfwd=udp:127.0.0.1:{port}-:7"
    );
    [
        "-netdev",
        &netdev,
        "-device",
        "virtio-net-pci,netdev=net0,disable-legacy=on",
    ]
    .map(OsString::from)
    .to_vec()
}

/// The machine's devices are the ones named here, not QEMU's defaults: those add an
/// empty IDE CD-ROM drive, which OVMF tries to boot first on every boot and reports as
/// `BdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM QM00003 " ...: Not Found`, a line
/// that reads like an error in every UEFI transcript, and a network card nothing uses.
/// The VGA card stays: the BIOS bootloader stops without one (and `--display` shows it).
/// The PS/2 controller, the PIT, the PIC and the APICs are part of the machine itself.
const DEVICES: &[&str] = &["-nodefaults", "-vga", "std"];

/// `-icount shift=0`: the guest clock advances one nanosecond per
/// instruction, so guest timings do not depend on the host. `sleep=off`:
/// when every CPU halts waiting for a timer, the clock jumps to that timer
/// at once instead of QEMU sleeping in real time until it is due, so an
/// idle guest costs no wall-clock time and what it does next does not
/// depend on how long the host took to get there.
const ICOUNT: &[&str] = &["-icount", "shift=0,sleep=off"];

/// The accelerator: multi-threaded TCG when several emulated CPUs can run
/// in parallel, one host thread each; QEMU's default for x86 is one thread
/// taking turns between them, which hides real concurrency from an SMP
/// kernel. Not with KVM (the CPUs are hardware threads already) nor icount
/// (QEMU refuses to count instructions across threads), nor when the caller's extra
/// arguments pick the accelerator (`-accel tcg,thread=single`, where the CPUs take turns
/// on one host thread): QEMU uses the first `-accel` that works, not the last.
fn accel(opts: &QemuOptions) -> &'static [&'static str] {
    let caller_picks = opts.extra_args.iter().any(|arg| picks_accel(arg));
    if opts.smp > 1 && !opts.kvm && !opts.icount && !caller_picks {
        &["-accel", "tcg,thread=multi"]
    } else {
        &[]
    }
}

/// Whether QEMU argument `arg` chooses an accelerator: `-accel`, `-accel=...`, or a
/// `-machine`/`-M` value naming `accel=` (its own argument: `accel=kvm`, `pc,accel=tcg`).
fn picks_accel(arg: &str) -> bool {
    let arg = arg.trim_start_matches('-');
    arg == "accel"
        || arg.starts_with("accel=")
        || arg.split(',').any(|option| option.starts_with("accel="))
}

/// The debug console device (port 0xE9, as the kernel's `arch::debugcon`
/// expects) writing to `path`. QEMU creates or truncates the file when it
/// starts. Spelled as a `-chardev` so that the path can be quoted (commas
/// doubled), which `-debugcon file:PATH` cannot.
fn debugcon_args(path: &Path) -> Vec<OsString> {
    vec![
        "-chardev".into(),
        drive("file,id=debugcon,path=", path),
        "-device".into(),
        "isa-debugcon,iobase=0xe9,chardev=debugcon".into(),
    ]
}

/// Arguments loading OVMF; for the split layout, copies the variable store.
fn ovmf_args(image: &Path, ovmf: Ovmf) -> anyhow::Result<Vec<OsString>> {
    match ovmf {
        Ovmf::Single(path) => Ok(vec!["-bios".into(), path.into()]),
        Ovmf::Split { code, vars } => {
            let copy = vars_copy_path(image);
            fresh_copy(&vars, &copy)?;
            Ok(pflash_args(&code, &copy))
        }
    }
}

/// Where the writable copy of OVMF's variable store for `image` lives.
fn vars_copy_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_owned();
    name.push(".ovmf-vars.fd");
    name.into()
}

/// Replaces `to` with a copy of `from`. Every boot starts from the pristine
/// store, so boot entries OVMF saved on an earlier run cannot change this
/// one.
fn fresh_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let staging = staging_file(to)?;
    std::fs::copy(from, staging.path())
        .with_context(|| format!("cannot copy {} next to the image", from.display()))?;
    staging
        .persist(to)
        .with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

/// OVMF code (read-only) and variable store as the machine's two flash chips.
fn pflash_args(code: &Path, vars: &Path) -> Vec<OsString> {
    vec![
        "-drive".into(),
        drive("if=pflash,format=raw,unit=0,readonly=on,file=", code),
        "-drive".into(),
        drive("if=pflash,format=raw,unit=1,file=", vars),
    ]
}

/// A `-drive` (or `-chardev`) value ending in `path`, with commas in the
/// path doubled as QEMU's option syntax requires.
fn drive(options: &str, path: &Path) -> OsString {
    let mut value = options.as_bytes().to_vec();
    for &byte in path.as_os_str().as_bytes() {
        value.push(byte);
        if byte == b',' {
            value.push(b',');
        }
    }
    OsString::from_vec(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(opts: &QemuOptions) -> Vec<String> {
        args(Path::new("/img/k.img"), opts, Vec::new())
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    fn contains(args: &[String], wanted: &[&str]) -> bool {
        args.windows(wanted.len()).any(|window| window == wanted)
    }

    #[test]
    fn default_machine_is_headless_tcg() {
        let args = args_of(&QemuOptions::default());
        for wanted in [
            &["-cpu", "max"][..],
            &["-smp", "1", "-m", "256M"],
            &["-drive", "if=virtio,format=raw,readonly=on,file=/img/k.img"],
            &["-nodefaults", "-vga", "std"],
            &["-serial", "stdio", "-monitor", "none", "-no-reboot"],
            &["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
            &["-display", "none"],
        ] {
            assert!(contains(&args, wanted), "{wanted:?} missing from {args:?}");
        }
        assert!(!args.iter().any(|arg| {
            ["-icount", "-s", "-S", "-enable-kvm", "-accel", "-chardev"].contains(&&**arg)
        }));
    }

    #[test]
    fn options_map_to_flags() {
        let opts = QemuOptions {
            smp: 4,
            memory: "1G".into(),
            icount: true,
            gdb: true,
            display: true,
            kvm: true,
            extra_args: vec!["-d".into(), "int".into()],
            ..QemuOptions::default()
        };
        let args = args_of(&opts);
        assert!(contains(&args, &["-enable-kvm", "-cpu", "host"]));
        assert!(contains(&args, &["-smp", "4", "-m", "1G"]));
        assert!(contains(&args, &["-icount", "shift=0,sleep=off"]));
        assert!(!args.contains(&"-accel".to_owned()), "KVM runs CPUs itself");
        assert!(contains(&args, &["-s", "-S"]));
        assert!(!args.contains(&"-display".to_owned()));
        assert!(args.ends_with(&["-d".to_owned(), "int".to_owned()]));
    }

    fn with_cpus(smp: u32) -> QemuOptions {
        QemuOptions {
            smp,
            ..QemuOptions::default()
        }
    }

    #[test]
    fn several_cpus_under_tcg_run_in_parallel() {
        let multi = ["-accel", "tcg,thread=multi"];
        assert!(contains(&args_of(&with_cpus(2)), &multi));
        assert!(!contains(&args_of(&with_cpus(1)), &multi));
        let icount = QemuOptions {
            icount: true,
            ..with_cpus(4)
        };
        let args = args_of(&icount);
        assert!(!args.contains(&"-accel".to_owned()), "{args:?}");
        assert!(contains(&args, &["-icount", "shift=0,sleep=off"]));
        let kvm = QemuOptions {
            kvm: true,
            ..with_cpus(4)
        };
        assert!(!args_of(&kvm).contains(&"-accel".to_owned()));
    }

    #[test]
    fn the_callers_accelerator_replaces_the_default() {
        let single = QemuOptions {
            extra_args: vec!["-accel".into(), "tcg,thread=single".into()],
            ..with_cpus(2)
        };
        let args = args_of(&single);
        assert_eq!(
            args.iter().filter(|arg| *arg == "-accel").count(),
            1,
            "{args:?}"
        );
        assert!(args.ends_with(&["-accel".to_owned(), "tcg,thread=single".to_owned()]));
    }

    #[test]
    fn every_spelling_of_an_accelerator_counts() {
        for spelling in [
            &["-accel=tcg,thread=single"][..],
            &["--accel", "tcg"],
            &["-machine", "accel=tcg"],
            &["-M", "pc,accel=tcg"],
        ] {
            let opts = QemuOptions {
                extra_args: spelling.iter().map(|arg| (*arg).into()).collect(),
                ..with_cpus(2)
            };
            let args = args_of(&opts);
            assert!(!args.contains(&"tcg,thread=multi".to_owned()), "{args:?}");
        }
    }

    #[test]
    fn net_forwards_the_loopback_port_to_the_guest() {
        assert!(!args_of(&QemuOptions::default()).contains(&"-netdev".to_owned()));
        let opts = QemuOptions {
            net: Some(8080),
            ..QemuOptions::default()
        };
        let args = args_of(&opts);
        assert!(contains(
            &args,
            &[
                "-netdev",
                "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:8080-:7",
                "-device",
                "virtio-net-pci,netdev=net0,disable-legacy=on",
            ]
        ));
        let open = QemuOptions {
            net_unrestricted: true,
            ..opts
        };
        assert!(args_of(&open).contains(
            &"user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:8080-:7".to_owned()
        ));
    }

    #[test]
    fn debugcon_writes_to_the_file_with_commas_quoted() {
        let opts = QemuOptions {
            debugcon: Some("/t,1/trace.bin".into()),
            ..QemuOptions::default()
        };
        let args = args_of(&opts);
        assert!(contains(
            &args,
            &[
                "-chardev",
                "file,id=debugcon,path=/t,,1/trace.bin",
                "-device",
                "isa-debugcon,iobase=0xe9,chardev=debugcon",
            ]
        ));
    }

    #[test]
    fn firmware_comes_before_the_disk() {
        let firmware = vec!["-bios".into(), "/ovmf.fd".into()];
        let args = args(Path::new("/k.img"), &QemuOptions::default(), firmware);
        let position = |wanted: &str| args.iter().position(|arg| arg == wanted).unwrap();
        assert!(position("-bios") < position("if=virtio,format=raw,readonly=on,file=/k.img"));
    }

    #[test]
    fn split_ovmf_maps_two_flash_chips() {
        let args = pflash_args(Path::new("/code.fd"), Path::new("/img/vars.fd"));
        assert_eq!(
            args[1],
            "if=pflash,format=raw,unit=0,readonly=on,file=/code.fd"
        );
        assert_eq!(args[3], "if=pflash,format=raw,unit=1,file=/img/vars.fd");
    }

    #[test]
    fn copies_the_variable_store_next_to_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let (code, vars) = (dir.path().join("code.fd"), dir.path().join("vars.fd"));
        std::fs::write(&vars, b"pristine").unwrap();
        let image = dir.path().join("k-uefi.img");
        ovmf_args(&image, Ovmf::Split { code, vars }).unwrap();
        let copy = dir.path().join("k-uefi.img.ovmf-vars.fd");
        assert_eq!(std::fs::read(copy).unwrap(), b"pristine");
    }

    #[test]
    fn doubles_commas_in_drive_paths() {
        assert_eq!(drive("file=", Path::new("/a,b/k.img")), "file=/a,,b/k.img");
    }
}
