//! Reading a benchmark kernel's serial transcript.
//!
//! The contract with the kernels (`benches/kernels`): one line per figure,
//!
//! ```text
//! bench-result name=thread_yield unit=cycles samples=100000 min=310 median=315 p99=320 max=410 overhead=40
//! ```
//!
//! then a `bench-done` line once everything was measured; any other line is a log line
//! and ignored. The parser is strict on purpose: an unknown, missing or repeated field, or
//! statistics out of order, is a kernel bug that must not turn silently into a wrong
//! table, so each one is an error naming the line.

use anyhow::{Context, bail, ensure};

/// What starts a result line.
const RESULT_TAG: &str = "bench-result";
/// The line a kernel prints when it has reported everything.
const DONE_TAG: &str = "bench-done";
/// Every field of a result line, in the order kernels print them.
const FIELDS: [&str; 8] = [
    "name", "unit", "samples", "min", "median", "p99", "max", "overhead",
];

/// One measured figure, as the kernel reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Figure {
    /// A short snake_case id, unique across the suite (`thread_yield`).
    pub(crate) name: String,
    /// What the numbers count (`cycles`: TSC ticks per operation).
    pub(crate) unit: String,
    /// How many samples the statistics are over.
    pub(crate) samples: u64,
    pub(crate) min: u64,
    pub(crate) median: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
    /// The timer overhead already subtracted from every sample, in ticks.
    pub(crate) overhead: u64,
}

/// Every figure in `serial`, in the order printed; fails unless the transcript ends its
/// results with `bench-done` and holds at least one figure.
pub(crate) fn parse_transcript(serial: &str) -> anyhow::Result<Vec<Figure>> {
    let mut figures: Vec<Figure> = Vec::new();
    for (index, line) in serial.lines().enumerate() {
        let line = line.trim();
        if line == DONE_TAG {
            ensure!(
                !figures.is_empty(),
                "the kernel printed `{DONE_TAG}` without any `{RESULT_TAG}` line before it"
            );
            return Ok(figures);
        }
        if !is_result_line(line) {
            continue;
        }
        let figure = parse_line(line).with_context(|| format!("serial line {}", index + 1))?;
        ensure!(
            figures.iter().all(|seen| seen.name != figure.name),
            "serial line {}: figure `{}` reported twice",
            index + 1,
            figure.name
        );
        figures.push(figure);
    }
    bail!("the kernel never printed `{DONE_TAG}` (lines must start with it or `{RESULT_TAG}`)")
}

fn is_result_line(line: &str) -> bool {
    line.strip_prefix(RESULT_TAG)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// Parses one `bench-result key=value ...` line.
pub(crate) fn parse_line(line: &str) -> anyhow::Result<Figure> {
    ensure!(
        is_result_line(line),
        "`{line}` is not a `{RESULT_TAG}` line"
    );
    let fields = &line[RESULT_TAG.len()..];
    let mut values: [Option<&str>; FIELDS.len()] = [None; FIELDS.len()];
    for pair in fields.split_whitespace() {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("`{pair}` is not key=value in `{line}`"))?;
        let slot = FIELDS
            .iter()
            .position(|&field| field == key)
            .with_context(|| format!("unknown field `{key}` in `{line}`"))?;
        ensure!(values[slot].is_none(), "field `{key}` repeated in `{line}`");
        values[slot] = Some(value);
    }
    let field = |slot: usize| {
        values[slot].with_context(|| format!("field `{}` missing from `{line}`", FIELDS[slot]))
    };
    let number = |slot: usize| -> anyhow::Result<u64> {
        let text = field(slot)?;
        text.parse().with_context(|| {
            format!(
                "field `{}={text}` is not a whole number in `{line}`",
                FIELDS[slot]
            )
        })
    };
    let figure = Figure {
        name: identifier(field(0)?).with_context(|| format!("in `{line}`"))?,
        unit: identifier(field(1)?).with_context(|| format!("in `{line}`"))?,
        samples: number(2)?,
        min: number(3)?,
        median: number(4)?,
        p99: number(5)?,
        max: number(6)?,
        overhead: number(7)?,
    };
    check_statistics(&figure).with_context(|| format!("in `{line}`"))?;
    Ok(figure)
}

