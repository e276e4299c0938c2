//! What the harness knows about one test kernel: its name and the `//@` directives at the
//! top of its source file.
//!
//! | directive                      | meaning                                              |
//! |--------------------------------|------------------------------------------------------|
//! | `//@ firmware: bios uefi`      | boot it with each listed firmware (default: bios)    |
//! | `//@ expect-failure: TEXT`     | the kernel must exit with failure and print TEXT     |
//! | `//@ expect-output: TEXT`      | the serial output must contain TEXT                  |
//! | `//@ reject-output: TEXT`      | the serial output must not contain TEXT              |
//! | `//@ timeout: SECS`            | per-boot run-time limit (default 60): seconds QEMU   |
//! |                                | runs or idles, not seconds it waits for a busy host  |
//! |                                | CPU; a wall-clock ceiling of ten times that applies  |
//! | `//@ qemu-args: ARGS...`       | extra QEMU arguments, split on whitespace            |
//! | `//@ serial-input: TEXT`       | bytes typed into the serial port once the kernel     |
//! |                                | printed its plan; escapes `\n` `\r` `\t` `\\` `\xNN`; |
//! |                                | repeatable (typed in order)                          |
//! | `//@ trace: check`             | decode the schedule trace the kernel streams to the  |
//! |                                | debug console and check its invariants (the kernel   |
//! |                                | starts tracing itself, `spindle::tracing::start`)     |
//! | `//@ trace-holds: KIND...`     | the trace must also hold an event of each kind       |
//! |                                | (`panic`, `mark`, `exit`, ...: the checker's names); |
//! |                                | implies `trace: check`                               |
//! | `//@ smp: N...`                | boot with each listed number of CPUs (default 1)     |
//!
//! The time limit is counted as `boot_image::TimeLimit::run_time` counts it, so that a boot
//! on a loaded machine (a parallel build, the other boots) is not failed for the time it
//! spent waiting for a CPU.

use std::{fs, path::Path, time::Duration};

use anyhow::{Context, bail};
use boot_image::{Firmware, TimeLimit};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One test kernel and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSpec {
    /// The binary's name (its file stem in `src/bin`).
    pub name: String,
    /// Every firmware to boot it with.
    pub firmwares: Vec<Firmware>,
    /// Texts the serial output must contain; non-empty means the kernel must fail.
    pub expected_failure: Vec<String>,
    /// Texts the serial output must contain, whatever the outcome.
    pub expected_output: Vec<String>,
    /// Texts the serial output must not contain, whatever the outcome.
    pub rejected_output: Vec<String>,
    /// Run-time limit per boot (see the module documentation).
    pub timeout: Duration,
    /// Extra QEMU arguments.
    pub qemu_args: Vec<String>,
    /// Bytes to type into the serial port.
    pub serial_input: Option<Vec<u8>>,
    /// Whether the schedule trace the kernel streams is decoded and checked.
    pub check_trace: bool,
    /// Kinds of event the checked trace must hold (`spindle_trace::kind_name`).
    pub trace_holds: Vec<String>,
    /// Every number of CPUs to boot it with (each with every firmware).
    pub smp: Vec<u32>,
    /// The host-side network client to run against it (`net: CLIENT`, one of
    /// [`crate::net_client::CLIENTS`]): the boot gets a network card and a free port.
    pub net: Option<String>,
}

impl KernelSpec {
    /// How long a boot may take: [`Self::timeout`] of run time, with the wall-clock ceiling
    /// [`TimeLimit::run_time`] adds.
    pub fn time_limit(&self) -> TimeLimit {
        TimeLimit::run_time(self.timeout)
    }
}

/// Reads the specs of every `*.rs` file in `bin_dir`, sorted by name.
pub fn discover(bin_dir: &Path) -> anyhow::Result<Vec<KernelSpec>> {
    let entries =
        fs::read_dir(bin_dir).with_context(|| format!("cannot list {}", bin_dir.display()))?;
    let mut specs = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let source = fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            specs.push(parse(&name, &source).with_context(|| format!("in {}", path.display()))?);
        }
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// Builds the spec of kernel `name` from the `//@` lines of its `source`.
pub fn parse(name: &str, source: &str) -> anyhow::Result<KernelSpec> {
    let mut spec = KernelSpec {
        name: name.to_owned(),
        firmwares: vec![Firmware::Bios],
        expected_failure: Vec::new(),
        expected_output: Vec::new(),
        rejected_output: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
        qemu_args: Vec::new(),
        serial_input: None,
        check_trace: false,
        trace_holds: Vec::new(),
        smp: vec![1],
        net: None,
    };
    boot_image::for_each_directive(source, |key, value| apply(&mut spec, key, value))?;
    if spec.net.is_some() && spec.serial_input.is_some() {
        bail!("`net` and `serial-input` both type into the serial port: use one");
    }
    Ok(spec)
}

