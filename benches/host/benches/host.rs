//! `cargo bench -p spindle-host-bench`: Spindle's switch and run queue on this machine's
//! CPU, beside corosensei, OS threads and tokio, in one run.
//!
//! Every figure is measured in [`ROUNDS`] rounds, interleaved (all figures once, then all
//! again), so that a change in the machine's load falls on all figures alike; the report
//! gives the median of the rounds' medians and their spread. Prints one table and writes
//! `target/bench/host.md` and `target/bench/host.json` (under `CARGO_TARGET_DIR` when
//! set). The header says what the machine is, including whether it is a virtual machine
//! (there, a hypervisor exit now and then shows in p99 and max), and its load.

use std::{cell::RefCell, fmt::Write as _, fs, path::PathBuf, process::Command, time::SystemTime};

use serde_json::{Value, json};
use spindle_host_bench::{
    measure::{self, Plan, Sample, Summary},
    spindle::CallSites,
    workloads::{self, SuspendSites},
};

/// Fast workloads: a million operations each, a few milliseconds.
const FAST: Plan = Plan {
    warmup: 100,
    samples: 1_000,
    ops_per_sample: 1_000,
};

/// OS threads sleep and wake for every switch: 200,000 switches take up to seconds.
const SLOW: Plan = Plan {
    warmup: 10,
    samples: 200,
    ops_per_sample: 1_000,
};

/// Rounds per figure: enough for a median and a spread; all of them take some ten seconds.
const ROUNDS: usize = 9;

const SPINDLE_SAME: &str = "Spindle switch, same call site";
const SPINDLE_DIFFERENT: &str = "Spindle switch, different call sites";
const COROSENSEI_ONE: &str = "corosensei 0.3 resume/suspend, one suspend site";
const COROSENSEI_TWO: &str = "corosensei 0.3 resume/suspend, two suspend sites in turn";

/// What each switch case is, and why the call sites matter (the return-stack buffer).
const CASE_NOTES: [&str; 3] = [
    "Spindle switch, same call site: both contexts call `switch` from the one call \
     instruction of a shared `#[inline(never)]` loop. `switch` ends in a `ret` on the other \
     context's stack, which goes back to where that context called `switch`; the CPU's \
     return-stack buffer predicts the return address of the call just made, and here the \
     two are the same address, so every `ret` is predicted. The kernel's thread-yield \
     ping-pong is this case: both threads switch from the same place in the scheduler.",
    "Spindle switch, different call sites: the main context switches from the shared \
     loop, the peer from a loop of its own, so every `ret` lands on the other call site \
     and is a mispredicted return. The same instructions, but for the peer's loop branch: \
     the difference is the misprediction. In the kernel: a thread that parks handing over to one that \
     yields, a thread's first run, a preemption against a voluntary switch.",
    "corosensei: resume is an indirect `call` to where the coroutine last suspended and \
     suspend is a `ret` to that call, so its calls and returns pair whatever the call \
     sites and the return-stack buffer always predicts them; it has no same-call-site \
     case, since resume and suspend are different code. With two suspend sites in turn \
     the resume's indirect call alternates between two targets, which the indirect-branch \
     predictor follows.",
];

/// Ratios reported: (numerator, denominator, what the comparison is).
const RATIOS: [(&str, &str, &str); 2] = [
    (
        SPINDLE_SAME,
        COROSENSEI_ONE,
        "the matching case, every return predicted in both",
    ),
    (
        SPINDLE_DIFFERENT,
        COROSENSEI_ONE,
        "Spindle's returns mispredicted, corosensei's not",
    ),
];

fn main() {
    let machine = Machine::detect();
    let load_before = load_average();
    let pin = pin_cpu();
    let same_cpu_shares = RefCell::new(Vec::new());
    let figures = measure_rounds(&mut workloads(&same_cpu_shares), pin);
    let load_after = load_average();
    let mut notes = vec![pin_note(pin)];
    notes.extend(CASE_NOTES.iter().map(|&note| note.to_owned()));
    notes.extend(ratio_notes(&figures));
    notes.extend(machine_notes(&machine, &same_cpu_shares.borrow()));
    let report = Report {
        date: utc_date(),
        tsc_ticks_per_ns: median_tsc_rate(&figures),
        method: method(),
        load: [load_before, load_after],
        machine,
        figures,
        notes,
    };
    print!("{}", report.text());
    write_report(&report);
}

