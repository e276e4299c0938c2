//! Judging one boot: the test kernel's serial protocol plus QEMU's outcome become one
//! verdict per planned case.
//!
//! The kernel prints `spindle-test: plan A B C`, then `spindle-test: ok A` as each case
//! returns, and `spindle-test: done` before exiting with success (see
//! `tests/kernels/src/lib.rs`). The first planned case without an `ok` line is the one
//! that was running when the kernel stopped.

use boot_image::Outcome;

const PREFIX: &str = "spindle-test: ";

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It returned (or, in an expected-failure kernel, failed as expected).
    Passed,
    /// It failed; the reason is one line for humans.
    Failed(String),
}

/// One judged case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name; `<boot>` when the kernel died before announcing its plan, and
    /// `<exit>` for a failure after every case passed.
    pub case: String,
    /// What happened to it.
    pub verdict: Verdict,
}

/// What the kernel said over serial.
#[derive(Debug, Default, PartialEq, Eq)]
struct Transcript<'a> {
    plan: Option<Vec<&'a str>>,
    passed: Vec<&'a str>,
    done: bool,
}

fn read_transcript(serial: &str) -> Transcript<'_> {
    let mut transcript = Transcript::default();
    for line in serial.lines() {
        let Some(message) = line.trim_end().strip_prefix(PREFIX) else {
            continue;
        };
        if let Some(names) = message.strip_prefix("plan") {
            transcript.plan = Some(names.split_whitespace().collect());
        } else if let Some(name) = message.strip_prefix("ok ") {
            transcript.passed.push(name.trim());
        } else if message == "done" {
            transcript.done = true;
        }
    }
    transcript
}

/// Judges a boot that ended with `outcome` after printing `serial`. `expected_failure`
/// lists the texts of an expected-failure kernel (empty for a normal one).
pub fn judge(outcome: &Outcome, serial: &str, expected_failure: &[String]) -> Vec<CaseResult> {
    let transcript = read_transcript(serial);
    let Some(plan) = transcript.plan else {
        return vec![failed(
            "<boot>",
            format!("never announced its cases: {}", outcome.describe()),
        )];
    };
    let stopped_at = plan
        .iter()
        .position(|case| !transcript.passed.contains(case));
    let mut results: Vec<CaseResult> = plan
        .iter()
        .enumerate()
        .map(|(index, case)| match stopped_at {
            Some(stop) if index == stop => CaseResult {
                case: case.to_string(),
                verdict: judge_stopping_case(outcome, serial, expected_failure),
            },
            Some(stop) if index > stop => {
                failed(case, "not run: an earlier case stopped the kernel".into())
            }
            _ => passed(case),
        })
        .collect();
    let clean_exit = transcript.done && *outcome == Outcome::Success;
    match (stopped_at, expected_failure.is_empty(), clean_exit) {
        (None, true, false) => results.push(failed(
            "<exit>",
            format!("all cases passed, then: {}", outcome.describe()),
        )),
        (None, false, _) => results.push(failed(
            "<exit>",
            format!(
                "expected the kernel to fail, but every case returned ({})",
                outcome.describe()
            ),
        )),
        _ => {}
    }
    results
}

/// A failed `<output>` pseudo-case for each `expected` text missing from `serial`.
pub fn check_output(serial: &str, expected: &[String]) -> Vec<CaseResult> {
    expected
        .iter()
        .filter(|text| !serial.contains(text.as_str()))
        .map(|text| failed("<output>", format!("the serial output lacks `{text}`")))
        .collect()
}

/// A failed `<output>` pseudo-case for each `rejected` text found in `serial`.
pub fn check_absent(serial: &str, rejected: &[String]) -> Vec<CaseResult> {
    rejected
        .iter()
        .filter_map(|text| {
            let line = serial.lines().find(|line| line.contains(text.as_str()))?;
            Some(failed(
                "<output>",
                format!("the serial output has `{text}`, which it must not: {line}"),
            ))
        })
        .collect()
}

/// The verdict on the case that was running when the kernel stopped.
fn judge_stopping_case(outcome: &Outcome, serial: &str, expected_failure: &[String]) -> Verdict {
    if expected_failure.is_empty() {
        return Verdict::Failed(format!(
            "{}{}",
            outcome.describe(),
            first_report_line(serial)
        ));
    }
    if *outcome != Outcome::Failure {
        return Verdict::Failed(format!(
            "expected a failure exit, got: {}",
            outcome.describe()
        ));
    }
    match expected_failure
        .iter()
        .find(|text| !serial.contains(text.as_str()))
    {
        Some(missing) => Verdict::Failed(format!(
            "failed as expected, but the output lacks `{missing}`"
        )),
        None => Verdict::Passed,
    }
}

