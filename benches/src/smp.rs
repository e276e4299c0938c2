//! The SMP kernels' results: each kernel booted several times under MTTCG, each figure
//! summarised over the boots, and the ratios each kernel declares computed per boot.
//!
//! Host time on a shared 2-core machine moves from boot to boot (other builds, other
//! boots, the host's scheduler placing two vCPU threads), so a single boot's figure says
//! little. What is reported instead: per figure, the median over the boots of each boot's
//! median, with the lowest and highest boot median as the spread; per ratio (say, a
//! cross-CPU wake over a same-CPU wake), the ratio of the two medians *within* each boot,
//! then the median and spread of those, so that a slow boot slows both sides of it.

use anyhow::{Context, bail, ensure};

use crate::{
    discover::{KernelSpec, Ratio},
    parse::Figure,
    run::Boot,
};

/// The middle and the extremes of one value over several boots.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// The spread of `values` (at least one); an even count has the mean of the middle
    /// two as its median.
    pub(crate) fn of(values: &[f64]) -> Self {
        assert!(!values.is_empty(), "a spread needs values");
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = match sorted.len() % 2 {
            1 => sorted[middle],
            _ => (sorted[middle - 1] + sorted[middle]) / 2.0,
        };
        Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        }
    }

    /// `(max - min) / median`: how far apart the boots were, relative to the figure;
    /// `None` for a median of zero.
    pub(crate) fn relative(&self) -> Option<f64> {
        (self.median != 0.0).then(|| (self.max - self.min) / self.median)
    }
}

/// One figure of an SMP kernel over all its boots.
#[derive(Clone, Debug)]
pub(crate) struct SmpRow {
    pub(crate) kernel: String,
    pub(crate) cpus: u32,
    /// The figure as each boot reported it, in boot order.
    pub(crate) boots: Vec<Figure>,
    /// Over the boots' medians.
    pub(crate) spread: Spread,
}

impl SmpRow {
    pub(crate) fn name(&self) -> &str {
        &self.boots[0].name
    }

    pub(crate) fn unit(&self) -> &str {
        &self.boots[0].unit
    }
}

/// One declared ratio over all boots of its kernel.
#[derive(Clone, Debug)]
pub(crate) struct RatioRow {
    pub(crate) kernel: String,
    pub(crate) ratio: Ratio,
    /// Numerator median over denominator median, per boot, in boot order.
    pub(crate) per_boot: Vec<f64>,
    pub(crate) spread: Spread,
}

/// Everything measured by the SMP kernels of a run (empty when none ran).
#[derive(Clone, Debug, Default)]
pub(crate) struct SmpResults {
    /// Figures in kernel order, then in the order each kernel printed them.
    pub(crate) rows: Vec<SmpRow>,
    pub(crate) ratios: Vec<RatioRow>,
    /// Every boot, in the order they ran.
    pub(crate) boots: Vec<Boot>,
}

