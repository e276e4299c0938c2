//! `spindle-idle`: what an idle Spindle costs. Boots the default kernel (`cargo run`,
//! BIOS) with N CPUs, waits for the console's prompt, optionally sets the idle CPUs'
//! polling window (`idle-poll MICROS`), and leaves it idle at the prompt for a few
//! seconds. Reports the timer interrupts each CPU took meanwhile (the console's `stats`,
//! before and after) and the host CPU time QEMU used (`/proc/<pid>/stat`, its user and
//! system time), as a share of one host core.
//!
//! ```sh
//! cargo run -q -p spindle-benches --bin spindle-idle -- --smp 2 --seconds 5
//! ```
//!
//! Not part of `./x test`: the CPU share depends on the host.

use std::{
    fs,
    io::{BufReader, Read, Write},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc::{self, Receiver},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;

/// Compile-time location of the host workspace: this crate lives one level down.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Boot the default kernel, leave it idle at its prompt, and report its timer interrupts
/// and QEMU's host CPU use.
#[derive(Debug, Parser)]
#[command(name = "spindle-idle")]
struct Args {
    /// CPUs to boot.
    #[arg(long, default_value_t = 2)]
    smp: u32,
    /// How long to leave the kernel idle.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// The idle CPUs' polling window in µs (`idle-poll`); the kernel's default if not
    /// given.
    #[arg(long, value_name = "MICROS")]
    idle_poll: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut kernel = Kernel::boot(args.smp)?;
    kernel.wait_for("spindle> ")?;
    if let Some(micros) = args.idle_poll {
        kernel.command(&format!("idle-poll {micros}"))?;
    }
    kernel.command("idle-poll")?;
    let before = kernel.stats()?;
    let qemu = qemu_pid(kernel.child.id()).context("QEMU's process")?;
    let (cpu_before, start) = (cpu_ticks(qemu)?, Instant::now());
    thread::sleep(Duration::from_secs(args.seconds));
    let (cpu_after, elapsed) = (cpu_ticks(qemu)?, start.elapsed());
    let after = kernel.stats()?;
    kernel.command("poweroff")?;
    let _ = kernel.child.wait();
    let interrupts: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let share = (cpu_after - cpu_before) as f64 / clock_ticks_per_second() / elapsed.as_secs_f64();
    println!(
        "idle for {:.1} s at {} CPUs: timer interrupts {} (per CPU {:?}); QEMU used {:.2} % of a host core",
        elapsed.as_secs_f64(),
        args.smp,
        interrupts.iter().sum::<u64>(),
        interrupts,
        share * 100.0
    );
    Ok(())
}

/// The booted kernel: its console's output, line by line, and its input.
struct Kernel {
    child: Child,
    input: ChildStdin,
    output: Receiver<String>,
    /// What came after the last line break (the prompt has none).
    partial: String,
}

impl Kernel {
    fn boot(smp: u32) -> anyhow::Result<Self> {
        let mut child = Command::new("cargo")
            .args(["run", "-q", "--", "--bios", "--smp", &smp.to_string()])
            .current_dir(Path::new(ROOT))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cargo run")?;
        let input = child.stdin.take().context("stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let (sender, output) = mpsc::channel();
        thread::spawn(move || {
            let mut chunk = [0; 4096];
            while let Ok(read @ 1..) = stdout.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..read]).into_owned();
                if sender.send(text).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            input,
            output,
            partial: String::new(),
        })
    }

    /// Reads output until `marker` appeared; returns everything read.
    fn wait_for(&mut self, marker: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !self.partial.contains(marker) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(text) => self.partial.push_str(&text),
                Err(_) => bail!("no `{marker}` from the kernel; it said:\n{}", self.partial),
            }
        }
        let end = self.partial.find(marker).unwrap_or(0) + marker.len();
        Ok(self.partial.drain(..end).collect())
    }

    /// Runs a console command and returns what it printed.
    fn command(&mut self, line: &str) -> anyhow::Result<String> {
        writeln!(self.input, "{line}")?;
        self.input.flush()?;
        if line == "poweroff" {
            return Ok(String::new());
        }
        let said = self.wait_for("spindle> ")?;
        print!("{}", said.trim_start_matches(|c| c != '\n').trim_start());
        Ok(said)
    }

    /// Each CPU's timer interrupts, from `stats`.
    fn stats(&mut self) -> anyhow::Result<Vec<u64>> {
        let said = self.command("stats")?;
        let rows = said
            .lines()
            .skip_while(|line| !line.contains("TIMER IRQS"))
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
            .collect::<Vec<u64>>();
        if rows.is_empty() {
            bail!("no CPU table in `stats`:\n{said}");
        }
        Ok(rows)
    }
}

/// The pid of the QEMU process below `ancestor` (cargo, then the runner, then QEMU).
fn qemu_pid(ancestor: u32) -> anyhow::Result<u32> {
    for entry in fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if comm.starts_with("qemu-system") && descends_from(pid, ancestor) {
            return Ok(pid);
        }
    }
    bail!("no QEMU process below pid {ancestor}")
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    while pid > 1 {
        if pid == ancestor {
            return true;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        pid = stat_fields(&stat)
            .get(1)
            .and_then(|ppid| ppid.parse().ok())
            .unwrap_or(0);
    }
    false
}

/// The fields of a `/proc/<pid>/stat` line after the command name (which may contain
/// spaces): field 3 of proc(5) (the state) is index 0.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect())
}

/// User plus system time of process `pid`, in clock ticks (proc(5) fields 14 and 15).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields = stat_fields(&stat);
    let field = |n: usize| -> anyhow::Result<u64> {
        Ok(fields.get(n - 3).context("a short stat line")?.parse()?)
    };
    Ok(field(14)? + field(15)?)
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}