/// A snake_case word: what names and units must be, so they are safe in every report.
fn identifier(text: &str) -> anyhow::Result<String> {
    let valid = text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ensure!(valid, "`{text}` is not a snake_case id");
    Ok(text.to_owned())
}

fn check_statistics(figure: &Figure) -> anyhow::Result<()> {
    ensure!(figure.samples > 0, "no samples");
    ensure!(
        figure.min <= figure.median && figure.median <= figure.p99 && figure.p99 <= figure.max,
        "statistics out of order: need min <= median <= p99 <= max"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const YIELD: &str = "bench-result name=thread_yield unit=cycles samples=100000 \
                         min=310 median=315 p99=320 max=410 overhead=40";

    fn error(line: &str) -> String {
        format!("{:#}", parse_line(line).unwrap_err())
    }

    #[test]
    fn parses_a_result_line() {
        assert_eq!(
            parse_line(YIELD).unwrap(),
            Figure {
                name: "thread_yield".into(),
                unit: "cycles".into(),
                samples: 100_000,
                min: 310,
                median: 315,
                p99: 320,
                max: 410,
                overhead: 40,
            }
        );
    }

    #[test]
    fn field_order_does_not_matter() {
        let shuffled = "bench-result overhead=40 max=410 p99=320 median=315 min=310 \
                        samples=100000 unit=cycles name=thread_yield";
        assert_eq!(parse_line(shuffled).unwrap(), parse_line(YIELD).unwrap());
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let cases = [
            (
                YIELD.replace(" overhead=40", ""),
                "field `overhead` missing",
            ),
            (format!("{YIELD} stddev=3"), "unknown field `stddev`"),
            (format!("{YIELD} min=1"), "field `min` repeated"),
            (
                YIELD.replace("median=315", "median=3.5"),
                "`median=3.5` is not a whole number",
            ),
            (
                YIELD.replace("median=315", "median=-1"),
                "`median=-1` is not a whole number",
            ),
            (
                YIELD.replace("max=410", "max="),
                "`max=` is not a whole number",
            ),
            (YIELD.replace("p99=320", "p99"), "`p99` is not key=value"),
            (
                YIELD.replace("thread_yield", "Thread-Yield"),
                "not a snake_case id",
            ),
            (
                YIELD.replace("min=310", "min=316"),
                "statistics out of order",
            ),
            (YIELD.replace("samples=100000", "samples=0"), "no samples"),
            ("bench-results name=x".into(), "not a `bench-result` line"),
        ];
        for (line, wanted) in cases {
            let error = error(&line);
            assert!(error.contains(wanted), "`{line}`: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn reads_results_up_to_done_and_skips_log_lines() {
        let serial = format!(
            "BdsDxe: loading\r\n[ 0.001 INFO] measuring\r\n{YIELD}\r\n  {}\r\nbench-done\r\n{}\n",
            YIELD.replace("thread_yield", "spawn"),
            YIELD.replace("thread_yield", "after_done"),
        );
        let names: Vec<String> = parse_transcript(&serial)
            .unwrap()
            .into_iter()
            .map(|figure| figure.name)
            .collect();
        assert_eq!(names, ["thread_yield", "spawn"]);
    }

    #[test]
    fn a_transcript_needs_done_and_results() {
        let missing_done = parse_transcript(&format!("{YIELD}\n")).unwrap_err();
        assert!(
            missing_done
                .to_string()
                .contains("never printed `bench-done`")
        );
        let empty = parse_transcript("log\nbench-done\n").unwrap_err();
        assert!(
            empty
                .to_string()
                .contains("without any `bench-result` line")
        );
    }

    #[test]
    fn a_bad_line_is_located() {
        let serial = format!("log\n{}\nbench-done\n", YIELD.replace("min=310", "min=x"));
        let error = format!("{:#}", parse_transcript(&serial).unwrap_err());
        assert!(error.starts_with("serial line 2: field `min=x`"), "{error}");
    }

    #[test]
    fn a_figure_is_reported_once() {
        let serial = format!("{YIELD}\n{YIELD}\nbench-done\n");
        let error = parse_transcript(&serial).unwrap_err().to_string();
        assert!(error.contains("`thread_yield` reported twice"), "{error}");
    }
}