fn apply(spec: &mut KernelSpec, key: &str, value: &str) -> anyhow::Result<()> {
    match key {
        "firmware" => {
            spec.firmwares = value
                .split_whitespace()
                .map(parse_firmware)
                .collect::<Result<_, _>>()?
        }
        "expect-failure" if !value.is_empty() => spec.expected_failure.push(value.to_owned()),
        "expect-output" if !value.is_empty() => spec.expected_output.push(value.to_owned()),
        "reject-output" if !value.is_empty() => spec.rejected_output.push(value.to_owned()),
        "timeout" => spec.timeout = parse_timeout(value)?,
        "qemu-args" => spec
            .qemu_args
            .extend(value.split_whitespace().map(str::to_owned)),
        "serial-input" => spec
            .serial_input
            .get_or_insert_default()
            .extend(unescape(value)?),
        "trace" => spec.check_trace = parse_trace(value)?,
        "trace-holds" => {
            spec.check_trace = true;
            spec.trace_holds
                .extend(value.split_whitespace().map(str::to_owned));
        }
        "smp" => {
            spec.smp = value
                .split_whitespace()
                .map(parse_cpus)
                .collect::<Result<_, _>>()?
        }
        "net" => spec.net = Some(parse_net(value)?),
        other => bail!(
            "unknown directive `{other}` (known: firmware, expect-failure, expect-output, \
             reject-output, timeout, qemu-args, serial-input, trace, trace-holds, smp, net)"
        ),
    }
    if spec.firmwares.is_empty() {
        bail!("`firmware` needs at least one of bios, uefi");
    }
    if spec.smp.is_empty() {
        bail!("`smp` needs at least one number of CPUs");
    }
    Ok(())
}

/// The bytes a `serial-input` value stands for: `\n`, `\r`, `\t`, `\\` and `\xNN` (any
/// byte, e.g. `\x1b` for ESC or `\x03` for Ctrl-C) are escapes.
fn unescape(value: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        rest = after;
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        let (escape, after) = rest.split_first().context("a `\\` at the end")?;
        rest = after;
        bytes.push(match escape {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'\\' => b'\\',
            b'x' => {
                let digits = rest.get(..2).context("`\\x` needs two hex digits")?;
                rest = &rest[2..];
                std::str::from_utf8(digits)
                    .ok()
                    .and_then(|digits| u8::from_str_radix(digits, 16).ok())
                    .context("`\\x` needs two hex digits")?
            }
            other => bail!("unknown escape `\\{}`", char::from(*other)),
        });
    }
    Ok(bytes)
}

fn parse_timeout(value: &str) -> anyhow::Result<Duration> {
    match value.parse() {
        Ok(0) | Err(_) => bail!("timeout is a positive whole number of seconds"),
        Ok(secs) => Ok(Duration::from_secs(secs)),
    }
}

/// `trace: check` is the one mode: the directive exists so that a test kernel's file
/// says that its trace is judged, next to the code that records it.
fn parse_trace(value: &str) -> anyhow::Result<bool> {
    match value {
        "check" => Ok(true),
        other => bail!("unknown trace mode `{other}` (the one mode is `check`)"),
    }
}

fn parse_net(value: &str) -> anyhow::Result<String> {
    match crate::net_client::CLIENTS.contains(&value) {
        true => Ok(value.to_owned()),
        false => bail!(
            "unknown network client `{value}` (known: {})",
            crate::net_client::CLIENTS.join(", ")
        ),
    }
}

fn parse_cpus(value: &str) -> anyhow::Result<u32> {
    match value.parse() {
        Ok(0) | Err(_) => bail!("smp is a positive whole number of CPUs"),
        Ok(cpus) => Ok(cpus),
    }
}

