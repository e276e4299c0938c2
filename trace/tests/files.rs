//! `write_files` (all or nothing) and the `spindle-trace` command.

mod common;

use std::{fs, path::Path, process::Command};

use common::{Stream, two_cpu_stream};
use spindle_trace::{SvgOptions, SwitchReason, decode, write_files};

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_files_are_written_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let trace = decode(&two_cpu_stream().bytes()).unwrap();
    let (json, svg) = (dir.path().join("t.json"), dir.path().join("t.svg"));
    write_files(&trace, &json, &svg, &SvgOptions::default()).expect("writes");
    assert_eq!(entries(dir.path()), ["t.json", "t.svg"]);
    let value: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    assert!(
        value["traceEvents"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    roxmltree::Document::parse(&fs::read_to_string(&svg).unwrap()).expect("well-formed SVG");
}

#[test]
fn a_failed_second_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let trace = decode(&two_cpu_stream().bytes()).unwrap();
    let json = dir.path().join("t.json");
    let svg = dir.path().join("missing").join("t.svg");
    let error =
        write_files(&trace, &json, &svg, &SvgOptions::default()).expect_err("no such directory");
    assert!(error.to_string().contains("missing/t.svg"), "{error}");
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn an_existing_file_is_kept_when_writing_fails() {
    let dir = tempfile::tempdir().unwrap();
    let trace = decode(&two_cpu_stream().bytes()).unwrap();
    let json = dir.path().join("t.json");
    fs::write(&json, "old").unwrap();
    let svg = dir.path().join("missing").join("t.svg");
    write_files(&trace, &json, &svg, &SvgOptions::default()).expect_err("no such directory");
    assert_eq!(fs::read_to_string(&json).unwrap(), "old");
    assert_eq!(entries(dir.path()), ["t.json"]);
}

fn tool(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_spindle-trace"))
        .args(args)
        .output()
        .expect("the tool runs");
    (
        output.status.code().expect("an exit status"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn convert_writes_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("t.bin");
    fs::write(&bin, two_cpu_stream().bytes()).unwrap();
    let (json, svg) = (dir.path().join("t.json"), dir.path().join("t.svg"));
    let (code, out, err) = tool(&[
        "convert",
        bin.to_str().unwrap(),
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--window",
        "1..5",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("37 records lost"), "{out}");
    assert!(
        fs::read_to_string(&svg)
            .unwrap()
            .contains("window 1.00–5.00 µs")
    );
    serde_json::from_slice::<serde_json::Value>(&fs::read(&json).unwrap()).unwrap();
    // JSON alone.
    let only = dir.path().join("only.json");
    let (code, _, err) = tool(&["convert", bin.to_str().unwrap(), only.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(only.exists());
}

#[test]
fn check_exits_by_whether_it_found_violations() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.bin");
    fs::write(&good, two_cpu_stream().bytes()).unwrap();
    let (code, out, _) = tool(&["check", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no violations"), "{out}");

    let bad = dir.path().join("bad.bin");
    let mut s = Stream::new(1);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .switch(0, 200, 3, 1, SwitchReason::Yield);
    fs::write(&bad, s.bytes()).unwrap();
    let (code, out, _) = tool(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("not running: CPU 0 at 0.100 µs: thread 3 is switched out"),
        "{out}"
    );
    assert!(out.contains("1 violations"), "{out}");
}

#[test]
fn unreadable_and_undecodable_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.bin");
    let (code, _, err) = tool(&["check", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read") && err.contains("nope.bin"),
        "{err}"
    );

    let junk = dir.path().join("junk.bin");
    fs::write(&junk, b"this is not a trace, not even close").unwrap();
    let (code, _, err) = tool(&["check", junk.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("junk.bin: bad magic at offset 0"), "{err}");

    let truncated = dir.path().join("cut.bin");
    let bytes = two_cpu_stream().bytes();
    fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let out = dir.path().join("cut.json");
    let (code, _, err) = tool(&[
        "convert",
        truncated.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("truncated record"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bad_windows_are_refused() {
    for window in ["5..1", "..", "a..b", "12"] {
        let (code, _, err) = tool(&["convert", "x.bin", "x.json", "--window", window]);
        assert_eq!(code, 2, "{window}: {err}");
        assert!(err.contains("--window"), "{window}: {err}");
    }
}

#[test]
fn load_tells_an_empty_stream_from_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bin");
    fs::write(&empty, b"").unwrap();
    let error = spindle_trace::load(&empty).unwrap_err();
    assert!(
        matches!(error, spindle_trace::LoadError::NoTrace { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("streamed nothing"), "{error}");

    let cut = dir.path().join("cut.bin");
    let bytes = two_cpu_stream().bytes();
    fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
    let error = spindle_trace::load(&cut).unwrap_err();
    assert!(error.to_string().contains("truncated record"), "{error}");

    let missing = dir.path().join("missing.bin");
    let error = spindle_trace::load(&missing).unwrap_err();
    assert!(
        matches!(error, spindle_trace::LoadError::Read { .. }),
        "{error:?}"
    );

    let whole = dir.path().join("whole.bin");
    fs::write(&whole, two_cpu_stream().bytes()).unwrap();
    let trace = spindle_trace::load(&whole).unwrap();
    let summary = spindle_trace::summary(&trace);
    assert!(summary.contains("on 2 CPU(s)"), "{summary}");
    assert!(summary.contains("37 records lost"), "{summary}");
}

#[test]
fn a_window_can_be_counted_from_a_mark() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("t.bin");
    fs::write(&bin, two_cpu_stream().bytes()).unwrap();
    let (json, svg) = (dir.path().join("t.json"), dir.path().join("t.svg"));
    let convert = |mark: &str| {
        tool(&[
            "convert",
            bin.to_str().unwrap(),
            json.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
            "--from-mark",
            mark,
            "--window",
            "..0.1",
        ])
    };
    // The first event is at 0.05 µs, the mark "done" at 7.5 µs.
    let (code, out, err) = convert("done");
    assert_eq!(code, 0, "{out}{err}");
    let picture = fs::read_to_string(&svg).unwrap();
    assert!(picture.contains("window 7.450–7.550 µs"), "{picture}");
    let (code, _, err) = convert("nope");
    assert_eq!(code, 2);
    assert!(
        err.contains(r#"no mark is "nope"; the marks are "start", "done""#),
        "{err}"
    );
}
