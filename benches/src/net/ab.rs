//! Reading ApacheBench's report (`ab -r -e FILE`, Debian's apache2-utils 2.4): the
//! request count and duration, the throughput and the failures from its report; the
//! latency percentiles from the CSV file `-e` writes, in microsecond resolution where the
//! report's table has whole milliseconds.
//!
//! ```text
//! Time taken for tests:   3.000 seconds
//! Complete requests:      2287
//! Failed requests:        3
//!    (Connect: 0, Receive: 1, Length: 2, Exceptions: 0)
//! Non-2xx responses:      4
//! Requests per second:    762.27 [#/sec] (mean)
//! ```
//!
//! The CSV has one line per percentile, `Percentage served,Time in ms` first: `50,1.204`.
//! ab prints the breakdown of failures, the non-2xx count and write errors only when
//! they are not zero; the other lines must be there.

use anyhow::Context;

use super::{
    load::{Errors, Measured},
    wrk::{count_of, number},
};

/// The figures of one run, from its report and its `-e` CSV.
pub(crate) fn parse(report: &str, csv: &str) -> anyhow::Result<Measured> {
    let field = |name: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(str::trim)
            .with_context(|| format!("ab printed no `{name}`"))
    };
    let first_word = |name: &str| -> anyhow::Result<&str> {
        Ok(field(name)?.split_whitespace().next().unwrap_or_default())
    };
    let mut errors = Errors::default();
    let failed = count_of(field("Failed requests:")?)?;
    match report.lines().find_map(breakdown) {
        Some(parts) => {
            for (name, count) in parts? {
                errors.add(&name, count);
            }
        }
        None => errors.add("failed", failed),
    }
    if let Ok(count) = field("Non-2xx responses:") {
        errors.add("non-2xx", count_of(count)?);
    }
    if let Ok(count) = field("Write errors:") {
        errors.add("write", count_of(count)?);
    }
    Ok(Measured {
        requests: count_of(field("Complete requests:")?)?,
        seconds: number(first_word("Time taken for tests:")?)?,
        requests_per_second: number(first_word("Requests per second:")?)?,
        p50_ms: percentile(csv, 50)?,
        p99_ms: percentile(csv, 99)?,
        errors,
    })
}

/// The counts of `(Connect: 0, Receive: 1, Length: 2, Exceptions: 0)`, named in lower
/// case, if `line` is that line.
fn breakdown(line: &str) -> Option<anyhow::Result<Vec<(String, u64)>>> {
    let inner = line.trim().strip_prefix("(Connect:")?;
    let inner = format!("Connect:{}", inner.strip_suffix(')').unwrap_or(inner));
    let parts = inner.split(',').map(|part| {
        let (name, count) = part
            .split_once(':')
            .with_context(|| format!("cannot read ab's failures `{line}`"))?;
        Ok((name.trim().to_lowercase(), count_of(count)?))
    });
    Some(parts.collect())
}

/// The time in milliseconds within which `percent` % of the requests were served.
fn percentile(csv: &str, percent: u32) -> anyhow::Result<f64> {
    let wanted = percent.to_string();
    let value = csv
        .lines()
        .filter_map(|line| line.trim().split_once(','))
        .find(|(served, _)| *served == wanted)
        .map(|(_, time)| time)
        .with_context(|| format!("ab's percentile file has no line for {percent} %"))?;
    number(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of a real report (ab 2.3 against the Linux server, 1 connection).
    const REPORT: &str = "Benchmarking 127.0.0.1 (be patient).....done


Server Software:
Server Hostname:        127.0.0.1
Server Port:            18080

Document Path:          /
Document Length:        19 bytes

Concurrency Level:      1
Time taken for tests:   3.000 seconds
Complete requests:      2287
Failed requests:        0
Total transferred:      235561 bytes
HTML transferred:       43453 bytes
Requests per second:    762.27 [#/sec] (mean)
Time per request:       1.312 [ms] (mean)
";

    const CSV: &str = "Percentage served,Time in ms\n0,0.589\n1,0.634\n50,1.204\n\
                       98,5.100\n99,5.808\n100,8.804\n";

    #[test]
    fn reads_throughput_and_percentiles() {
        let measured = parse(REPORT, CSV).unwrap();
        assert_eq!(measured.requests, 2287);
        assert_eq!(measured.seconds, 3.0);
        assert_eq!(measured.requests_per_second, 762.27);
        assert_eq!(measured.p50_ms, 1.204);
        assert_eq!(measured.p99_ms, 5.808);
        assert_eq!(measured.errors.total(), 0);
        assert_eq!(measured.errors.to_string(), "none");
    }

    #[test]
    fn counts_failures_non_2xx_and_write_errors() {
        let report = REPORT.replace(
            "Failed requests:        0\n",
            "Failed requests:        3\n   (Connect: 0, Receive: 1, Length: 2, Exceptions: 0)\n\
             Write errors:           1\nNon-2xx responses:      4\n",
        );
        let errors = parse(&report, CSV).unwrap().errors;
        assert_eq!(errors.total(), 8);
        assert_eq!(
            errors.to_string(),
            "receive 1, length 2, non-2xx 4, write 1"
        );
        let unexplained = REPORT.replace("Failed requests:        0", "Failed requests: 2");
        assert_eq!(
            parse(&unexplained, CSV).unwrap().errors.to_string(),
            "failed 2"
        );
    }

    #[test]
    fn a_missing_figure_is_an_error() {
        let no_rate = REPORT.replace("Requests per second", "Requests");
        let error = parse(&no_rate, CSV).unwrap_err().to_string();
        assert_eq!(error, "ab printed no `Requests per second:`");
        let error = parse(REPORT, "Percentage served,Time in ms\n50,1.0\n").unwrap_err();
        assert!(error.to_string().contains("no line for 99 %"), "{error}");
        assert!(parse("apr_socket_connect(): Connection refused (111)\n", CSV).is_err());
    }
}
