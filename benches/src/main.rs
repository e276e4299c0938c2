//! `spindle-bench` (`./x bench [FILTER...]`): builds the benchmark kernels in
//! `benches/kernels`, boots each under icount and under plain TCG, prints one table of
//! every figure, and writes `target/bench/{results.json,results.md,chart.svg}`. SMP
//! kernels (`//@ smp: N`) boot under MTTCG only, `--boots` times each, and get tables of
//! their own ("SMP figures", also in `target/bench/smp.md`). With `--linux` it also boots
//! Debian's Linux under the same QEMU with a program measuring the same thread figures,
//! and prints them beside Spindle's (`target/bench/linux.{md,json}`; see [`linux`]).
//! With `--net` it measures HTTP servers instead of kernels: Spindle's and Linux's in the
//! same QEMU, loaded from the host by `wrk` and `ab` (`target/bench/net.{md,json}`; see
//! [`net`]).
//!
//! Not part of `./x test`: a run takes minutes, and its numbers are results to look at,
//! not a verdict. The pieces, in the order a run uses them: [`discover`] (find and build
//! the kernels), [`run()`] (boot one, judge it), [`parse`] (its serial lines), [`results`]
//! (icount and tcg side by side), [`smp`] (SMP figures over boots), [`provenance`]
//! (commit, date, QEMU, host), [`report`] (tables, JSON, Markdown, SVG) and
//! [`benchmarks_md`].

mod benchmarks_md;
mod discover;
mod linux;
mod net;
mod parse;
mod provenance;
mod report;
mod results;
mod run;
mod smp;

use std::{
    env,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, bail};
use clap::Parser;

use crate::{
    benchmarks_md::{LINUX_RESULTS, NET_RESULTS, RESULTS, SMP_RESULTS},
    discover::KernelSpec,
    linux::LinuxResults,
    provenance::Provenance,
    results::Results,
    run::{Boot, Mode, Runner},
    smp::SmpResults,
};

/// Compile-time location of the host workspace: this crate lives one level down.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Build Spindle's benchmark kernels, boot each under `-icount shift=0` and under plain
/// TCG (SMP kernels: under MTTCG, several times), and report every figure.
///
/// The tables go to stdout, progress to stderr; target/bench/ receives results.json,
/// results.md, chart.svg and smp.md. Exits non-zero if any boot fails.
#[derive(Debug, Parser)]
#[command(name = "spindle-bench", bin_name = "./x bench")]
struct Args {
    /// Only run kernels whose name contains one of these (with --net: servers).
    filters: Vec<String>,
    /// Also replace the generated section of BENCHMARKS.md with the results (needs the
    /// whole suite: no filters).
    #[arg(long)]
    update_benchmarks_md: bool,
    /// Time limit per boot, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Boots per SMP kernel: its figures are host time, so each is reported as the median
    /// over the boots, with their spread.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    boots: u64,
    /// Also measure the same thread figures on Linux (Debian's cloud kernel, downloaded
    /// with apt) under the same QEMU, and show them beside Spindle's.
    #[arg(long)]
    linux: bool,
    /// Measure HTTP servers instead of kernels: Spindle's (a task per connection, a
    /// thread per connection) and Linux's, in the same QEMU, loaded from the host by wrk
    /// (keep-alive) and ab (a connection per request) at 1 and 64 connections.
    #[arg(long, conflicts_with = "linux")]
    net: bool,
    /// With --net: how long each load runs, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10, requires = "net",
          value_parser = clap::value_parser!(u64).range(1..))]
    net_seconds: u64,
    /// With --net: the guests' CPUs (MTTCG when more than one). One by default: QEMU's
    /// network thread and the load generator need host cores too, and a 2-core host
    /// running two vCPUs besides them measures its own contention.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "net",
          value_parser = clap::value_parser!(u32).range(1..=16))]
    net_cpus: u32,
}

