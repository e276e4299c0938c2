//! The network figures as a text table (stdout), `target/bench/net.{md,json}`, and the
//! network section of `BENCHMARKS.md`: one row per load and server, with Linux's figures
//! as the yardstick of each load.
//!
//! Failed requests are never folded into the other columns: the errors column counts
//! them, the Markdown puts a non-zero count in bold and lists the runs under the table.

use std::path::Path;

use serde_json::{Value, json};

use super::{
    Measurement, NetResults,
    load::{LOADS, Measured},
};
use crate::report::{Grid, format_ratio, markdown, table};

/// The server every other one is compared with.
const YARDSTICK: &str = "linux";

/// The table: per load, one row per server that ran it.
fn grid(results: &NetResults, markdown: bool) -> Grid {
    let columns = [
        ("load", false),
        ("server", false),
        ("req/s", true),
        ("p50 ms", true),
        ("p99 ms", true),
        ("errors", true),
        ("QEMU CPU µs/req", true),
        ("SYN drops", true),
        ("req/s ÷ Linux", true),
        ("p99 ÷ Linux", true),
    ];
    let mut rows = Vec::new();
    for load in LOADS {
        let yardstick = results.find(YARDSTICK, load);
        for (server, _) in &results.servers {
            let Some(measurement) = results.find(server, load) else {
                continue;
            };
            let figure = |value: fn(&Measured) -> f64| measurement.run.figures().map(value);
            let versus = |value: fn(&Measured) -> f64| {
                let linux = yardstick?.run.figures().map(value)?;
                Some(figure(value)? / linux).filter(|ratio| ratio.is_finite())
            };
            let shown = |value: Option<f64>, format: fn(f64) -> String| {
                value.map_or("-".to_owned(), format)
            };
            rows.push(vec![
                load.to_string(),
                (*server).to_owned(),
                shown(figure(|m| m.requests_per_second), |rate| {
                    format!("{rate:.0}")
                }),
                shown(figure(|m| m.p50_ms), milliseconds),
                shown(figure(|m| m.p99_ms), milliseconds),
                errors_cell(measurement, markdown),
                shown(measurement.cpu_us_per_request(), |cpu| format!("{cpu:.0}")),
                measurement
                    .syn_drops
                    .map_or("-".to_owned(), |drops| drops.to_string()),
                shown(versus(|m| m.requests_per_second), format_ratio),
                shown(versus(|m| m.p99_ms), format_ratio),
            ]);
        }
    }
    let (header, numeric) = columns
        .into_iter()
        .map(|(title, numeric)| (title.to_owned(), numeric))
        .unzip();
    Grid {
        header,
        numeric,
        rows,
    }
}

