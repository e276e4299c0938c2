//! The table printed on stdout: units first, then aligned columns, numbers right-aligned.

use super::{Grid, describe_unit, grid};
use crate::results::Results;

/// Space between columns.
const GAP: &str = "  ";

/// The units header and the table, ending with a newline.
pub(crate) fn render(results: &Results) -> String {
    let units: Vec<String> = results.units().into_iter().map(describe_unit).collect();
    let mut text = format!("units: {}\n", units.join("; "));
    text.push_str(
        "icount: -icount shift=0, one TSC tick per guest instruction (deterministic); \
         tcg: the TSC follows host time\n",
    );
    text.push_str(&layout(&grid(results)));
    text
}

/// `grid` as aligned text lines: numbers right-aligned, text left-aligned.
pub(crate) fn layout(grid: &Grid) -> String {
    let width = |cells: &[String], column: usize| cells[column].chars().count();
    let widths: Vec<usize> = (0..grid.header.len())
        .map(|column| {
            std::iter::once(&grid.header)
                .chain(&grid.rows)
                .map(|cells| width(cells, column))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&grid.numeric)
            .map(|((cell, &width), &numeric)| match numeric {
                true => format!("{cell:>width$}"),
                false => format!("{cell:<width$}"),
            })
            .collect();
        format!("{}\n", padded.join(GAP).trim_end())
    };
    std::iter::once(&grid.header)
        .chain(&grid.rows)
        .map(|cells| line(cells))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample;

    #[test]
    fn states_units_and_aligns_columns() {
        let text = render(&sample());
        let expected = "\
units: cycles = TSC ticks per operation, timer overhead subtracted
icount: -icount shift=0, one TSC tick per guest instruction (deterministic); tcg: the TSC follows host time
figure        icount min  icount median  icount p99  icount max  tcg median  × thread_yield
thread_yield         288            320         384         960        1280            1.00
thread_spawn       11250          12500       15000       37500       50000            39.1
task_wake             86             95         114         285         380            0.30
";
        assert_eq!(text, expected);
    }
}