/// Writes `host.md` and `host.json` under the target directory, or exits with an error.
fn write_report(report: &Report) {
    let mut directory = target_dir().join("bench");
    let written = fs::create_dir_all(&directory)
        .map(|()| directory = fs::canonicalize(&directory).unwrap_or(directory.clone()))
        .and_then(|()| fs::write(directory.join("host.md"), report.markdown()))
        .and_then(|()| fs::write(directory.join("host.json"), report.json()));
    match written {
        Ok(()) => println!("\nwrote {0}/host.md and {0}/host.json", directory.display()),
        Err(error) => {
            eprintln!(
                "error: cannot write the report to {}: {error}",
                directory.display()
            );
            std::process::exit(1);
        }
    }
}

/// One measured workload, run once per round.
struct Workload<'a> {
    name: &'static str,
    operation: &'static str,
    plan: Plan,
    /// Whether it runs on this thread alone, so that pinning the thread pins all of it.
    pinnable: bool,
    run: Box<dyn FnMut(Plan) -> Vec<Sample> + 'a>,
}

impl<'a> Workload<'a> {
    /// A workload confined to this thread.
    fn new(
        name: &'static str,
        operation: &'static str,
        plan: Plan,
        run: impl FnMut(Plan) -> Vec<Sample> + 'a,
    ) -> Self {
        Self {
            name,
            operation,
            plan,
            pinnable: true,
            run: Box::new(run),
        }
    }

    /// Runs it once, on CPU `pin` if it is pinnable and `pin` is given.
    fn run_once(&mut self, pin: Option<u32>) -> Vec<Sample> {
        let (plan, run) = (self.plan, &mut self.run);
        match pin.filter(|_| self.pinnable) {
            Some(cpu) => measure::pinned(cpu, || run(plan)).expect("pinning to a CPU that worked"),
            None => run(plan),
        }
    }
}

/// Every figure of the report, in order. The OS-thread ping-pong records, per round, the
/// share of batches whose two threads shared a CPU, in `same_cpu_shares`.
fn workloads(same_cpu_shares: &RefCell<Vec<f64>>) -> Vec<Workload<'_>> {
    let os_threads = Workload {
        pinnable: false, // it spawns a thread: where Linux places the two is part of it
        ..Workload::new("OS threads, park/unpark", "switch", SLOW, |plan| {
            let run = workloads::os_threads(plan);
            same_cpu_shares.borrow_mut().push(run.same_cpu_share);
            run.samples
        })
    };
    vec![
        Workload::new(SPINDLE_SAME, "switch", FAST, |plan| {
            workloads::spindle_switch(CallSites::Same, plan)
        }),
        Workload::new(SPINDLE_DIFFERENT, "switch", FAST, |plan| {
            workloads::spindle_switch(CallSites::Different, plan)
        }),
        Workload::new(COROSENSEI_ONE, "switch", FAST, |plan| {
            workloads::corosensei(SuspendSites::One, plan)
        }),
        Workload::new(COROSENSEI_TWO, "switch", FAST, |plan| {
            workloads::corosensei(SuspendSites::Two, plan)
        }),
        Workload::new(
            "Spindle run queue, 2 queued",
            "pop+push_expired",
            FAST,
            |plan| workloads::run_queue(2, plan),
        ),
        Workload::new(
            "Spindle run queue, 10,000 queued",
            "pop+push_expired",
            FAST,
            |plan| workloads::run_queue(10_000, plan),
        ),
        os_threads,
        Workload::new(
            "tokio current_thread yield_now",
            "switch",
            FAST,
            workloads::tokio_yield,
        ),
    ]
}

/// The CPU to pin the single-thread figures to: the one this thread starts on, if
/// pinning works here (a container may forbid it).
fn pin_cpu() -> Option<u32> {
    let cpu = measure::current_cpu();
    measure::pinned(cpu, || ()).ok().map(|()| cpu)
}

