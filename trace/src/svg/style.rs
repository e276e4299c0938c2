//! Colours, text measurement and escaping for the SVG.

use std::{collections::BTreeMap, fmt::Write as _};

use crate::{
    decode::{TaskId, ThreadId, Trace},
    timeline::Timeline,
};

/// Thread colours: distinct hues, none grey (grey means idle), dark enough for a white
/// label or light enough for a black one.
const THREAD_PALETTE: [&str; 14] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#8cd17d", "#499894", "#d37295", "#86bcb6", "#f1ce63",
];

/// Task colours: lighter, so a poll box reads as belonging under its host's band.
const TASK_PALETTE: [&str; 8] = [
    "#c6dbef", "#fdd0a2", "#c7e9c0", "#fcbba1", "#dadaeb", "#fde68a", "#b2dfdb", "#f8bbd0",
];

/// Idle thread running (not halted).
pub(super) const IDLE_FILL: &str = "#e6e6e6";

/// A lane where the trace does not say what ran.
pub(super) const UNKNOWN_FILL: &str = "#fafafa";

/// Interrupt colours by vector: the tick is the loud one, serial is blue, the rest
/// share a palette.
pub(super) fn irq_colour(vector: u32) -> &'static str {
    const OTHERS: [&str; 5] = ["#8e44ad", "#16a085", "#d35400", "#2c3e50", "#7f8c8d"];
    match vector {
        48 | 32 => "#c0392b",
        36 => "#2471a3",
        33 => "#8e44ad",
        _ => OTHERS[vector as usize % OTHERS.len()],
    }
}

/// Stable colours: by id among all threads (and tasks) the trace knows, so a thread
/// keeps its colour whatever window is drawn.
#[derive(Debug, Default)]
pub(super) struct Colours {
    threads: BTreeMap<ThreadId, String>,
    tasks: BTreeMap<TaskId, String>,
}

impl Colours {
    pub(super) fn new(trace: &Trace, timeline: &Timeline) -> Self {
        let mut threads: Vec<ThreadId> = timeline.runs.iter().map(|r| r.thread).collect();
        threads.extend(trace.thread_names().keys());
        threads.sort_unstable();
        threads.dedup();
        threads.retain(|&thread| !trace.is_idle(thread));
        let mut tasks: Vec<TaskId> = timeline.polls.iter().map(|p| p.task).collect();
        tasks.extend(trace.task_names().keys());
        tasks.sort_unstable();
        tasks.dedup();
        Colours {
            threads: assign(&threads, &THREAD_PALETTE, 0.55),
            tasks: assign(&tasks, &TASK_PALETTE, 0.85),
        }
    }

    pub(super) fn thread(&self, thread: ThreadId) -> &str {
        self.threads.get(&thread).map_or(IDLE_FILL, String::as_str)
    }

    pub(super) fn task(&self, task: TaskId) -> &str {
        self.tasks
            .get(&task)
            .map_or(TASK_PALETTE[0], String::as_str)
    }
}

/// The palette in order, then hues around the circle by the golden angle (so each new
/// one is far from the previous ones) at `lightness`.
fn assign(ids: &[u32], palette: &[&str], lightness: f64) -> BTreeMap<u32, String> {
    ids.iter()
        .enumerate()
        .map(|(index, &id)| {
            let colour = match palette.get(index) {
                Some(colour) => (*colour).to_owned(),
                None => hsl(index as f64 * 137.508, 0.55, lightness),
            };
            (id, colour)
        })
        .collect()
}

fn hsl(hue: f64, saturation: f64, lightness: f64) -> String {
    let hue = hue.rem_euclid(360.0) / 60.0;
    let chroma = (1.0 - (2.0 * lightness - 1.0).abs()) * saturation;
    let x = chroma * (1.0 - (hue % 2.0 - 1.0).abs());
    let (r, g, b) = match hue as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = lightness - chroma / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b))
}

/// Black or white, whichever reads better on `background` (`#rrggbb`).
pub(super) fn text_on(background: &str) -> &'static str {
    let channel = |at: usize| {
        let value = background
            .get(at..at + 2)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        f64::from(value.unwrap_or(0xcc)) / 255.0
    };
    let luminance = 0.299 * channel(1) + 0.587 * channel(3) + 0.114 * channel(5);
    if luminance < 0.6 {
        "#ffffff"
    } else {
        "#1a1a1a"
    }
}

