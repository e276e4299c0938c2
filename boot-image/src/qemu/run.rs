//! Running a QEMU command to completion, with a time limit.

use std::{
    io::{self, Read, Write},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::Context;
use rustix::process::{Pid, Signal, kill_process};
use wait_timeout::ChildExt;

use super::{
    Outcome,
    limit::{Hang, Meter, TimeLimit},
    signals::{Relay, reported_signal},
};

/// How long QEMU gets to exit after SIGTERM before it is killed outright.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// How often a waiting run looks at QEMU's use of time and for signals.
const POLL: Duration = Duration::from_millis(100);

/// What a captured run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// How QEMU ended.
    pub outcome: Outcome,
    /// The guest's serial output (QEMU's stdout), decoded lossily.
    pub serial: String,
    /// QEMU's own diagnostics.
    pub stderr: String,
}

/// Runs `command` on this terminal: the guest's serial port is QEMU's
/// stdin and stdout, so a person can read and type to it. `timeout` is
/// wall-clock time.
///
/// After `timeout`, QEMU gets SIGTERM first, so that it restores the
/// terminal settings it changed, and SIGKILL only if it ignores that.
/// SIGINT (Ctrl-C), SIGTERM and SIGHUP sent to this process while QEMU
/// runs are passed on to QEMU (with SIGKILL after the same grace) and the
/// outcome is [`Outcome::Signalled`]; the caller should exit then.
pub fn run_interactive(mut command: Command, timeout: Option<Duration>) -> anyhow::Result<Outcome> {
    let relay = Relay::start()?;
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut command)?;
    let stderr = forward_stderr(&mut child);
    let waited = wait(&mut child, timeout.map(TimeLimit::Wall), Some(&relay));
    Ok(waited?.outcome(&join(stderr)))
}

/// Bytes for the guest's serial port, held back until the guest has printed
/// `after`: by then it has set up its UART, so no byte is eaten by firmware
/// polling the serial console or lost when the kernel resets the UART's FIFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialInput {
    /// What to type.
    pub bytes: Vec<u8>,
    /// The output that says the guest is ready for it.
    pub after: String,
}

/// Runs `command` with its output captured, for tests and benchmarks.
///
/// `limit` is a [`TimeLimit`]; a bare [`Duration`] is wall-clock time.
/// Output is drained by threads while QEMU runs, so a chatty guest never
/// stalls on a full pipe. `input` is fed to the serial port (once its
/// marker went by) and then closed; without it stdin is `/dev/null`,
/// because `-serial stdio` would otherwise read (and steal) the caller's
/// stdin. Signals to this process keep their default action.
pub fn run_captured(
    command: Command,
    limit: impl Into<TimeLimit>,
    input: Option<SerialInput>,
) -> anyhow::Result<Captured> {
    let driver = input.map(|input| Driver {
        after: input.after,
        drive: Box::new(move |guest: &mut dyn Write| {
            // A guest that stops before reading everything closes the pipe; the
            // unread rest does not matter.
            let _ = guest.write_all(&input.bytes);
        }),
    });
    run_driven(command, limit, driver)
}

/// A host-side program that works with the guest while it runs (a network client): it
/// starts once the guest printed `after`, on a thread of its own, and may type into the
/// guest's serial port (to tell it the host side is done). The run waits for it.
pub struct Driver {
    /// The output that says the guest is ready for it.
    pub after: String,
    /// The program; its argument is the guest's serial input.
    pub drive: Drive,
}

/// A [`Driver`]'s program.
pub type Drive = Box<dyn FnOnce(&mut dyn Write) + Send>;

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// [`run_captured`] with a [`Driver`] instead of fixed input. A driver that never got
/// to start (the guest never printed its marker) is dropped unrun.
pub fn run_driven(
    mut command: Command,
    limit: impl Into<TimeLimit>,
    driver: Option<Driver>,
) -> anyhow::Result<Captured> {
    let stdin = if driver.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut command)?;
    let (ready_sender, ready) = mpsc::channel();
    let marker = driver.as_ref().map(|driver| driver.after.clone());
    let writer = child.stdin.take().zip(driver).map(|(mut stdin, driver)| {
        thread::spawn(move || {
            if ready.recv().is_ok() {
                (driver.drive)(&mut stdin);
            }
        })
    });
    let serial = watch(child.stdout.take(), io::sink(), marker, ready_sender);
    let stderr = drain(child.stderr.take());
    let waited = wait(&mut child, Some(limit.into()), None).inspect_err(|_| drop(child.kill()));
    let stderr = join(stderr);
    let captured = Captured {
        outcome: waited?.outcome(&stderr),
        serial: lossy(join(serial)),
        stderr: lossy(stderr),
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(captured)
}

