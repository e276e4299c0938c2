//! The SVG timeline: well-formed, and showing what it should.

mod common;

use std::path::PathBuf;

use common::{Stream, two_cpu_stream};
use roxmltree::Document;
use spindle_trace::{SvgOptions, SwitchReason, decode, write_svg};

fn render(bytes: &[u8], options: &SvgOptions) -> String {
    let trace = decode(bytes).expect("the fixture decodes");
    let mut out = Vec::new();
    write_svg(&trace, options, &mut out).expect("writing to a Vec works");
    let svg = String::from_utf8(out).expect("the SVG is UTF-8");
    if let Err(error) = Document::parse(&svg) {
        panic!("the SVG is not well-formed XML: {error}");
    }
    svg
}

/// The texts of all `<text>` elements.
fn texts(svg: &str) -> Vec<String> {
    let document = Document::parse(svg).unwrap();
    document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

/// The `<title>` tooltips of all `<rect>`s.
fn rect_titles(svg: &str) -> Vec<(String, String)> {
    let document = Document::parse(svg).unwrap();
    document
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter_map(|rect| {
            let title = rect.children().find(|c| c.has_tag_name("title"))?;
            let fill = rect.attribute("fill").unwrap_or_default().to_owned();
            Some((title.text().unwrap_or_default().to_owned(), fill))
        })
        .collect()
}

#[test]
fn lanes_labels_and_legend_are_there() {
    let svg = render(&two_cpu_stream().bytes(), &SvgOptions::default());
    let texts = texts(&svg);
    let has = |wanted: &str| texts.iter().any(|t| t == wanted);
    for wanted in [
        "CPU 0",
        "CPU 1",
        "Threads",
        "Tasks",
        "Symbols",
        "task polls",
    ] {
        assert!(has(wanted), "no {wanted:?} in {texts:?}");
    }
    // Legend entries, late names included.
    for wanted in [
        "console (3)",
        "worker (4)",
        "helper (5)",
        "job (6)",
        "shell (task 10)",
        "irq 36 (serial)",
        "irq 48 (timer)",
        "idle thread",
        "CPU halted (hlt)",
        "mark (trace::mark)",
        "records lost (ring overflow)",
        "panic, contained (the thread or task ends)",
    ] {
        assert!(has(wanted), "no legend entry {wanted:?} in {texts:?}");
    }
    // Segment labels where they fit, with length (and reason, where that fits too).
    assert!(
        texts.iter().any(|t| t.starts_with("worker · 2.00 µs")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.starts_with("idle")), "{texts:?}");
    // Marks and the loss.
    assert!(has("start") && has("done") && has("37 lost"), "{texts:?}");
    // The whole trace is short: shown whole, and the title says so.
    assert!(
        svg.contains("<title>Spindle schedule trace: whole trace"),
        "{}",
        &svg[..400]
    );
}

#[test]
fn panics_are_crosses_with_their_thread_or_task_in_the_tooltip() {
    let svg = render(&two_cpu_stream().bytes(), &SvgOptions::default());
    for wanted in [
        "<title>panic in job at 2.250 µs on CPU 1",
        "<title>panic in blink on console at 0.400 µs on CPU 0",
    ] {
        assert!(svg.contains(wanted), "no {wanted:?}");
    }
}

#[test]
fn runs_have_tooltips_and_each_thread_one_colour() {
    let svg = render(&two_cpu_stream().bytes(), &SvgOptions::default());
    let rects = rect_titles(&svg);
    let worker: Vec<&(String, String)> = rects
        .iter()
        .filter(|(t, _)| t.starts_with("worker (thread 4)"))
        .collect();
    assert_eq!(worker.len(), 3, "{rects:?}");
    assert!(worker.iter().all(|(_, fill)| *fill == worker[0].1));
    assert!(worker[0].0.contains("ended by preempt"), "{}", worker[0].0);
    let helper = rects
        .iter()
        .find(|(t, _)| t.starts_with("helper (thread 5)"))
        .unwrap();
    assert_ne!(helper.1, worker[0].1);
    // Interrupts and polls have tooltips too.
    assert!(
        rects
            .iter()
            .any(|(t, _)| t.starts_with("irq 36 (serial) at"))
    );
    assert!(
        rects
            .iter()
            .any(|(t, _)| t.starts_with("task shell (id 10) polled by console on console"))
    );
}

#[test]
fn wakes_are_arrows() {
    let svg = render(&two_cpu_stream().bytes(), &SvgOptions::default());
    let document = Document::parse(&svg).unwrap();
    let arrows: Vec<String> = document
        .descendants()
        .filter(|n| n.has_tag_name("path") && n.attribute("marker-end").is_some())
        .filter_map(|n| n.parent()?.children().find(|c| c.has_tag_name("title")))
        .map(|t| t.text().unwrap_or_default().to_owned())
        .collect();
    for wanted in [
        "worker wakes helper",
        "irq 36 (serial) wakes console",
        "irq 36 (serial) wakes task shell",
        "task shell wakes task blink",
        "irq 48 (timer) wakes worker",
    ] {
        assert!(
            arrows.iter().any(|a| a.starts_with(wanted)),
            "no arrow {wanted:?} in {arrows:?}"
        );
    }
}

#[test]
fn a_window_shows_only_its_stretch_and_says_so() {
    // 4.95–7.65 µs since the first event: worker's sleep, the idle stretch, worker again.
    let svg = render(&two_cpu_stream().bytes(), &SvgOptions::window(4.95, 7.65));
    assert!(svg.contains("window 4.95–7.65 µs of"), "{}", &svg[..600]);
    let rects = rect_titles(&svg);
    assert!(
        !rects
            .iter()
            .any(|(t, _)| t.starts_with("console (thread 3)")),
        "console ran before the window"
    );
    assert!(
        rects
            .iter()
            .any(|(t, _)| t.starts_with("idle/0 (thread 1)"))
    );
    // A window past the end still draws a valid, empty picture.
    render(&two_cpu_stream().bytes(), &SvgOptions::window(1e6, 2e6));
}

#[test]
fn a_long_trace_defaults_to_its_end() {
    let bytes = common::sim::demo_stream();
    let svg = render(&bytes, &SvgOptions::default());
    assert!(
        svg.contains("<title>Spindle schedule trace: last 20"),
        "{}",
        &svg[..600]
    );
    let dense = SvgOptions {
        recent_switches: 10,
        ..SvgOptions::default()
    };
    let svg = render(&bytes, &dense);
    assert!(
        svg.contains("span of the last 10 switches"),
        "{}",
        &svg[..600]
    );
    let runs = rect_titles(&svg)
        .iter()
        .filter(|(t, _)| t.contains("(thread "))
        .count();
    assert!(runs <= 10 + 2 * 2, "{runs} runs drawn");
}

#[test]
fn names_are_escaped() {
    let mut s = Stream::new(1);
    s.thread_name(0, 0, 2, "<a&b>\"'")
        .switch(0, 100, 1, 2, SwitchReason::Yield)
        .switch(0, 100_000, 2, 1, SwitchReason::Yield);
    let svg = render(&s.bytes(), &SvgOptions::default());
    assert!(svg.contains("&lt;a&amp;b&gt;&quot;&apos;"));
    assert!(texts(&svg).iter().any(|t| t.starts_with("<a&b>\"'")));
}

#[test]
fn a_trace_without_events_still_draws() {
    let header = spindle_trace::Header {
        version: spindle_trace::VERSION,
        cpus: 2,
        tsc_hz: common::HZ,
    };
    let svg = render(&header.encode(), &SvgOptions::default());
    assert!(texts(&svg).iter().any(|t| t == "CPU 1"));
}

/// Writes the demo's stream and pictures where `SPINDLE_TRACE_PREVIEW` says, to look at
/// (render with `rsvg-convert`).
#[test]
fn demo_trace_renders_for_a_preview() {
    let bytes = common::sim::demo_stream();
    let svg = render(&bytes, &SvgOptions::default());
    if let Some(dir) = std::env::var_os("SPINDLE_TRACE_PREVIEW") {
        let dir = PathBuf::from(dir);
        std::fs::write(dir.join("demo.bin"), &bytes).unwrap();
        std::fs::write(dir.join("demo.svg"), &svg).unwrap();
        std::fs::write(dir.join("small.bin"), two_cpu_stream().bytes()).unwrap();
        let small = render(&two_cpu_stream().bytes(), &SvgOptions::default());
        std::fs::write(dir.join("small.svg"), small).unwrap();
        // A long run too, if asked for (to time the tools on a big trace).
        if let Some(micros) = std::env::var("SPINDLE_TRACE_PREVIEW_US")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            let long = common::sim::Sim::new(0x5eed).run(micros);
            std::fs::write(dir.join("long.bin"), long).unwrap();
        }
    }
}
