//! The Perfetto JSON: valid, with the processes, tracks, slices, flows and instants the
//! trace calls for, and flows bound to slices that exist.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::two_cpu_stream;
use serde_json::Value;
use spindle_trace::{decode, write_perfetto};

fn json_of(bytes: &[u8]) -> Value {
    let trace = decode(bytes).expect("decodes");
    let mut out = Vec::new();
    write_perfetto(&trace, &mut out).expect("writing to a Vec works");
    serde_json::from_slice(&out).expect("the output is JSON")
}

fn events(json: &Value) -> &[Value] {
    json["traceEvents"].as_array().expect("a traceEvents array")
}

fn phase<'a>(json: &'a Value, ph: &str) -> Vec<&'a Value> {
    events(json).iter().filter(|e| e["ph"] == ph).collect()
}

/// (pid, tid) → the name its metadata gives; and pid → process name.
fn names(json: &Value) -> (BTreeMap<(u64, u64), String>, BTreeMap<u64, String>) {
    let mut threads = BTreeMap::new();
    let mut processes = BTreeMap::new();
    for m in phase(json, "M") {
        let (pid, tid) = (m["pid"].as_u64().unwrap(), m["tid"].as_u64().unwrap());
        let name = m["args"]["name"].as_str().map(str::to_owned);
        match (m["name"].as_str().unwrap(), name) {
            ("thread_name", Some(name)) => {
                threads.insert((pid, tid), name);
            }
            ("process_name", Some(name)) => {
                processes.insert(pid, name);
            }
            _ => {}
        }
    }
    (threads, processes)
}

fn track_of(json: &Value, process: &str, thread: &str) -> (u64, u64) {
    let (threads, processes) = names(json);
    let pid = processes
        .iter()
        .find(|(_, name)| name.as_str() == process)
        .map(|(pid, _)| *pid)
        .unwrap_or_else(|| panic!("no process {process:?} in {processes:?}"));
    let tid = threads
        .iter()
        .find(|((p, _), name)| *p == pid && name.starts_with(thread))
        .map(|((_, tid), _)| *tid)
        .unwrap_or_else(|| panic!("no track {thread:?} in {process:?}: {threads:?}"));
    (pid, tid)
}

fn on_track<'a>(json: &'a Value, ph: &str, (pid, tid): (u64, u64)) -> Vec<&'a Value> {
    phase(json, ph)
        .into_iter()
        .filter(|e| e["pid"] == pid && e["tid"] == tid)
        .collect()
}

#[test]
fn processes_are_cpus_and_executors() {
    let json = json_of(&two_cpu_stream().bytes());
    let (threads, processes) = names(&json);
    let names: BTreeSet<&str> = processes.values().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["CPU 0", "CPU 1", "executor console"])
    );
    // Tracks: the threads that ran on each CPU (names given late included) and a
    // track per task.
    for (process, thread) in [
        ("CPU 0", "console (3)"),
        ("CPU 0", "worker (4)"),
        ("CPU 0", "idle/0 (1)"),
        ("CPU 1", "helper (5)"),
        ("CPU 1", "job (6)"),
        ("CPU 1", "idle/1 (2)"),
        ("executor console", "shell (task 10)"),
        ("executor console", "blink (task 11)"),
    ] {
        track_of(&json, process, thread);
    }
    // Every track id is used by one process only (Perfetto names threads by tid).
    let tids: Vec<u64> = threads.keys().map(|(_, tid)| *tid).collect();
    let unique: BTreeSet<u64> = tids.iter().copied().collect();
    assert_eq!(tids.len(), unique.len(), "{threads:?}");
    assert!(!unique.iter().any(|tid| processes.contains_key(tid)));
}

#[test]
fn runs_are_complete_slices_with_the_reason_they_ended() {
    let json = json_of(&two_cpu_stream().bytes());
    let worker = on_track(&json, "X", track_of(&json, "CPU 0", "worker"));
    let runs: Vec<(f64, f64, &str)> = worker
        .iter()
        .filter(|e| e["cat"] == "sched")
        .map(|e| {
            (
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
                e["args"]["ended"].as_str().unwrap(),
            )
        })
        .collect();
    // 1000-3000 preempted, 4000-5000 sleeps, 7000-end (times since the first event, 50 ns).
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(
        (runs[0].0 - 0.95).abs() < 1e-9 && (runs[0].1 - 2.0).abs() < 1e-9,
        "{runs:?}"
    );
    assert_eq!(runs[0].2, "preempt");
    assert_eq!(runs[1].2, "sleep");
    assert_eq!(runs[2].2, "trace end");
    assert!(worker.iter().all(|e| e["name"] == "worker"));
    let job = on_track(&json, "X", track_of(&json, "CPU 1", "job"));
    assert_eq!(job[0]["args"]["ended"], "exit");
}

#[test]
fn polls_are_slices_on_their_task_tracks() {
    let json = json_of(&two_cpu_stream().bytes());
    let shell = on_track(&json, "X", track_of(&json, "executor console", "shell"));
    assert_eq!(shell.len(), 2);
    assert_eq!(shell[0]["args"]["host thread"], "console");
    assert_eq!(shell[1]["args"]["finished"], true);
    let blink = on_track(&json, "X", track_of(&json, "executor console", "blink"));
    assert_eq!(blink.len(), 1);
}

