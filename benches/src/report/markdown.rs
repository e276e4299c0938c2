//! `results.md`: the results table as Markdown, with where it was measured and what the
//! units mean. It is also what `--update-benchmarks-md` puts into `BENCHMARKS.md`, so it
//! has no heading of its own: the surrounding document provides one.

use super::{Grid, describe_unit, grid};
use crate::{
    provenance::Provenance,
    results::{BASELINE, Results},
};

/// The whole section, ending with a newline.
pub(crate) fn render(results: &Results) -> String {
    let mut text = provenance_line(&results.provenance);
    text.push_str("\n\n");
    text.push_str(&table(&grid(results)));
    text.push('\n');
    text.push_str(&legend(results));
    text
}

/// `Measured with ... on commit ... (date; QEMU; host CPU).`
pub(crate) fn provenance_line(provenance: &Provenance) -> String {
    let mut line = format!("Measured with `{}`", provenance.command);
    if let Some(commit) = provenance.short_commit() {
        line.push_str(&format!(" on commit `{commit}`"));
    }
    let details: Vec<&str> = [
        Some(provenance.date.as_str()),
        provenance.qemu_version.as_deref(),
        provenance.host_cpu.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    line.push_str(&format!(" ({}).", details.join("; ")));
    line
}

/// `grid` as a Markdown table, the first column's cells as code.
pub(crate) fn table(grid: &Grid) -> String {
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut text = row(grid.header.clone());
    let rule = grid.numeric.iter().map(|&numeric| match numeric {
        true => "--:".to_owned(),
        false => ":--".to_owned(),
    });
    text.push_str(&row(rule.collect()));
    for cells in &grid.rows {
        let mut cells = cells.clone();
        cells[0] = format!("`{}`", cells[0]);
        text.push_str(&row(cells));
    }
    text
}

fn legend(results: &Results) -> String {
    let units: Vec<String> = results.units().into_iter().map(describe_unit).collect();
    let mut text = format!(
        "Units: {}. **icount** columns: QEMU with `-icount shift=0`, where the TSC advances \
         one tick per guest instruction, so the numbers are instruction counts that repeat \
         exactly across runs and hosts. **tcg median**: plain TCG, where the TSC follows \
         host time, so it depends on the host and its load.",
        units.join("; ")
    );
    if results.baseline().is_some() {
        text.push_str(&format!(
            " **× {BASELINE}**: the icount median divided by `{BASELINE}`'s."
        ));
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample;

    #[test]
    fn renders_provenance_table_and_legend() {
        let text = render(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Measured with `./x bench` on commit `0123456789ab` (2026-10-01T12:00:00Z; \
             QEMU emulator version 8.2.2; AMD EPYC 7B13)."
        );
        assert_eq!(
            lines[2],
            "| figure | icount min | icount median | icount p99 | icount max | tcg median \
             | × thread_yield |"
        );
        assert_eq!(lines[3], "| :-- | --: | --: | --: | --: | --: | --: |");
        assert_eq!(
            lines[4],
            "| `thread_yield` | 288 | 320 | 384 | 960 | 1280 | 1.00 |"
        );
        assert!(lines[8].starts_with("Units: cycles = TSC ticks per operation"));
        assert!(lines[8].ends_with("divided by `thread_yield`'s."));
        assert_eq!(lines.len(), 9);
    }
}
