//! The host half of Spindle's test harness: builds every test kernel in `tests/kernels`,
//! boots each one in QEMU (once per firmware it asks for), and reports one line per case.
//!
//! A boot passes only if QEMU's exit is the kernel's own success status and the serial
//! transcript shows every planned case passing (see [`verdict`]); a hang is stopped at the
//! kernel's time limit and reported with the tail of its serial output. That limit is run
//! time ([`boot_image::TimeLimit::run_time`]): what QEMU ran or idled, not what it waited
//! for a CPU, so a loaded machine slows the suite down without failing it. A kernel with
//! `//@ trace: check` also has its schedule trace judged ([`trace_check`]); its stream is
//! kept in `target/spindle/test-traces/`.

use std::{
    env, fs,
    io::{self, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Instant,
};

use anyhow::{Context, bail};
use boot_image::{Captured, Driver, Firmware, Profile, QemuOptions};

pub mod net_backlog;
pub mod net_client;
pub mod net_hostile;
pub mod spec;
pub mod trace_check;
pub mod verdict;

use spec::KernelSpec;
use verdict::{CaseResult, Verdict};

/// Serial lines shown after a failure.
const TAIL_LINES: usize = 30;

/// Runs the suite with the command-line arguments as name filters; the exit code says
/// whether every case passed.
pub fn main() -> ExitCode {
    let filters: Vec<String> = env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    match run(&filters) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("spindle-tests: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One boot of one kernel.
struct Boot<'a> {
    spec: &'a KernelSpec,
    firmware: Firmware,
    cpus: u32,
}

impl Boot<'_> {
    /// `name[bios]` on one CPU, `name[bios, 4 CPUs]` on several.
    fn label(&self) -> String {
        match self.cpus {
            1 => format!("{}[{}]", self.spec.name, self.firmware),
            cpus => format!("{}[{}, {cpus} CPUs]", self.spec.name, self.firmware),
        }
    }

    /// What the serial output must contain: the kernel's own list, and on several CPUs
    /// the boot line saying that every one of them came up.
    fn expected_output(&self) -> Vec<String> {
        let mut expected = self.spec.expected_output.clone();
        if self.cpus > 1 {
            expected.push(format!("INFO  spindle::boot: {} CPUs", self.cpus));
        }
        expected
    }

    /// Where QEMU writes the kernel's trace stream, for a `trace: check` kernel: one
    /// file per boot, so that parallel boots never share one, kept after the run to be
    /// drawn or checked again.
    fn trace_stream(&self, places: &Places) -> Option<PathBuf> {
        let name = format!("{}-{}-{}cpu.bin", self.spec.name, self.firmware, self.cpus);
        self.spec.check_trace.then(|| places.trace_dir.join(name))
    }
}

/// Where a boot's files are: the kernel ELFs, the disk images, the trace streams.
struct Places {
    elf_dir: PathBuf,
    image_dir: PathBuf,
    trace_dir: PathBuf,
}

fn run(filters: &[String]) -> anyhow::Result<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("no workspace root")?;
    let kernels_dir = root.join("tests/kernels");
    let specs: Vec<KernelSpec> = spec::discover(&kernels_dir.join("src/bin"))?
        .into_iter()
        .filter(|spec| filters.is_empty() || filters.iter().any(|f| spec.name.contains(f.as_str())))
        .collect();
    if specs.is_empty() {
        bail!("no test kernel matches {filters:?}");
    }
    let target_dir = boot_image::target_dir(root);
    let places = Places {
        elf_dir: boot_image::build_kernels(&kernels_dir, &target_dir, Profile::Dev)?,
        image_dir: target_dir.join("spindle/test-images"),
        trace_dir: target_dir.join("spindle/test-traces"),
    };
    let boots: Vec<Boot<'_>> = specs
        .iter()
        .flat_map(|spec| {
            spec.firmwares.iter().flat_map(move |&firmware| {
                spec.smp.iter().map(move |&cpus| Boot {
                    spec,
                    firmware,
                    cpus,
                })
            })
        })
        .collect();
    let jobs = env::var("SPINDLE_TEST_JOBS")
        .ok()
        .and_then(|jobs| jobs.parse().ok())
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, boots.len());
    println!(
        "\nbooting {} test kernels ({} boots, {jobs} at a time)",
        specs.len(),
        boots.len()
    );

    let next = AtomicUsize::new(0);
    let tally = Mutex::new(Tally::default());
    thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some(boot) = boots.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let started = Instant::now();
                    let results = run_boot(boot, &places);
                    let mut tally = tally.lock().unwrap_or_else(|poison| poison.into_inner());
                    print_boot(boot, &results, started.elapsed().as_secs_f64(), &mut tally);
                }
            });
        }
    });
    let mut tally = tally
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    tally.failed_boots.sort();
    println!("\n{}", tally.summary(specs.len(), boots.len()));
    Ok(tally.failed == 0)
}

