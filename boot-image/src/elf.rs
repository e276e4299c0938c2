//! Checking a kernel file before it is put on a disk image, and the copy of
//! it that goes there.
//!
//! The bootloader accepts any file as "the kernel" and only fails at boot,
//! inside QEMU: it panics with a message on the serial port and halts, so
//! the run hangs until its time limit. Checking on the host turns those
//! mistakes into one clear line before anything is imaged or booted: the
//! wrong file (a text file, a kernel built for the host or another
//! architecture, a program not built with `bootloader_api`) and a damaged
//! one (cut short by an interrupted copy or build, or a bare header).
//!
//! What the file is (magic, class, machine) is read by hand from the header,
//! to name the mistake precisely; its layout (program headers, segments,
//! sections) is read with the `object` crate.

use std::{fmt::Display, fs, io, mem, ops::Range, path::Path};

use anyhow::{Context, anyhow, bail};
use object::{
    Endianness,
    build::elf::Builder,
    elf::{self, FileHeader64, ProgramHeader64, SectionHeader64},
    read::elf::{FileHeader, ProgramHeader, SectionHeader},
};

/// Size of an ELF64 file header; e_machine lies within it.
const ELF64_HEADER_LEN: usize = 64;
const MAGIC: &[u8; 4] = b"\x7fELF";
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const EI_VERSION: usize = 6;
const ELFDATA2LSB: u8 = 1;
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ELFDATA2MSB: u8 = 2;
const E_MACHINE: usize = 18;
const EM_X86_64: u16 = 62;

/// The section where `bootloader_api::entry_point!` puts the kernel's boot
/// configuration; the bootloader panics when it is missing.
const BOOT_CONFIG_SECTION: &[u8] = b".bootloader-config";

type Header = FileHeader64<Endianness>;
type Segment = ProgramHeader64<Endianness>;

/// Refuses `path` unless it is a 64-bit x86_64 ELF file the bootloader can
/// load: program headers and every loadable segment inside the file, the
/// entry point inside an executable loadable segment, and a
/// `.bootloader-config` section.
///
/// Each refusal is one line naming the path and what is wrong with it.
pub fn check_kernel_elf(path: &Path) -> anyhow::Result<()> {
    read_kernel(path).map(drop)
}

/// Reads the kernel at `path` and checks it as [`check_kernel_elf`] does.
pub(crate) fn read_kernel(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = match fs::read(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            bail!("kernel file not found: {}", path.display())
        }
        other => other.with_context(|| format!("cannot read kernel file {}", path.display()))?,
    };
    let shown = path.display();
    check_identity(&shown, &bytes)?;
    check_layout(&shown, &bytes)?;
    Ok(bytes)
}

/// A copy of a checked kernel without its DWARF debug information.
///
/// A debug build of a Spindle kernel is about 9 MB, of which some 100 KB
/// are loaded: the rest is `.debug_*` sections, which the bootloader reads
/// from the disk image for nothing. Under BIOS that reading dominated the
/// boot (SeaBIOS reads the disk one 512-byte sector per request, 19,000 of
/// them, each a round trip between QEMU's threads that a busy host delays
/// by milliseconds). Debuggers read symbols from the original ELF on the
/// host, so nothing on the image needs them. Loadable sections keep their
/// file offsets and addresses, so the kernel is loaded exactly as before.
pub(crate) fn strip_debug_info(kernel: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut builder = Builder::read(kernel).context("cannot parse the kernel ELF")?;
    for section in &mut builder.sections {
        if section.name.starts_with(b".debug") {
            section.delete = true;
        }
    }
    builder.delete_orphans();
    let mut stripped = Vec::new();
    builder
        .write(&mut stripped)
        .context("cannot write the kernel ELF without debug information")?;
    Ok(stripped)
}

/// Refuses anything but a 64-bit x86_64 ELF, naming what it is instead.
fn check_identity(shown: &dyn Display, bytes: &[u8]) -> anyhow::Result<()> {
    if bytes.len() < MAGIC.len() {
        bail!(
            "kernel {shown} is too short to be an ELF file ({} bytes)",
            bytes.len()
        );
    }
    if !bytes.starts_with(MAGIC) {
        bail!("kernel {shown} is not an ELF file (bad magic)");
    }
    match bytes.get(EI_CLASS) {
        Some(&ELFCLASS64) => {}
        Some(&ELFCLASS32) => bail!("kernel {shown} is a 32-bit ELF, not 64-bit"),
        _ => bail!("kernel {shown} is an ELF of unknown class, not 64-bit"),
    }
    if bytes.len() < ELF64_HEADER_LEN {
        bail!(
            "kernel {shown} is too short for an ELF64 header ({} of {ELF64_HEADER_LEN} bytes)",
            bytes.len()
        );
    }
    let machine = machine(bytes);
    if machine != EM_X86_64 {
        bail!(
            "kernel {shown} is an ELF for {}, not x86_64",
            machine_name(machine)
        );
    }
    if bytes[EI_DATA] != ELFDATA2LSB {
        bail!("kernel {shown} has a corrupt ELF header: not little-endian, as x86_64 is");
    }
    if bytes[EI_VERSION] != elf::EV_CURRENT.0 {
        bail!(
            "kernel {shown} has a corrupt ELF header: version {}, not 1",
            bytes[EI_VERSION]
        );
    }
    Ok(())
}

