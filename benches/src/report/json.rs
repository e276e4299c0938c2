//! `results.json`: everything measured, for tools (trend tracking, comparisons between
//! commits). Unlike the tables it keeps every statistic of both modes, the sample counts
//! and overheads, and the exact QEMU command line of every boot.

use serde_json::{Value, json};

use crate::{
    parse::Figure,
    results::{BASELINE, Results, Row},
};

/// The document, pretty-printed, ending with a newline.
pub(crate) fn render(results: &Results) -> String {
    let mut text = serde_json::to_string_pretty(&document(results))
        .unwrap_or_else(|_| unreachable!("a JSON value always serialises"));
    text.push('\n');
    text
}

fn document(results: &Results) -> Value {
    let provenance = &results.provenance;
    let boots: Vec<Value> = results
        .boots
        .iter()
        .map(|boot| {
            json!({
                "kernel": boot.kernel,
                "mode": boot.mode.to_string(),
                "seconds": (boot.seconds * 10.0).round() / 10.0,
                "qemu_command": boot.qemu_command,
            })
        })
        .collect();
    json!({
        "command": provenance.command,
        "date": provenance.date,
        "commit": provenance.commit,
        "dirty": provenance.dirty,
        "qemu_version": provenance.qemu_version,
        "host_cpu": provenance.host_cpu,
        "baseline": BASELINE,
        "figures": results.rows.iter().map(|row| figure(results, row)).collect::<Vec<_>>(),
        "boots": boots,
    })
}

fn figure(results: &Results, row: &Row) -> Value {
    json!({
        "name": row.name(),
        "kernel": row.kernel,
        "unit": row.unit(),
        "icount": statistics(&row.icount),
        "tcg": statistics(&row.tcg),
        "ratio_to_baseline": results.ratio(row),
    })
}

fn statistics(figure: &Figure) -> Value {
    json!({
        "samples": figure.samples,
        "min": figure.min,
        "median": figure.median,
        "p99": figure.p99,
        "max": figure.max,
        "overhead": figure.overhead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample;

    #[test]
    fn keeps_everything_measured() {
        let value: Value = serde_json::from_str(&render(&sample())).unwrap();
        assert_eq!(value["commit"], "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(value["figures"].as_array().unwrap().len(), 3);
        let spawn = &value["figures"][1];
        assert_eq!(spawn["name"], "thread_spawn");
        assert_eq!(spawn["kernel"], "threads");
        assert_eq!(spawn["icount"]["median"], 12_500);
        assert_eq!(spawn["tcg"]["median"], 50_000);
        assert_eq!(spawn["icount"]["overhead"], 24);
        assert_eq!(spawn["ratio_to_baseline"], 12_500.0 / 320.0);
        let boots = value["boots"].as_array().unwrap();
        assert_eq!(boots.len(), 4);
        assert_eq!(boots[1]["mode"], "tcg");
        assert!(
            boots[0]["qemu_command"]
                .as_str()
                .unwrap()
                .contains("threads.img")
        );
    }
}
