//! Sanity check of a kernel file before it is put on a disk image.
//!
//! The bootloader accepts any file as "the kernel" and only fails at boot,
//! inside QEMU, with a message on the guest's serial port. Checking the ELF
//! header on the host turns the common mistakes (wrong path, a text file, a
//! kernel built for the host or another architecture) into one clear line
//! before anything is imaged or booted. The header is parsed by hand: only
//! four fields matter, which is less code than configuring an ELF crate.

use std::{fs::File, io, io::Read, path::Path};

use anyhow::{Context, bail};

/// Size of an ELF64 file header; e_machine lies within it.
const ELF64_HEADER_LEN: usize = 64;
const MAGIC: &[u8; 4] = b"\x7fELF";
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ELFDATA2MSB: u8 = 2;
const E_MACHINE: usize = 18;
const EM_X86_64: u16 = 62;

/// Refuses `path` unless it is a readable 64-bit x86_64 ELF file.
///
/// Each refusal is one line naming the path and what is wrong with it.
pub fn check_kernel_elf(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    let header = read_header(path)?;
    if header.len() < MAGIC.len() {
        bail!(
            "kernel {shown} is too short to be an ELF file ({} bytes)",
            header.len()
        );
    }
    if !header.starts_with(MAGIC) {
        bail!("kernel {shown} is not an ELF file (bad magic)");
    }
    match header.get(EI_CLASS) {
        Some(&ELFCLASS64) => {}
        Some(&ELFCLASS32) => bail!("kernel {shown} is a 32-bit ELF, not 64-bit"),
        _ => bail!("kernel {shown} is an ELF of unknown class, not 64-bit"),
    }
    if header.len() < ELF64_HEADER_LEN {
        bail!(
            "kernel {shown} is too short for an ELF64 header ({} of {ELF64_HEADER_LEN} bytes)",
            header.len()
        );
    }
    let machine = machine(&header);
    if machine != EM_X86_64 {
        bail!(
            "kernel {shown} is an ELF for {}, not x86_64",
            machine_name(machine)
        );
    }
    Ok(())
}

/// Reads at most the ELF64 header's worth of bytes from the start of `path`.
fn read_header(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = match File::open(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            bail!("kernel file not found: {}", path.display())
        }
        other => other,
    };
    let mut header = Vec::with_capacity(ELF64_HEADER_LEN);
    file.and_then(|file| file.take(ELF64_HEADER_LEN as u64).read_to_end(&mut header))
        .with_context(|| format!("cannot read kernel file {}", path.display()))?;
    Ok(header)
}

/// Decodes e_machine in the byte order the header declares, so that a
/// big-endian ELF is named correctly rather than as garbage.
fn machine(header: &[u8]) -> u16 {
    let bytes = [header[E_MACHINE], header[E_MACHINE + 1]];
    if header[EI_DATA] == ELFDATA2MSB {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    }
}

/// Human name of the architectures a stray ELF is most likely built for.
fn machine_name(machine: u16) -> String {
    let name = match machine {
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "S/390",
        40 => "ARM",
        43 => "SPARC V9",
        183 => "AArch64",
        243 => "RISC-V",
        258 => "LoongArch",
        other => return format!("machine {other:#x}"),
    };
    name.to_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use tempfile::TempDir;

    use super::*;

    /// An ELF64 little-endian header with the given e_machine.
    pub(crate) fn elf64(machine: u16) -> Vec<u8> {
        let mut bytes = vec![0; ELF64_HEADER_LEN];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[EI_CLASS] = ELFCLASS64;
        bytes[EI_DATA] = 1;
        bytes[E_MACHINE..E_MACHINE + 2].copy_from_slice(&machine.to_le_bytes());
        bytes
    }

    fn check_bytes(bytes: &[u8]) -> (TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernel");
        std::fs::write(&path, bytes).unwrap();
        let err = check_kernel_elf(&path).map_or_else(|e| format!("{e:#}"), |()| "ok".into());
        (dir, path, err)
    }

    #[test]
    fn accepts_the_running_test_binary() {
        check_kernel_elf(Path::new("/proc/self/exe")).unwrap();
    }

    #[test]
    fn accepts_a_minimal_x86_64_header() {
        assert_eq!(check_bytes(&elf64(EM_X86_64)).2, "ok");
    }

    #[test]
    fn refuses_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let err = check_kernel_elf(&path).unwrap_err().to_string();
        assert_eq!(err, format!("kernel file not found: {}", path.display()));
    }

    #[test]
    fn refuses_a_text_file() {
        let (_dir, path, err) = check_bytes(b"[package]\nname = \"kernel\"\n");
        assert_eq!(
            err,
            format!("kernel {} is not an ELF file (bad magic)", path.display())
        );
    }

    #[test]
    fn refuses_a_file_shorter_than_the_magic() {
        let (_dir, _, err) = check_bytes(b"\x7fEL");
        assert!(
            err.ends_with("is too short to be an ELF file (3 bytes)"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_32_bit_elf() {
        let mut bytes = elf64(3);
        bytes[EI_CLASS] = ELFCLASS32;
        let (_dir, _, err) = check_bytes(&bytes);
        assert!(err.ends_with("is a 32-bit ELF, not 64-bit"), "{err}");
    }

    #[test]
    fn refuses_a_truncated_elf64_header() {
        let (_dir, _, err) = check_bytes(&elf64(EM_X86_64)[..20]);
        assert!(
            err.ends_with("is too short for an ELF64 header (20 of 64 bytes)"),
            "{err}"
        );
    }

    #[test]
    fn names_the_wrong_architecture() {
        let (_dir, path, err) = check_bytes(&elf64(183));
        assert_eq!(
            err,
            format!(
                "kernel {} is an ELF for AArch64, not x86_64",
                path.display()
            )
        );
    }

    #[test]
    fn reads_big_endian_machine_fields() {
        let mut bytes = elf64(0);
        bytes[EI_DATA] = ELFDATA2MSB;
        bytes[E_MACHINE..E_MACHINE + 2].copy_from_slice(&22u16.to_be_bytes());
        assert!(
            check_bytes(&bytes)
                .2
                .ends_with("is an ELF for S/390, not x86_64")
        );
    }

    #[test]
    fn names_unknown_machines_by_number() {
        assert!(
            check_bytes(&elf64(0x1234))
                .2
                .ends_with("is an ELF for machine 0x1234, not x86_64")
        );
    }
}