/// Three significant digits or so.
fn milliseconds(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// `0`, the count with its kinds (`12 (timeout 12)`), or `aborted: <why>`; in bold in
/// Markdown when not 0.
fn errors_cell(measurement: &Measurement, markdown: bool) -> String {
    let run = &measurement.run;
    let (lead, rest) = match run.figures() {
        Some(measured) if measured.errors.total() == 0 => return "0".into(),
        Some(measured) => (
            measured.errors.total().to_string(),
            format!(" ({})", measured.errors),
        ),
        None => {
            let problems = run.problems();
            let why = problems.trim_start_matches("aborted");
            ("aborted".to_owned(), why.replace('|', "/"))
        }
    };
    match markdown {
        true => format!("**{lead}**{rest}"),
        false => format!("{lead}{rest}"),
    }
}

/// How the runs were made, in one paragraph.
fn method(results: &NetResults) -> String {
    let plan = &results.plan;
    let loads: Vec<f64> = results
        .measurements
        .iter()
        .filter_map(|measurement| measurement.host_load)
        .collect();
    let host_load = match loads.iter().copied().reduce(f64::min) {
        Some(lowest) => {
            let highest = loads.iter().copied().fold(lowest, f64::max);
            format!(
                " The host's 1-minute load average at the end of the runs: {lowest:.1} to \
                 {highest:.1}."
            )
        }
        None => String::new(),
    };
    let machine = match plan.cpus {
        1 => "one CPU, plain TCG".to_owned(),
        cpus => format!("{cpus} CPUs, MTTCG"),
    };
    format!(
        "Each load ran {} s ({}) against a freshly booted server after a 1 s warm-up, the \
         guest on {machine}, with a virtio-net device on QEMU's user network and its port \
         80 forwarded from 127.0.0.1. `GET /` returns the 19-byte `hello from spindle\\n`. \
         wrk keeps its connections (HTTP/1.1 keep-alive); ab opens a new one per request \
         (HTTP/1.0, the server closes). Latency: from sending the request (ab: from \
         opening the connection) to the end of the response. QEMU CPU: user + system time \
         of the whole QEMU process over the run (vCPUs, device emulation, the user \
         network), per request. SYN drops: connections the host's TCP dropped over the run \
         because a listen queue was full (`ListenOverflows`, host-wide); QEMU's user \
         network accepts forwarded connections with a backlog of one, so opening many at \
         once loses SYNs, which the client retries after a second, whatever the \
         guest.{host_load}",
        plan.seconds,
        results.generators.join(", "),
    )
}

/// The text table for stdout.
pub(crate) fn text(results: &NetResults) -> String {
    let mut text = format!(
        "Network: HTTP GET / from the host, {} s per load, {} guest CPU(s)\n",
        results.plan.seconds, results.plan.cpus
    );
    text.push_str(&table::layout(&grid(results, false)));
    text.push_str(&failures(results, false));
    text
}

/// The runs with failed requests, one line each, after a warning; nothing if none.
fn failures(results: &NetResults, markdown: bool) -> String {
    let failed: Vec<String> = results
        .failed()
        .map(|measurement| {
            format!(
                "- {} [{}]: {}\n",
                measurement.server,
                measurement.load,
                measurement.run.problems()
            )
        })
        .collect();
    if failed.is_empty() {
        return String::new();
    }
    let warning = format!(
        "{} of {} runs had failed requests or were aborted:",
        failed.len(),
        results.measurements.len()
    );
    let warning = match markdown {
        true => format!("\n**Warning: {warning}**\n\n"),
        false => format!("WARNING: {warning}\n"),
    };
    warning + &failed.concat()
}

/// The Markdown section (`net.md`, and BENCHMARKS.md's network section).
pub(crate) fn markdown(results: &NetResults) -> String {
    let servers: String = results
        .servers
        .iter()
        .map(|(name, description)| format!("- `{name}`: {description}\n"))
        .collect();
    let qemu = results
        .measurements
        .iter()
        .find(|measurement| measurement.server == YARDSTICK)
        .or(results.measurements.first())
        .map(|measurement| {
            format!(
                "\nQEMU, for `{}`: `{}`\n",
                measurement.server, measurement.qemu_command
            )
        })
        .unwrap_or_default();
    format!(
        "{}\n\n{}\n\n{servers}\n{}{}{qemu}",
        markdown::provenance_line(&results.provenance),
        method(results),
        markdown::table(&grid(results, true)),
        failures(results, true),
    )
}

/// `net.json`: every run with its commands and all it measured.
pub(crate) fn json(results: &NetResults) -> String {
    let provenance = &results.provenance;
    let runs: Vec<Value> = results.measurements.iter().map(run_json).collect();
    let servers: Vec<Value> = results
        .servers
        .iter()
        .map(|(name, description)| json!({ "name": name, "description": description }))
        .collect();
    let document = json!({
        "command": provenance.command,
        "date": provenance.date,
        "commit": provenance.commit,
        "dirty": provenance.dirty,
        "qemu_version": provenance.qemu_version,
        "host_cpu": provenance.host_cpu,
        "cpus": results.plan.cpus,
        "seconds_per_load": results.plan.seconds,
        "generators": results.generators,
        "servers": servers,
        "runs": runs,
    });
    let mut text = serde_json::to_string_pretty(&document)
        .unwrap_or_else(|_| unreachable!("a JSON value always serialises"));
    text.push('\n');
    text
}

fn run_json(measurement: &Measurement) -> Value {
    let measured = measurement.run.figures();
    let errors: Option<serde_json::Map<String, Value>> = measured.map(|measured| {
        measured
            .errors
            .counted()
            .map(|(kind, count)| (kind.to_owned(), count.into()))
            .collect()
    });
    json!({
        "server": measurement.server,
        "generator": measurement.load.generator.program(),
        "connections": measurement.load.connections,
        "keep_alive": measurement.load.generator.keep_alive(),
        "aborted": measurement.run.measured.as_ref().err(),
        "requests": measured.map(|m| m.requests),
        "seconds": measured.map(|m| m.seconds),
        "requests_per_second": measured.map(|m| m.requests_per_second),
        "p50_ms": measured.map(|m| m.p50_ms),
        "p99_ms": measured.map(|m| m.p99_ms),
        "errors": measured.map(|m| m.errors.total()),
        "errors_by_kind": errors,
        "qemu_cpu_seconds": measurement.qemu_cpu.as_secs_f64(),
        "qemu_cpu_us_per_request": measurement.cpu_us_per_request(),
        "generator_command": measurement.run.command,
        "qemu_command": measurement.qemu_command,
        "host_load_1min": measurement.host_load,
        "syn_drops": measurement.syn_drops,
    })
}

/// Writes `net.md` and `net.json` into `dir`; returns their names.
pub(crate) fn write_files(results: &NetResults, dir: &Path) -> anyhow::Result<Vec<&'static str>> {
    crate::report::write_named(
        dir,
        &[("net.md", markdown(results)), ("net.json", json(results))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tests::sample;

    #[test]
    fn rows_pair_each_server_with_linux() {
        let grid = grid(&sample(), false);
        assert_eq!(grid.rows.len(), 8);
        assert_eq!(
            grid.rows[0],
            [
                "wrk, 1 conn, keep-alive",
                "spindle-tasks",
                "2000",
                "1.00",
                "2.00",
                "0",
                "750",
                "2",
                "2.00",
                "0.50"
            ]
        );
        assert_eq!(grid.rows[1][1], "linux");
        assert_eq!(grid.rows[1][8..], ["1.00", "1.00"]);
        assert_eq!(grid.rows[3][5], "1 (timeout 1)");
    }

    #[test]
    fn without_linux_there_is_no_ratio() {
        let mut results = sample();
        results
            .measurements
            .retain(|measurement| measurement.server != YARDSTICK);
        let grid = grid(&results, false);
        assert_eq!(grid.rows.len(), 4);
        assert!(grid.rows.iter().all(|row| row[8] == "-" && row[9] == "-"));
    }

    #[test]
    fn failed_requests_are_shouted() {
        let results = sample();
        let text = text(&results);
        assert!(text.contains("WARNING: 2 of 8 runs had failed requests or were aborted:\n"));
        assert!(text.contains("- linux [wrk, 64 conn, keep-alive]: timeout 1\n"));
        let markdown = markdown(&results);
        assert!(markdown.contains("| **1** (timeout 1) |"));
        assert!(markdown.contains("**Warning: 2 of 8 runs had failed requests or were aborted:**"));
        let mut clean = sample();
        clean
            .measurements
            .retain(|measurement| !measurement.run.failed());
        assert!(!super::markdown(&clean).contains("Warning"));
        assert!(!super::text(&clean).contains("WARNING"));
    }

    #[test]
    fn markdown_says_how_it_was_measured() {
        let text = markdown(&sample());
        assert!(text.starts_with("Measured with `./x bench`"));
        assert!(text.contains("Each load ran 10 s (wrk 4.1.0-3+b2, ab 2.3)"));
        assert!(text.contains("2 CPUs, MTTCG"));
        assert!(text.contains("load average at the end of the runs: 1.2 to 3.5."));
        assert!(text.contains("- `linux`: Linux (linux-image-6.1.0-57-cloud-amd64)\n"));
        assert!(text.contains("| `wrk, 1 conn, keep-alive` | spindle-tasks | 2000 |"));
        assert!(text.contains("QEMU, for `linux`: `qemu-system-x86_64 -smp 2`"));
    }

    #[test]
    fn an_aborted_run_has_no_figures_and_says_why() {
        let mut results = sample();
        // Linux's keep-alive run with one connection: the table's second row.
        results.measurements[4].run.measured = Err("exit status: 1: apr_pollset_poll".into());
        let grid = grid(&results, true);
        assert_eq!(grid.rows[1][2..5], ["-", "-", "-"]);
        assert_eq!(
            grid.rows[1][5],
            "**aborted**: exit status: 1: apr_pollset_poll"
        );
        assert_eq!(grid.rows[1][6], "-", "no CPU per request");
        assert_eq!(grid.rows[0][8..], ["-", "-"], "nothing to compare with");
        assert!(text(&results).contains("- linux [wrk, 1 conn, keep-alive]: aborted: exit"));
        let value: Value = serde_json::from_str(&json(&results)).unwrap();
        assert_eq!(
            value["runs"][4]["aborted"],
            "exit status: 1: apr_pollset_poll"
        );
        assert!(value["runs"][4]["requests_per_second"].is_null());
        assert!(value["runs"][0]["aborted"].is_null());
    }

    #[test]
    fn json_keeps_every_run() {
        let value: Value = serde_json::from_str(&json(&sample())).unwrap();
        let runs = value["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 8);
        assert_eq!(runs[0]["server"], "spindle-tasks");
        assert_eq!(runs[0]["keep_alive"], true);
        assert_eq!(runs[0]["qemu_cpu_us_per_request"], 750.0);
        assert_eq!(runs[5]["errors"], 1);
        assert_eq!(runs[5]["errors_by_kind"]["timeout"], 1);
        assert_eq!(value["cpus"], 2);
        assert_eq!(value["servers"][1]["name"], "linux");
    }
}
