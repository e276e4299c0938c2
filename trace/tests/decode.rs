//! Decoding: round trips of every event kind, the merge, names, losses, and the errors
//! a damaged stream gives.

mod common;

use common::{
    BLINK, CONSOLE, EXECUTOR, HELPER, HZ, IDLE1, JOB, SHELL, Stream, WORKER, two_cpu_stream,
};
use spindle_trace::{
    DecodeError, Header, Kind, MAGIC, Record, SwitchReason, VERSION, WakeSource, Waker, What,
    decode,
};

fn header(version: u16, cpus: u16, tsc_hz: u64) -> [u8; 32] {
    Header {
        version,
        cpus,
        tsc_hz,
    }
    .encode()
}

#[test]
fn a_two_cpu_stream_round_trips() {
    let trace = decode(&two_cpu_stream().bytes()).expect("decodes");
    assert_eq!(trace.tsc_hz(), HZ);
    assert_eq!(trace.cpus(), 2);
    assert_eq!(trace.segments(), 2);
    assert_eq!(trace.unknown_records(), 0);
    assert_eq!(
        (trace.dropped(0), trace.dropped(1), trace.dropped_total()),
        (0, 37, 37)
    );
    // Every record but the headers and the 9 names is an event.
    let records = two_cpu_stream().bytes().len() / 32 - 2;
    assert_eq!(trace.events().len(), records - 9);
    // Names arrive anywhere, late ones included.
    assert_eq!(trace.thread_name(WORKER), Some("worker"));
    assert_eq!(trace.thread_name(IDLE1), Some("idle/1"));
    assert_eq!(trace.task_name(BLINK), Some("blink"));
    assert_eq!(trace.executor_name(EXECUTOR), Some("console"));
    assert_eq!(trace.thread_label(99), "thread 99");
    assert_eq!(trace.describe_thread(CONSOLE), "thread 3 \"console\"");
    assert!(trace.is_idle(IDLE1) && !trace.is_idle(WORKER));
}

#[test]
fn events_are_in_time_order_per_cpu_and_merged() {
    let trace = decode(&two_cpu_stream().bytes()).expect("decodes");
    let merged: Vec<u64> = trace.events().iter().map(|e| e.tsc).collect();
    assert!(merged.windows(2).all(|w| w[0] <= w[1]), "{merged:?}");
    for cpu in 0..2 {
        let own: Vec<u64> = trace.cpu_events(cpu).map(|e| e.tsc).collect();
        assert!(own.windows(2).all(|w| w[0] <= w[1]), "CPU {cpu}: {own:?}");
        assert!(trace.cpu_events(cpu).all(|e| e.cpu == cpu));
    }
    let per_cpu: usize = (0..2).map(|cpu| trace.cpu_events(cpu).count()).sum();
    assert_eq!(per_cpu, trace.events().len());
}

#[test]
fn times_are_microseconds_since_the_first_event() {
    let trace = decode(&two_cpu_stream().bytes()).expect("decodes");
    // The first event is the mark at 50 ns.
    let first = &trace.events()[0];
    assert_eq!((first.tsc, first.us), (50, 0.0));
    assert!(matches!(&first.what, What::Mark { text } if text == "start"));
    assert!((trace.micros(1050) - 1.0).abs() < 1e-9);
    assert!((trace.span_us() - 7.66).abs() < 1e-9);

    let mut stream = Stream::with_hz(1, 2_400_000_000);
    stream
        .mark(0, 1_000_000, "a")
        .mark(0, 1_000_000 + 2_400_000, "b");
    let trace = decode(&stream.bytes()).expect("decodes");
    assert!((trace.events()[1].us - 1000.0).abs() < 1e-9);
}

#[test]
fn every_switch_reason_and_wake_source_decodes() {
    let trace = decode(&two_cpu_stream().bytes()).expect("decodes");
    let mut reasons = Vec::new();
    let mut wakers = Vec::new();
    for event in trace.events() {
        match event.what {
            What::Switch { reason, .. } => reasons.push(reason.expect("a known reason")),
            What::WakeThread { by, .. } | What::WakeTask { by, .. } => wakers.push(by),
            _ => {}
        }
    }
    for reason in [
        SwitchReason::Yield,
        SwitchReason::Preempt,
        SwitchReason::Block,
        SwitchReason::Sleep,
        SwitchReason::Exit,
    ] {
        assert!(
            reasons.contains(&reason),
            "{reason:?} missing from {reasons:?}"
        );
    }
    assert!(wakers.contains(&Waker::Thread(WORKER)));
    assert!(wakers.contains(&Waker::Interrupt(36)));
    assert!(wakers.contains(&Waker::Task(SHELL)));
}