/// What the boots so far came to: cases passed and failed, and which boots failed.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    failed_boots: Vec<String>,
}

impl Tally {
    /// The last line of a run, counting what it counts: `177 cases in 60 boots of 41
    /// kernels: all passed`, or how many failed and in which boots.
    fn summary(&self, kernels: usize, boots: usize) -> String {
        let plural = |count: usize, one: &str| match count {
            1 => format!("1 {one}"),
            count => format!("{count} {one}s"),
        };
        let counted = format!(
            "{} in {} of {}",
            plural(self.passed + self.failed, "case"),
            plural(boots, "boot"),
            plural(kernels, "kernel")
        );
        if self.failed == 0 {
            return format!("{counted}: all passed");
        }
        format!(
            "{counted}: {} passed, {} failed, in {}: {}",
            self.passed,
            self.failed,
            plural(self.failed_boots.len(), "boot"),
            self.failed_boots.join(", ")
        )
    }
}

/// What one boot produced: the judged cases, and the transcript when something failed.
struct BootResults {
    cases: Vec<CaseResult>,
    captured: Option<Captured>,
}

fn run_boot(boot: &Boot<'_>, places: &Places) -> BootResults {
    let stream = boot.trace_stream(places);
    match boot_and_capture(boot, places, stream.as_deref()) {
        Ok((captured, net)) => BootResults {
            cases: verdict::judge(
                &captured.outcome,
                &captured.serial,
                &boot.spec.expected_failure,
            )
            .into_iter()
            .chain(verdict::check_output(
                &captured.serial,
                &boot.expected_output(),
            ))
            .chain(verdict::check_absent(
                &captured.serial,
                &boot.spec.rejected_output,
            ))
            // Judged whatever the outcome: a failing kernel streams its trace as it exits.
            .chain(
                stream
                    .as_deref()
                    .map(|stream| trace_check::judge(stream, &boot.spec.trace_holds)),
            )
            .chain(net)
            .collect(),
            captured: Some(captured),
        },
        Err(error) => BootResults {
            cases: vec![CaseResult {
                case: "<boot>".into(),
                verdict: Verdict::Failed(format!("{error:#}")),
            }],
            captured: None,
        },
    }
}

/// Boots the kernel; with `stream`, QEMU writes the debug console port's bytes there.
/// A `net` kernel gets a network card on a free port and its client, whose verdict is
/// the `<net>` case.
fn boot_and_capture(
    boot: &Boot<'_>,
    places: &Places,
    stream: Option<&Path>,
) -> anyhow::Result<(Captured, Option<CaseResult>)> {
    let kernel = places.elf_dir.join(&boot.spec.name);
    let image = boot_image::image_path(&places.image_dir, &kernel, boot.firmware);
    boot_image::build_image(&kernel, boot.firmware, &image)?;
    if let Some(stream) = stream {
        fresh_stream_file(stream)?;
    }
    let port = boot.spec.net.as_ref().map(|_| free_port()).transpose()?;
    let options = QemuOptions {
        firmware: boot.firmware,
        smp: boot.cpus,
        debugcon: stream.map(Path::to_owned),
        net: port,
        extra_args: boot.spec.qemu_args.clone(),
        ..QemuOptions::default()
    };
    let command = boot_image::command(&image, &options)?;
    let report = std::sync::Arc::new(Mutex::new(None));
    let driver = match (&boot.spec.net, port) {
        (Some(client), Some(port)) => Some(net_driver(client.clone(), port, report.clone())),
        _ => boot.spec.serial_input.clone().map(|bytes| Driver {
            after: "spindle-test: plan".into(),
            drive: Box::new(move |guest: &mut dyn Write| {
                // Typed once the kernel is up and running its cases (its UART is set up);
                // a guest that stops early closes the pipe, and the rest does not matter.
                let _ = guest.write_all(&bytes);
            }),
        }),
    };
    let captured = boot_image::run_driven(command, boot.spec.time_limit(), driver)?;
    let net = boot.spec.net.as_ref().map(|_| CaseResult {
        case: "<net>".into(),
        verdict: match report.lock().unwrap().take() {
            Some(report) => match report
                .outcome
                .clone()
                .and_then(|()| report.check_echo(&captured.serial))
            {
                Ok(()) => Verdict::Passed,
                Err(why) => Verdict::Failed(why),
            },
            None => Verdict::Failed(format!(
                "the client never ran: the kernel never printed `{NET_READY}`"
            )),
        },
    });
    Ok((captured, net))
}

