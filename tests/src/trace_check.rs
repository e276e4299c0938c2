//! Judging a boot's schedule trace (`//@ trace: check`).
//!
//! A test kernel starts tracing itself (`spindle::tracing::start`: the test kernels share
//! one build of the kernel library, so a build-time switch would trace them all), and
//! streams the trace to the debug console port with `tracing::dump` and again when it
//! exits. The harness points the port at a file and, after the boot, decodes the file
//! and checks the scheduler's invariants on it (`spindle_trace::check`). The result is
//! one more case, [`CASE`], beside the kernel's own: a kernel whose cases pass while its
//! trace shows a thread running without a wake, or time going backwards, still fails.

use std::path::Path;

use spindle_trace::{LoadError, Violation, check, kind_name, load};

use crate::verdict::{CaseResult, Verdict};

/// The pseudo-case the trace's verdict is reported as.
pub const CASE: &str = "<trace>";

/// Violations listed in a failure; the rest are counted.
const SHOWN_VIOLATIONS: usize = 20;

/// The verdict on the stream in the file at `stream`: passed for a trace that decodes,
/// holds events, an event of each kind in `holds` (`spindle_trace::kind_name`) and breaks
/// no invariant.
pub fn judge(stream: &Path, holds: &[String]) -> CaseResult {
    CaseResult {
        case: CASE.to_owned(),
        verdict: match failure(stream, holds) {
            None => Verdict::Passed,
            Some(reason) => Verdict::Failed(reason),
        },
    }
}

/// Why the stream at `stream` fails, if it does.
fn failure(stream: &Path, holds: &[String]) -> Option<String> {
    let trace = match load(stream) {
        Ok(trace) => trace,
        Err(LoadError::NoTrace { .. }) => {
            return Some(format!(
                "no trace in {}: the kernel streamed nothing to the debug console; start \
                 tracing in a case with `spindle::tracing::start()` (the kernel streams what \
                 it recorded at `tracing::dump()` and when it exits)",
                stream.display()
            ));
        }
        Err(error) => return Some(error.to_string()),
    };
    if trace.events().is_empty() {
        return Some(format!(
            "the trace in {} holds no events: trace a case while it runs",
            stream.display()
        ));
    }
    let violations = check(&trace);
    if !violations.is_empty() {
        return Some(describe(&violations, stream));
    }
    let missing: Vec<&str> = holds
        .iter()
        .map(String::as_str)
        .filter(|&kind| {
            !trace
                .events()
                .iter()
                .any(|event| kind_name(&event.what) == kind)
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the trace in {} holds no `{}` event (`//@ trace-holds`)",
            stream.display(),
            missing.join("`, `")
        )
    })
}

/// A failure reason listing `violations`, one per line (the harness indents a reason's
/// first line by four spaces; the list goes two further), and how to draw the stream.
fn describe(violations: &[Violation], stream: &Path) -> String {
    let mut reason = format!(
        "the trace breaks the scheduler's invariants {} time(s); to see it, run \
         `cargo run -p spindle-trace -- convert {} trace.json --svg trace.svg`",
        violations.len(),
        stream.display()
    );
    for violation in violations.iter().take(SHOWN_VIOLATIONS) {
        reason.push_str(&format!("\n      {violation}"));
    }
    if violations.len() > SHOWN_VIOLATIONS {
        reason.push_str(&format!(
            "\n      ... and {} more (`cargo run -p spindle-trace -- check {}`)",
            violations.len() - SHOWN_VIOLATIONS,
            stream.display()
        ));
    }
    reason
}

#[cfg(test)]
mod tests {
    use std::fs;

    use spindle_trace::{Header, Kind, Record, SwitchReason, VERSION};

    use super::*;

    /// A one-CPU stream of yields, `(tsc, from, to)`.
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

    fn judged(bytes: Option<&[u8]>) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k-bios.bin");
        if let Some(bytes) = bytes {
            fs::write(&path, bytes).unwrap();
        }
        let result = judge(&path, &[]);
        assert_eq!(result.case, CASE);
        result.verdict
    }

    fn reason(verdict: Verdict) -> String {
        match verdict {
            Verdict::Failed(reason) => reason,
            Verdict::Passed => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_clean_trace_passes() {
        let bytes = stream(&[(100, 1, 2), (200, 2, 1)]);
        assert_eq!(judged(Some(&bytes)), Verdict::Passed);
    }

    #[test]
    fn a_trace_without_a_kind_it_must_hold_fails_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k-bios.bin");
        fs::write(&path, stream(&[(100, 1, 2), (200, 2, 1)])).unwrap();
        let holds = |kinds: &[&str]| {
            let kinds: Vec<String> = kinds.iter().map(|kind| kind.to_string()).collect();
            judge(&path, &kinds).verdict
        };
        assert_eq!(holds(&["switch"]), Verdict::Passed);
        let missing = reason(holds(&["switch", "panic", "mark"]));
        assert!(
            missing.contains("holds no `panic`, `mark` event"),
            "{missing}"
        );
    }

    #[test]
    fn no_stream_fails_and_says_how_to_trace() {
        let empty = reason(judged(Some(b"")));
        assert!(empty.contains("spindle::tracing::start()"), "{empty}");
        let missing = reason(judged(None));
        assert!(missing.contains("cannot read"), "{missing}");
        // A header alone: tracing started, but nothing was recorded.
        let bare = reason(judged(Some(&stream(&[]))));
        assert!(bare.contains("holds no events"), "{bare}");
    }

    #[test]
    fn a_damaged_stream_fails() {
        let mut bytes = stream(&[(100, 1, 2)]);
        bytes.truncate(bytes.len() - 3);
        assert!(reason(judged(Some(&bytes))).contains("truncated record"));
    }

    #[test]
    fn violations_are_listed() {
        // Thread 3 is switched out while thread 2 runs.
        let bytes = stream(&[(100, 1, 2), (200, 3, 1)]);
        let reason = reason(judged(Some(&bytes)));
        assert!(reason.contains("invariants 1 time(s)"), "{reason}");
        assert!(reason.contains("k-bios.bin trace.json --svg"), "{reason}");
        assert!(
            reason.contains("\n      not running: CPU 0 at 0.100 µs: thread 3"),
            "{reason}"
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let switches: Vec<_> = (0..25u64)
            .flat_map(|i| [(1000 * i + 100, 1, 2), (1000 * i + 200, 3, 1)])
            .collect();
        let reason = reason(judged(Some(&stream(&switches))));
        assert_eq!(reason.lines().count(), 1 + SHOWN_VIOLATIONS + 1, "{reason}");
        assert!(reason.contains("... and 5 more"), "{reason}");
    }
}
