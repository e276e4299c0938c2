//! Spindle beside Linux: one row per shared figure with both medians and their ratio, as
//! a text table (stdout), `target/bench/linux.{md,json}`, and the "Linux side by side"
//! section of `BENCHMARKS.md`.
//!
//! Only like is compared with like: icount figures with icount figures (instructions),
//! SMP figures with SMP figures (host time under MTTCG, so the ratio of the two kernels'
//! cross-CPU wakes moves with the host's load; the cross-over-same ratio of each side is
//! taken within its own boots and is steadier). A figure one side did not measure (a
//! filtered Spindle run, or `pipe_ping_pong`, which Spindle has no pipe for) shows `-`.

use std::path::Path;

use serde_json::{Value, json};

use super::{CROSS_CPU, LinuxResults, SAME_CPU, boot::CMDLINE};
use crate::{
    report::{Grid, format_ratio, json as json_report, markdown, table},
    results::Results,
};

/// How a figure was measured, which decides what its numbers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clock {
    /// One CPU, `-icount shift=0`: instructions.
    Icount,
    /// Two CPUs under MTTCG: TSC ticks of host time, median over boots.
    Mttcg,
    /// A ratio of two MTTCG figures within each boot, median over boots.
    MttcgRatio,
}

impl Clock {
    fn label(self) -> &'static str {
        match self {
            Self::Icount => "icount, 1 CPU",
            Self::Mttcg => "MTTCG, 2 CPUs",
            Self::MttcgRatio => "MTTCG, ratio",
        }
    }
}

/// The figures compared, in table order, with what each is on Linux.
const FIGURES: [(&str, &str, Clock); 7] = [
    (
        "thread_yield",
        "sched_yield between two threads on one CPU, per switch",
        Clock::Icount,
    ),
    ("block_wake", "futex wake + wait, per switch", Clock::Icount),
    ("spawn_join", "pthread_create + pthread_join", Clock::Icount),
    (
        "pipe_ping_pong",
        "a byte each way through two pipes, per switch",
        Clock::Icount,
    ),
    (
        SAME_CPU,
        "futex hand-off, both threads on CPU 0",
        Clock::Mttcg,
    ),
    (
        CROSS_CPU,
        "futex hand-off, threads on CPU 0 and CPU 1",
        Clock::Mttcg,
    ),
    (
        RATIO,
        "cross-CPU over same-CPU hand-off, within each boot",
        Clock::MttcgRatio,
    ),
];

/// The row name of the SMP ratio: as both sides' SMP tables name it.
const RATIO: &str = "smp_thread_wake_cross_cpu / smp_thread_wake_same_cpu";

/// One figure on both kernels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// The figure's (or ratio's) name in Spindle's reports.
    pub(crate) name: &'static str,
    /// What the Linux side does.
    pub(crate) linux_operation: &'static str,
    clock: Clock,
    pub(crate) spindle: Option<f64>,
    pub(crate) linux: Option<f64>,
}

impl Row {
    /// The name as the table shows it: the ratio's in short, so the column stays narrow.
    fn label(&self) -> &'static str {
        if self.name == RATIO {
            "smp_thread_wake cross / same"
        } else {
            self.name
        }
    }

    /// Linux's figure over Spindle's: how many times what Spindle spends, Linux spends.
    pub(crate) fn ratio(&self) -> Option<f64> {
        match (self.spindle, self.linux) {
            (Some(spindle), Some(linux)) if spindle > 0.0 => Some(linux / spindle),
            _ => None,
        }
    }
}

/// Every compared figure, with whichever sides measured it.
pub(crate) fn rows(spindle: &Results, linux: &LinuxResults) -> Vec<Row> {
    FIGURES
        .iter()
        .map(|&(name, linux_operation, clock)| Row {
            name,
            linux_operation,
            clock,
            spindle: spindle_value(spindle, name, clock),
            linux: linux_value(linux, name, clock),
        })
        .collect()
}

fn spindle_value(results: &Results, name: &str, clock: Clock) -> Option<f64> {
    match clock {
        Clock::Icount => results
            .rows
            .iter()
            .find(|row| row.name() == name)
            .map(|row| row.icount.median as f64),
        _ => smp_value(&results.smp, name, clock),
    }
}

fn linux_value(linux: &LinuxResults, name: &str, clock: Clock) -> Option<f64> {
    match clock {
        Clock::Icount => linux.icount_figure(name).map(|figure| figure.median as f64),
        _ => smp_value(&linux.smp, name, clock),
    }
}

/// An SMP figure's or ratio's median over boots.
fn smp_value(smp: &crate::smp::SmpResults, name: &str, clock: Clock) -> Option<f64> {
    if clock == Clock::MttcgRatio {
        let ratio = smp.ratios.iter().find(|row| row.ratio.name() == name);
        return ratio.map(|row| row.spread.median);
    }
    let row = smp.rows.iter().find(|row| row.name() == name);
    row.map(|row| row.spread.median)
}

