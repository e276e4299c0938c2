//! The reports: the tables on stdout, and under `target/bench/` the same results as JSON
//! (for tools), Markdown (for `BENCHMARKS.md`) and an SVG chart (for people).
//!
//! The text table and the Markdown table are two renderings of one [`Grid`], so they can
//! never disagree about columns or number formatting. The SMP kernels' figures get
//! tables of their own ([`smp`]).

pub(crate) mod json;
pub(crate) mod markdown;
pub(crate) mod smp;
pub(crate) mod svg;
pub(crate) mod table;

use std::{fs, path::Path};

use anyhow::Context;

use crate::results::{BASELINE, Results};

/// A table's cells as text, before it is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) header: Vec<String>,
    /// Per column: right-aligned (a number) or not.
    pub(crate) numeric: Vec<bool>,
    pub(crate) rows: Vec<Vec<String>>,
}

/// The results table: one row per figure; a `unit` column only when units are mixed,
/// and the ratio column only when the baseline was measured.
pub(crate) fn grid(results: &Results) -> Grid {
    let mixed_units = results.units().len() > 1;
    let baseline = results.baseline().is_some();
    let mut columns: Vec<(String, bool)> = vec![("figure".into(), false)];
    if mixed_units {
        columns.push(("unit".into(), false));
    }
    for title in [
        "icount min",
        "icount median",
        "icount p99",
        "icount max",
        "tcg median",
    ] {
        columns.push((title.into(), true));
    }
    if baseline {
        columns.push((format!("× {BASELINE}"), true));
    }
    let rows = results
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.name().to_owned()];
            if mixed_units {
                cells.push(row.unit().to_owned());
            }
            let (icount, tcg) = (&row.icount, &row.tcg);
            for value in [
                icount.min,
                icount.median,
                icount.p99,
                icount.max,
                tcg.median,
            ] {
                cells.push(value.to_string());
            }
            cells.extend(results.ratio(row).map(format_ratio));
            cells
        })
        .collect();
    let (header, numeric) = columns.into_iter().unzip();
    Grid {
        header,
        numeric,
        rows,
    }
}

/// Three significant digits or so, without pretending to more precision.
pub(crate) fn format_ratio(ratio: f64) -> String {
    if ratio >= 100.0 {
        format!("{ratio:.0}")
    } else if ratio >= 10.0 {
        format!("{ratio:.1}")
    } else {
        format!("{ratio:.2}")
    }
}

/// What a value in `unit` is.
pub(crate) fn describe_unit(unit: &str) -> String {
    match unit {
        "cycles" => "cycles = TSC ticks per operation, timer overhead subtracted".into(),
        "ops_per_second" => {
            "ops_per_second = operations of all threads together per second of guest TSC \
             time (the kernel's calibrated TSC frequency)"
                .into()
        }
        "late_ns" => "late_ns = nanoseconds from a deadline to the wake it was armed for".into(),
        other => other.into(),
    }
}

/// Writes `results.json` into `dir`, with `results.md` and `chart.svg` if icount/tcg
/// kernels ran and `smp.md` if SMP kernels did; returns the names written.
pub(crate) fn write_files(results: &Results, dir: &Path) -> anyhow::Result<Vec<&'static str>> {
    let mut files = vec![("results.json", json::render(results))];
    if !results.rows.is_empty() {
        files.push(("results.md", markdown::render(results)));
        files.push(("chart.svg", svg::render(results)));
    }
    if !results.smp.is_empty() {
        files.push(("smp.md", smp::markdown(results)));
    }
    write_named(dir, &files)
}

/// Writes each `(name, text)` of `files` into `dir` (made if missing); returns the names.
pub(crate) fn write_named(
    dir: &Path,
    files: &[(&'static str, String)],
) -> anyhow::Result<Vec<&'static str>> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.iter().map(|&(name, _)| name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        provenance::Provenance,
        results::{
            Results,
            tests::{boot, sample},
        },
        run::Mode,
    };

    #[test]
    fn one_row_per_figure_with_the_ratio_last() {
        let grid = grid(&sample());
        assert_eq!(
            grid.header,
            [
                "figure",
                "icount min",
                "icount median",
                "icount p99",
                "icount max",
                "tcg median",
                "× thread_yield"
            ]
        );
        assert_eq!(
            grid.rows[0],
            ["thread_yield", "288", "320", "384", "960", "1280", "1.00"]
        );
        assert_eq!(grid.rows[1].last().unwrap(), "39.1");
        assert_eq!(grid.numeric, [false, true, true, true, true, true, true]);
    }

    #[test]
    fn mixed_units_get_a_column_and_no_baseline_no_ratio() {
        let mut boots = vec![
            boot("k", Mode::Icount, &[("a", 10), ("b", 20)]),
            boot("k", Mode::Tcg, &[("a", 10), ("b", 20)]),
        ];
        for boot in &mut boots {
            boot.figures[1].unit = "bytes".into();
        }
        let grid = grid(&Results::new(boots, Provenance::example()).unwrap());
        assert_eq!(grid.header[..2], ["figure", "unit"]);
        assert_eq!(grid.header.last().unwrap(), "tcg median");
        assert_eq!(grid.rows[1][..2], ["b", "bytes"]);
    }

    #[test]
    fn ratios_keep_about_three_digits() {
        assert_eq!(format_ratio(0.296_875), "0.30");
        assert_eq!(format_ratio(1.0), "1.00");
        assert_eq!(format_ratio(39.06), "39.1");
        assert_eq!(format_ratio(312.4), "312");
    }

    #[test]
    fn writes_the_files_of_what_ran() {
        let dir = tempfile::tempdir().unwrap();
        let mut results = sample();
        let names = write_files(&results, dir.path()).unwrap();
        assert_eq!(names, ["results.json", "results.md", "chart.svg"]);
        results.smp = crate::smp::tests::sample();
        let names = write_files(&results, dir.path()).unwrap();
        assert_eq!(names.last(), Some(&"smp.md"));
        for name in ["results.json", "results.md", "chart.svg", "smp.md"] {
            assert!(
                dir.path().join(name).metadata().unwrap().len() > 100,
                "{name}"
            );
        }
    }
}