fn pin_note(pin: Option<u32>) -> String {
    match pin {
        Some(cpu) => format!(
            "pinned: every figure but the OS threads' ran pinned to CPU {cpu}; the OS \
             threads are placed by Linux"
        ),
        None => "not pinned: this process may not set its CPU affinity".to_owned(),
    }
}

/// Runs every workload [`ROUNDS`] times, round by round.
fn measure_rounds(workloads: &mut [Workload<'_>], pin: Option<u32>) -> Vec<Figure> {
    let mut rounds: Vec<Vec<Vec<Sample>>> = workloads.iter().map(|_| Vec::new()).collect();
    for round in 1..=ROUNDS {
        for (workload, samples) in workloads.iter_mut().zip(&mut rounds) {
            eprintln!("round {round}/{ROUNDS}: {} ...", workload.name);
            samples.push(workload.run_once(pin));
        }
    }
    workloads
        .iter()
        .zip(rounds)
        .map(|(workload, rounds)| Figure::new(workload, &rounds))
        .collect()
}

/// One line of the report.
struct Figure {
    name: &'static str,
    operation: &'static str,
    /// Operations timed, all rounds together.
    operations: u64,
    pinned: bool,
    /// Each round's median, per operation.
    round_medians: Vec<Sample>,
    /// All batches of all rounds.
    nanos: Summary,
    ticks: Summary,
}

impl Figure {
    fn new(workload: &Workload<'_>, rounds: &[Vec<Sample>]) -> Self {
        let all = || rounds.iter().flatten();
        let round_medians = rounds
            .iter()
            .map(|samples| Sample {
                nanos: Summary::of(samples.iter().map(|s| s.nanos)).median,
                ticks: Summary::of(samples.iter().map(|s| s.ticks)).median,
            })
            .collect();
        Self {
            name: workload.name,
            operation: workload.operation,
            operations: workload.plan.timed_ops() * rounds.len() as u64,
            pinned: workload.pinnable,
            round_medians,
            nanos: Summary::of(all().map(|s| s.nanos)),
            ticks: Summary::of(all().map(|s| s.ticks)),
        }
    }

    /// The rounds' medians in TSC ticks: their median is the figure, min and max its spread.
    fn ticks_by_round(&self) -> Summary {
        Summary::of(self.round_medians.iter().map(|s| s.ticks))
    }

    /// The median of the rounds' medians, in nanoseconds.
    fn median_nanos(&self) -> f64 {
        Summary::of(self.round_medians.iter().map(|s| s.nanos)).median
    }

    /// The table's numeric columns, in [`COLUMNS`] order.
    fn values(&self) -> [f64; 7] {
        let (rounds, all) = (self.ticks_by_round(), self.ticks);
        [
            self.median_nanos(),
            all.min,
            rounds.median,
            rounds.min,
            rounds.max,
            all.p99,
            all.max,
        ]
    }
}

const COLUMNS: [&str; 7] = [
    "ns median",
    "tsc min",
    "tsc median",
    "rounds min",
    "rounds max",
    "tsc p99",
    "tsc max",
];

/// One line per entry of [`RATIOS`]: the median over the rounds of the ratio of the two
/// figures' round medians (measured moments apart, under the same load), and its range.
fn ratio_notes(figures: &[Figure]) -> Vec<String> {
    let by_name = |name| figures.iter().find(|f| f.name == name).expect("a figure");
    RATIOS
        .iter()
        .map(|&(numerator, denominator, what)| {
            let ratios = round_ratios(by_name(numerator), by_name(denominator));
            format!(
                "{numerator} ÷ {denominator}: {:.2}× (rounds {:.2}-{:.2}×): {what}",
                ratios.median, ratios.min, ratios.max
            )
        })
        .collect()
}

/// The ratios of two figures' medians, round by round.
fn round_ratios(numerator: &Figure, denominator: &Figure) -> Summary {
    Summary::of(
        numerator
            .round_medians
            .iter()
            .zip(&denominator.round_medians)
            .map(|(n, d)| n.ticks / d.ticks),
    )
}

/// Notes about the machine: the hypervisor, and where the OS threads ran.
fn machine_notes(machine: &Machine, same_cpu_shares: &[f64]) -> Vec<String> {
    let mut notes = Vec::new();
    let virtualised = machine.hypervisor.is_some();
    if virtualised {
        notes.push(
            "a virtual machine: now and then a hypervisor exit inflates p99 and max".to_owned(),
        );
    }
    let shares: Vec<String> = same_cpu_shares
        .iter()
        .map(|share| format!("{:.0}%", share * 100.0))
        .collect();
    notes.push(format!(
        "OS threads: both threads were last on the same CPU at the end of {} of the batches \
         (by round). On one CPU a switch is a futex wake-up plus a local context switch; \
         across CPUs it is a cross-CPU wake-up (an IPI{}), several times slower: the figure \
         varies from run to run with where Linux places the threads and what else runs.",
        shares.join(", "),
        if virtualised {
            ", which a VM turns into hypervisor exits"
        } else {
            ""
        },
    ));
    notes
}

/// TSC ticks per nanosecond: the median over the figures of median ticks / median ns.
fn median_tsc_rate(figures: &[Figure]) -> f64 {
    let mut rates: Vec<f64> = figures
        .iter()
        .map(|f| f.ticks_by_round().median / f.median_nanos())
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn method() -> String {
    format!(
        "{ROUNDS} rounds, interleaved (every figure once, then again); per figure and round: \
         warm-up batches, then {} to {} timed batches of {} operations; each batch timed \
         with std::time::Instant (ns) and with the TSC (lfence; rdtsc before, rdtscp; lfence \
         after); a sample is batch time / operations. `tsc median` is the median of the \
         rounds' medians, `rounds min`/`max` the lowest and highest round median (the \
         spread), `tsc min`, `p99` (nearest rank) and `max` are over all batches of all \
         rounds. A switch is one hand-off between two contexts (half a round trip); the \
         run-queue operation is one pop plus one push_expired.",
        grouped(SLOW.samples as u64),
        grouped(FAST.samples as u64),
        grouped(FAST.ops_per_sample.into()),
    )
}

/// The 1-, 5- and 15-minute load averages, if `/proc/loadavg` says.
fn load_average() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let mut next = || fields.next()?.ok();
    Some([next()?, next()?, next()?])
}

/// `1.2, 3.4, 5.6` or `unknown`.
fn describe_load(load: Option<[f64; 3]>) -> String {
    load.map_or_else(
        || "unknown".to_owned(),
        |[one, five, fifteen]| format!("{one:.2}, {five:.2}, {fifteen:.2}"),
    )
}

/// What the numbers were measured on.
struct Machine {
    cpu: String,
    cpus: usize,
    /// `Some(vendor)` when the CPU reports a hypervisor (vendor from `lscpu`, if any).
    hypervisor: Option<String>,
}

impl Machine {
    fn detect() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| field_of(&cpuinfo, name);
        let model = field("model name").unwrap_or_else(|| "unknown CPU".to_owned());
        let cpu = match (field("cpu family"), field("model"), field("stepping")) {
            (Some(family), Some(number), Some(stepping)) => {
                format!("{model} (family {family}, model {number}, stepping {stepping})")
            }
            _ => model,
        };
        let virtualised =
            field("flags").is_some_and(|flags| flags.split(' ').any(|f| f == "hypervisor"));
        let hypervisor = virtualised.then(|| {
            Command::new("lscpu")
                .output()
                .ok()
                .and_then(|output| {
                    field_of(
                        &String::from_utf8_lossy(&output.stdout),
                        "Hypervisor vendor",
                    )
                })
                .unwrap_or_else(|| "unknown".to_owned())
        });
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            hypervisor,
        }
    }

    fn describe(&self) -> String {
        let kind = match &self.hypervisor {
            Some(vendor) => format!("virtual machine (hypervisor: {vendor})"),
            None => "bare metal (no hypervisor flag)".to_owned(),
        };
        format!("{}, {} logical CPUs, {kind}", self.cpu, self.cpus)
    }
}

