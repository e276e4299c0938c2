//! Function names for backtraces, from the kernel's own symbol table.
//!
//! The bootloader reads the whole kernel ELF file into memory before it loads the
//! segments, and leaves that copy in place (its memory is reported as the bootloader's,
//! never handed to the frame allocator): `BootInfo::kernel_addr`. The copy on the disk
//! image has no debug information but keeps `.symtab` and `.strtab`, so [`init`] finds
//! them there and [`lookup`] names any code address, demangled, without allocating:
//! what a panic or exception report needs. A kernel whose file has no symbol table (a
//! stripped one) gets addresses only.

use core::fmt;

use spin::Once;

/// `SHT_SYMTAB`, and the ELF64 header and section header fields read here.
const SHT_SYMTAB: u32 = 2;
const E_SHOFF: usize = 40;
const E_SHENTSIZE: usize = 58;
const E_SHNUM: usize = 60;
const SH_TYPE: usize = 4;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
const SH_LINK: usize = 40;
/// An `Elf64_Sym`: `st_name` at 0, `st_info` at 4, `st_value` at 8, `st_size` at 16.
const SYM_SIZE: usize = 24;
const STT_NOTYPE: u8 = 0;
const STT_FUNC: u8 = 2;
/// How far past a symbol without a size (an assembly label) an address is still named
/// after it.
const UNSIZED_REACH: usize = 4096;

/// The symbol and string tables, and what to subtract from a run-time address to get the
/// link-time one the symbols hold.
struct Table {
    symbols: &'static [u8],
    strings: &'static [u8],
    bias: usize,
}

static TABLE: Once<Table> = Once::new();

/// Finds the symbol table in `file`, the kernel's ELF file as the bootloader left it in
/// memory. Without one (or with a file this code cannot read) names stay unknown.
pub fn init(file: &'static [u8]) {
    let Some(bias) = super::image::load_bias() else {
        return;
    };
    if let Some((symbols, strings)) = tables(file) {
        TABLE.call_once(|| Table {
            symbols,
            strings,
            bias,
        });
    }
}

/// The `.symtab` and its `.strtab`, if the section headers are where the file says and
/// both lie inside the file.
fn tables(file: &'static [u8]) -> Option<(&'static [u8], &'static [u8])> {
    let section = |i: usize| -> Option<&'static [u8]> {
        let size = usize::from(u16_at(file, E_SHENTSIZE)?);
        let start = u64_at(file, E_SHOFF)?.checked_add(i.checked_mul(size)?)?;
        file.get(start..start.checked_add(size)?)
    };
    let contents = |header: &[u8]| -> Option<&'static [u8]> {
        let offset = u64_at(header, SH_OFFSET)?;
        file.get(offset..offset.checked_add(u64_at(header, SH_SIZE)?)?)
    };
    let count = usize::from(u16_at(file, E_SHNUM)?);
    let symtab = (0..count)
        .filter_map(section)
        .find(|header| u32_at(header, SH_TYPE) == Some(SHT_SYMTAB))?;
    let strtab = section(u32_at(symtab, SH_LINK)? as usize)?;
    Some((contents(symtab)?, contents(strtab)?))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*bytes.get(at..)?.first_chunk()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*bytes.get(at..)?.first_chunk()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<usize> {
    Some(u64::from_le_bytes(*bytes.get(at..)?.first_chunk()?) as usize)
}

/// A named code address: the function (demangled when displayed) and how far into it.
#[derive(Debug, Clone, Copy)]
pub struct Symbol {
    name: &'static str,
    offset: usize,
}

/// The function `address` (a run-time address) lies in, if the symbol table names it: the
/// function symbol whose range holds it, else the nearest assembly label before it.
pub fn lookup(address: usize) -> Option<Symbol> {
    let table = TABLE.get()?;
    let address = address.wrapping_sub(table.bias);
    let mut nearest_label: Option<(usize, u32)> = None;
    for symbol in table.symbols.as_chunks::<SYM_SIZE>().0 {
        let (Some(name), Some(value), Some(size)) =
            (u32_at(symbol, 0), u64_at(symbol, 8), u64_at(symbol, 16))
        else {
            continue;
        };
        let kind = symbol[4] & 0xf;
        if name == 0 || address < value || !(kind == STT_FUNC || kind == STT_NOTYPE) {
            continue;
        }
        if kind == STT_FUNC && address - value < size {
            return table.symbol(name, address - value);
        }
        let closer = nearest_label.is_none_or(|(start, _)| value > start);
        if size == 0 && address - value < UNSIZED_REACH && closer {
            nearest_label = Some((value, name));
        }
    }
    let (start, name) = nearest_label?;
    table.symbol(name, address - start)
}