/// The side-by-side grid.
fn grid(rows: &[Row]) -> Grid {
    let header = ["figure", "measured", "Spindle", "Linux", "Linux ÷ Spindle"];
    let cell = |row: &Row, value: Option<f64>| match (value, row.clock) {
        (None, _) => "-".to_owned(),
        (Some(value), Clock::MttcgRatio) => format_ratio(value),
        (Some(value), _) => format!("{value:.0}"),
    };
    let cells = rows.iter().map(|row| {
        vec![
            row.label().to_owned(),
            row.clock.label().to_owned(),
            cell(row, row.spindle),
            cell(row, row.linux),
            row.ratio().map_or_else(|| "-".to_owned(), format_ratio),
        ]
    });
    Grid {
        header: header.map(str::to_owned).to_vec(),
        numeric: vec![false, false, true, true, true],
        rows: cells.collect(),
    }
}

/// Linux's own statistics per figure: the icount boot's, and the SMP boots' medians.
fn linux_grid(linux: &LinuxResults) -> Grid {
    let mut rows: Vec<Vec<String>> = linux
        .icount
        .figures
        .iter()
        .map(|f| {
            let values = [f.samples, f.min, f.median, f.p99, f.max];
            let mut cells = vec![f.name.clone(), Clock::Icount.label().to_owned()];
            cells.extend(values.map(|value| value.to_string()));
            cells
        })
        .collect();
    for row in &linux.smp.rows {
        let spread = |value: f64| format!("{value:.0}");
        let (samples, no_p99) = (row.boots[0].samples.to_string(), "-".to_owned());
        let (min, median, max) = (
            spread(row.spread.min),
            spread(row.spread.median),
            spread(row.spread.max),
        );
        let label = Clock::Mttcg.label().to_owned();
        rows.push(vec![
            row.name().to_owned(),
            label,
            samples,
            min,
            median,
            no_p99,
            max,
        ]);
    }
    let header = [
        "figure", "measured", "samples", "min", "median", "p99", "max",
    ];
    Grid {
        header: header.map(str::to_owned).to_vec(),
        numeric: vec![false, false, true, true, true, true, true],
        rows,
    }
}

/// `Linux 6.1.0-57-cloud-amd64 (Debian package ..., command line ...)`.
fn kernel_line(linux: &LinuxResults) -> String {
    format!(
        "Linux `{}` (Debian package `{}`; kernel command line `{CMDLINE}`)",
        linux.release, linux.package
    )
}

/// The legend under the Markdown tables.
const LEGEND: &str = "Medians. **icount, 1 CPU**: `-icount shift=0,sleep=off`, one TSC tick \
    per guest instruction (kernel and user mode alike), so the numbers are instruction \
    counts. **MTTCG, 2 CPUs**: `-smp 2 -accel tcg,thread=multi`, TSC ticks of host time, \
    the median over the boots of each boot's median; the ratio row is taken within each \
    boot. **Linux ÷ Spindle**: Linux's median over Spindle's. The MTTCG rows of the two \
    sides come from different boots, so their Linux ÷ Spindle moves with the host's load; \
    Linux's SMP rows list the lowest, median and highest boot median as min, median, max.";

/// The text printed on stdout.
pub(crate) fn text(spindle: &Results, linux: &LinuxResults) -> String {
    format!(
        "Spindle beside {}\n{}",
        kernel_line(linux).replace('`', ""),
        table::layout(&grid(&rows(spindle, linux)))
    )
}

/// The Markdown section (`linux.md`, and BENCHMARKS.md's "Linux side by side").
pub(crate) fn markdown(spindle: &Results, linux: &LinuxResults) -> String {
    let smp_boots = linux.smp.boots.len();
    format!(
        "{}\n\n{}, booted once under icount and {smp_boots} times under MTTCG.\n\n{}\n\
         Linux alone:\n\n{}\n{LEGEND}\n",
        markdown::provenance_line(&spindle.provenance),
        kernel_line(linux),
        markdown::table(&grid(&rows(spindle, linux))),
        markdown::table(&linux_grid(linux)),
    )
}

/// `linux.json`: the comparison, and every Linux statistic and boot.
pub(crate) fn json(spindle: &Results, linux: &LinuxResults) -> String {
    let compared: Vec<Value> = rows(spindle, linux)
        .iter()
        .map(|row| {
            json!({
                "name": row.name,
                "measured": row.clock.label(),
                "linux_operation": row.linux_operation,
                "spindle": row.spindle,
                "linux": row.linux,
                "linux_over_spindle": row.ratio(),
            })
        })
        .collect();
    let figures: Vec<Value> = linux
        .icount
        .figures
        .iter()
        .map(|figure| json!({ "name": figure.name, "icount": json_report::statistics(figure) }))
        .collect();
    let boots: Vec<Value> = std::iter::once(&linux.icount)
        .chain(&linux.smp.boots)
        .map(json_report::boot)
        .collect();
    let document = json!({
        "release": linux.release,
        "package": linux.package,
        "cmdline": CMDLINE,
        "date": spindle.provenance.date,
        "commit": spindle.provenance.commit,
        "compared": compared,
        "figures": figures,
        "smp": json_report::smp(&linux.smp),
        "boots": boots,
    });
    let mut text = serde_json::to_string_pretty(&document)
        .unwrap_or_else(|_| unreachable!("a JSON value always serialises"));
    text.push('\n');
    text
}

