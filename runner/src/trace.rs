//! `--trace FILE`: the schedule trace of one boot, as files to look at.
//!
//! The kernel is built with `SPINDLE_TRACE=on` (read with `option_env!` by
//! `spindle::tracing`, which Cargo tracks: the kernel is rebuilt when it changes), so
//! it records from boot and streams its rings to the debug console port when the
//! session ends (`poweroff`, a panic, a fatal exception) and on the console's
//! `trace dump`. QEMU writes that stream to FILE's `.bin` sibling; after QEMU exits,
//! whatever its status, it is decoded, checked against the scheduler's invariants and
//! drawn: FILE (Perfetto JSON) and FILE's `.svg` sibling (a timeline). The stream is
//! kept, to draw again with another window (`spindle-trace convert`).
//!
//! Exit status: the trace never hides the kernel's own status. When the kernel
//! succeeded but no trace came of it (nothing streamed, a damaged stream, an
//! unwritable file), the runner exits [`SETUP_ERROR`]: what was asked for is missing.
//! When the kernel failed, its status stands and the trace's problem is a note.
//! Broken invariants are warnings: the files are written all the same, since looking
//! at them is how to find out why.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use spindle_trace::{LoadError, SvgOptions, Trace, Violation, check, load, summary, write_files};

use crate::outcome::SETUP_ERROR;

/// Violations listed one per line; the rest are counted.
const SHOWN_VIOLATIONS: usize = 10;

/// Where `--trace FILE` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceFiles {
    /// FILE: Perfetto JSON.
    pub(crate) json: PathBuf,
    /// FILE with the extension `.svg`: the timeline.
    pub(crate) svg: PathBuf,
    /// FILE with the extension `.bin`: the raw stream, as QEMU wrote it.
    pub(crate) stream: PathBuf,
}

impl TraceFiles {
    /// The files for `--trace FILE`. Checked before anything is built, so that a
    /// mistyped directory costs no build and no boot: FILE must name a file in an
    /// existing directory, and must not itself end in `.svg` or `.bin` (the outputs
    /// would overwrite each other).
    pub(crate) fn for_file(file: &Path) -> anyhow::Result<Self> {
        if file.file_name().is_none() || file.is_dir() {
            bail!(
                "--trace {}: not a file name; give the JSON's path, e.g. --trace trace.json",
                file.display()
            );
        }
        if let Some(extension @ ("svg" | "bin")) = file.extension().and_then(|e| e.to_str()) {
            bail!(
                "--trace {}: FILE is the JSON, and the .svg and .bin files go beside it; \
                 give a .json path, not a .{extension} one",
                file.display()
            );
        }
        let directory = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !directory.is_dir() {
            bail!(
                "--trace {}: directory {} does not exist; create it first",
                file.display(),
                directory.display()
            );
        }
        Ok(Self {
            json: file.to_owned(),
            svg: file.with_extension("svg"),
            stream: file.with_extension("bin"),
        })
    }

    /// Removes an older run's stream, so that a QEMU that fails before creating the
    /// file cannot leave someone else's trace to be read as this boot's.
    pub(crate) fn clear_stream(&self) -> anyhow::Result<()> {
        match fs::remove_file(&self.stream) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error)
                .with_context(|| format!("cannot remove the old {}", self.stream.display())),
            _ => Ok(()),
        }
    }

    /// After QEMU exited with the runner's `kernel_status`: decodes, checks and writes
    /// the trace, says so on stderr, and returns the runner's exit status (see the
    /// module documentation).
    pub(crate) fn finish(&self, kernel_status: i32) -> i32 {
        match self.write() {
            Ok((trace, violations)) => {
                self.report(&trace, &violations);
                kernel_status
            }
            Err(error) => {
                let kind = if kernel_status == 0 { "error" } else { "note" };
                eprintln!("spindle: {kind}: no trace written: {error:#}");
                status_without_trace(kernel_status)
            }
        }
    }

    /// Decodes the stream, checks it and writes the JSON and the SVG (both or neither).
    fn write(&self) -> anyhow::Result<(Trace, Vec<Violation>)> {
        let trace = load(&self.stream).map_err(|error| match error {
            LoadError::NoTrace { .. } => anyhow::anyhow!("{error}. {NO_TRACE_HINT}"),
            error => anyhow::Error::new(error),
        })?;
        let violations = check(&trace);
        write_files(&trace, &self.json, &self.svg, &SvgOptions::default())
            .context("cannot write the trace")?;
        Ok((trace, violations))
    }

    /// The summary, the files, and each broken invariant as a warning.
    fn report(&self, trace: &Trace, violations: &[Violation]) {
        eprintln!("spindle: trace: {}", summary(trace));
        eprintln!(
            "spindle: trace: wrote {} (open it at https://ui.perfetto.dev), {} (timeline) \
             and {} (the raw stream)",
            self.json.display(),
            self.svg.display(),
            self.stream.display()
        );
        for line in violation_lines(violations, &self.stream) {
            eprintln!("spindle: warning: {line}");
        }
    }
}