#[test]
fn every_other_kind_decodes_with_its_fields() {
    let trace = decode(&two_cpu_stream().bytes()).expect("decodes");
    let whats: Vec<&What> = trace.events().iter().map(|e| &e.what).collect();
    let expected = [
        What::PollBegin {
            task: SHELL,
            executor: EXECUTOR,
        },
        What::PollEnd {
            task: BLINK,
            finished: true,
        },
        What::IrqEnter { vector: 36 },
        What::IrqExit { vector: 48 },
        What::Spawn {
            thread: JOB,
            parent: HELPER,
        },
        What::Exit { thread: JOB },
        What::Panic {
            thread: JOB,
            task: None,
        },
        What::Panic {
            thread: CONSOLE,
            task: Some(BLINK),
        },
        What::IdleEnter,
        What::IdleExit,
        What::Dropped { lost: 37 },
    ];
    for what in &expected {
        assert!(whats.contains(&what), "{what:?} missing");
    }
}

#[test]
fn a_loss_is_moved_back_to_the_gap_it_reports() {
    let trace = decode(&two_cpu_stream().bytes()).expect("decodes");
    let dropped = trace.cpu_events(1).next().expect("CPU 1 has events");
    assert_eq!(dropped.what, What::Dropped { lost: 37 });
    // Stamped at 9000 (the read-out), moved to CPU 1's next record.
    assert_eq!(dropped.tsc, 1800);
}

