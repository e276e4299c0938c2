//! The load generators: Debian's `wrk` for keep-alive connections (each of C connections
//! sends its next request as soon as the last response arrived) and ApacheBench for a new
//! connection per request (C at a time; the server closes each after its response). Both
//! run for a fixed time against the forwarded port on 127.0.0.1, with the same per-request
//! time limit, and end by themselves; a watchdog kills one that does not. A generator
//! that gives up (ab stops at the first request that outlasts the time limit) or is
//! killed leaves a run without figures: an aborted run, reported as such.

use std::{
    fmt, fs,
    io::Read,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use super::{ab, wrk};

/// How long a request may take before the generator counts it as an error.
const REQUEST_TIMEOUT_SECS: u64 = 5;
/// Host threads `wrk` runs at most: one per host core of the machines this runs on.
const WRK_THREADS: u32 = 2;
/// Requests `ab` may make at most: far more than a run's time allows, so the time ends it.
const AB_REQUESTS: u64 = 10_000_000;
/// How long after its planned end a generator is killed.
const WATCHDOG_GRACE: Duration = Duration::from_secs(30);

/// Which generator, and so whether connections are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Generator {
    /// `wrk`: HTTP/1.1 keep-alive.
    Wrk,
    /// `ab` without `-k`: HTTP/1.0, a new connection per request.
    Ab,
}

impl Generator {
    pub(crate) fn program(self) -> &'static str {
        match self {
            Self::Wrk => "wrk",
            Self::Ab => "ab",
        }
    }

    /// The Debian package that has the program.
    pub(crate) fn package(self) -> &'static str {
        match self {
            Self::Wrk => "wrk",
            Self::Ab => "apache2-utils",
        }
    }

    pub(crate) fn keep_alive(self) -> bool {
        self == Self::Wrk
    }
}

/// One load: a generator and how many connections it keeps busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Load {
    pub(crate) generator: Generator,
    pub(crate) connections: u32,
}

/// Every load measured, in report order.
pub(crate) const LOADS: [Load; 4] = [
    Load {
        generator: Generator::Wrk,
        connections: 1,
    },
    Load {
        generator: Generator::Wrk,
        connections: 64,
    },
    Load {
        generator: Generator::Ab,
        connections: 1,
    },
    Load {
        generator: Generator::Ab,
        connections: 64,
    },
];

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.generator.keep_alive() {
            "keep-alive"
        } else {
            "new connection per request"
        };
        write!(
            f,
            "{}, {} conn, {kind}",
            self.generator.program(),
            self.connections
        )
    }
}

impl Load {
    /// The generator's command against `port` for `seconds`; `ab` writes its percentiles
    /// to `csv`.
    pub(crate) fn command(&self, port: u16, seconds: u64, csv: &Path) -> Command {
        let url = format!("http://127.0.0.1:{port}/");
        let connections = self.connections.to_string();
        let mut command = Command::new(self.generator.program());
        match self.generator {
            Generator::Wrk => {
                let threads = self.connections.min(WRK_THREADS).to_string();
                let duration = format!("{seconds}s");
                let timeout = format!("{REQUEST_TIMEOUT_SECS}s");
                command.args(["--latency", "-t", &threads, "-c", &connections]);
                command.args(["-d", &duration, "--timeout", &timeout]);
            }
            Generator::Ab => {
                // -r: a failed receive is counted, not the end of the run.
                command.args(["-q", "-r", "-c", &connections]);
                command.args(["-t", &seconds.to_string(), "-n", &AB_REQUESTS.to_string()]);
                command.args(["-s", &REQUEST_TIMEOUT_SECS.to_string()]);
                command.arg("-e").arg(csv);
            }
        }
        command.arg(url);
        command
    }

    /// Runs the load against `port` for `seconds` and reads its report; `scratch` is a
    /// directory for the generator's files. A generator that is missing or prints a
    /// report this cannot read is an error; one that gives up is an aborted [`Run`].
    pub(crate) fn run(&self, port: u16, seconds: u64, scratch: &Path) -> anyhow::Result<Run> {
        let csv = scratch.join("ab-percentiles.csv");
        let _ = fs::remove_file(&csv);
        let mut command = self.command(port, seconds, &csv);
        let shown = crate::run::shell_line(&command);
        let deadline = Duration::from_secs(seconds) + WATCHDOG_GRACE;
        let report = match run_bounded(&mut command, deadline, self.generator)
            .with_context(|| format!("`{shown}`"))?
        {
            Ok(report) => report,
            Err(why) => {
                return Ok(Run {
                    command: shown,
                    measured: Err(why),
                });
            }
        };
        let measured = match self.generator {
            Generator::Wrk => wrk::parse(&report),
            Generator::Ab => fs::read_to_string(&csv)
                .with_context(|| format!("ab wrote no {}", csv.display()))
                .and_then(|csv| ab::parse(&report, &csv)),
        };
        let measured = measured.with_context(|| format!("`{shown}` printed:\n{report}"))?;
        Ok(Run {
            command: shown,
            measured: Ok(measured),
        })
    }
}

