//! The suite's results: every figure with its icount and tcg statistics side by side,
//! the boots they came from, the SMP kernels' figures (`smp`), and where and when they
//! were measured. Every report (tables, JSON, Markdown, chart) is a view of this one
//! value.

use anyhow::{Context, ensure};

use crate::{
    parse::Figure,
    provenance::Provenance,
    run::{Boot, Mode},
    smp::SmpResults,
};

/// The figure the others are divided by: a thread yielding to another thread is the
/// kernel's unit of work, and ratios within one run compare fairly where absolute
/// numbers from different hosts or QEMU versions do not.
pub(crate) const BASELINE: &str = "thread_yield";

/// One figure measured both ways.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// The kernel that reported it.
    pub(crate) kernel: String,
    pub(crate) icount: Figure,
    pub(crate) tcg: Figure,
}

impl Row {
    pub(crate) fn name(&self) -> &str {
        &self.icount.name
    }

    pub(crate) fn unit(&self) -> &str {
        &self.icount.unit
    }
}

/// Everything a report shows.
#[derive(Debug)]
pub(crate) struct Results {
    /// Figures in kernel order, then in the order each kernel printed them.
    pub(crate) rows: Vec<Row>,
    /// The icount and tcg boots.
    pub(crate) boots: Vec<Boot>,
    /// The SMP kernels' figures, booted under MTTCG only (empty until set).
    pub(crate) smp: SmpResults,
    pub(crate) provenance: Provenance,
}

impl Results {
    /// Pairs each kernel's icount figures with its tcg figures; both boots of a kernel
    /// must report the same figures, and no two kernels the same figure.
    pub(crate) fn new(boots: Vec<Boot>, provenance: Provenance) -> anyhow::Result<Self> {
        let mut rows: Vec<Row> = Vec::new();
        for icount in boots.iter().filter(|boot| boot.mode == Mode::Icount) {
            let tcg = boots
                .iter()
                .find(|boot| boot.mode == Mode::Tcg && boot.kernel == icount.kernel)
                .with_context(|| format!("{} has no tcg boot", icount.kernel))?;
            for row in pair(icount, tcg)? {
                ensure!(
                    rows.iter().all(|seen| seen.name() != row.name()),
                    "figure `{}` is reported by two kernels",
                    row.name()
                );
                rows.push(row);
            }
        }
        Ok(Self {
            rows,
            boots,
            smp: SmpResults::default(),
            provenance,
        })
    }

    /// The baseline's icount median, if the baseline was measured (and is not 0).
    pub(crate) fn baseline(&self) -> Option<u64> {
        self.rows
            .iter()
            .find(|row| row.name() == BASELINE)
            .map(|row| row.icount.median)
            .filter(|&median| median > 0)
    }

    /// `row`'s icount median divided by the baseline's.
    pub(crate) fn ratio(&self, row: &Row) -> Option<f64> {
        self.baseline()
            .map(|baseline| row.icount.median as f64 / baseline as f64)
    }

    /// The distinct units of the figures, in order of appearance.
    pub(crate) fn units(&self) -> Vec<&str> {
        let mut units: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !units.contains(&row.unit()) {
                units.push(row.unit());
            }
        }
        units
    }
}

fn pair(icount: &Boot, tcg: &Boot) -> anyhow::Result<Vec<Row>> {
    let names = |boot: &Boot| -> Vec<String> {
        boot.figures
            .iter()
            .map(|figure| figure.name.clone())
            .collect()
    };
    ensure!(
        names(icount) == names(tcg),
        "{} reported different figures under icount ({}) and tcg ({})",
        icount.kernel,
        names(icount).join(", "),
        names(tcg).join(", ")
    );
    icount
        .figures
        .iter()
        .zip(&tcg.figures)
        .map(|(icount_figure, tcg_figure)| {
            ensure!(
                icount_figure.unit == tcg_figure.unit,
                "{}: unit {} under icount but {} under tcg",
                icount_figure.name,
                icount_figure.unit,
                tcg_figure.unit
            );
            Ok(Row {
                kernel: icount.kernel.clone(),
                icount: icount_figure.clone(),
                tcg: tcg_figure.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn figure(name: &str, median: u64) -> Figure {
        Figure {
            name: name.into(),
            unit: "cycles".into(),
            samples: 1000,
            min: median - median / 10,
            median,
            p99: median + median / 5,
            max: median * 3,
            overhead: 24,
        }
    }

    pub(crate) fn boot(kernel: &str, mode: Mode, figures: &[(&str, u64)]) -> Boot {
        Boot {
            kernel: kernel.into(),
            mode,
            seconds: 1.5,
            qemu_command: format!("qemu-system-x86_64 -drive format=raw,file={kernel}.img"),
            figures: figures
                .iter()
                .map(|&(name, median)| figure(name, median))
                .collect(),
        }
    }

    /// Two kernels, three figures; tcg figures are 4x the icount ones.
    pub(crate) fn sample() -> Results {
        let threads = [("thread_yield", 320), ("thread_spawn", 12_500)];
        let tasks = [("task_wake", 95)];
        let tcg = |figures: &[(&'static str, u64)]| -> Vec<(&'static str, u64)> {
            figures
                .iter()
                .map(|&(name, value)| (name, value * 4))
                .collect()
        };
        let boots = vec![
            boot("threads", Mode::Icount, &threads),
            boot("threads", Mode::Tcg, &tcg(&threads)),
            boot("tasks", Mode::Icount, &tasks),
            boot("tasks", Mode::Tcg, &tcg(&tasks)),
        ];
        Results::new(boots, Provenance::example()).unwrap()
    }

    #[test]
    fn pairs_figures_in_kernel_order() {
        let results = sample();
        let names: Vec<&str> = results.rows.iter().map(Row::name).collect();
        assert_eq!(names, ["thread_yield", "thread_spawn", "task_wake"]);
        assert_eq!(results.rows[2].kernel, "tasks");
        assert_eq!(results.rows[1].tcg.median, 50_000);
    }

    #[test]
    fn ratios_are_to_the_icount_baseline() {
        let results = sample();
        assert_eq!(results.baseline(), Some(320));
        assert_eq!(results.ratio(&results.rows[0]), Some(1.0));
        let wake = results.ratio(&results.rows[2]).unwrap();
        assert!((wake - 95.0 / 320.0).abs() < 1e-9);
    }

    #[test]
    fn no_baseline_no_ratio() {
        let boots = vec![
            boot("tasks", Mode::Icount, &[("task_wake", 95)]),
            boot("tasks", Mode::Tcg, &[("task_wake", 400)]),
        ];
        let results = Results::new(boots, Provenance::example()).unwrap();
        assert_eq!(results.baseline(), None);
        assert_eq!(results.ratio(&results.rows[0]), None);
    }

    #[test]
    fn both_modes_must_report_the_same_figures() {
        let boots = vec![
            boot("threads", Mode::Icount, &[("a", 1), ("b", 2)]),
            boot("threads", Mode::Tcg, &[("a", 1)]),
        ];
        let error = Results::new(boots, Provenance::example()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "threads reported different figures under icount (a, b) and tcg (a)"
        );
    }

    #[test]
    fn a_figure_belongs_to_one_kernel() {
        let boots = vec![
            boot("one", Mode::Icount, &[("a", 1)]),
            boot("one", Mode::Tcg, &[("a", 1)]),
            boot("two", Mode::Icount, &[("a", 1)]),
            boot("two", Mode::Tcg, &[("a", 1)]),
        ];
        let error = Results::new(boots, Provenance::example()).unwrap_err();
        assert_eq!(error.to_string(), "figure `a` is reported by two kernels");
    }
}