/// Runs `command` with the guest's serial output on this process's stdout
/// and this process's stdin typed into the serial port once the guest has
/// printed `after` (see [`SerialInput`]): for scripted sessions such as
/// `printf 'ps\npoweroff\n' | cargo run`. `timeout` and signals are
/// handled as by [`run_interactive`].
pub fn run_forwarding(
    mut command: Command,
    timeout: Option<Duration>,
    after: &str,
) -> anyhow::Result<Outcome> {
    let relay = Relay::start()?;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut command)?;
    let (ready_sender, ready) = mpsc::channel();
    if let Some(stdin) = child.stdin.take() {
        // Not joined: it may sit in a read of our stdin when QEMU is done.
        thread::spawn(move || forward_stdin(stdin, &ready));
    }
    let output = watch(
        child.stdout.take(),
        io::stdout(),
        Some(after.to_owned()),
        ready_sender,
    );
    let stderr = forward_stderr(&mut child);
    let waited = wait(&mut child, timeout.map(TimeLimit::Wall), Some(&relay));
    let _ = output.join();
    Ok(waited?.outcome(&join(stderr)))
}

fn forward_stdin(mut guest: ChildStdin, ready: &mpsc::Receiver<()>) {
    if ready.recv().is_ok() {
        let _ = io::copy(&mut io::stdin().lock(), &mut guest);
    }
}

/// Copies QEMU's stderr to ours as it comes, keeping it to read QEMU's
/// report of a signal from.
fn forward_stderr(child: &mut Child) -> JoinHandle<Vec<u8>> {
    watch(child.stderr.take(), io::stderr(), None, mpsc::channel().0)
}

/// Copies `pipe` into `sink` until it ends and returns what went by;
/// signals `ready` once `marker` has been seen (at once without a marker).
fn watch(
    pipe: Option<impl Read + Send + 'static>,
    mut sink: impl Write + Send + 'static,
    marker: Option<String>,
    ready: mpsc::Sender<()>,
) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut ready = Some(ready);
        let Some(mut pipe) = pipe else { return seen };
        let marker = marker.unwrap_or_default().into_bytes();
        if marker.is_empty() {
            let _ = ready.take().map(|ready| ready.send(()));
        }
        let mut chunk = [0u8; 4096];
        // A read error ends the output early; what was read still counts.
        while let Ok(count @ 1..) = pipe.read(&mut chunk) {
            let _ = sink.write_all(&chunk[..count]).and_then(|()| sink.flush());
            let search_from = seen.len().saturating_sub(marker.len());
            seen.extend_from_slice(&chunk[..count]);
            if ready.is_some() && contains(&seen[search_from..], &marker) {
                let _ = ready.take().map(|ready| ready.send(()));
            }
        }
        seen
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

fn spawn(command: &mut Command) -> anyhow::Result<Child> {
    command
        .spawn()
        .with_context(|| format!("cannot start {}", command.get_program().display()))
}

/// How a wait ended.
#[derive(Debug)]
enum Waited {
    /// QEMU exited; `relayed` is the stop signal passed on to it, if any.
    Exited {
        status: ExitStatus,
        relayed: Option<i32>,
    },
    /// QEMU ran past its limit and was stopped.
    Stopped(Outcome),
}

impl Waited {
    /// The outcome, given QEMU's stderr (which says whether it shut down on
    /// a signal).
    fn outcome(self, stderr: &[u8]) -> Outcome {
        match self {
            Self::Exited { status, relayed } => {
                Outcome::from_exit(status, relayed.or_else(|| reported_signal(stderr)))
            }
            Self::Stopped(outcome) => outcome,
        }
    }
}

