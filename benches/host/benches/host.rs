//! `cargo bench -p spindle-host-bench`: Spindle's switch and run queue on this machine's
//! CPU, beside corosensei, OS threads and tokio, in one run.
//!
//! Prints one table and writes `target/bench/host.md` and `target/bench/host.json` (under
//! `CARGO_TARGET_DIR` when set). The header says what the machine is, including whether
//! it is a virtual machine: there, a hypervisor exit now and then shows in p99 and max.

use std::{fmt::Write as _, fs, path::PathBuf, process::Command, time::SystemTime};

use serde_json::{Value, json};
use spindle_host_bench::{
    measure::{Plan, Sample, Summary},
    workloads,
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

fn main() {
    let machine = Machine::detect();
    let mut same_cpu_share = 0.0;
    let figures = vec![
        Figure::measure(
            "Spindle context::switch",
            "switch",
            FAST,
            workloads::spindle_switch,
        ),
        Figure::measure(
            "Spindle run queue, 2 queued",
            "pop+push_expired",
            FAST,
            |plan| workloads::run_queue(2, plan),
        ),
        Figure::measure(
            "Spindle run queue, 10,000 queued",
            "pop+push_expired",
            FAST,
            |plan| workloads::run_queue(10_000, plan),
        ),
        Figure::measure(
            "corosensei 0.3 resume/suspend",
            "switch",
            FAST,
            workloads::corosensei,
        ),
        Figure::measure("OS threads, park/unpark", "switch", SLOW, |plan| {
            let run = workloads::os_threads(plan);
            same_cpu_share = run.same_cpu_share;
            run.samples
        }),
        Figure::measure(
            "tokio current_thread yield_now",
            "switch",
            FAST,
            workloads::tokio_yield,
        ),
    ];

    let mut notes = Vec::new();
    let virtualised = machine.hypervisor.is_some();
    if virtualised {
        notes.push(
            "a virtual machine: now and then a hypervisor exit inflates p99 and max".to_owned(),
        );
    }
    notes.push(format!(
        "OS threads: both threads were last on the same CPU at the end of {:.0}% of the \
         batches. On one CPU a switch is a futex wake-up plus a local context switch; across \
         CPUs it is a cross-CPU wake-up (an IPI{}), several times slower: the figure varies \
         from run to run with where Linux places the threads and what else runs.",
        same_cpu_share * 100.0,
        if virtualised {
            ", which a VM turns into hypervisor exits"
        } else {
            ""
        },
    ));
    let report = Report {
        date: utc_date(),
        tsc_ticks_per_ns: median_tsc_rate(&figures),
        method: method(),
        machine,
        figures,
        notes,
    };
    print!("{}", report.text());

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

/// One line of the report.
struct Figure {
    name: &'static str,
    operation: &'static str,
    plan: Plan,
    nanos: Summary,
    ticks: Summary,
}

impl Figure {
    fn measure(
        name: &'static str,
        operation: &'static str,
        plan: Plan,
        workload: impl FnOnce(Plan) -> Vec<Sample>,
    ) -> Self {
        eprintln!("measuring {name} ...");
        let samples = workload(plan);
        Self {
            name,
            operation,
            plan,
            nanos: Summary::of(samples.iter().map(|s| s.nanos)),
            ticks: Summary::of(samples.iter().map(|s| s.ticks)),
        }
    }

    /// The table's numeric columns, in [`COLUMNS`] order.
    fn values(&self) -> [f64; 8] {
        let (n, t) = (self.nanos, self.ticks);
        [n.min, n.median, n.p99, n.max, t.min, t.median, t.p99, t.max]
    }
}

const COLUMNS: [&str; 8] = [
    "ns min",
    "ns median",
    "ns p99",
    "ns max",
    "tsc min",
    "tsc median",
    "tsc p99",
    "tsc max",
];

/// TSC ticks per nanosecond: the median over the figures of median ticks / median ns.
fn median_tsc_rate(figures: &[Figure]) -> f64 {
    let mut rates: Vec<f64> = figures
        .iter()
        .map(|f| f.ticks.median / f.nanos.median)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn method() -> String {
    format!(
        "per figure: warm-up batches, then {} to {} timed batches of {} operations (at least \
         {} operations); each batch timed with std::time::Instant (ns) and with the TSC \
         (lfence; rdtsc before, rdtscp; lfence after); a sample is batch time / operations; \
         min, median, p99 (nearest rank) and max over the batches. A switch is one hand-off \
         between two contexts (half a round trip); the run-queue operation is one pop plus \
         one push_expired. Nothing is pinned.",
        grouped(SLOW.samples as u64),
        grouped(FAST.samples as u64),
        grouped(FAST.ops_per_sample.into()),
        grouped(SLOW.timed_ops().min(FAST.timed_ops())),
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
    tsc_ticks_per_ns: f64,
    method: String,
    figures: Vec<Figure>,
    notes: Vec<String>,
}

impl Report {
    fn text(&self) -> String {
        let name_width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(0);
        let op_width = self
            .figures
            .iter()
            .map(|f| f.operation.len())
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "Spindle host benchmark, {}\nmachine: {}\nTSC: {:.3} ticks/ns (measured against \
             Instant)\n\n{:name_width$}  {:op_width$}",
            self.date,
            self.machine.describe(),
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
             - TSC: {:.3} ticks/ns (measured against `Instant`)\n\
             - method: {}\n\n\
             | figure | operation | operations | {} |\n|---|---|---:|{}\n",
            self.date,
            self.machine.describe(),
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
                grouped(figure.plan.timed_ops())
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
                    "operations": figure.plan.timed_ops(),
                    "ops_per_sample": figure.plan.ops_per_sample,
                    "ns_per_op": summary(figure.nanos),
                    "tsc_ticks_per_op": summary(figure.ticks),
                })
            })
            .collect();
        let report = json!({
            "date": self.date,
            "cpu": self.machine.cpu,
            "logical_cpus": self.machine.cpus,
            "hypervisor": self.machine.hypervisor,
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