/// What a `net` kernel prints when the host's client may start.
const NET_READY: &str = "net-test: ready";

/// Runs network client `client` against the guest once it is ready, keeps its report
/// in `report`, and tells the guest it is done (see `net_client`).
fn net_driver(
    client: String,
    port: u16,
    report: std::sync::Arc<Mutex<Option<net_client::Report>>>,
) -> Driver {
    Driver {
        after: NET_READY.into(),
        drive: Box::new(move |guest: &mut dyn Write| {
            let done = net_client::run(&client, port);
            let _ = guest.write_all(done.done_line().as_bytes());
            *report.lock().unwrap() = Some(done);
        }),
    }
}

/// A host port free for both TCP and UDP on 127.0.0.1, and not handed out before in this
/// run (boots run side by side; QEMU binds it only once it starts).
fn free_port() -> anyhow::Result<u16> {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..100 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        let udp_free = std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        let mut handed_out = HANDED_OUT.lock().unwrap();
        if udp_free && !handed_out.contains(&port) {
            handed_out.push(port);
            return Ok(port);
        }
    }
    bail!("no free port for the network test")
}

/// Makes `stream`'s directory and removes an earlier run's file, so that a boot whose
/// QEMU never starts cannot be judged on an old stream.
fn fresh_stream_file(stream: &Path) -> anyhow::Result<()> {
    if let Some(directory) = stream.parent() {
        fs::create_dir_all(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
    }
    match fs::remove_file(stream) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove the old {}", stream.display()))
        }
        _ => Ok(()),
    }
}

fn print_boot(boot: &Boot<'_>, results: &BootResults, seconds: f64, tally: &mut Tally) {
    let mut out = io::stdout().lock();
    let label = boot.label();
    for result in &results.cases {
        let status = match &result.verdict {
            Verdict::Passed if boot.spec.expected_failure.is_empty() => "ok".to_owned(),
            Verdict::Passed => "ok (failed as expected)".to_owned(),
            Verdict::Failed(reason) => format!("FAILED\n    {reason}"),
        };
        let _ = writeln!(out, "test {label}::{} ... {status}", result.case);
        match result.verdict {
            Verdict::Passed => tally.passed += 1,
            Verdict::Failed(_) => tally.failed += 1,
        }
    }
    let any_failed = results.cases.iter().any(|r| r.verdict != Verdict::Passed);
    if any_failed {
        tally.failed_boots.push(label.clone());
    }
    if let (true, Some(captured)) = (any_failed, &results.captured) {
        let _ = writeln!(out, "    ---- {label}: last {TAIL_LINES} serial lines ----");
        let lines: Vec<&str> = captured.serial.lines().collect();
        for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
            let _ = writeln!(out, "    | {line}");
        }
        for line in captured.stderr.lines() {
            let _ = writeln!(out, "    qemu: {line}");
        }
    }
    let _ = writeln!(out, "    ({label}: {seconds:.1} s)");
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn the_summary_counts_cases_boots_and_kernels() {
        let all = Tally {
            passed: 177,
            ..Tally::default()
        };
        assert_eq!(
            all.summary(41, 60),
            "177 cases in 60 boots of 41 kernels: all passed"
        );
        let one = Tally {
            passed: 1,
            ..Tally::default()
        };
        assert_eq!(
            one.summary(1, 1),
            "1 case in 1 boot of 1 kernel: all passed"
        );
    }

    #[test]
    fn the_summary_names_the_boots_that_failed() {
        let tally = Tally {
            passed: 5,
            failed: 3,
            failed_boots: vec!["heap[bios]".into(), "smp[uefi, 4 CPUs]".into()],
        };
        assert_eq!(
            tally.summary(3, 4),
            "8 cases in 4 boots of 3 kernels: 5 passed, 3 failed, in 2 boots: heap[bios], \
             smp[uefi, 4 CPUs]"
        );
    }
}