fn parse_firmware(word: &str) -> anyhow::Result<Firmware> {
    match word {
        "bios" => Ok(Firmware::Bios),
        "uefi" => Ok(Firmware::Uefi),
        other => bail!("unknown firmware `{other}` (bios or uefi)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_one_bios_boot_expecting_success() {
        let spec = parse("heap", "//! doc\n#![no_std]\n").unwrap();
        assert_eq!(spec.firmwares, [Firmware::Bios]);
        assert!(spec.expected_failure.is_empty());
        assert_eq!(spec.timeout, DEFAULT_TIMEOUT);
        assert_eq!(spec.serial_input, None);
        assert!(!spec.check_trace);
        assert_eq!(spec.smp, [1]);
    }

    #[test]
    fn the_time_limit_is_run_time_with_a_wall_clock_ceiling() {
        let spec = parse("k", "//@ timeout: 5\n").unwrap();
        assert_eq!(
            spec.time_limit(),
            TimeLimit::Run {
                budget: Duration::from_secs(5),
                ceiling: Duration::from_secs(50)
            }
        );
    }

    #[test]
    fn reads_every_directive() {
        let source = "//@ firmware: bios uefi\n//@ expect-failure: KERNEL PANIC\n//@ expect-output: PIT\n\
                      //@ expect-failure: value 42\n//@ timeout: 5\n//@ qemu-args: -smp 2\n\
                      //@ serial-input: ps\\npoweroff\\n\n//@ trace: check\n//@ smp: 4\n\
                      //@ reject-output: DEBUG\n//@ reject-output: quiet\n";
        let spec = parse("k", source).unwrap();
        assert_eq!(spec.firmwares, [Firmware::Bios, Firmware::Uefi]);
        assert_eq!(spec.expected_failure, ["KERNEL PANIC", "value 42"]);
        assert_eq!(spec.expected_output, ["PIT"]);
        assert_eq!(spec.rejected_output, ["DEBUG", "quiet"]);
        assert_eq!(spec.timeout, Duration::from_secs(5));
        assert_eq!(spec.qemu_args, ["-smp", "2"]);
        assert_eq!(spec.serial_input.as_deref(), Some(&b"ps\npoweroff\n"[..]));
        assert!(spec.check_trace);
        assert_eq!(spec.smp, [4]);
    }

    #[test]
    fn net_names_a_known_client_and_excludes_serial_input() {
        assert_eq!(
            parse("k", "//@ net: http\n").unwrap().net.as_deref(),
            Some("http")
        );
        assert!(parse("k", "//@ net: ftp\n").is_err());
        assert!(parse("k", "//@ net: http\n//@ serial-input: x\n").is_err());
    }

    #[test]
    fn serial_input_escapes_bytes_and_adds_up() {
        let source = "//@ serial-input: pq\\x1b[D\\x7Fs\\r\\n\n//@ serial-input: a\\\\b\\t\\x03\n";
        let spec = parse("k", source).unwrap();
        assert_eq!(
            spec.serial_input.as_deref(),
            Some(&b"pq\x1b[D\x7fs\r\na\\b\t\x03"[..])
        );
        for bad in ["a\\", "\\x1", "\\xzz", "\\q"] {
            let error = parse("k", &format!("//@ serial-input: {bad}")).unwrap_err();
            assert!(format!("{error:#}").contains("line 1"), "{bad}: {error:#}");
        }
    }

    #[test]
    fn trace_holds_lists_kinds_and_checks_the_trace() {
        let spec = parse("k", "//@ trace-holds: panic\n//@ trace-holds: mark exit\n").unwrap();
        assert!(spec.check_trace);
        assert_eq!(spec.trace_holds, ["panic", "mark", "exit"]);
    }

    #[test]
    fn smp_lists_every_cpu_count_to_boot_with() {
        let spec = parse("k", "//@ smp: 2 4\n").unwrap();
        assert_eq!(spec.smp, [2, 4]);
    }

    #[test]
    fn refuses_unknown_or_malformed_directives() {
        for bad in [
            "//@ firmwre: bios",
            "//@ firmware: coreboot",
            "//@ firmware:",
            "//@ timeout: soon",
            "//@ timeout: -1",
            "//@ timeout: 0",
            "//@ no colon",
            "//@ trace: draw",
            "//@ trace:",
            "//@ smp: 0",
            "//@ smp: two",
            "//@ smp: 2 0",
            "//@ smp:",
            "//@ reject-output:",
        ] {
            let error = parse("k", bad).unwrap_err();
            assert!(format!("{error:#}").contains("line 1"), "{bad}: {error:#}");
        }
    }

    #[test]
    fn an_unknown_directive_lists_the_known_ones() {
        let error = format!("{:#}", parse("k", "//@ cpus: 2").unwrap_err());
        assert!(error.contains("unknown directive `cpus`"), "{error}");
        assert!(
            error.contains("serial-input, trace, trace-holds, smp, net)"),
            "{error}"
        );
    }
}