/// Waits for QEMU to exit, stopping it when it runs past `limit`, and
/// passing on the signals `relay` records.
fn wait(
    child: &mut Child,
    limit: Option<TimeLimit>,
    relay: Option<&Relay>,
) -> anyhow::Result<Waited> {
    let mut meter = Meter::start(child.id());
    let mut relayed: Option<(i32, Instant)> = None;
    loop {
        let poll = match limit {
            Some(TimeLimit::Wall(limit)) => POLL.min(limit.saturating_sub(meter.elapsed())),
            _ => POLL,
        };
        if let Some(status) = child.wait_timeout(poll).context("cannot wait for QEMU")? {
            let relayed = relayed.map(|(signal, _)| signal);
            return Ok(Waited::Exited { status, relayed });
        }
        if let Some(signal) = relay.and_then(Relay::take) {
            pass_on(child, signal);
            relayed.get_or_insert((signal, Instant::now()));
        }
        if relayed.is_some_and(|(_, at)| at.elapsed() > TERM_GRACE) {
            // Reaped by the next wait.
            let _ = child.kill();
        }
        if let Some(outcome) = limit.and_then(|limit| exceeded(limit, &mut meter)) {
            terminate(child)?;
            return Ok(Waited::Stopped(outcome));
        }
    }
}

/// The outcome of a run stopped by `limit`, if QEMU has run past it.
fn exceeded(limit: TimeLimit, meter: &mut Meter) -> Option<Outcome> {
    match limit {
        TimeLimit::Wall(limit) => (meter.elapsed() >= limit).then_some(Outcome::Timeout(limit)),
        TimeLimit::Run { budget, ceiling } => {
            let usage = meter.sample();
            let hang = Hang {
                budget,
                ceiling,
                usage,
            };
            (usage.charged >= budget || usage.wall >= ceiling).then_some(Outcome::Hung(hang))
        }
    }
}

/// Sends `signal` to QEMU; an error means it is gone already.
fn pass_on(child: &Child, signal: i32) {
    if let Some(signal) = Signal::from_named_raw(signal) {
        let _ = kill_process(Pid::from_child(child), signal);
    }
}

