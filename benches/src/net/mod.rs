//! `./x bench --net`: Spindle's HTTP servers and Linux's, served from the same QEMU to a
//! load generator on the host.
//!
//! The servers ([`guest`]): examples/http-server with a task per connection and with a
//! kernel thread per connection ([`spindle`]), and Debian's Linux 6.1 running a static C
//! server that answers the same (`benches/linux/httpd.c`, [`crate::linux::server`]). Each
//! boots on the same machine with the same virtio-net device on QEMU's user network, its
//! port 80 forwarded from a free port on 127.0.0.1. The loads ([`load`]): `wrk` keeping 1
//! and 64 connections busy, and `ab` opening a new connection per request, 1 and 64 at a
//! time, each for a fixed time after a short warm-up of the same load, against a freshly
//! booted server (so that one load's leftovers, such as connections in TIME-WAIT, never
//! weigh on the next). Each run reports requests/s, p50 and p99 latency and errors (from
//! the generator's report: [`wrk`], [`ab`]), and QEMU's host CPU time per request
//! ([`procstat`]: every thread of the QEMU process, vCPUs and the network alike, over the
//! measured run). [`report`] writes `target/bench/net.{md,json}` and the network section
//! of `BENCHMARKS.md`.
//!
//! A request that failed is an error of the run: the tables show the count, and the
//! command fails after writing them, since a server that drops requests is not faster.

mod ab;
mod guest;
mod http;
mod load;
mod procstat;
pub(crate) mod report;
mod spindle;
mod wrk;

use std::{
    io::{self, Write},
    path::Path,
    time::Duration,
};

use anyhow::{Context, bail};
pub(crate) use guest::Server;
use load::{LOADS, Load, Run};

use crate::provenance::Provenance;

/// How long a server may take from starting QEMU to answering `GET /`: a Linux boot
/// under TCG takes seconds; on a loaded host, many more.
const BOOT_LIMIT: Duration = Duration::from_secs(180);
/// How long one request of the harness's own checks may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// The warm-up before each measured run, not reported: QEMU translates the guest's code
/// on first use, and the connection pools fill.
const WARM_UP_SECONDS: u64 = 1;

/// How the servers are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The guests' CPUs.
    pub(crate) cpus: u32,
    /// How long each load runs.
    pub(crate) seconds: u64,
}

/// Checks the generators and builds the servers whose name contains one of `filters`
/// (all without filters): the Linux one in `out_dir/linux`.
pub(crate) fn prepare(
    root: &Path,
    out_dir: &Path,
    filters: &[String],
) -> anyhow::Result<(Vec<String>, Vec<Server>)> {
    let generators = load::versions()?;
    let wanted = |name: &str| {
        filters.is_empty() || filters.iter().any(|filter| name.contains(filter.as_str()))
    };
    let mut servers = Vec::new();
    if spindle::NAMES.iter().any(|name| wanted(name)) {
        servers.extend(spindle::build(root, wanted)?);
    }
    if wanted("linux") {
        let prepared = crate::linux::server::prepare(&out_dir.join("linux"))?;
        let description = format!(
            "Linux ({}), `benches/linux/httpd.c`: epoll, one thread per CPU",
            prepared.kernel.package
        );
        servers.push(Server::linux(
            description,
            prepared.kernel.vmlinuz,
            prepared.initramfs,
        ));
    }
    if servers.is_empty() {
        let names = [&spindle::NAMES[..], &["linux"]].concat().join(", ");
        bail!(
            "no server matches {} (there are: {names})",
            filters.join(" ")
        );
    }
    Ok((generators, servers))
}

/// One load against one server.
#[derive(Clone, Debug)]
pub(crate) struct Measurement {
    pub(crate) server: &'static str,
    pub(crate) load: Load,
    pub(crate) run: Run,
    /// QEMU's host CPU time (user + system, all threads) over the measured run.
    pub(crate) qemu_cpu: Duration,
    /// The QEMU command line, shell-quoted.
    pub(crate) qemu_command: String,
    /// The host's 1-minute load average at the end of the run.
    pub(crate) host_load: Option<f64>,
    /// Connections the host dropped over the run because a listen queue was full: QEMU's
    /// forwarding socket's, unless something else on the host overflowed one meanwhile.
    pub(crate) syn_drops: Option<u64>,
}

