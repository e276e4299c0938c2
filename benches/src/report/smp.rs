//! The SMP tables, "SMP figures (TCG, N boots)": one row per figure and one per declared
//! ratio, each summarised over the boots (see [`crate::smp`]). Kept apart from the
//! icount table on purpose: these are host-time figures from another way of running
//! QEMU, and no column of one table compares with a column of the other.
//!
//! Rendered as text (stdout) and as Markdown (`smp.md`, and the SMP section of
//! `BENCHMARKS.md`) from the same grids, like the icount table.

use super::{Grid, describe_unit, format_ratio, markdown, table};
use crate::{
    results::Results,
    smp::{SmpResults, Spread},
};

/// Header of the columns every row has: the summary over the boots.
const SPREAD_COLUMNS: [&str; 4] = ["median", "min", "max", "spread"];

/// The text tables with their caption and legend, ending with a newline.
pub(crate) fn text(smp: &SmpResults) -> String {
    let mut text = format!("{}\n{}\n", caption(smp), legend(smp));
    text.push_str(&table::layout(&figures_grid(smp)));
    if !smp.ratios.is_empty() {
        text.push('\n');
        text.push_str(&table::layout(&ratios_grid(smp)));
    }
    text
}

/// The Markdown section: provenance, caption, the two tables, the legend.
pub(crate) fn markdown(results: &Results) -> String {
    let smp = &results.smp;
    let mut text = format!(
        "{}\n\n**{}**\n\n",
        markdown::provenance_line(&results.provenance),
        caption(smp)
    );
    text.push_str(&markdown::table(&figures_grid(smp)));
    if !smp.ratios.is_empty() {
        text.push('\n');
        text.push_str(&markdown::table(&ratios_grid(smp)));
    }
    text.push('\n');
    text.push_str(&legend(smp));
    text.push('\n');
    text
}

/// `SMP figures (TCG, 5 boots)`.
fn caption(smp: &SmpResults) -> String {
    let boots: Vec<String> = smp.boot_counts().iter().map(usize::to_string).collect();
    let plural = if smp.boot_counts() == [1] { "" } else { "s" };
    format!("SMP figures (TCG, {} boot{plural})", boots.join(" or "))
}

fn legend(smp: &SmpResults) -> String {
    let cpus: Vec<String> = smp.cpu_counts().iter().map(u32::to_string).collect();
    let units: Vec<String> = smp.units().into_iter().map(describe_unit).collect();
    format!(
        "Each boot: `-smp {} -accel tcg,thread=multi` (MTTCG: one host thread per vCPU, no \
         icount), so the TSC follows host time and figures move with the host's load. \
         Units: {}. **median**: of the boots' medians; **min**, **max**: the lowest and \
         highest boot median; **spread**: (max - min) / median. A ratio is taken within \
         each boot (one figure's median over the other's), then summarised the same way.",
        cpus.join(" or "),
        units.join("; ")
    )
}

fn figures_grid(smp: &SmpResults) -> Grid {
    let rows = smp
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.name().to_owned(), row.unit().to_owned()];
            cells.extend(spread_cells(&row.spread, format_count));
            cells
        })
        .collect();
    grid(&["figure", "unit"], rows)
}

fn ratios_grid(smp: &SmpResults) -> Grid {
    let rows = smp
        .ratios
        .iter()
        .map(|row| {
            let mut cells = vec![row.ratio.name()];
            cells.extend(spread_cells(&row.spread, format_ratio));
            cells
        })
        .collect();
    grid(&["ratio"], rows)
}

/// A grid whose leading `labels` columns are text and whose spread columns are numbers.
fn grid(labels: &[&str], rows: Vec<Vec<String>>) -> Grid {
    let header = labels
        .iter()
        .chain(&SPREAD_COLUMNS)
        .map(|&title| title.into());
    let numeric = labels
        .iter()
        .map(|_| false)
        .chain(SPREAD_COLUMNS.map(|_| true));
    Grid {
        header: header.collect(),
        numeric: numeric.collect(),
        rows,
    }
}

fn spread_cells(spread: &Spread, format: fn(f64) -> String) -> [String; 4] {
    let relative = spread
        .relative()
        .map_or_else(|| "-".to_owned(), |r| format!("{:.0}%", r * 100.0));
    [
        format(spread.median),
        format(spread.min),
        format(spread.max),
        relative,
    ]
}

/// A count or a cycle figure: whole numbers (the median of an even number of boots may
/// end in .5; the half means nothing here).
fn format_count(value: f64) -> String {
    format!("{value:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        provenance::Provenance,
        results::{Results, tests::boot},
        run::Mode,
        smp::tests::sample,
    };

    #[test]
    fn text_has_caption_figures_and_ratios() {
        let text = text(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "SMP figures (TCG, 3 boots)");
        assert!(lines[1].starts_with("Each boot: `-smp 2 -accel tcg,thread=multi`"));
        assert_eq!(lines[2], "figure  unit    median   min   max  spread");
        assert_eq!(lines[3], "same    cycles    1000   900  1100     20%");
        assert_eq!(lines[4], "cross   cycles    4000  3300  4500     30%");
        assert_eq!(lines[5], "");
        assert_eq!(lines[6], "ratio         median   min   max  spread");
        assert_eq!(lines[7], "cross / same    4.00  3.00  5.00     50%");
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn markdown_has_provenance_and_both_tables() {
        let mut results = Results::new(
            vec![
                boot("k", Mode::Icount, &[("a", 1)]),
                boot("k", Mode::Tcg, &[("a", 1)]),
            ],
            Provenance::example(),
        )
        .unwrap();
        results.smp = sample();
        let text = markdown(&results);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Measured with `./x bench` on commit `0123456789ab`"));
        assert_eq!(lines[2], "**SMP figures (TCG, 3 boots)**");
        assert_eq!(lines[4], "| figure | unit | median | min | max | spread |");
        assert_eq!(lines[6], "| `same` | cycles | 1000 | 900 | 1100 | 20% |");
        assert_eq!(lines[11], "| `cross / same` | 4.00 | 3.00 | 5.00 | 50% |");
        assert!(lines[13].starts_with("Each boot:"));
    }
}