/// A generous estimate of `text`'s width in px at `size` px in a sans-serif font: a
/// label that is estimated to fit does fit (wide glyphs count more).
pub(super) fn text_width(text: &str, size: f64) -> f64 {
    let ems: f64 = text
        .chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | 'I' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.32,
            'f' | 't' | 'r' | ' ' | '(' | ')' | '/' | '-' | '[' | ']' => 0.42,
            'm' | 'w' | 'M' | 'W' | '@' => 0.92,
            c if c.is_ascii_uppercase() => 0.72,
            c if c.is_ascii() => 0.6,
            _ => 1.0,
        })
        .sum();
    ems * size
}

/// `text` cut (with an ellipsis) to fit `width` px, or `None` if not even a few
/// characters fit: a label cut to one letter says nothing.
pub(super) fn fit(text: &str, width: f64, size: f64) -> Option<String> {
    if text_width(text, size) <= width {
        return Some(text.to_owned());
    }
    let mut cut = String::new();
    for c in text.chars() {
        cut.push(c);
        if text_width(&cut, size) + text_width("…", size) > width {
            cut.pop();
            break;
        }
    }
    (cut.chars().count() >= 3).then(|| format!("{}…", cut.trim_end()))
}

/// `text` escaped for XML character data and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Characters XML 1.0 forbids (other control characters) cannot be escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A time in µs for people: `12 345.6 µs` with thin-space thousands.
pub(super) fn format_us(us: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, us.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push('\u{2009}');
        }
        grouped.push(digit);
    }
    let sign = if us < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    let mut out = format!("{sign}{grouped}");
    if let Some(fraction) = fraction {
        let _ = write!(out, ".{fraction}");
    }
    out
}

/// A duration in the unit that reads best, to three significant digits: `850 ns`,
/// `12.3 µs`, `568 µs`, `4.56 ms`, `1.23 s`.
pub(super) fn format_duration(us: f64) -> String {
    let (value, unit) = match us {
        us if us < 1.0 => (us * 1000.0, "ns"),
        us if us < 1000.0 => (us, "µs"),
        us if us < 1_000_000.0 => (us / 1000.0, "ms"),
        us => (us / 1_000_000.0, "s"),
    };
    let decimals = match value {
        v if v < 9.995 => 2,
        v if v < 99.95 => 1,
        _ => 0,
    };
    let decimals = if unit == "ns" { 0 } else { decimals };
    format!("{value:.decimals$} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_cut_with_an_ellipsis_or_dropped() {
        assert_eq!(fit("worker", 200.0, 11.0).as_deref(), Some("worker"));
        let cut = fit("console-reader", 50.0, 11.0).expect("a few letters fit");
        assert!(
            cut.ends_with('…') && text_width(&cut, 11.0) <= 50.0,
            "{cut}"
        );
        assert_eq!(fit("console-reader", 12.0, 11.0), None);
    }

    #[test]
    fn text_colour_follows_background_lightness() {
        assert_eq!(text_on("#4e79a7"), "#ffffff");
        assert_eq!(text_on("#edc948"), "#1a1a1a");
        assert_eq!(text_on(IDLE_FILL), "#1a1a1a");
    }

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{fffd}"
        );
    }

    #[test]
    fn times_group_thousands() {
        assert_eq!(format_us(12345.67, 1), "12\u{2009}345.7");
        assert_eq!(format_us(999.0, 0), "999");
        assert_eq!(format_us(-1500.0, 0), "-1\u{2009}500");
        assert_eq!(format_duration(0.25), "250 ns");
        assert_eq!(format_duration(4560.0), "4.56 ms");
        assert_eq!(format_duration(568.04), "568 µs");
        assert_eq!(format_duration(12.34), "12.3 µs");
    }

    #[test]
    fn generated_colours_are_valid_and_distinct() {
        let ids: Vec<u32> = (0..40).collect();
        let colours = assign(&ids, &THREAD_PALETTE, 0.55);
        let mut seen: Vec<&String> = colours.values().collect();
        assert!(seen.iter().all(|c| c.len() == 7 && c.starts_with('#')));
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 40);
    }
}