/// A load's command line and what it measured, or why the generator gave up.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Run {
    pub(crate) command: String,
    pub(crate) measured: Result<Measured, String>,
}

impl Run {
    /// The figures, unless the run was aborted.
    pub(crate) fn figures(&self) -> Option<&Measured> {
        self.measured.as_ref().ok()
    }

    /// Whether a request failed or the run was aborted.
    pub(crate) fn failed(&self) -> bool {
        self.figures()
            .is_none_or(|measured| measured.errors.total() > 0)
    }

    /// What went wrong: `none`, the errors by kind, or `aborted: <why>`.
    pub(crate) fn problems(&self) -> String {
        match &self.measured {
            Ok(measured) => measured.errors.to_string(),
            Err(why) => format!("aborted: {why}"),
        }
    }
}

/// What a generator reports about one run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Measured {
    /// Requests completed (answered, whatever the status).
    pub(crate) requests: u64,
    /// How long the run took, by the generator's clock.
    pub(crate) seconds: f64,
    pub(crate) requests_per_second: f64,
    /// Median and 99th percentile of the time from sending a request (for `ab`: from
    /// opening its connection) to the end of its response.
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) errors: Errors,
}

/// Failed requests by kind, as the generator names them (`timeout`, `non-2xx`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Errors(Vec<(String, u64)>);

impl Errors {
    pub(crate) fn add(&mut self, kind: &str, count: u64) {
        self.0.push((kind.to_owned(), count));
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.iter().map(|(_, count)| count).sum()
    }

    /// The kinds with a count, as `(kind, count)`.
    pub(crate) fn counted(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(kind, count)| (kind.as_str(), *count))
    }
}

/// `none`, or the kinds with a count: `read 3, timeout 12`.
impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counted: Vec<String> = self
            .counted()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        match counted.is_empty() {
            true => f.write_str("none"),
            false => f.write_str(&counted.join(", ")),
        }
    }
}

/// Runs `command` to its end, at most `limit`, and returns its stdout, or why it failed
/// (its stderr, or that it had to be killed); a missing program is an error naming the
/// package to install.
fn run_bounded(
    command: &mut Command,
    limit: Duration,
    generator: Generator,
) -> anyhow::Result<Result<String, String>> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}", missing(generator))
        }
        Err(error) => return Err(error).context("cannot start it"),
    };
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for it")? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Err(format!("still running after {limit:?}: killed")));
        }
        thread::sleep(Duration::from_millis(50));
    };
    let joined = |reader: Option<thread::JoinHandle<String>>| {
        reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default()
    };
    let (stdout, stderr) = (joined(stdout), joined(stderr));
    if !status.success() {
        return Ok(Err(why_it_ended(&status.to_string(), &stderr, &stdout)));
    }
    Ok(Ok(stdout))
}

