//! The servers measured, as QEMU guests: how each boots on the benchmark's machine with
//! its port forwarded, and the running machine the load generators are pointed at.
//!
//! Every server gets the same machine: the CPU model, CPUs and memory of the benchmark
//! kernels' MTTCG boots ([`options`]; plain TCG with one CPU, never `-icount`, because
//! QEMU's user network runs on host time), plus the runner's virtio-net device on QEMU's
//! user network (`boot_image::net_args`). Only the way in differs: a Spindle server boots its disk image,
//! Linux its kernel and initramfs. A server is ready when it answers `GET /` through the
//! forwarded port: a connection alone proves nothing, since QEMU accepts on the host side
//! before the guest listens (and then closes the connection it cannot pass on).

use std::{
    io::Read,
    net::{Ipv4Addr, TcpListener, UdpSocket},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use boot_image::{Firmware, QemuOptions};

use super::{http, procstat};

/// How often a booting server is asked whether it serves yet.
const READY_POLL: Duration = Duration::from_millis(250);
/// How long one of those questions may take.
const READY_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How QEMU starts a server.
#[derive(Clone, Debug)]
enum Way {
    /// A Spindle disk image.
    Image(PathBuf),
    /// A Linux kernel and initramfs, loaded by QEMU itself.
    Kernel {
        vmlinuz: PathBuf,
        initramfs: PathBuf,
    },
}

/// One server to measure.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    /// A short id, used by filters and in the JSON (`linux`, `spindle-tasks`).
    pub(crate) name: &'static str,
    /// What it is, for the reports.
    pub(crate) description: String,
    way: Way,
}

impl Server {
    /// A Spindle server booted from its disk `image`.
    pub(crate) fn spindle(name: &'static str, description: &str, image: PathBuf) -> Self {
        Self {
            name,
            description: description.to_owned(),
            way: Way::Image(image),
        }
    }

    /// Linux booted from `vmlinuz` with `initramfs`.
    pub(crate) fn linux(description: String, vmlinuz: PathBuf, initramfs: PathBuf) -> Self {
        Self {
            name: "linux",
            description,
            way: Way::Kernel { vmlinuz, initramfs },
        }
    }

    /// QEMU's command for this server on the machine `options` describe.
    fn command(&self, options: &QemuOptions) -> anyhow::Result<Command> {
        match &self.way {
            Way::Image(image) => boot_image::command(image, options),
            Way::Kernel { vmlinuz, initramfs } => {
                let mut command = Command::new(boot_image::locate_qemu()?);
                command.args(crate::linux::boot_args(options, vmlinuz, initramfs));
                Ok(command)
            }
        }
    }

    /// Boots the server with `cpus` CPUs and its port 80 forwarded from 127.0.0.1:`port`.
    pub(crate) fn start(&self, cpus: u32, port: u16) -> anyhow::Result<Serving> {
        let mut command = self.command(&options(cpus, port))?;
        let qemu_command = crate::run::shell_line(&command);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `{qemu_command}`"))?;
        let serial = child.stdout.take().map(read_all);
        let stderr = child.stderr.take().map(read_all);
        Ok(Serving {
            child,
            port,
            qemu_command,
            serial,
            stderr,
        })
    }
}

/// The machine of every server with `cpus` CPUs and `port` forwarded: the runner's
/// `--net PORT` (a virtio-net device on QEMU's user network, `restrict=on`, the host's
/// 127.0.0.1:`port` forwarded to the guest's TCP port 80 and UDP port 7).
pub(crate) fn options(cpus: u32, port: u16) -> QemuOptions {
    QemuOptions {
        firmware: Firmware::Bios,
        smp: cpus, // several CPUs without icount: `boot_image` picks MTTCG
        icount: false,
        net: Some(port),
        ..QemuOptions::default()
    }
}

/// A port on 127.0.0.1 free for both TCP and UDP just now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    for _ in 0..100 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot bind 127.0.0.1")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no port on 127.0.0.1 is free for both TCP and UDP")
}