/// Refuses an ELF whose parts the bootloader would read past the end of the
/// file, or that it cannot start.
fn check_layout(shown: &dyn Display, bytes: &[u8]) -> anyhow::Result<()> {
    let header = Header::parse(bytes)
        .map_err(|err| anyhow!("kernel {shown} has a corrupt ELF header: {err}"))?;
    let endian = header
        .endian()
        .map_err(|err| anyhow!("kernel {shown} has a corrupt ELF header: {err}"))?;
    let segments = program_headers(shown, header, endian, bytes)?;
    check_segments(shown, segments, endian, bytes.len())?;
    check_entry(shown, header.e_entry(endian), segments, endian)?;
    check_boot_config(shown, header, endian, bytes)
}

/// The program headers, once they are known to lie inside the file.
fn program_headers<'a>(
    shown: &dyn Display,
    header: &Header,
    endian: Endianness,
    bytes: &'a [u8],
) -> anyhow::Result<&'a [Segment]> {
    let count = header
        .phnum(endian, bytes)
        .map_err(|err| anyhow!("kernel {shown} has a corrupt program header count: {err}"))?;
    if header.e_phoff(endian) == 0 || count == 0 {
        bail!("kernel {shown} has no program headers: nothing for the bootloader to load");
    }
    let table = Table {
        what: "the program headers",
        start: header.e_phoff(endian),
        count: count.into(),
        entry_size: header.e_phentsize(endian),
        expected_entry_size: mem::size_of::<Segment>(),
    };
    table.check(shown, bytes.len())?;
    header
        .program_headers(endian, bytes)
        .map_err(|err| anyhow!("kernel {shown} has corrupt program headers: {err}"))
}

/// A table of fixed-size entries in the file (program or section headers).
struct Table {
    what: &'static str,
    start: u64,
    count: u64,
    entry_size: u16,
    expected_entry_size: usize,
}

impl Table {
    /// Refuses a table with entries of the wrong size or that runs past the
    /// end of a `len`-byte file.
    fn check(&self, shown: &dyn Display, len: usize) -> anyhow::Result<()> {
        let what = self.what;
        if usize::from(self.entry_size) != self.expected_entry_size {
            bail!(
                "kernel {shown} is corrupt: {what} are {} bytes each, not {}",
                self.entry_size,
                self.expected_entry_size
            );
        }
        let end = self
            .count
            .checked_mul(self.entry_size.into())
            .and_then(|size| size.checked_add(self.start));
        check_inside(shown, what, self.start, end, len)
    }
}

/// Refuses a file range `start..end` (`None`: past any file) of a `len`-byte
/// file that does not fit in it; `what` names the range.
fn check_inside(
    shown: &dyn Display,
    what: &str,
    start: u64,
    end: Option<u64>,
    len: usize,
) -> anyhow::Result<()> {
    match end {
        Some(end) if end <= len as u64 => Ok(()),
        Some(end) => bail!(
            "kernel {shown} is truncated: file bytes {start}..{end} ({what}) lie past its \
             end ({len} bytes)"
        ),
        None => {
            bail!("kernel {shown} is corrupt: the size of {what} at file byte {start} overflows")
        }
    }
}

/// Requires at least one loadable segment, and every one inside the file.
fn check_segments(
    shown: &dyn Display,
    segments: &[Segment],
    endian: Endianness,
    len: usize,
) -> anyhow::Result<()> {
    let mut loads = segments
        .iter()
        .enumerate()
        .filter(|(_, segment)| segment.p_type(endian) == elf::PT_LOAD)
        .peekable();
    if loads.peek().is_none() {
        bail!("kernel {shown} has no loadable segment");
    }
    for (index, segment) in loads {
        let start = segment.p_offset(endian);
        let end = start.checked_add(segment.p_filesz(endian));
        check_inside(shown, &format!("loadable segment {index}"), start, end, len)?;
    }
    Ok(())
}