impl Table {
    fn symbol(&self, name: u32, offset: usize) -> Option<Symbol> {
        let name = self.strings.get(name as usize..)?;
        let end = name.iter().position(|&byte| byte == 0)?;
        Some(Symbol {
            name: core::str::from_utf8(&name[..end]).ok()?,
            offset,
        })
    }
}

impl fmt::Display for Symbol {
    /// `path::to::function+0x1c`, demangled, without the crates' hashes and with generic
    /// arguments elided (`thread_entry::<…>`, `<TaskCell<…> as Run<…>>::poll`): a
    /// monomorphised closure's full name runs to hundreds of characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rustc_demangle::try_demangle(self.name) {
            Ok(name) => {
                use fmt::Write;
                write!(ElideGenerics::new(f), "{name:#}")?;
            }
            Err(_) => f.write_str(self.name)?,
        }
        write!(f, "+{:#x}", self.offset)
    }
}

/// Passes text on, but writes a generic argument list (`::<...>` or `Type<...>`) as `<…>`;
/// a `<` that opens a qualified path (`<Type as Trait>::method`) stays.
struct ElideGenerics<'a, 'f> {
    out: &'a mut fmt::Formatter<'f>,
    /// How deep in elided angle brackets the text is (0: copying).
    depth: usize,
    /// The last two characters seen, to spot `::<` and `->`.
    last: [char; 2],
}

impl<'a, 'f> ElideGenerics<'a, 'f> {
    fn new(out: &'a mut fmt::Formatter<'f>) -> Self {
        Self {
            out,
            depth: 0,
            last: [' '; 2],
        }
    }
}

impl fmt::Write for ElideGenerics<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '<' if self.depth > 0 => self.depth += 1,
                '<' if self.last[1] == ':'
                    || self.last[1] == '_'
                    || self.last[1].is_alphanumeric() =>
                {
                    self.depth = 1;
                    self.out.write_str("<…")?;
                }
                '>' if self.depth > 0 && self.last[1] != '-' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.out.write_char('>')?;
                    }
                }
                _ if self.depth > 0 => {}
                _ => self.out.write_char(c)?,
            }
            self.last = [self.last[1], c];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Symbol;

    fn shown(name: &'static str) -> std::string::String {
        std::format!("{}", Symbol { name, offset: 0x1c })
    }

    #[test]
    fn a_monomorphised_function_is_shown_without_its_generic_arguments() {
        assert_eq!(
            shown(
                "_RINvNtCs9mlWUYRdkWW_9unwinding9panicking12catch_unwindNtNtNtNtCs2CP3pKrJaxv_\
                 7spindle4task6thread6unwind6RaisedjNCINvNtBU_5spawn12thread_entryNCNvCs2dJounyOpYk_\
                 17panic_containment46an_allocation_failure_in_a_thread_is_contained0jE0EB2j_"
            ),
            "unwinding::panicking::catch_unwind::<…>+0x1c"
        );
    }

    #[test]
    fn a_trait_method_keeps_its_qualified_path() {
        assert_eq!(
            shown(
                "_RNvXs0_NtNtNtCsqzFOMhAQDU_7spindle4task8executor4cellINtB5_8TaskCellNCINvMs_NtB7_\
                 8join_setINtB1c_7JoinSetlE9try_spawnNCNCNvCshtCxc1huVMf_17panic_containment37a_\
                 join_set_reports_a_panicking_member00NtNtNtB7_4host11kernel_host10ThreadHostEs_0B39_\
                 EINtB5_4TaskB39_E6headerB1X_.llvm.2116156606351142615"
            ),
            "<spindle::task::executor::cell::TaskCell<…> as spindle::task::executor::cell::Task<…>>::header+0x1c"
        );
    }

    #[test]
    fn a_name_that_is_not_mangled_is_shown_as_it_is() {
        assert_eq!(shown("spindle_trap_common"), "spindle_trap_common+0x1c");
    }

    #[test]
    fn a_function_type_among_the_arguments_does_not_end_the_elision_early() {
        let mut out = std::string::String::new();
        struct Show<'a>(&'a str);
        impl core::fmt::Display for Show<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                use core::fmt::Write;
                super::ElideGenerics::new(f).write_str(self.0)
            }
        }
        use core::fmt::Write;
        write!(out, "{}", Show("a::f::<fn() -> u8, B<C>>::{closure#0}")).unwrap();
        assert_eq!(out, "a::f::<…>::{closure#0}");
    }
}