/// A running server's QEMU. Dropping it stops QEMU.
#[derive(Debug)]
pub(crate) struct Serving {
    child: Child,
    pub(crate) port: u16,
    /// The QEMU command line, shell-quoted.
    pub(crate) qemu_command: String,
    serial: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Serving {
    /// Waits until the server answers `GET /`, at most `limit`; returns how long that took.
    /// A QEMU that exits or a server still silent at the limit is an error showing the end
    /// of the serial transcript.
    pub(crate) fn wait_until_serving(&mut self, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                let transcript = self.stop();
                bail!("QEMU exited with {status} before serving\n{transcript}");
            }
            let answer = http::get(self.port, "/", READY_REQUEST_TIMEOUT);
            if answer.is_ok_and(|response| response.status == 200) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                let transcript = self.stop();
                bail!("not serving after {} s\n{transcript}", limit.as_secs());
            }
            thread::sleep(READY_POLL);
        }
    }

    /// The host CPU time QEMU has used so far, all its threads together.
    pub(crate) fn cpu_time(&self) -> anyhow::Result<Duration> {
        procstat::cpu_time(self.child.id())
    }

    /// Stops QEMU and returns the end of what the guest printed and QEMU's diagnostics.
    pub(crate) fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let joined = |reader: Option<JoinHandle<String>>| {
            reader
                .and_then(|reader| reader.join().ok())
                .unwrap_or_default()
        };
        let (serial, stderr) = (joined(self.serial.take()), joined(self.stderr.take()));
        tail(&serial, &stderr)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The serial lines shown when a server fails.
const TAIL_LINES: usize = 30;

/// The last serial lines and every line of QEMU's stderr, indented.
fn tail(serial: &str, stderr: &str) -> String {
    let lines: Vec<&str> = serial.lines().collect();
    let shown = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    let mut text = format!("    ---- last {} serial lines ----\n", shown.len());
    for line in shown {
        text.push_str(&format!("    | {line}\n"));
    }
    for line in stderr.lines() {
        text.push_str(&format!("    qemu: {line}\n"));
    }
    text
}

/// Reads a pipe to its end on a thread of its own, so that QEMU never stalls on it.
fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn words(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    fn contains(args: &[String], wanted: &[&str]) -> bool {
        args.windows(wanted.len()).any(|window| window == wanted)
    }

    #[test]
    fn the_network_is_forwarded_from_loopback_only() {
        let args = words(boot_image::machine_args(&options(1, 18080)));
        let forwarded = "hostfwd=tcp:127.0.0.1:18080-:80,hostfwd=udp:127.0.0.1:18080-:7";
        let netdev = args.iter().find(|arg| arg.starts_with("user,")).unwrap();
        assert!(netdev.contains("restrict=on"), "{netdev}");
        assert!(netdev.ends_with(forwarded), "{netdev}");
        assert!(args.iter().any(|arg| arg.starts_with("virtio-net-pci,")));
    }

    #[test]
    fn servers_run_on_host_time_with_mttcg() {
        let args = words(boot_image::machine_args(&options(2, 18080)));
        assert!(contains(&args, &["-cpu", "max"]));
        assert!(contains(&args, &["-smp", "2", "-m", "256M"]));
        assert!(contains(&args, &["-accel", "tcg,thread=multi"]));
        assert!(!args.contains(&"-icount".to_owned()));
        let single = words(boot_image::machine_args(&options(1, 18080)));
        assert!(!single.contains(&"-icount".to_owned()));
        assert!(!single.contains(&"-accel".to_owned()));
    }

    #[test]
    fn linux_and_spindle_get_the_same_machine_and_network() {
        let options = options(2, 18080);
        let linux = Server::linux("Linux".into(), "/k/vmlinuz".into(), "/k/i.cpio".into());
        let linux = words(
            linux
                .command(&options)
                .unwrap()
                .get_args()
                .map(OsString::from)
                .collect(),
        );
        let machine = words(boot_image::machine_args(&options));
        assert!(linux.starts_with(&machine));
        assert!(machine.contains(&"-netdev".to_owned()));
        assert!(contains(
            &linux,
            &["-kernel", "/k/vmlinuz", "-initrd", "/k/i.cpio"]
        ));
    }

    #[test]
    fn a_free_port_is_free_for_both_protocols() {
        let port = free_port().unwrap();
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn a_failure_shows_the_end_of_the_transcript() {
        let serial: String = (1..=40).map(|line| format!("line {line}\n")).collect();
        let text = tail(&serial, "qemu-system-x86_64: -netdev user: bad\n");
        assert!(text.starts_with("    ---- last 30 serial lines ----\n    | line 11\n"));
        assert!(text.ends_with("    | line 40\n    qemu: qemu-system-x86_64: -netdev user: bad\n"));
    }
}