#[test]
fn wakes_are_flows_bound_to_the_waker_and_the_next_run() {
    let json = json_of(&two_cpu_stream().bytes());
    let starts = phase(&json, "s");
    let ends = phase(&json, "f");
    // Every wake in the fixture lands: 2 thread wakes by interrupts, 1 by a thread, 2
    // task wakes.
    assert_eq!((starts.len(), ends.len()), (5, 5));
    assert!(ends.iter().all(|f| f["bp"] == "e"));
    let worker = track_of(&json, "CPU 0", "worker");
    let helper = track_of(&json, "CPU 1", "helper");
    // Worker wakes helper; the serial interrupt that wakes console also arrives while
    // worker runs, so its flows leave worker's slice too.
    let from_worker: Vec<&&Value> = starts
        .iter()
        .filter(|s| s["pid"] == worker.0 && s["tid"] == worker.1)
        .collect();
    let names: BTreeSet<&str> = from_worker
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["wake helper", "wake console", "wake shell"])
    );
    let start = from_worker
        .iter()
        .find(|s| s["name"] == "wake helper")
        .unwrap();
    let end = ends
        .iter()
        .find(|f| f["id"] == start["id"])
        .expect("and ends");
    assert_eq!(
        (end["pid"].as_u64().unwrap(), end["tid"].as_u64().unwrap()),
        helper
    );
    let shell = track_of(&json, "executor console", "shell");
    let blink = track_of(&json, "executor console", "blink");
    let task_flow = starts
        .iter()
        .find(|s| s["pid"] == shell.0 && s["tid"] == shell.1)
        .expect("shell wakes blink");
    let end = ends.iter().find(|f| f["id"] == task_flow["id"]).unwrap();
    assert_eq!(
        (end["pid"].as_u64().unwrap(), end["tid"].as_u64().unwrap()),
        blink
    );
}

/// Each flow end lies inside a complete slice on its track (what "bp": "e" binds to),
/// strictly after its start so the slice is open when the flow is read.
fn assert_flows_bound(json: &Value) {
    let slices = phase(json, "X");
    for flow in phase(json, "s").into_iter().chain(phase(json, "f")) {
        let ts = flow["ts"].as_f64().unwrap();
        let enclosed = slices.iter().any(|x| {
            let start = x["ts"].as_f64().unwrap();
            let end = start + x["dur"].as_f64().unwrap();
            x["pid"] == flow["pid"] && x["tid"] == flow["tid"] && start < ts && ts <= end
        });
        assert!(enclosed, "unbound flow event {flow}");
    }
}

#[test]
fn every_flow_event_has_an_enclosing_slice() {
    assert_flows_bound(&json_of(&two_cpu_stream().bytes()));
    assert_flows_bound(&json_of(&common::sim::demo_stream()));
}

#[test]
fn slices_on_a_track_nest_or_follow_each_other() {
    let json = json_of(&common::sim::demo_stream());
    let mut tracks: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    for x in phase(&json, "X") {
        let start = x["ts"].as_f64().unwrap();
        let key = (x["pid"].as_u64().unwrap(), x["tid"].as_u64().unwrap());
        tracks
            .entry(key)
            .or_default()
            .push((start, start + x["dur"].as_f64().unwrap()));
    }
    for (track, mut slices) in tracks {
        slices.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<f64> = Vec::new();
        for (start, end) in slices {
            while open.last().is_some_and(|&top| top <= start) {
                open.pop();
            }
            if let Some(&top) = open.last() {
                assert!(
                    end <= top + 1e-9,
                    "{track:?}: slice {start}-{end} overlaps one ending at {top}"
                );
            }
            open.push(end);
        }
    }
}

#[test]
fn interrupts_losses_and_marks_are_instants() {
    let json = json_of(&two_cpu_stream().bytes());
    let instants = phase(&json, "i");
    let named = |name: &str| instants.iter().filter(|i| i["name"] == name).count();
    assert_eq!(named("irq 36 (serial)"), 1);
    assert_eq!(named("irq 48 (timer)"), 3);
    assert!(
        instants
            .iter()
            .filter(|i| i["cat"] == "irq")
            .all(|i| i["s"] == "p")
    );
    let start = instants
        .iter()
        .find(|i| i["name"] == "start")
        .expect("the mark");
    assert_eq!(start["s"], "t");
    let console = track_of(&json, "CPU 0", "console");
    assert_eq!(
        (
            start["pid"].as_u64().unwrap(),
            start["tid"].as_u64().unwrap()
        ),
        console
    );
    assert_eq!(named("done"), 1);
    assert_eq!(named("37 records lost"), 1);
    assert_eq!(named("spawn job"), 1);
    assert_eq!(named("exit job"), 1);
    assert_eq!(json["otherData"]["dropped_records"], 37);
}

#[test]
fn panics_are_instants_on_the_thread_or_the_task_that_panicked() {
    let json = json_of(&two_cpu_stream().bytes());
    let instants = phase(&json, "i");
    let panic = |name: &str| {
        let found: Vec<_> = instants.iter().filter(|i| i["name"] == name).collect();
        assert_eq!(found.len(), 1, "{name}");
        assert!(found[0]["cat"] == "panic" && found[0]["s"] == "t", "{name}");
        (
            found[0]["pid"].as_u64().unwrap(),
            found[0]["tid"].as_u64().unwrap(),
        )
    };
    assert_eq!(panic("panic in job"), track_of(&json, "CPU 1", "job"));
    assert_eq!(
        panic("panic in blink (on console)"),
        track_of(&json, "executor console", "blink")
    );
}

#[test]
fn a_trace_without_events_is_still_a_valid_file() {
    let header = spindle_trace::Header {
        version: spindle_trace::VERSION,
        cpus: 1,
        tsc_hz: common::HZ,
    };
    let json = json_of(&header.encode());
    assert_eq!(phase(&json, "X").len(), 0);
    assert_eq!(names(&json).1.len(), 1);
}
