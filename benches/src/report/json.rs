//! `results.json`: everything measured, for tools (trend tracking, comparisons between
//! commits). Unlike the tables it keeps every statistic of both modes, the sample counts
//! and overheads, every SMP boot's own statistics, and the exact QEMU command line of
//! every boot.

use serde_json::{Value, json};

use crate::{
    parse::Figure,
    results::{BASELINE, Results, Row},
    run::Boot,
    smp::{RatioRow, SmpResults, SmpRow, Spread},
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
        .chain(&results.smp.boots)
        .map(boot)
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
        "smp": smp(&results.smp),
        "boots": boots,
    })
}

pub(crate) fn boot(boot: &Boot) -> Value {
    json!({
        "kernel": boot.kernel,
        "mode": boot.mode.to_string(),
        "seconds": (boot.seconds * 10.0).round() / 10.0,
        "qemu_command": boot.qemu_command,
    })
}

/// The SMP figures: per figure and ratio the summary over boots and each boot's value.
pub(crate) fn smp(smp: &SmpResults) -> Value {
    json!({
        "figures": smp.rows.iter().map(smp_figure).collect::<Vec<_>>(),
        "ratios": smp.ratios.iter().map(smp_ratio).collect::<Vec<_>>(),
    })
}

fn smp_figure(row: &SmpRow) -> Value {
    json!({
        "name": row.name(),
        "kernel": row.kernel,
        "unit": row.unit(),
        "cpus": row.cpus,
        "over_boots": spread(&row.spread),
        "boots": row.boots.iter().map(statistics).collect::<Vec<_>>(),
    })
}

fn smp_ratio(row: &RatioRow) -> Value {
    json!({
        "name": row.ratio.name(),
        "kernel": row.kernel,
        "numerator": row.ratio.numerator,
        "denominator": row.ratio.denominator,
        "over_boots": spread(&row.spread),
        "boots": row.per_boot,
    })
}

fn spread(spread: &Spread) -> Value {
    json!({ "median": spread.median, "min": spread.min, "max": spread.max })
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

pub(crate) fn statistics(figure: &Figure) -> Value {
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
        assert_eq!(value["smp"]["figures"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn keeps_every_smp_boot() {
        let mut results = sample();
        results.smp = crate::smp::tests::sample();
        let value: Value = serde_json::from_str(&render(&results)).unwrap();
        let same = &value["smp"]["figures"][0];
        assert_eq!(same["name"], "same");
        assert_eq!(same["cpus"], 2);
        assert_eq!(same["over_boots"]["median"], 1000.0);
        assert_eq!(same["boots"][2]["median"], 900);
        let ratio = &value["smp"]["ratios"][0];
        assert_eq!(ratio["name"], "cross / same");
        assert_eq!(ratio["boots"], json!([4.0, 3.0, 5.0]));
        let boots = value["boots"].as_array().unwrap();
        assert_eq!(boots.len(), 4 + 3);
        assert_eq!(boots[6]["mode"], "mttcg -smp 2");
    }
}