/// One line saying why a generator failed: its status, the last line of its stderr and
/// the last progress note of its stdout (ab: `Total of 695 requests completed`).
fn why_it_ended(status: &str, stderr: &str, stdout: &str) -> String {
    let last = |text: &str| {
        let line = text.lines().rev().find(|line| !line.trim().is_empty());
        let line = line.unwrap_or_default();
        line.rsplit("...")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    [status.to_owned(), last(stderr), last(stdout)]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads a child's pipe to its end on a thread of its own, so that neither pipe fills.
fn read_all(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// What to do about a generator that is not installed.
pub(crate) fn missing(generator: Generator) -> String {
    format!(
        "{} not found: `./x bench --net` installs it (Debian package {}; by hand: \
         `sudo apt-get install {}`)",
        generator.program(),
        generator.package(),
        generator.package()
    )
}

/// The generators' versions, for the report: `wrk 4.1.0`, `ab 2.3`; a generator that
/// cannot be run is an error naming its package.
pub(crate) fn versions() -> anyhow::Result<Vec<String>> {
    let mut versions = Vec::new();
    for (generator, flag) in [(Generator::Wrk, "--version"), (Generator::Ab, "-V")] {
        let output = Command::new(generator.program()).arg(flag).output();
        let output = match output {
            Ok(output) => output,
            Err(_) => bail!("{}", missing(generator)),
        };
        let text = String::from_utf8_lossy(&output.stdout);
        versions.push(version_in(generator, &text));
    }
    Ok(versions)
}

/// `wrk 4.1.0-3+b2` from `wrk debian/4.1.0-3+b2 [epoll] ...`, `ab 2.3` from `This is
/// ApacheBench, Version 2.3 <$Revision$>`; the program's name alone if neither is there.
fn version_in(generator: Generator, text: &str) -> String {
    let program = generator.program();
    let version = text.lines().find_map(|line| match generator {
        Generator::Wrk => line
            .strip_prefix("wrk ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(|version| version.trim_start_matches("debian/")),
        Generator::Ab => line
            .split_once("Version ")
            .and_then(|(_, rest)| rest.split_whitespace().next()),
    });
    match version {
        Some(version) => format!("{program} {version}"),
        None => program.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(command: &Command) -> Vec<String> {
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn wrk_keeps_connections_with_at_most_two_threads() {
        let load = LOADS[1];
        let command = load.command(8080, 10, Path::new("/t/p.csv"));
        assert_eq!(command.get_program(), "wrk");
        assert_eq!(
            words(&command).join(" "),
            "--latency -t 2 -c 64 -d 10s --timeout 5s http://127.0.0.1:8080/"
        );
        let single = words(&LOADS[0].command(8080, 10, Path::new("/t/p.csv")));
        assert_eq!(single[1..5], ["-t", "1", "-c", "1"]);
        assert_eq!(load.to_string(), "wrk, 64 conn, keep-alive");
    }

    #[test]
    fn ab_opens_a_connection_per_request_for_a_fixed_time() {
        let load = LOADS[3];
        let command = load.command(8080, 10, Path::new("/t/p.csv"));
        assert_eq!(command.get_program(), "ab");
        let words = words(&command).join(" ");
        assert_eq!(
            words,
            "-q -r -c 64 -t 10 -n 10000000 -s 5 -e /t/p.csv http://127.0.0.1:8080/"
        );
        assert!(!words.contains("-k"));
        assert_eq!(load.to_string(), "ab, 64 conn, new connection per request");
    }

    #[test]
    fn errors_show_the_kinds_that_happened() {
        let mut errors = Errors::default();
        assert_eq!((errors.total(), errors.to_string()), (0, "none".into()));
        errors.add("connect", 0);
        errors.add("timeout", 7);
        errors.add("non-2xx", 2);
        assert_eq!(errors.total(), 9);
        assert_eq!(errors.to_string(), "timeout 7, non-2xx 2");
    }

    #[test]
    fn versions_come_from_the_banners() {
        let wrk = "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: ...";
        assert_eq!(version_in(Generator::Wrk, wrk), "wrk 4.1.0-3+b2");
        let ab = "This is ApacheBench, Version 2.3 <$Revision$>\nCopyright ...";
        assert_eq!(version_in(Generator::Ab, ab), "ab 2.3");
        assert_eq!(version_in(Generator::Ab, "nothing"), "ab");
    }

    #[test]
    fn a_missing_generator_names_its_package() {
        let mut command = Command::new("no-such-generator-spindle");
        let error = run_bounded(&mut command, Duration::from_secs(5), Generator::Ab)
            .unwrap_err()
            .to_string();
        assert!(error.contains("Debian package apache2-utils"), "{error}");
    }

    #[test]
    fn a_generator_that_overruns_is_killed() {
        let mut command = Command::new("sleep");
        command.arg("60");
        let ended = run_bounded(&mut command, Duration::from_millis(200), Generator::Wrk);
        assert_eq!(
            ended.unwrap(),
            Err("still running after 200ms: killed".to_owned())
        );
    }

    #[test]
    fn a_generator_that_gives_up_says_why() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo 'apr_pollset_poll: The timeout specified has expired' >&2; exit 1",
        ]);
        let ended = run_bounded(&mut command, Duration::from_secs(30), Generator::Ab).unwrap();
        assert_eq!(
            ended,
            Err("exit status: 1; apr_pollset_poll: The timeout specified has expired".to_owned())
        );
        let run = Run {
            command: "ab".into(),
            measured: ended.map(|_| unreachable!("the command failed")),
        };
        assert!(run.failed() && run.figures().is_none());
        assert!(
            run.problems()
                .starts_with("aborted: exit status: 1; apr_pollset_poll")
        );
        let stdout = "This is ApacheBench, Version 2.3\nBenchmarking 127.0.0.1 (be patient)\
                      ...Total of 695 requests completed\n";
        assert_eq!(
            why_it_ended(
                "exit status: 119",
                "apr_pollset_poll: expired (70007)\n",
                stdout
            ),
            "exit status: 119; apr_pollset_poll: expired (70007); Total of 695 requests completed"
        );
    }
}