/// Writes `linux.md` and `linux.json` into `dir`; returns their names.
pub(crate) fn write_files(
    spindle: &Results,
    linux: &LinuxResults,
    dir: &Path,
) -> anyhow::Result<Vec<&'static str>> {
    let files = [
        ("linux.md", markdown(spindle, linux)),
        ("linux.json", json(spindle, linux)),
    ];
    crate::report::write_named(dir, &files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{linux::tests::sample as linux_sample, results::tests::boot, run::Mode};

    /// Spindle's threads kernel and its SMP kernel.
    fn spindle() -> Results {
        let threads = [
            ("thread_yield", 227),
            ("block_wake", 356),
            ("spawn_join", 2410),
        ];
        let boots = vec![
            boot("threads", Mode::Icount, &threads),
            boot("threads", Mode::Tcg, &threads),
        ];
        let mut results = Results::new(boots, crate::provenance::Provenance::example()).unwrap();
        let smp = [(5_000, 20_000), (6_000, 18_000), (5_500, 22_000)]
            .iter()
            .map(|&(same, cross)| {
                boot(
                    "smp",
                    Mode::Mttcg(2),
                    &[(SAME_CPU, same), (CROSS_CPU, cross)],
                )
            })
            .collect();
        let spec = crate::linux::smp_spec();
        results.smp = crate::smp::SmpResults::new(
            &[crate::discover::KernelSpec {
                name: "smp".into(),
                ..spec
            }],
            smp,
        )
        .unwrap();
        results
    }

    #[test]
    fn pairs_each_figure_with_linuxs() {
        let rows = rows(&spindle(), &linux_sample());
        let names: Vec<&str> = rows.iter().map(|row| row.name).collect();
        assert_eq!(names, FIGURES.map(|(name, _, _)| name));
        assert_eq!(
            (rows[0].spindle, rows[0].linux),
            (Some(227.0), Some(2042.0))
        );
        assert!((rows[0].ratio().unwrap() - 2042.0 / 227.0).abs() < 1e-9);
        assert_eq!((rows[3].spindle, rows[3].ratio()), (None, None), "no pipes");
        assert_eq!(rows[5].spindle, Some(20_000.0));
        assert_eq!(rows[5].linux, Some(100_000.0));
        assert_eq!(rows[6].spindle, Some(4.0), "the median of 4, 3 and 4");
        assert_eq!(rows[6].linux, Some(4.0), "the median of 4.07, 3 and 4");
    }

    #[test]
    fn a_filtered_run_leaves_spindles_side_empty() {
        let filtered = Results::new(Vec::new(), crate::provenance::Provenance::example()).unwrap();
        let rows = rows(&filtered, &linux_sample());
        assert!(
            rows.iter()
                .all(|row| row.spindle.is_none() && row.ratio().is_none())
        );
        assert!(rows.iter().all(|row| row.linux.is_some()));
    }

    #[test]
    fn the_table_shows_both_sides_and_the_ratio() {
        let text = text(&spindle(), &linux_sample());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Spindle beside Linux 6.1.0-57-cloud-amd64"));
        assert_eq!(
            lines[1],
            "figure                        measured       Spindle   Linux  Linux ÷ Spindle"
        );
        assert_eq!(
            lines[2],
            "thread_yield                  icount, 1 CPU      227    2042             9.00"
        );
        assert!(lines[5].starts_with("pipe_ping_pong "), "{}", lines[5]);
        assert!(
            lines[5].ends_with(" -    6476                -"),
            "{}",
            lines[5]
        );
        assert!(lines[8].ends_with("MTTCG, ratio      4.00    4.00             1.00"));
    }

    #[test]
    fn markdown_and_json_carry_the_release() {
        let (spindle, linux) = (spindle(), linux_sample());
        let text = markdown(&spindle, &linux);
        assert!(text.contains("Linux `6.1.0-57-cloud-amd64` (Debian package"));
        assert!(text.contains("| `thread_yield` | icount, 1 CPU | 227 | 2042 | 9.00 |"));
        assert!(
            text.contains(
                "| `spawn_join` | icount, 1 CPU | 1000 | 60588 | 67320 | 80784 | 201960 |"
            )
        );
        let value: Value = serde_json::from_str(&json(&spindle, &linux)).unwrap();
        let cross =
            "| `smp_thread_wake_cross_cpu` | MTTCG, 2 CPUs | 1000 | 90000 | 100000 | - | 110000 |";
        assert!(
            text.contains(cross),
            "the boots' lowest, median, highest median"
        );
        assert_eq!(value["release"], "6.1.0-57-cloud-amd64");
        assert_eq!(value["compared"][1]["linux"], 4989.0);
        assert_eq!(value["boots"].as_array().unwrap().len(), 1 + 3);
        assert_eq!(
            value["smp"]["figures"][1]["over_boots"]["median"],
            100_000.0
        );
    }
}