/// Requires the entry point to lie in the file-backed bytes of an
/// executable loadable segment: anywhere else the first instruction would
/// be zeros or data.
fn check_entry(
    shown: &dyn Display,
    entry: u64,
    segments: &[Segment],
    endian: Endianness,
) -> anyhow::Result<()> {
    let runs_entry = |segment: &&Segment| {
        segment.p_type(endian) == elf::PT_LOAD
            && segment.p_flags(endian).contains(elf::PF_X)
            && file_backed(segment, endian).contains(&entry)
    };
    if !segments.iter().any(|segment| runs_entry(&segment)) {
        bail!(
            "kernel {shown} has its entry point {entry:#x} outside every executable loadable segment"
        );
    }
    Ok(())
}

/// The virtual addresses of a segment whose bytes come from the file.
fn file_backed(segment: &Segment, endian: Endianness) -> Range<u64> {
    let start = segment.p_vaddr(endian);
    start..start.saturating_add(segment.p_filesz(endian))
}

/// Requires the section the bootloader reads its configuration from.
fn check_boot_config(
    shown: &dyn Display,
    header: &Header,
    endian: Endianness,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let count = header
        .shnum(endian, bytes)
        .map_err(|err| anyhow!("kernel {shown} has a corrupt section header count: {err}"))?;
    let table = Table {
        what: "the section headers",
        start: header.e_shoff(endian),
        count: count.into(),
        entry_size: header.e_shentsize(endian),
        expected_entry_size: mem::size_of::<SectionHeader64<Endianness>>(),
    };
    if count > 0 {
        table.check(shown, bytes.len())?;
    }
    let sections = header
        .sections(endian, bytes)
        .map_err(|err| anyhow!("kernel {shown} has corrupt section headers: {err}"))?;
    let Some((_, config)) = sections.section_by_name(endian, BOOT_CONFIG_SECTION) else {
        bail!(
            "kernel {shown} has no .bootloader-config section: it was not built with \
             bootloader_api's entry_point! macro"
        );
    };
    let (start, size) = config.file_range(endian).unwrap_or_default();
    check_inside(
        shown,
        "the .bootloader-config section",
        start,
        start.checked_add(size),
        bytes.len(),
    )
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

    use object::{
        LittleEndian as LE, U16, U32, U64, bytes_of,
        elf::{
            ELFCLASS64 as CLASS64, ELFDATA2LSB as LSB, ELFOSABI_NONE, ET_EXEC, EV_CURRENT,
            FileFlags, PF_R, PF_X, PT_LOAD, SHF_ALLOC, SHF_EXECINSTR, SHT_NULL, SHT_PROGBITS,
            SHT_STRTAB, SectionFlags, SectionType, SymbolSection,
        },
    };
    use tempfile::TempDir;

    use super::*;

    /// Where the fixture kernel's one segment is loaded.
    const BASE: u64 = 0x20_0000;
    /// File offset of its code (`hlt; jmp $-1`), which is the entry point.
    const CODE: u64 = 128;
    /// File offset of its `.bootloader-config` bytes.
    const CONFIG: u64 = 136;
    /// File offset of its `.debug_info` bytes; the segment ends here.
    const DEBUG: u64 = 144;
    const NAMES: &[u8] = b"\0.text\0.bootloader-config\0.debug_info\0.shstrtab\0";

    /// An ELF64 little-endian header with the given e_machine and nothing
    /// after it.
    fn elf64(machine: u16) -> Vec<u8> {
        let mut bytes = vec![0; ELF64_HEADER_LEN];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[EI_CLASS] = ELFCLASS64;
        bytes[EI_DATA] = ELFDATA2LSB;
        bytes[EI_VERSION] = EV_CURRENT.0;
        bytes[E_MACHINE..E_MACHINE + 2].copy_from_slice(&machine.to_le_bytes());
        bytes
    }

    /// The smallest kernel the bootloader would load: one read+execute
    /// segment holding `.text` and `.bootloader-config`, then `debug_info`
    /// bytes of `.debug_info` and the section headers.
    pub(crate) fn kernel(debug_info: usize) -> Vec<u8> {
        let names_at = DEBUG + debug_info as u64;
        let headers_at = (names_at + NAMES.len() as u64).next_multiple_of(8);
        let mut bytes = bytes_of(&file_header(headers_at)).to_vec();
        bytes.extend_from_slice(bytes_of(&load_segment(DEBUG)));
        bytes.resize(CODE as usize, 0);
        bytes.extend_from_slice(&[0xf4, 0xeb, 0xfd]);
        bytes.resize(CONFIG as usize, 0);
        bytes.extend_from_slice(b"config!\0");
        bytes.resize(names_at as usize, 0x5a);
        bytes.extend_from_slice(NAMES);
        bytes.resize(headers_at as usize, 0);
        let none = SectionFlags(0);
        let sections = [
            section(0, SHT_NULL, none, 0, 0),
            section(1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, CODE, 3),
            section(7, SHT_PROGBITS, SHF_ALLOC, CONFIG, 8),
            section(26, SHT_PROGBITS, none, DEBUG, debug_info as u64),
            section(38, SHT_STRTAB, none, names_at, NAMES.len() as u64),
        ];
        for header in &sections {
            bytes.extend_from_slice(bytes_of(header));
        }
        bytes
    }

    fn file_header(section_headers_at: u64) -> FileHeader64<LE> {
        let ident = elf::Ident {
            magic: *MAGIC,
            class: CLASS64,
            data: LSB,
            version: EV_CURRENT,
            os_abi: ELFOSABI_NONE,
            abi_version: 0,
            padding: [0; 7],
        };
        FileHeader64 {
            e_ident: ident,
            e_type: U16::new(LE, ET_EXEC),
            e_machine: U16::new(LE, elf::EM_X86_64),
            e_version: U32::new(LE, EV_CURRENT.0.into()),
            e_entry: U64::new(LE, BASE + CODE),
            e_phoff: U64::new(LE, ELF64_HEADER_LEN as u64),
            e_shoff: U64::new(LE, section_headers_at),
            e_flags: U32::new(LE, FileFlags(0)),
            e_ehsize: U16::new(LE, ELF64_HEADER_LEN as u16),
            e_phentsize: U16::new(LE, mem::size_of::<ProgramHeader64<LE>>() as u16),
            e_phnum: U16::new(LE, 1),
            e_shentsize: U16::new(LE, mem::size_of::<SectionHeader64<LE>>() as u16),
            e_shnum: U16::new(LE, 5),
            e_shstrndx: U16::new(LE, SymbolSection(4)),
        }
    }

    fn load_segment(size: u64) -> ProgramHeader64<LE> {
        ProgramHeader64 {
            p_type: U32::new(LE, PT_LOAD),
            p_flags: U32::new(LE, PF_R | PF_X),
            p_offset: U64::new(LE, 0),
            p_vaddr: U64::new(LE, BASE),
            p_paddr: U64::new(LE, BASE),
            p_filesz: U64::new(LE, size),
            p_memsz: U64::new(LE, size),
            p_align: U64::new(LE, 0x1000),
        }
    }

    fn section(
        name: u32,
        kind: SectionType,
        flags: SectionFlags,
        offset: u64,
        size: u64,
    ) -> SectionHeader64<LE> {
        let address = if flags.contains(SHF_ALLOC) {
            BASE + offset
        } else {
            0
        };
        SectionHeader64 {
            sh_name: U32::new(LE, name),
            sh_type: U32::new(LE, kind),
            sh_flags: U64::new(LE, flags),
            sh_addr: U64::new(LE, address),
            sh_offset: U64::new(LE, offset),
            sh_size: U64::new(LE, size),
            sh_link: U32::new(LE, 0),
            sh_info: U32::new(LE, 0),
            sh_addralign: U64::new(LE, 1),
            sh_entsize: U64::new(LE, 0),
        }
    }

    /// Overwrites the little-endian u64 at `offset`.
    fn patch(bytes: &mut [u8], offset: usize, value: u64) {
        bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn check_bytes(bytes: &[u8]) -> (TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernel");
        fs::write(&path, bytes).unwrap();
        let err = check_kernel_elf(&path).map_or_else(|e| format!("{e:#}"), |()| "ok".into());
        (dir, path, err)
    }

    /// The refusal for `bytes`, without the path.
    fn refusal(bytes: &[u8]) -> String {
        let (_dir, path, err) = check_bytes(bytes);
        err.replace(&path.display().to_string(), "K")
    }

    #[test]
    fn accepts_a_minimal_kernel() {
        assert_eq!(refusal(&kernel(0)), "ok");
        assert_eq!(refusal(&kernel(4096)), "ok");
    }

    #[test]
    fn refuses_a_program_not_built_for_the_bootloader() {
        // The test binary is a loadable x86_64 ELF, just not a kernel.
        let err = check_kernel_elf(Path::new("/proc/self/exe")).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "has no .bootloader-config section: it was not built with \
                            bootloader_api's entry_point! macro"
            ),
            "{err}"
        );
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
        assert_eq!(
            refusal(b"\x7fEL"),
            "kernel K is too short to be an ELF file (3 bytes)"
        );
    }

    #[test]
    fn refuses_a_32_bit_elf() {
        let mut bytes = elf64(3);
        bytes[EI_CLASS] = ELFCLASS32;
        assert_eq!(refusal(&bytes), "kernel K is a 32-bit ELF, not 64-bit");
    }

    #[test]
    fn refuses_a_truncated_elf64_header() {
        assert_eq!(
            refusal(&elf64(EM_X86_64)[..20]),
            "kernel K is too short for an ELF64 header (20 of 64 bytes)"
        );
    }

    #[test]
    fn refuses_a_header_only_elf() {
        assert_eq!(
            refusal(&elf64(EM_X86_64)),
            "kernel K has no program headers: nothing for the bootloader to load"
        );
        let mut bytes = kernel(0);
        bytes.truncate(ELF64_HEADER_LEN);
        assert_eq!(
            refusal(&bytes),
            "kernel K is truncated: file bytes 64..120 (the program headers) lie past its end \
             (64 bytes)"
        );
    }

    #[test]
    fn refuses_corrupt_header_fields() {
        let mut bytes = kernel(0);
        bytes[EI_VERSION] = 0;
        assert_eq!(
            refusal(&bytes),
            "kernel K has a corrupt ELF header: version 0, not 1"
        );
        let mut bytes = kernel(0);
        bytes[EI_DATA] = 7;
        assert_eq!(
            refusal(&bytes),
            "kernel K has a corrupt ELF header: not little-endian, as x86_64 is"
        );
        let mut bytes = kernel(0);
        bytes[54] = 40; // e_phentsize
        assert_eq!(
            refusal(&bytes),
            "kernel K is corrupt: the program headers are 40 bytes each, not 56"
        );
    }

    #[test]
    fn refuses_the_first_100_bytes_of_a_kernel() {
        let mut bytes = kernel(0);
        bytes.truncate(100);
        assert_eq!(
            refusal(&bytes),
            "kernel K is truncated: file bytes 64..120 (the program headers) lie past its end \
             (100 bytes)"
        );
    }

    #[test]
    fn refuses_a_loadable_segment_past_the_end() {
        let mut bytes = kernel(0);
        bytes.truncate(130);
        assert_eq!(
            refusal(&bytes),
            "kernel K is truncated: file bytes 0..144 (loadable segment 0) lie past its end \
             (130 bytes)"
        );
        let mut bytes = kernel(0);
        patch(&mut bytes, 64 + 8, u64::MAX - 8); // p_offset
        assert_eq!(
            refusal(&bytes),
            "kernel K is corrupt: the size of loadable segment 0 at file byte \
             18446744073709551607 overflows"
        );
    }

    #[test]
    fn refuses_an_entry_point_outside_executable_code() {
        let mut bytes = kernel(0);
        patch(&mut bytes, 24, BASE + DEBUG + 8); // e_entry, past the segment's file bytes
        assert_eq!(
            refusal(&bytes),
            "kernel K has its entry point 0x200098 outside every executable loadable segment"
        );
        let mut bytes = kernel(0);
        bytes[64 + 4] = PF_R.0 as u8; // p_flags without PF_X
        assert!(
            refusal(&bytes).ends_with("outside every executable loadable segment"),
            "{}",
            refusal(&bytes)
        );
    }

    #[test]
    fn refuses_truncated_section_headers() {
        let bytes = kernel(64);
        let cut = &bytes[..bytes.len() - 10];
        assert!(
            refusal(cut).starts_with("kernel K is truncated: file bytes ")
                && refusal(cut).contains("(the section headers) lie past its end"),
            "{}",
            refusal(cut)
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
        assert_eq!(refusal(&bytes), "kernel K is an ELF for S/390, not x86_64");
    }

    #[test]
    fn names_unknown_machines_by_number() {
        assert_eq!(
            refusal(&elf64(0x1234)),
            "kernel K is an ELF for machine 0x1234, not x86_64"
        );
    }

    #[test]
    fn stripping_drops_debug_info_and_keeps_what_is_loaded() {
        let kernel = kernel(1 << 20);
        let stripped = strip_debug_info(&kernel).unwrap();
        assert!(stripped.len() < 4096, "{} bytes left", stripped.len());
        assert_eq!(refusal(&stripped), "ok");
        let (headers, code) = (64..120, CODE as usize..DEBUG as usize);
        assert_eq!(
            stripped[headers.clone()],
            kernel[headers],
            "program header changed"
        );
        assert_eq!(stripped[code.clone()], kernel[code], "loaded bytes moved");
    }
}
