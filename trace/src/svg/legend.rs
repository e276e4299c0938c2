//! The legend: the threads and tasks in the window, and the symbols used.

use std::{collections::BTreeSet, fmt::Write as _};

use super::{
    FONT, LEFT, Picture,
    style::{IDLE_FILL, UNKNOWN_FILL, escape, irq_colour, text_width},
};
use crate::{
    decode::Waker,
    timeline::{InstantKind, WakeTarget, irq_label},
};

/// Height of a legend row, px.
const ROW: f64 = 18.0;

/// What an entry's sample looks like.
#[derive(Debug, Clone)]
enum Swatch {
    Fill(String),
    Halted,
    Poll(String),
    Tick(&'static str),
    Arrow(&'static str, bool),
    Flag,
    Loss,
    Panic,
}

#[derive(Debug, Clone)]
struct Entry {
    swatch: Swatch,
    text: String,
}

impl Picture<'_> {
    /// Draws the legend from `top`; returns its height.
    pub(super) fn draw_legend(&mut self, top: f64) -> f64 {
        let sections = [
            ("Threads", self.thread_entries()),
            ("Tasks", self.task_entries()),
            ("Symbols", self.symbol_entries()),
        ];
        let mut y = top;
        for (title, entries) in sections {
            if !entries.is_empty() {
                y = self.draw_section(title, &entries, y);
            }
        }
        for note in self.notes.clone() {
            let _ = writeln!(
                self.body,
                r##"<text x="{LEFT}" y="{:.1}" fill="#a04000">{}</text>"##,
                y + 12.0,
                escape(&note)
            );
            y += ROW;
        }
        y - top
    }

    /// Threads that ran in the window (idle threads are a symbol).
    fn thread_entries(&self) -> Vec<Entry> {
        let window = &self.scale.window;
        let threads: BTreeSet<u32> = self
            .timeline
            .runs
            .iter()
            .filter(|run| window.overlaps(run.start_us, run.end_us))
            .map(|run| run.thread)
            .filter(|&thread| !self.trace.is_idle(thread))
            .collect();
        threads
            .into_iter()
            .map(|thread| Entry {
                swatch: Swatch::Fill(self.colours.thread(thread).to_owned()),
                text: format!("{} ({thread})", self.trace.thread_label(thread)),
            })
            .collect()
    }

    fn task_entries(&self) -> Vec<Entry> {
        let window = &self.scale.window;
        let tasks: BTreeSet<u32> = self
            .timeline
            .polls
            .iter()
            .filter(|poll| window.overlaps(poll.start_us, poll.end_us))
            .map(|poll| poll.task)
            .collect();
        tasks
            .into_iter()
            .map(|task| Entry {
                swatch: Swatch::Poll(self.colours.task(task).to_owned()),
                text: format!("{} (task {task})", self.trace.task_label(task)),
            })
            .collect()
    }

    /// The symbols that occur in the window.
    fn symbol_entries(&self) -> Vec<Entry> {
        let mut entries = self.idle_entries();
        entries.extend(self.irq_entries());
        entries.extend(self.wake_entries());
        entries.extend(self.instant_entries());
        entries
    }

    fn idle_entries(&self) -> Vec<Entry> {
        let window = &self.scale.window;
        let mut entries = Vec::new();
        let idle =
            self.timeline.runs.iter().any(|run| {
                self.trace.is_idle(run.thread) && window.overlaps(run.start_us, run.end_us)
            });
        if idle {
            entries.push(entry(Swatch::Fill(IDLE_FILL.to_owned()), "idle thread"));
        }
        if self
            .timeline
            .halts
            .iter()
            .any(|h| window.overlaps(h.start_us, h.end_us))
        {
            entries.push(entry(Swatch::Halted, "CPU halted (hlt)"));
        }
        if (0..self.trace.cpus()).any(|cpu| self.has_unknown_stretch(cpu)) {
            entries.push(entry(
                Swatch::Fill(UNKNOWN_FILL.to_owned()),
                "not known (before a CPU's first record, or lost)",
            ));
        }
        entries
    }

    /// Whether part of the window shows no run on `cpu` (at least a pixel of it).
    fn has_unknown_stretch(&self, cpu: u16) -> bool {
        let window = &self.scale.window;
        let pixel = window.length() / (self.scale.x1 - self.scale.x0);
        let end = window.end.min(self.timeline.end_us);
        let mut covered = window.start;
        for run in self.visible_runs(cpu) {
            if run.start_us > covered + pixel {
                return true;
            }
            covered = covered.max(run.end_us);
        }
        covered + pixel < end
    }

    fn irq_entries(&self) -> Vec<Entry> {
        let window = &self.scale.window;
        let vectors: BTreeSet<u32> = self
            .timeline
            .irqs
            .iter()
            .filter(|irq| window.contains(irq.start_us))
            .map(|irq| irq.vector)
            .collect();
        vectors
            .into_iter()
            .map(|vector| entry(Swatch::Tick(irq_colour(vector)), &irq_label(vector)))
            .collect()
    }

    /// The kinds of wake arrows drawn.
    fn wake_entries(&self) -> Vec<Entry> {
        if self.wakes_hidden {
            return Vec::new();
        }
        let mut kinds = BTreeSet::new();
        let drawn = self
            .timeline
            .wakes
            .iter()
            .filter(|w| self.landing(w).is_some());
        for wake in drawn {
            let by = match wake.by {
                Waker::Interrupt(_) => 1,
                Waker::Task(_) => 2,
                _ => 0,
            };
            kinds.insert((by, matches!(wake.target, WakeTarget::Task(_))));
        }
        kinds
            .into_iter()
            .map(|(by, task)| {
                let (colour, who) = match by {
                    1 => ("#c0392b", "an interrupt"),
                    2 => ("#8e44ad", "a task"),
                    _ => ("#2c3e50", "a thread"),
                };
                let what = if task { "task" } else { "thread" };
                entry(
                    Swatch::Arrow(colour, task),
                    &format!(
                        "{who} wakes a {what} → its next {}",
                        if task { "poll" } else { "run" }
                    ),
                )
            })
            .collect()
    }

    fn instant_entries(&self) -> Vec<Entry> {
        let window = &self.scale.window;
        let shown = self
            .timeline
            .instants
            .iter()
            .filter(|i| window.contains(i.at_us));
        let (mut mark, mut loss, mut panic) = (false, false, false);
        for instant in shown {
            match instant.what {
                InstantKind::Mark(_) => mark = true,
                InstantKind::Dropped(_) => loss = true,
                InstantKind::Panic { .. } => panic = true,
                _ => {}
            }
        }
        let mut entries = Vec::new();
        if mark {
            entries.push(entry(Swatch::Flag, "mark (trace::mark)"));
        }
        if loss {
            entries.push(entry(Swatch::Loss, "records lost (ring overflow)"));
        }
        if panic {
            entries.push(entry(
                Swatch::Panic,
                "panic, contained (the thread or task ends)",
            ));
        }
        entries
    }

    /// A titled grid of entries; returns the y below it.
    fn draw_section(&mut self, title: &str, entries: &[Entry], top: f64) -> f64 {
        let _ = writeln!(
            self.body,
            r##"<text x="14" y="{:.1}" font-weight="bold" fill="#1a1a1a">{title}</text>"##,
            top + 12.0
        );
        let widest = entries
            .iter()
            .map(|e| text_width(&e.text, FONT))
            .fold(0.0, f64::max);
        let available = self.scale.x1 - LEFT;
        let column = (widest + 44.0).clamp(120.0, available);
        let columns = ((available / column).floor() as usize).max(1);
        for (index, item) in entries.iter().enumerate() {
            let x = LEFT + (index % columns) as f64 * column;
            let y = top + (index / columns) as f64 * ROW;
            self.draw_entry(item, x, y);
        }
        top + entries.len().div_ceil(columns) as f64 * ROW + 8.0
    }

    fn draw_entry(&mut self, item: &Entry, x: f64, y: f64) {
        let sample = swatch(&item.swatch, x, y + 3.0);
        let _ = writeln!(
            self.body,
            r##"{sample}<text x="{:.1}" y="{:.1}" fill="#1a1a1a">{}</text>"##,
            x + 32.0,
            y + 12.5,
            escape(&item.text)
        );
    }
}

fn entry(swatch: Swatch, text: &str) -> Entry {
    Entry {
        swatch,
        text: text.to_owned(),
    }
}

/// A 26×12 sample of a symbol at (x, y).
fn swatch(swatch: &Swatch, x: f64, y: f64) -> String {
    match swatch {
        Swatch::Fill(colour) => format!(
            r##"<rect x="{x:.1}" y="{y:.1}" width="26" height="12" fill="{colour}" stroke="#bbb" stroke-width="0.5"/>"##
        ),
        Swatch::Halted => format!(
            r##"<rect x="{x:.1}" y="{y:.1}" width="26" height="12" fill="url(#halted)" stroke="#bbb" stroke-width="0.5"/>"##
        ),
        Swatch::Poll(colour) => format!(
            r##"<rect x="{x:.1}" y="{:.1}" width="26" height="10" rx="2" fill="{colour}" stroke="#5d6d7e" stroke-width="0.6"/>"##,
            y + 1.0
        ),
        Swatch::Tick(colour) => format!(
            r##"<rect x="{:.1}" y="{:.1}" width="1.6" height="7" fill="{colour}"/><rect x="{:.1}" y="{:.1}" width="1.6" height="7" fill="{colour}"/><rect x="{:.1}" y="{:.1}" width="1.6" height="7" fill="{colour}"/>"##,
            x + 4.0,
            y + 3.0,
            x + 12.0,
            y + 3.0,
            x + 20.0,
            y + 3.0
        ),
        Swatch::Arrow(colour, dashed) => {
            let marker = match *colour {
                "#c0392b" => "arrow-irq",
                "#8e44ad" => "arrow-task",
                _ => "arrow-thread",
            };
            let dash = if *dashed {
                r#" stroke-dasharray="4 2""#
            } else {
                ""
            };
            format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{colour}"/><path d="M{:.1},{:.1} L{:.1},{:.1}" stroke="{colour}" stroke-width="1.3"{dash} marker-end="url(#{marker})"/>"##,
                x + 2.0,
                y + 6.0,
                x + 2.0,
                y + 6.0,
                x + 25.0,
                y + 6.0
            )
        }
        Swatch::Flag => format!(
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{:.1}" stroke="#1a1a1a"/><path d="M{:.1},{y:.1} l7,3.5 l-7,3.5 z" fill="#1a1a1a"/>"##,
            x + 10.0,
            x + 10.0,
            y + 12.0,
            x + 10.0
        ),
        Swatch::Panic => format!(
            r##"<path d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="#c0392b" stroke-width="2.2"/>"##,
            x + 9.0,
            y + 2.0
        ),
        Swatch::Loss => format!(
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{:.1}" stroke="#e74c3c" stroke-width="2.5" stroke-dasharray="3 2"/>"##,
            x + 12.0,
            x + 12.0,
            y + 12.0
        ),
    }
}