impl Measurement {
    /// QEMU's host CPU time per completed request, in microseconds.
    pub(crate) fn cpu_us_per_request(&self) -> Option<f64> {
        let requests = self.run.figures()?.requests;
        (requests > 0).then(|| self.qemu_cpu.as_secs_f64() * 1e6 / requests as f64)
    }
}

/// Everything `./x bench --net` measured.
#[derive(Clone, Debug)]
pub(crate) struct NetResults {
    pub(crate) plan: Plan,
    /// The servers, in report order: name and description.
    pub(crate) servers: Vec<(&'static str, String)>,
    /// The generators' versions.
    pub(crate) generators: Vec<String>,
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) provenance: Provenance,
}

impl NetResults {
    /// The measurement of `load` against `server`, if it ran.
    pub(crate) fn find(&self, server: &str, load: Load) -> Option<&Measurement> {
        self.measurements
            .iter()
            .find(|measurement| measurement.server == server && measurement.load == load)
    }

    /// The runs that had failed requests or were aborted.
    pub(crate) fn failed(&self) -> impl Iterator<Item = &Measurement> {
        self.measurements
            .iter()
            .filter(|measurement| measurement.run.failed())
    }
}

/// Runs every load against every server, each against a fresh boot.
pub(crate) fn measure(
    servers: &[Server],
    generators: Vec<String>,
    plan: Plan,
    scratch: &Path,
    provenance: Provenance,
) -> anyhow::Result<NetResults> {
    std::fs::create_dir_all(scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let mut measurements = Vec::new();
    for server in servers {
        for load in LOADS {
            eprint!("bench net {} [{load}] ... ", server.name);
            let _ = io::stderr().flush();
            let measured = measure_one(server, load, plan, scratch);
            match &measured {
                Ok(measurement) => eprintln!("{}", summary(measurement)),
                Err(_) => eprintln!("FAILED"),
            }
            let context = || format!("server {} [{load}]", server.name);
            measurements.push(measured.with_context(context)?);
        }
    }
    Ok(NetResults {
        plan,
        servers: servers
            .iter()
            .map(|server| (server.name, server.description.clone()))
            .collect(),
        generators,
        measurements,
        provenance,
    })
}

/// Boots `server`, checks it, warms it up, and measures `load` against it.
fn measure_one(
    server: &Server,
    load: Load,
    plan: Plan,
    scratch: &Path,
) -> anyhow::Result<Measurement> {
    let port = guest::free_port()?;
    let mut serving = server.start(plan.cpus, port)?;
    serving.wait_until_serving(BOOT_LIMIT)?;
    if let Err(error) = http::check_server(port, CHECK_TIMEOUT) {
        let transcript = serving.stop();
        bail!("it does not serve what examples/http-server serves: {error:#}\n{transcript}");
    }
    load.run(port, WARM_UP_SECONDS, scratch)
        .context("the warm-up run")?;
    let drops_before = procstat::listen_overflows();
    let before = serving.cpu_time()?;
    let run = load.run(port, plan.seconds, scratch)?;
    let qemu_cpu = serving.cpu_time()?.saturating_sub(before);
    let syn_drops = procstat::listen_overflows()
        .zip(drops_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok(Measurement {
        server: server.name,
        load,
        run,
        qemu_cpu,
        qemu_command: serving.qemu_command.clone(),
        host_load: procstat::load_average(),
        syn_drops,
    })
}

/// The progress line's end: `4123 req/s, p50 1.20 ms, p99 12.30 ms`, and the errors if
/// there were any; `ABORTED: <why>` for an aborted run.
fn summary(measurement: &Measurement) -> String {
    let run = &measurement.run;
    let Some(measured) = run.figures() else {
        return run.problems().replacen("aborted", "ABORTED", 1);
    };
    let mut text = format!(
        "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        measured.requests_per_second, measured.p50_ms, measured.p99_ms
    );
    if run.failed() {
        text.push_str(&format!(", ERRORS: {}", run.problems()));
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{
        load::{Errors, Generator, Measured},
        *,
    };

    /// A measurement of `load` against `server` with these figures.
    pub(crate) fn measurement(
        server: &'static str,
        load: Load,
        (rate, p50, p99): (f64, f64, f64),
        errors: u64,
    ) -> Measurement {
        let mut counted = Errors::default();
        counted.add("timeout", errors);
        let seconds = 10.0;
        Measurement {
            server,
            load,
            run: Run {
                command: format!("{} http://127.0.0.1:1/", load.generator.program()),
                measured: Ok(Measured {
                    requests: (rate * seconds) as u64,
                    seconds,
                    requests_per_second: rate,
                    p50_ms: p50,
                    p99_ms: p99,
                    errors: counted,
                }),
            },
            qemu_cpu: Duration::from_secs(15),
            qemu_command: "qemu-system-x86_64 -smp 2".into(),
            host_load: Some(if errors > 0 { 3.5 } else { 1.25 }),
            syn_drops: Some(u64::from(load.connections) * 2),
        }
    }

    /// Results for two servers and every load.
    pub(crate) fn sample() -> NetResults {
        let mut measurements = Vec::new();
        for (server, scale) in [("spindle-tasks", 2.0), ("linux", 1.0)] {
            for (index, load) in LOADS.into_iter().enumerate() {
                let rate = 1000.0 * scale * (index + 1) as f64;
                let errors = u64::from(server == "linux" && load.connections == 64);
                measurements.push(measurement(server, load, (rate, 1.0, 4.0 / scale), errors));
            }
        }
        NetResults {
            plan: Plan {
                cpus: 2,
                seconds: 10,
            },
            servers: vec![
                ("spindle-tasks", "Spindle, a task per connection".into()),
                ("linux", "Linux (linux-image-6.1.0-57-cloud-amd64)".into()),
            ],
            generators: vec!["wrk 4.1.0-3+b2".into(), "ab 2.3".into()],
            measurements,
            provenance: Provenance::example(),
        }
    }

    #[test]
    fn cpu_per_request_and_failed_runs() {
        let results = sample();
        let first = &results.measurements[0];
        assert_eq!(first.run.figures().unwrap().requests, 20_000);
        assert_eq!(first.cpu_us_per_request(), Some(750.0));
        let failed: Vec<String> = results
            .failed()
            .map(|measurement| format!("{} {}", measurement.server, measurement.load))
            .collect();
        assert_eq!(
            failed,
            [
                "linux wrk, 64 conn, keep-alive",
                "linux ab, 64 conn, new connection per request"
            ]
        );
        let load = Load {
            generator: Generator::Ab,
            connections: 1,
        };
        assert_eq!(
            results
                .find("linux", load)
                .unwrap()
                .run
                .figures()
                .unwrap()
                .requests_per_second,
            3000.0
        );
        assert!(results.find("spindle-threads", load).is_none());
    }

    #[test]
    fn progress_shouts_errors() {
        let results = sample();
        assert_eq!(
            summary(&results.measurements[0]),
            "2000 req/s, p50 1.00 ms, p99 2.00 ms"
        );
        assert_eq!(
            summary(&results.measurements[5]),
            "2000 req/s, p50 1.00 ms, p99 4.00 ms, ERRORS: timeout 1"
        );
        let mut aborted = results.measurements[0].clone();
        aborted.run.measured = Err("exit status: 1: apr_pollset_poll".into());
        assert_eq!(
            summary(&aborted),
            "ABORTED: exit status: 1: apr_pollset_poll"
        );
    }
}