/// Refuses QEMU arguments that attach a debug console of their own: the port has room
/// for one, and `--trace` attaches it.
pub(crate) fn check_qemu_args(qemu_args: &[String]) -> anyhow::Result<()> {
    if qemu_args.iter().any(|arg| arg == "-debugcon") {
        bail!("--trace attaches the debug console itself: drop -debugcon from the QEMU arguments");
    }
    Ok(())
}

/// What to do about an empty stream: the ways a kernel streams its trace, and the
/// ways a session ends without it.
const NO_TRACE_HINT: &str = "The kernel streams its trace when it powers off, panics or \
     runs `trace dump`, so end the session with `poweroff` (Ctrl-C and --timeout stop QEMU \
     before that); a kernel given with --kernel must start tracing itself (build it with \
     SPINDLE_TRACE=on)";

/// The exit status when no trace came of a boot whose status was `kernel_status`.
fn status_without_trace(kernel_status: i32) -> i32 {
    if kernel_status == 0 {
        SETUP_ERROR
    } else {
        kernel_status
    }
}

/// A heading and up to [`SHOWN_VIOLATIONS`] violations, then how many more there are
/// and how to list them all from the kept `stream`.
fn violation_lines(violations: &[Violation], stream: &Path) -> Vec<String> {
    if violations.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "the trace breaks the scheduler's invariants {} time(s):",
        violations.len()
    )];
    lines.extend(
        violations
            .iter()
            .take(SHOWN_VIOLATIONS)
            .map(|violation| format!("  {violation}")),
    );
    if violations.len() > SHOWN_VIOLATIONS {
        lines.push(format!(
            "  ... and {} more: `cargo run -p spindle-trace -- check {}` lists them all",
            violations.len() - SHOWN_VIOLATIONS,
            stream.display()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use spindle_trace::{Header, Kind, Record, SwitchReason, VERSION};

    use super::*;

    #[test]
    fn the_svg_and_the_stream_go_beside_the_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.json");
        let files = TraceFiles::for_file(&file).unwrap();
        assert_eq!(files.json, file);
        assert_eq!(files.svg, dir.path().join("run.svg"));
        assert_eq!(files.stream, dir.path().join("run.bin"));
        // Only the last extension is replaced; none is added to the JSON's name.
        let files = TraceFiles::for_file(&dir.path().join("a.perfetto.json")).unwrap();
        assert_eq!(files.svg, dir.path().join("a.perfetto.svg"));
        let files = TraceFiles::for_file(&dir.path().join("bare")).unwrap();
        assert_eq!(
            (files.json, files.svg),
            (dir.path().join("bare"), dir.path().join("bare.svg"))
        );
        // A bare name lies in the current directory.
        assert_eq!(
            TraceFiles::for_file(Path::new("t.json")).unwrap().svg,
            Path::new("t.svg")
        );
    }

    fn refusal(file: &Path) -> String {
        TraceFiles::for_file(file).unwrap_err().to_string()
    }

    #[test]
    fn refuses_files_that_would_collide_or_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refusal(&dir.path().join("t.svg")).contains("give a .json path, not a .svg"));
        assert!(refusal(&dir.path().join("t.bin")).contains("not a .bin one"));
        assert!(refusal(dir.path()).contains("not a file name"));
        assert!(refusal(Path::new("..")).contains("not a file name"));
        let missing = dir.path().join("no/such/dir/t.json");
        assert!(
            refusal(&missing).contains("does not exist; create it first"),
            "{}",
            refusal(&missing)
        );
    }

    #[test]
    fn a_debug_console_of_the_callers_own_is_refused() {
        let args = |list: &[&str]| list.iter().map(|&arg| arg.to_owned()).collect::<Vec<_>>();
        check_qemu_args(&args(&["-d", "int"])).unwrap();
        let error = check_qemu_args(&args(&["-debugcon", "file:x"])).unwrap_err();
        assert!(error.to_string().contains("drop -debugcon"), "{error}");
    }

    #[test]
    fn an_old_stream_is_removed_before_the_boot() {
        let dir = tempfile::tempdir().unwrap();
        let files = TraceFiles::for_file(&dir.path().join("t.json")).unwrap();
        files.clear_stream().unwrap();
        fs::write(&files.stream, b"old").unwrap();
        files.clear_stream().unwrap();
        assert!(!files.stream.exists());
    }

    /// A stream of one CPU: `main` (1) switches to `worker` (2) and back, by yield.
    fn stream(switches: &[(u64, u32, u32)]) -> Vec<u8> {
        let header = Header {
            version: VERSION,
            cpus: 1,
            tsc_hz: 1_000_000_000,
        };
        let mut bytes = header.encode().to_vec();
        for &(tsc, from, to) in switches {
            let record = Record {
                tsc,
                kind: Kind::Switch as u8,
                small: SwitchReason::Yield as u8,
                id: from,
                a: u64::from(to),
                ..Record::default()
            };
            bytes.extend_from_slice(&record.encode());
        }
        bytes
    }

    #[test]
    fn a_stream_becomes_json_and_svg_and_keeps_the_kernel_status() {
        let dir = tempfile::tempdir().unwrap();
        let files = TraceFiles::for_file(&dir.path().join("t.json")).unwrap();
        fs::write(&files.stream, stream(&[(100, 1, 2), (200, 2, 1)])).unwrap();
        let (trace, violations) = files.write().unwrap();
        assert_eq!(trace.events().len(), 2);
        assert!(violations.is_empty(), "{violations:?}");
        let json = fs::read_to_string(&files.json).unwrap();
        assert!(json.contains("traceEvents"), "{json}");
        assert!(fs::read_to_string(&files.svg).unwrap().starts_with("<svg"));
        assert_eq!(files.finish(0), 0);
        assert_eq!(files.finish(1), 1);
    }

    #[test]
    fn a_missing_trace_fails_a_successful_boot_only() {
        let dir = tempfile::tempdir().unwrap();
        let files = TraceFiles::for_file(&dir.path().join("t.json")).unwrap();
        fs::write(&files.stream, b"").unwrap();
        let error = format!("{:#}", files.write().unwrap_err());
        assert!(error.contains("end the session with `poweroff`"), "{error}");
        assert!(error.contains("streamed nothing"), "{error}");
        assert!(!files.json.exists() && !files.svg.exists());
        assert_eq!(files.finish(0), SETUP_ERROR);
        assert_eq!(files.finish(1), 1);
        assert_eq!(files.finish(130), 130);
    }

    #[test]
    fn a_damaged_stream_names_the_fault() {
        let dir = tempfile::tempdir().unwrap();
        let files = TraceFiles::for_file(&dir.path().join("t.json")).unwrap();
        let mut bytes = stream(&[(100, 1, 2)]);
        bytes.pop();
        fs::write(&files.stream, bytes).unwrap();
        let error = format!("{:#}", files.write().unwrap_err());
        assert!(error.contains("truncated record"), "{error}");
    }

    #[test]
    fn violations_are_listed_up_to_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let files = TraceFiles::for_file(&dir.path().join("t.json")).unwrap();
        // Thread 3 is switched out while thread 2 runs, twelve times over.
        let switches: Vec<_> = (0..12u64)
            .flat_map(|i| [(1000 * i + 100, 1, 2), (1000 * i + 200, 3, 1)])
            .collect();
        fs::write(&files.stream, stream(&switches)).unwrap();
        let (_, violations) = files.write().unwrap();
        assert_eq!(violations.len(), 12, "{violations:?}");
        let lines = violation_lines(&violations, &files.stream);
        assert_eq!(lines.len(), 1 + SHOWN_VIOLATIONS + 1, "{lines:#?}");
        assert!(lines[0].contains("12 time(s)"), "{}", lines[0]);
        assert!(lines[1].starts_with("  not running:"), "{}", lines[1]);
        assert!(lines[11].contains("2 more"), "{}", lines[11]);
        assert!(violation_lines(&[], &files.stream).is_empty());
    }
}