/// SIGTERM, a grace period, then SIGKILL; reaps the process either way.
fn terminate(child: &mut Child) -> anyhow::Result<()> {
    // An error here means the process is already gone, which is the goal.
    let _ = kill_process(Pid::from_child(child), Signal::TERM);
    if child
        .wait_timeout(TERM_GRACE)
        .context("cannot wait for QEMU")?
        .is_none()
    {
        child.kill().context("cannot kill QEMU")?;
        child.wait().context("cannot wait for QEMU")?;
    }
    Ok(())
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error ends the output early; what was read still counts.
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

fn join(reader: JoinHandle<Vec<u8>>) -> Vec<u8> {
    reader.join().unwrap_or_default()
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    fn captured(script: &str, input: Option<&[u8]>) -> Captured {
        let input = input.map(|bytes| SerialInput {
            bytes: bytes.to_vec(),
            after: String::new(),
        });
        run_captured(sh(script), Duration::from_secs(10), input).unwrap()
    }

    #[test]
    fn captures_output_and_decodes_the_status() {
        let run = captured("echo serial; echo diag >&2; exit 33", None);
        assert_eq!(
            run,
            Captured {
                outcome: Outcome::Success,
                serial: "serial\n".into(),
                stderr: "diag\n".into(),
            }
        );
    }

    #[test]
    fn feeds_input_then_closes_stdin() {
        let run = captured("cat", Some(b"typed"));
        assert_eq!(
            (run.outcome, run.serial.as_str()),
            (Outcome::Reset, "typed")
        );
    }

    #[test]
    fn input_waits_for_the_ready_marker() {
        // The script prints the marker only after checking that nothing was
        // typed yet (a read with a timeout finds stdin still empty).
        let script =
            "if read -t 1 early; then echo early; fi; echo READY; read line; echo \"got $line\"";
        let input = SerialInput {
            bytes: b"typed\n".to_vec(),
            after: "READY".into(),
        };
        let run = run_captured(sh(script), Duration::from_secs(10), Some(input)).unwrap();
        assert_eq!(run.serial, "READY\ngot typed\n");
    }

    #[test]
    fn input_is_never_sent_without_its_marker() {
        let input = SerialInput {
            bytes: b"typed\n".to_vec(),
            after: "NEVER".into(),
        };
        let run = run_captured(
            sh("read -t 1 line; echo \"got $line\""),
            Duration::from_secs(10),
            Some(input),
        )
        .unwrap();
        assert_eq!(run.serial, "got \n");
    }

    #[test]
    fn stdin_is_empty_without_input() {
        assert_eq!(captured("cat; exit 35", None).outcome, Outcome::Failure);
    }

    #[test]
    fn a_chatty_guest_does_not_block() {
        let run = captured(
            "head -c 1000000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero >&2",
            None,
        );
        assert_eq!((run.serial.len(), run.stderr.len()), (1_000_000, 300_000));
    }

    #[test]
    fn times_out_with_sigterm() {
        let started = Instant::now();
        let run = run_captured(sh("exec sleep 20"), Duration::from_millis(100), None).unwrap();
        assert_eq!(run.outcome, Outcome::Timeout(Duration::from_millis(100)));
        assert!(started.elapsed() < TERM_GRACE, "SIGTERM was not sent");
    }

    #[test]
    fn a_run_time_budget_counts_idle_time() {
        let limit = TimeLimit::Run {
            budget: Duration::from_millis(300),
            ceiling: Duration::from_secs(20),
        };
        let run = run_captured(sh("exec sleep 20"), limit, None).unwrap();
        let Outcome::Hung(hang) = run.outcome else {
            panic!("{:?}", run.outcome)
        };
        assert!(hang.usage.charged >= hang.budget, "{hang:?}");
        assert!(hang.usage.wall < Duration::from_secs(5), "{hang:?}");
        assert!(hang.to_string().starts_with("hung: "), "{hang}");
    }

    /// A stopped QEMU stands for one the host gives no CPU: its budget does
    /// not run out, and the wall-clock ceiling stops it.
    #[test]
    fn a_run_without_cpu_stops_at_the_ceiling() {
        // A sleeping process would use up this budget in a second.
        let limit = TimeLimit::Run {
            budget: Duration::from_secs(1),
            ceiling: Duration::from_secs(2),
        };
        let run = run_captured(sh("kill -STOP $$; exec sleep 20"), limit, None).unwrap();
        let Outcome::Hung(hang) = run.outcome else {
            panic!("{:?}", run.outcome)
        };
        assert!(hang.usage.charged < Duration::from_millis(500), "{hang:?}");
        assert!(hang.usage.wall >= hang.ceiling, "{hang:?}");
        assert!(
            run.outcome.describe().contains("wall-clock ceiling"),
            "{}",
            run.outcome.describe()
        );
    }

    /// What QEMU does on SIGTERM: report it on stderr and exit 0.
    #[test]
    fn a_shutdown_on_a_signal_is_reported_as_such() {
        let script = "trap 'echo \"qemu: terminating on signal 15 from pid 1 (x)\" >&2; exit 0' TERM; \
                      kill -TERM $$; sleep 20";
        let run = captured(script, None);
        assert_eq!(run.outcome, Outcome::Signalled(15));
        assert_eq!(
            run.outcome.describe(),
            "QEMU was stopped by SIGTERM from outside"
        );
    }

    #[test]
    fn a_death_by_signal_is_reported_as_such() {
        assert_eq!(
            captured("kill -KILL $$", None).outcome,
            Outcome::Signalled(9)
        );
    }

    #[test]
    fn interactive_runs_pass_stderr_through() {
        // The forwarded copy goes to the test's stderr; the kept copy decides.
        let script = "echo 'qemu: terminating on signal 2' >&2; exit 0";
        let outcome = run_interactive(sh(script), Some(Duration::from_secs(10))).unwrap();
        assert_eq!(outcome, Outcome::Signalled(2));
    }

    #[test]
    fn kills_what_ignores_sigterm() {
        let script = "trap '' TERM; exec sleep 20";
        let outcome = run_interactive(sh(script), Some(Duration::from_millis(100))).unwrap();
        assert_eq!(outcome, Outcome::Timeout(Duration::from_millis(100)));
    }

    #[test]
    fn spawn_failure_names_the_binary() {
        let err = run_interactive(Command::new("/nonexistent/qemu"), None).unwrap_err();
        assert!(
            format!("{err:#}").starts_with("cannot start /nonexistent/qemu: "),
            "{err:#}"
        );
    }
}