/// The first line of a panic or exception report, as `: <line>`, if there is one.
fn first_report_line(serial: &str) -> String {
    serial
        .lines()
        .find(|line| {
            line.starts_with("KERNEL PANIC")
                || line.starts_with("CPU EXCEPTION")
                || line.starts_with("INTERRUPT")
        })
        .map(|line| format!(": {line}"))
        .unwrap_or_default()
}

fn passed(case: &str) -> CaseResult {
    CaseResult {
        case: case.to_owned(),
        verdict: Verdict::Passed,
    }
}

fn failed(case: &str, reason: String) -> CaseResult {
    CaseResult {
        case: case.to_owned(),
        verdict: Verdict::Failed(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_PASS: &str = "[ 0.1] INFO boot\nspindle-test: plan a b\nlog line\nspindle-test: ok a\n\
                            spindle-test: ok b\nspindle-test: done\n";

    fn verdicts(results: &[CaseResult]) -> Vec<(&str, bool)> {
        results
            .iter()
            .map(|r| (r.case.as_str(), r.verdict == Verdict::Passed))
            .collect()
    }

    #[test]
    fn every_case_passes_on_a_clean_run() {
        let results = judge(&Outcome::Success, ALL_PASS, &[]);
        assert_eq!(verdicts(&results), [("a", true), ("b", true)]);
    }

    #[test]
    fn a_reset_after_all_cases_is_still_a_failure() {
        let results = judge(&Outcome::Reset, ALL_PASS, &[]);
        assert_eq!(
            verdicts(&results),
            [("a", true), ("b", true), ("<exit>", false)]
        );
    }

    #[test]
    fn success_without_done_line_is_a_failure() {
        let serial = "spindle-test: plan a\nspindle-test: ok a\n";
        let results = judge(&Outcome::Success, serial, &[]);
        assert_eq!(verdicts(&results), [("a", true), ("<exit>", false)]);
    }

    #[test]
    fn a_panic_blames_the_running_case_and_skips_the_rest() {
        let serial =
            "spindle-test: plan a b c\nspindle-test: ok a\n\nKERNEL PANIC at x.rs:1:1: boom\n";
        let results = judge(&Outcome::Failure, serial, &[]);
        assert_eq!(
            verdicts(&results),
            [("a", true), ("b", false), ("c", false)]
        );
        let Verdict::Failed(reason) = &results[1].verdict else {
            unreachable!()
        };
        assert!(
            reason.contains("KERNEL PANIC at x.rs:1:1: boom"),
            "{reason}"
        );
        let Verdict::Failed(reason) = &results[2].verdict else {
            unreachable!()
        };
        assert!(reason.starts_with("not run"), "{reason}");
    }

    #[test]
    fn a_kernel_that_never_plans_fails_at_boot() {
        let results = judge(
            &Outcome::Timeout(std::time::Duration::from_secs(3)),
            "garbage",
            &[],
        );
        assert_eq!(verdicts(&results), [("<boot>", false)]);
    }

    #[test]
    fn expected_failure_needs_failure_exit_and_every_text() {
        let serial = "spindle-test: plan p\nKERNEL PANIC at a.rs:2:3: value 42\n";
        let expect = ["KERNEL PANIC".to_owned(), "value 42".to_owned()];
        assert_eq!(
            verdicts(&judge(&Outcome::Failure, serial, &expect)),
            [("p", true)]
        );
        assert_eq!(
            verdicts(&judge(&Outcome::Reset, serial, &expect)),
            [("p", false)]
        );
        let missing = ["value 43".to_owned()];
        assert_eq!(
            verdicts(&judge(&Outcome::Failure, serial, &missing)),
            [("p", false)]
        );
    }

    #[test]
    fn missing_expected_output_is_a_failure() {
        let expected = ["from the PIT".to_owned(), "plan".to_owned()];
        let results = check_output(ALL_PASS, &expected);
        assert_eq!(verdicts(&results), [("<output>", false)]);
        assert!(check_output("tick from the PIT", &expected[..1]).is_empty());
    }

    #[test]
    fn rejected_output_present_is_a_failure_naming_the_line() {
        let rejected = ["log line".to_owned(), "DEBUG".to_owned()];
        let results = check_absent(ALL_PASS, &rejected);
        assert_eq!(verdicts(&results), [("<output>", false)]);
        let Verdict::Failed(reason) = &results[0].verdict else {
            unreachable!()
        };
        assert!(reason.contains("`log line`"), "{reason}");
        assert!(check_absent(ALL_PASS, &rejected[1..]).is_empty());
    }

    #[test]
    fn expected_failure_kernel_that_succeeds_fails() {
        let expect = ["KERNEL PANIC".to_owned()];
        let results = judge(&Outcome::Success, ALL_PASS, &expect);
        assert_eq!(
            verdicts(&results),
            [("a", true), ("b", true), ("<exit>", false)]
        );
    }
}
