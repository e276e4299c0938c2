//! Reading the report of `wrk --latency` (Debian's wrk 4.1.0): the request count and
//! duration, the throughput, the latency distribution and the errors.
//!
//! ```text
//! Running 3s test @ http://127.0.0.1:18080/
//!   ...
//!   Latency Distribution
//!      50%  397.00us
//!      75%  483.00us
//!      90%    1.72ms
//!      99%    7.97ms
//!   6151 requests in 3.00s, 504.57KB read
//!   Socket errors: connect 0, read 1, write 0, timeout 0
//!   Non-2xx or 3xx responses: 2
//! Requests/sec:   2048.62
//! ```
//!
//! wrk prints the two error lines only when a count is not zero; their absence means no
//! error. Everything else must be there: a report without it is an error, never a zero.

use anyhow::{Context, bail};

use super::load::{Errors, Measured};

/// The figures of one report.
pub(crate) fn parse(report: &str) -> anyhow::Result<Measured> {
    let lines: Vec<&str> = report.lines().map(str::trim).collect();
    let field = |prefix: &str| lines.iter().find_map(|line| line.strip_prefix(prefix));
    let (requests, seconds) = requests_in(&lines)?;
    let requests_per_second = number(field("Requests/sec:").context("no `Requests/sec:`")?)?;
    let percentile = |name: &str| -> anyhow::Result<f64> {
        let value = field(name).with_context(|| format!("no {name} latency (--latency?)"))?;
        milliseconds(value.trim())
    };
    let mut errors = Errors::default();
    if let Some(socket) = field("Socket errors:") {
        for part in socket.split(',') {
            let (name, count) = part
                .trim()
                .split_once(' ')
                .with_context(|| format!("cannot read socket errors `{socket}`"))?;
            errors.add(name, count_of(count)?);
        }
    }
    if let Some(count) = field("Non-2xx or 3xx responses:") {
        errors.add("non-2xx", count_of(count)?);
    }
    Ok(Measured {
        requests,
        seconds,
        requests_per_second,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
        errors,
    })
}

/// The count and seconds of `6151 requests in 3.00s, 504.57KB read`.
fn requests_in(lines: &[&str]) -> anyhow::Result<(u64, f64)> {
    const MARKER: &str = " requests in ";
    let (line, (count, rest)) = lines
        .iter()
        .find_map(|line| Some((line, line.split_once(MARKER)?)))
        .context("wrk printed no `N requests in T` line")?;
    let read = || -> anyhow::Result<(u64, f64)> {
        let duration = rest.split(',').next().unwrap_or_default();
        Ok((count_of(count)?, milliseconds(duration)? / 1000.0))
    };
    read().with_context(|| format!("cannot read `{line}`"))
}

/// A time as wrk prints it (`397.00us`, `1.72ms`, `3.00s`, `1.00m`), in milliseconds.
pub(crate) fn milliseconds(text: &str) -> anyhow::Result<f64> {
    let text = text.trim();
    let units = [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)];
    for (unit, scale) in units {
        if let Some(value) = text.strip_suffix(unit) {
            return Ok(number(value)? * scale);
        }
    }
    bail!("`{text}` is not a time")
}

pub(crate) fn number(text: &str) -> anyhow::Result<f64> {
    let text = text.trim();
    text.parse()
        .ok()
        .filter(|value: &f64| value.is_finite() && *value >= 0.0)
        .with_context(|| format!("`{text}` is not a number"))
}

pub(crate) fn count_of(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    text.parse()
        .with_context(|| format!("`{text}` is not a count"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real report (wrk 4.1.0 against the Linux server, 1 connection).
    const CLEAN: &str = "Running 3s test @ http://127.0.0.1:18080/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   835.30us    1.52ms  19.90ms   92.40%
    Req/Sec     2.06k   410.78     2.68k    63.33%
  Latency Distribution
     50%  397.00us
     75%  483.00us
     90%    1.72ms
     99%    7.97ms
  6151 requests in 3.00s, 504.57KB read
Requests/sec:   2048.62
Transfer/sec:    168.05KB
";

    #[test]
    fn reads_throughput_and_percentiles() {
        let measured = parse(CLEAN).unwrap();
        assert_eq!(measured.requests, 6151);
        assert!((measured.seconds - 3.0).abs() < 1e-9);
        assert!((measured.requests_per_second - 2048.62).abs() < 1e-9);
        assert!((measured.p50_ms - 0.397).abs() < 1e-9);
        assert!((measured.p99_ms - 7.97).abs() < 1e-9);
        assert_eq!(measured.errors.total(), 0);
    }

    #[test]
    fn counts_every_kind_of_error() {
        let report = CLEAN.replace(
            "Requests/sec:",
            "  Socket errors: connect 0, read 3, write 1, timeout 12\n  \
             Non-2xx or 3xx responses: 5\nRequests/sec:",
        );
        let errors = parse(&report).unwrap().errors;
        assert_eq!(errors.total(), 21);
        assert_eq!(errors.to_string(), "read 3, write 1, timeout 12, non-2xx 5");
    }

    #[test]
    fn a_report_missing_a_figure_is_an_error() {
        let no_latency = CLEAN.replace("99%", "98%");
        let error = format!("{:#}", parse(&no_latency).unwrap_err());
        assert!(error.contains("no 99% latency"), "{error}");
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused\n").is_err());
        let garbled = CLEAN.replace("6151 requests", "many requests");
        assert!(parse(&garbled).is_err());
    }

    #[test]
    fn times_in_every_unit() {
        assert_eq!(milliseconds("250.00us").unwrap(), 0.25);
        assert_eq!(milliseconds(" 1.50ms").unwrap(), 1.5);
        assert_eq!(milliseconds("2.00s").unwrap(), 2000.0);
        assert_eq!(milliseconds("1.00m").unwrap(), 60_000.0);
        assert!(milliseconds("3").is_err());
        assert!(milliseconds("-1ms").is_err());
    }
}