/// The value of the first `name: value` line of `text`.
fn field_of(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

/// Everything printed and written.
struct Report {
    date: String,
    machine: Machine,
    /// Load averages before and after the measurements.
    load: [Option<[f64; 3]>; 2],
    tsc_ticks_per_ns: f64,
    method: String,
    figures: Vec<Figure>,
    notes: Vec<String>,
}

impl Report {
    /// The load line of the header.
    fn load_line(&self) -> String {
        format!(
            "load average (1, 5, 15 min, {} CPUs): {} before, {} after",
            self.machine.cpus,
            describe_load(self.load[0]),
            describe_load(self.load[1]),
        )
    }

    fn text(&self) -> String {
        let name_width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(0);
        let op_width = self
            .figures
            .iter()
            .map(|f| f.operation.len())
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "Spindle host benchmark, {}\nmachine: {}\n{}\nTSC: {:.3} ticks/ns (measured \
             against Instant)\n\n{:name_width$}  {:op_width$}",
            self.date,
            self.machine.describe(),
            self.load_line(),
            self.tsc_ticks_per_ns,
            "figure (per operation)",
            "operation",
        );
        for column in COLUMNS {
            let _ = write!(out, "  {column:>10}");
        }
        out.push('\n');
        for figure in &self.figures {
            let _ = write!(
                out,
                "{:name_width$}  {:op_width$}",
                figure.name, figure.operation
            );
            for value in figure.values() {
                let _ = write!(out, "  {value:>10.1}");
            }
            out.push('\n');
        }
        out.push('\n');
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!(
            "# Spindle host benchmark\n\n\
             - date: {}\n\
             - machine: {}\n\
             - {}\n\
             - TSC: {:.3} ticks/ns (measured against `Instant`)\n\
             - method: {}\n\n\
             | figure | operation | operations | {} |\n|---|---|---:|{}\n",
            self.date,
            self.machine.describe(),
            self.load_line(),
            self.tsc_ticks_per_ns,
            self.method,
            COLUMNS.join(" | "),
            "---:|".repeat(COLUMNS.len()),
        );
        for figure in &self.figures {
            let _ = write!(
                out,
                "| {} | {} | {} |",
                figure.name,
                figure.operation,
                grouped(figure.operations)
            );
            for value in figure.values() {
                let _ = write!(out, " {value:.1} |");
            }
            out.push('\n');
        }
        out.push('\n');
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }

    fn json(&self) -> String {
        let summary =
            |s: Summary| json!({ "min": s.min, "median": s.median, "p99": s.p99, "max": s.max });
        let figures: Vec<Value> = self
            .figures
            .iter()
            .map(|figure| {
                json!({
                    "name": figure.name,
                    "operation": figure.operation,
                    "operations": figure.operations,
                    "pinned": figure.pinned,
                    "ns_per_op_median": figure.median_nanos(),
                    "tsc_ticks_per_op_round_medians": figure.round_medians.iter().map(|s| s.ticks).collect::<Vec<_>>(),
                    "tsc_ticks_per_op_by_round": summary(figure.ticks_by_round()),
                    "ns_per_op_all_batches": summary(figure.nanos),
                    "tsc_ticks_per_op_all_batches": summary(figure.ticks),
                })
            })
            .collect();
        let report = json!({
            "date": self.date,
            "cpu": self.machine.cpu,
            "logical_cpus": self.machine.cpus,
            "hypervisor": self.machine.hypervisor,
            "load_average_before": self.load[0],
            "load_average_after": self.load[1],
            "rounds": ROUNDS,
            "tsc_ticks_per_ns": self.tsc_ticks_per_ns,
            "method": self.method,
            "notes": self.notes,
            "figures": figures,
        });
        format!("{report:#}\n")
    }
}

/// `1234567` as `1,234,567`.
fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `CARGO_TARGET_DIR` if set, else the workspace's `target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")),
        PathBuf::from,
    )
}

/// Today in UTC as `YYYY-MM-DD`.
fn utc_date() -> String {
    let mut timestamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    timestamp.truncate("YYYY-MM-DD".len());
    timestamp
}