fn main() -> ExitCode {
    let typed: Vec<String> = env::args().skip(1).collect();
    let args = Args::parse();
    match run(&args, &typed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spindle-bench: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The whole run; `typed` is the command line as given, recorded with the results.
fn run(args: &Args, typed: &[String]) -> anyhow::Result<()> {
    if args.update_benchmarks_md && !args.filters.is_empty() {
        bail!("--update-benchmarks-md publishes the whole suite: run it without filters");
    }
    let root = Path::new(ROOT)
        .canonicalize()
        .with_context(|| format!("cannot find the workspace at {ROOT}"))?;
    if args.net {
        return run_net(args, typed, &root);
    }
    let kernels = discover::discover(&root, &args.filters)?;
    let provenance = Provenance::collect(&root, typed);
    let target_dir = boot_image::target_dir(&root);
    let out_dir = target_dir.join("bench");
    // Before the suite: a missing tool or package then fails the run in seconds.
    let linux = args
        .linux
        .then(|| linux::prepare(&out_dir.join("linux")))
        .transpose()?;
    let runner = Runner {
        elf_dir: discover::build(&root, &target_dir)?,
        image_dir: target_dir.join("spindle/bench-images"),
        timeout: Duration::from_secs(args.timeout),
    };
    let (smp_kernels, kernels): (Vec<KernelSpec>, Vec<KernelSpec>) =
        kernels.into_iter().partition(|kernel| kernel.smp.is_some());
    let mut boots = Vec::new();
    for kernel in &kernels {
        for mode in Mode::ALL {
            boots.push(runner.boot(&kernel.name, mode, "")?);
        }
    }
    let smp_boots = boot_smp_kernels(&runner, &smp_kernels, args.boots)?;
    let mut results = Results::new(boots, provenance)?;
    results.smp = SmpResults::new(&smp_kernels, smp_boots)?;
    let linux = linux
        .map(|prepared| linux::measure(&prepared, runner.timeout, args.boots))
        .transpose()?;
    print_tables(&results, linux.as_ref());
    publish(
        &results,
        linux.as_ref(),
        &root,
        &out_dir,
        args.update_benchmarks_md,
    )
}

/// `--net`: every server under every load, then the reports; fails after writing them
/// if any request failed.
fn run_net(args: &Args, typed: &[String], root: &Path) -> anyhow::Result<()> {
    let provenance = Provenance::collect(root, typed);
    let out_dir = boot_image::target_dir(root).join("bench");
    let (generators, servers) = net::prepare(root, &out_dir, &args.filters)?;
    let plan = net::Plan {
        cpus: args.net_cpus,
        seconds: args.net_seconds,
    };
    let scratch = out_dir.join("net");
    let results = net::measure(&servers, generators, plan, &scratch, provenance)?;
    print!("{}", net::report::text(&results));
    let written = net::report::write_files(&results, &out_dir)?;
    eprintln!(
        "wrote {} to {}",
        written.join(", "),
        shown(root, &out_dir).display()
    );
    if args.update_benchmarks_md {
        let path = root.join("BENCHMARKS.md");
        benchmarks_md::update(&path, &[(NET_RESULTS, net::report::markdown(&results))])?;
        eprintln!("updated {}", path.display());
    }
    let failed = results.failed().count();
    if failed > 0 {
        bail!(
            "{failed} of {} runs had failed requests (see the errors column)",
            results.measurements.len()
        );
    }
    Ok(())
}

/// Boots each SMP kernel `boots` times in a row under MTTCG. One kernel's boots follow
/// each other rather than alternating with other kernels': the spread over them then
/// shows the host's load over a short stretch, not across the whole suite.
fn boot_smp_kernels(
    runner: &Runner,
    kernels: &[KernelSpec],
    boots: u64,
) -> anyhow::Result<Vec<Boot>> {
    let mut done = Vec::new();
    for kernel in kernels {
        let mode = Mode::Mttcg(kernel.smp.unwrap_or(1));
        for round in 1..=boots {
            done.push(runner.boot(&kernel.name, mode, &format!(" {round}/{boots}"))?);
        }
    }
    Ok(done)
}

/// The icount/tcg table, the SMP tables and the Linux comparison, each only if it ran,
/// separated by blank lines.
fn print_tables(results: &Results, linux: Option<&LinuxResults>) {
    let mut tables = Vec::new();
    if !results.rows.is_empty() {
        tables.push(report::table::render(results));
    }
    if !results.smp.is_empty() {
        tables.push(report::smp::text(&results.smp));
    }
    if let Some(linux) = linux {
        tables.push(linux::report::text(results, linux));
    }
    print!("{}", tables.join("\n"));
}

/// Writes the report files, and `BENCHMARKS.md` if asked to.
fn publish(
    results: &Results,
    linux: Option<&LinuxResults>,
    root: &Path,
    out_dir: &Path,
    benchmarks_md: bool,
) -> anyhow::Result<()> {
    let mut written = report::write_files(results, out_dir)?;
    if let Some(linux) = linux {
        written.extend(linux::report::write_files(results, linux, out_dir)?);
    }
    eprintln!(
        "wrote {} to {}",
        written.join(", "),
        shown(root, out_dir).display()
    );
    if benchmarks_md {
        let path = root.join("BENCHMARKS.md");
        let mut sections = vec![(RESULTS, report::markdown::render(results))];
        if !results.smp.is_empty() {
            sections.push((SMP_RESULTS, report::smp::markdown(results)));
        }
        if let Some(linux) = linux {
            sections.push((LINUX_RESULTS, linux::report::markdown(results, linux)));
        }
        benchmarks_md::update(&path, &sections)?;
        eprintln!("updated {}", path.display());
    }
    Ok(())
}

/// `path` relative to the workspace root when it is inside it.
fn shown(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn filters_and_flags_parse() {
        let args = Args::try_parse_from(["x", "threads", "--timeout", "60", "tasks"]).unwrap();
        assert_eq!(args.filters, ["threads", "tasks"]);
        assert_eq!(args.timeout, 60);
        assert_eq!(args.boots, 5);
        assert!(!args.update_benchmarks_md);
        assert!(!args.linux);
        assert!(
            Args::try_parse_from(["x", "--linux", "threads"])
                .unwrap()
                .linux
        );
        assert_eq!(
            Args::try_parse_from(["x", "--boots", "3"]).unwrap().boots,
            3
        );
        assert!(Args::try_parse_from(["x", "--boots", "0"]).is_err());
        assert!(Args::try_parse_from(["x", "--timeout", "0"]).is_err());
        assert!(Args::try_parse_from(["x", "--nope"]).is_err());
    }

    #[test]
    fn net_flags_need_net() {
        let args = Args::try_parse_from(["x", "--net", "linux", "--net-seconds", "3"]).unwrap();
        assert!(args.net);
        assert_eq!(args.filters, ["linux"]);
        assert_eq!((args.net_seconds, args.net_cpus), (3, 1));
        assert!(Args::try_parse_from(["x", "--net-cpus", "1"]).is_err());
        assert!(Args::try_parse_from(["x", "--net", "--linux"]).is_err());
        assert!(Args::try_parse_from(["x", "--net", "--net-seconds", "0"]).is_err());
    }
}
