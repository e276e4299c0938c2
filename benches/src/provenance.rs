//! Where and when the numbers were measured: a figure means little without the commit,
//! the QEMU and, for tcg figures, the host CPU. Everything here is best effort: a missing
//! `git` or an unreadable `/proc/cpuinfo` leaves a field empty instead of failing a run
//! that took minutes.

use std::{fs, path::Path, process::Command, time::SystemTime};

use crate::run::shell_quote;

/// The circumstances of one run of the suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Provenance {
    /// How to run the same suite again: `./x bench` and the arguments given.
    pub(crate) command: String,
    /// When the run started, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub(crate) date: String,
    /// `git rev-parse HEAD`, if the source is a git checkout.
    pub(crate) commit: Option<String>,
    /// Whether the checkout had uncommitted changes.
    pub(crate) dirty: bool,
    /// The first line of `qemu-system-x86_64 --version`.
    pub(crate) qemu_version: Option<String>,
    /// The host's CPU model, from `/proc/cpuinfo`.
    pub(crate) host_cpu: Option<String>,
}

impl Provenance {
    /// Collects the circumstances of a run of the checkout at `root` started with `args`.
    pub(crate) fn collect(root: &Path, args: &[String]) -> Self {
        let git = |args: &[&str]| output_of(Command::new("git").args(args).current_dir(root));
        let qemu = boot_image::locate_qemu()
            .ok()
            .and_then(|qemu| output_of(Command::new(qemu).arg("--version")));
        Self {
            command: command_line(args),
            date: utc_timestamp(SystemTime::now()),
            commit: git(&["rev-parse", "HEAD"]),
            dirty: git(&["status", "--porcelain", "--untracked-files=no"]).is_some(),
            qemu_version: qemu.and_then(|text| text.lines().next().map(str::to_owned)),
            host_cpu: fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| cpu_model(&text)),
        }
    }

    /// The commit, shortened, with `+dirty` for uncommitted changes.
    pub(crate) fn short_commit(&self) -> Option<String> {
        let commit = self.commit.as_deref()?;
        let short = &commit[..commit.len().min(12)];
        Some(format!("{short}{}", if self.dirty { "+dirty" } else { "" }))
    }

    #[cfg(test)]
    pub(crate) fn example() -> Self {
        Self {
            command: "./x bench".into(),
            date: "2026-10-01T12:00:00Z".into(),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            dirty: false,
            qemu_version: Some("QEMU emulator version 8.2.2".into()),
            host_cpu: Some("AMD EPYC 7B13".into()),
        }
    }
}

/// The trimmed stdout of a command that succeeded and printed something.
fn output_of(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn command_line(args: &[String]) -> String {
    std::iter::once("./x bench".to_owned())
        .chain(args.iter().map(|arg| shell_quote(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// `time` as an ISO 8601 UTC timestamp to the second.
fn utc_timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(seconds: u64) -> String {
        utc_timestamp(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_735_689_600), "2025-01-01T00:00:00Z");
    }

    #[test]
    fn reads_the_cpu_model() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn names_the_command_to_run_again() {
        assert_eq!(command_line(&[]), "./x bench");
        let args = ["threads".to_owned(), "a b".to_owned()];
        assert_eq!(command_line(&args), "./x bench threads 'a b'");
    }

    #[test]
    fn short_commit_marks_uncommitted_changes() {
        let mut provenance = Provenance::example();
        assert_eq!(provenance.short_commit().as_deref(), Some("0123456789ab"));
        provenance.dirty = true;
        assert_eq!(
            provenance.short_commit().as_deref(),
            Some("0123456789ab+dirty")
        );
        provenance.commit = None;
        assert_eq!(provenance.short_commit(), None);
    }
}