impl SmpResults {
    /// Summarises `boots` (the SMP kernels' only) per kernel of `specs`: every boot of a
    /// kernel must report the same figures, no two kernels the same figure, and every
    /// declared ratio must name two of the kernel's figures.
    pub(crate) fn new(specs: &[KernelSpec], boots: Vec<Boot>) -> anyhow::Result<Self> {
        let mut results = Self::default();
        for spec in specs {
            let Some(cpus) = spec.smp else { continue };
            let of_kernel: Vec<&Boot> = boots.iter().filter(|b| b.kernel == spec.name).collect();
            ensure!(!of_kernel.is_empty(), "{} was not booted", spec.name);
            for row in rows(&spec.name, cpus, &of_kernel)? {
                ensure!(
                    results.rows.iter().all(|seen| seen.name() != row.name()),
                    "figure `{}` is reported by two kernels",
                    row.name()
                );
                results.rows.push(row);
            }
            for ratio in &spec.ratios {
                let row = ratio_row(&spec.name, ratio, &of_kernel)
                    .with_context(|| format!("ratio `{}` of {}", ratio.name(), spec.name))?;
                results.ratios.push(row);
            }
        }
        results.boots = boots;
        Ok(results)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The distinct numbers of boots per kernel (one number unless a boot was skipped).
    pub(crate) fn boot_counts(&self) -> Vec<usize> {
        distinct(self.rows.iter().map(|row| row.boots.len()))
    }

    /// The distinct CPU counts the kernels were booted with.
    pub(crate) fn cpu_counts(&self) -> Vec<u32> {
        distinct(self.rows.iter().map(|row| row.cpus))
    }

    /// The distinct units of the figures, in order of appearance.
    pub(crate) fn units(&self) -> Vec<&str> {
        distinct(self.rows.iter().map(SmpRow::unit))
    }
}

fn distinct<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen: Vec<T> = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

/// One row per figure of `kernel`, over its `boots`.
fn rows(kernel: &str, cpus: u32, boots: &[&Boot]) -> anyhow::Result<Vec<SmpRow>> {
    let first = boots[0];
    for boot in &boots[1..] {
        ensure!(
            names(boot) == names(first),
            "{kernel} reported different figures in two boots ({}) and ({})",
            names(first).join(", "),
            names(boot).join(", ")
        );
    }
    (0..first.figures.len())
        .map(|index| {
            let figures: Vec<Figure> = boots.iter().map(|b| b.figures[index].clone()).collect();
            ensure!(
                figures.iter().all(|f| f.unit == figures[0].unit),
                "{}: the unit differs between boots",
                figures[0].name
            );
            let medians: Vec<f64> = figures.iter().map(|f| f.median as f64).collect();
            Ok(SmpRow {
                kernel: kernel.to_owned(),
                cpus,
                spread: Spread::of(&medians),
                boots: figures,
            })
        })
        .collect()
}

fn names(boot: &Boot) -> Vec<&str> {
    boot.figures.iter().map(|f| f.name.as_str()).collect()
}

/// `ratio` in each of `boots`.
fn ratio_row(kernel: &str, ratio: &Ratio, boots: &[&Boot]) -> anyhow::Result<RatioRow> {
    let median = |boot: &Boot, name: &str| -> anyhow::Result<f64> {
        let figure = boot.figures.iter().find(|f| f.name == name);
        let figure = figure.with_context(|| format!("{kernel} reports no figure `{name}`"))?;
        Ok(figure.median as f64)
    };
    let mut per_boot = Vec::with_capacity(boots.len());
    for boot in boots {
        let denominator = median(boot, &ratio.denominator)?;
        if denominator == 0.0 {
            bail!("`{}` has a median of 0 in a boot", ratio.denominator);
        }
        per_boot.push(median(boot, &ratio.numerator)? / denominator);
    }
    Ok(RatioRow {
        kernel: kernel.to_owned(),
        ratio: ratio.clone(),
        spread: Spread::of(&per_boot),
        per_boot,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{results::tests::boot, run::Mode};

    fn spec(name: &str, ratios: &[(&str, &str)]) -> KernelSpec {
        KernelSpec {
            name: name.into(),
            smp: Some(2),
            ratios: ratios
                .iter()
                .map(|&(numerator, denominator)| Ratio {
                    numerator: numerator.into(),
                    denominator: denominator.into(),
                })
                .collect(),
        }
    }

    /// One kernel, three boots: `cross` is 4x, 3x and 5x `same` (1000, 1100, 900).
    pub(crate) fn sample() -> SmpResults {
        let specs = [spec("smp", &[("cross", "same")])];
        let boots = [(1000, 4000), (1100, 3300), (900, 4500)]
            .iter()
            .map(|&(same, cross)| boot("smp", Mode::Mttcg(2), &[("same", same), ("cross", cross)]))
            .collect();
        SmpResults::new(&specs, boots).unwrap()
    }

    #[test]
    fn spreads_have_a_median_and_extremes() {
        let odd = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 10.0]).median, 3.0);
        assert_eq!(odd.relative(), Some(1.0));
        assert_eq!(Spread::of(&[0.0]).relative(), None);
    }

    #[test]
    fn figures_are_summarised_over_boots() {
        let results = sample();
        let same = &results.rows[0];
        assert_eq!(same.name(), "same");
        assert_eq!(same.boots.len(), 3);
        assert_eq!(same.spread, Spread::of(&[1000.0, 1100.0, 900.0]));
        assert_eq!(results.boot_counts(), [3]);
        assert_eq!(results.cpu_counts(), [2]);
        assert_eq!(results.units(), ["cycles"]);
    }

    #[test]
    fn ratios_are_taken_within_each_boot() {
        let results = sample();
        let ratio = &results.ratios[0];
        assert_eq!(ratio.per_boot, [4.0, 3.0, 5.0]);
        assert_eq!(ratio.spread.median, 4.0);
        assert_eq!(ratio.ratio.name(), "cross / same");
    }

    #[test]
    fn inconsistent_boots_and_unknown_ratios_are_errors() {
        let boots = vec![
            boot("smp", Mode::Mttcg(2), &[("a", 1), ("b", 2)]),
            boot("smp", Mode::Mttcg(2), &[("a", 1)]),
        ];
        let error = SmpResults::new(&[spec("smp", &[])], boots).unwrap_err();
        assert_eq!(
            error.to_string(),
            "smp reported different figures in two boots (a, b) and (a)"
        );
        let boots = vec![boot("smp", Mode::Mttcg(2), &[("a", 1)])];
        let error = SmpResults::new(&[spec("smp", &[("a", "nope")])], boots).unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "ratio `a / nope` of smp: smp reports no figure `nope`"
        );
    }

    #[test]
    fn kernels_without_smp_are_left_to_the_icount_table() {
        let mut classic = spec("threads", &[]);
        classic.smp = None;
        let results = SmpResults::new(&[classic], Vec::new()).unwrap();
        assert!(results.is_empty());
    }
}