#[test]
fn equal_timestamps_keep_the_stream_order() {
    let mut stream = Stream::new(2);
    stream
        .mark(1, 100, "first")
        .mark(0, 100, "second")
        .mark(0, 100, "third")
        .mark(1, 50, "earliest");
    let trace = decode(&stream.bytes()).expect("decodes");
    let texts: Vec<&str> = trace
        .events()
        .iter()
        .map(|e| match &e.what {
            What::Mark { text } => text.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    // Between CPUs, equal times keep the stream's order ("first" before "second");
    // a CPU's own order is kept even where its clock goes back ("earliest" cannot
    // jump ahead of "first", but goes as soon as it is CPU 1's turn).
    assert_eq!(texts, ["first", "earliest", "second", "third"]);
}

#[test]
fn unknown_kinds_and_unreadable_fields_are_skipped_and_counted() {
    let mut stream = Stream::new(1);
    stream.mark(0, 10, "before");
    stream.record(Record {
        tsc: 20,
        kind: 200,
        ..Record::default()
    });
    stream.record(Record {
        tsc: 25,
        kind: 0,
        ..Record::default()
    });
    // A switch whose incoming thread does not fit a thread id.
    stream.record(Record {
        tsc: 30,
        kind: Kind::Switch as u8,
        a: u64::MAX,
        ..Record::default()
    });
    // A name claiming more text than a record holds.
    stream.record(Record {
        tsc: 35,
        kind: Kind::ThreadName as u8,
        small: 40,
        ..Record::default()
    });
    // A switch reason from the future: kept, reason unknown.
    stream.record(Record {
        tsc: 40,
        kind: Kind::Switch as u8,
        small: 9,
        id: 1,
        a: 2,
        ..Record::default()
    });
    stream.mark(0, 50, "after");
    let trace = decode(&stream.bytes()).expect("unknown records do not stop decoding");
    assert_eq!(trace.unknown_records(), 4);
    assert_eq!(trace.events().len(), 3);
    assert_eq!(
        trace.events()[1].what,
        What::Switch {
            from: 1,
            to: 2,
            reason: None
        }
    );
}

#[test]
fn wake_sources_from_the_future_are_kept_as_unknown() {
    let mut stream = Stream::new(1);
    stream.record(Record {
        tsc: 1,
        kind: Kind::WakeThread as u8,
        small: 7,
        id: 3,
        a: 1 << 40,
        ..Record::default()
    });
    stream.wake_thread(0, 2, 3, WakeSource::Interrupt, 48);
    let trace = decode(&stream.bytes()).expect("decodes");
    assert_eq!(
        trace.events()[0].what,
        What::WakeThread {
            thread: 3,
            by: Waker::Unknown {
                code: 7,
                id: 1 << 40
            }
        }
    );
    assert_eq!(
        trace.events()[1].what,
        What::WakeThread {
            thread: 3,
            by: Waker::Interrupt(48)
        }
    );
}

#[test]
fn invalid_utf8_in_a_name_is_replaced_not_refused() {
    let mut stream = Stream::new(1);
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&[b'a', 0xff, b'b', b'c']);
    stream.record(Record {
        kind: Kind::ThreadName as u8,
        id: 5,
        small: 4,
        a: u64::from_le_bytes(bytes[..8].try_into().unwrap()),
        b: 0,
        ..Record::default()
    });
    let trace = decode(&stream.bytes()).expect("decodes");
    assert_eq!(trace.thread_name(5), Some("a\u{fffd}bc"));
}

#[test]
fn a_header_alone_is_an_empty_trace() {
    let trace = decode(&header(VERSION, 4, HZ)).expect("decodes");
    assert_eq!(trace.cpus(), 4);
    assert!(trace.events().is_empty());
    assert_eq!(trace.span_us(), 0.0);
}

fn error_of(bytes: &[u8]) -> DecodeError {
    decode(bytes).expect_err("the stream is damaged")
}

#[test]
fn damaged_streams_give_the_right_error() {
    assert_eq!(error_of(&[]), DecodeError::Empty);
    assert_eq!(
        error_of(b"not a trace at all, just text...."),
        DecodeError::BadMagic { offset: 0 }
    );
    assert_eq!(
        error_of(b"SPIN"),
        DecodeError::TruncatedHeader { offset: 0, left: 4 }
    );
    assert_eq!(
        error_of(&header(VERSION, 1, HZ)[..20]),
        DecodeError::TruncatedHeader {
            offset: 0,
            left: 20
        }
    );
    assert_eq!(
        error_of(&header(2, 1, HZ)),
        DecodeError::UnsupportedVersion {
            offset: 0,
            version: 2
        }
    );
    assert_eq!(
        error_of(&header(VERSION, 1, 0)),
        DecodeError::ZeroTscHz { offset: 0 }
    );
    assert_eq!(
        error_of(&header(VERSION, 0, HZ)),
        DecodeError::ZeroCpus { offset: 0 }
    );
    let mut wide = header(VERSION, 1, HZ);
    wide[10] = 64;
    assert_eq!(
        error_of(&wide),
        DecodeError::UnsupportedRecordSize {
            offset: 0,
            size: 64
        }
    );
}

#[test]
fn a_stream_cut_inside_a_record_is_refused() {
    let mut bytes = Stream::new(1).mark(0, 1, "x").bytes();
    let whole = bytes.len();
    bytes.extend_from_slice(&Stream::new(1).mark(0, 2, "y").bytes()[32..37]);
    assert_eq!(
        error_of(&bytes),
        DecodeError::TruncatedRecord {
            offset: whole,
            left: 5
        }
    );
}

#[test]
fn records_from_undeclared_cpus_are_refused() {
    let bytes = Stream::new(2).mark(2, 1, "x").bytes();
    assert_eq!(
        error_of(&bytes),
        DecodeError::CpuOutOfRange {
            offset: 32,
            cpu: 2,
            cpus: 2
        }
    );
}

#[test]
fn later_segments_are_checked_like_the_first() {
    let mut stream = Stream::new(1);
    stream.mark(0, 1, "x").segment(1, HZ / 2);
    assert_eq!(
        error_of(&stream.bytes()),
        DecodeError::TscHzChanged {
            offset: 64,
            first: HZ,
            now: HZ / 2
        }
    );
    let mut bytes = Stream::new(1).mark(0, 1, "x").bytes();
    bytes.extend_from_slice(&header(3, 1, HZ));
    assert_eq!(
        error_of(&bytes),
        DecodeError::UnsupportedVersion {
            offset: 64,
            version: 3
        }
    );
    // A later segment may declare more CPUs.
    let mut stream = Stream::new(1);
    stream.mark(0, 1, "x").segment(3, HZ).mark(2, 2, "y");
    let trace = decode(&stream.bytes()).expect("decodes");
    assert_eq!((trace.cpus(), trace.segments()), (3, 2));
}

#[test]
fn errors_read_as_one_clear_line() {
    let cases = [
        (DecodeError::Empty, "empty input"),
        (
            DecodeError::BadMagic { offset: 96 },
            "bad magic at offset 96",
        ),
        (
            DecodeError::UnsupportedVersion {
                offset: 0,
                version: 7,
            },
            "unsupported version 7 at offset 0",
        ),
        (
            DecodeError::TruncatedRecord {
                offset: 64,
                left: 5,
            },
            "truncated record at offset 64: 5 bytes left of 32",
        ),
        (DecodeError::ZeroTscHz { offset: 0 }, "TSC frequency 0"),
    ];
    for (error, expected) in cases {
        let text = error.to_string();
        assert!(
            text.starts_with(expected),
            "{text:?} does not start with {expected:?}"
        );
        assert!(!text.contains('\n'));
    }
    assert_eq!(MAGIC, *b"SPINTRC\0");
}
