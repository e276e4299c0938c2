//! The lanes, markers, arrows and axis.

use std::{collections::BTreeSet, fmt::Write as _};

use super::{
    BAND, FONT, LEFT, Lane, MARKER_ROW, POLL_ROW, Picture, SMALL_FONT,
    style::{
        UNKNOWN_FILL, escape, fit, format_duration, format_us, irq_colour, text_on, text_width,
    },
};
use crate::{
    decode::{TaskId, ThreadId, Waker},
    timeline::{InstantKind, Poll, Run, RunEnd, Wake, WakeTarget, irq_label, reason_name},
};

/// Room a label needs around it, px.
const PAD: f64 = 4.0;

impl<'a> Picture<'a> {
    /// Faint vertical lines at the axis ticks, behind everything.
    pub(super) fn draw_grid(&mut self) {
        let (ticks, _) = self.scale.ticks(110.0);
        let top = self.lanes.first().map_or(0.0, |lane| lane.markers_y);
        let bottom = self.axis_y();
        for tick in ticks {
            let x = self.scale.x(tick);
            let _ = writeln!(
                self.body,
                r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#ececec"/>"##
            );
        }
    }

    pub(super) fn draw_lane(&mut self, cpu: u16) {
        let lane = self.lane(cpu).clone();
        self.draw_lane_label(&lane);
        let (x0, x1) = (self.scale.x0, self.scale.x1);
        let _ = writeln!(
            self.body,
            r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{BAND}" fill="{UNKNOWN_FILL}" stroke="#dddddd"/>"##,
            lane.band_y,
            x1 - x0
        );
        let runs = self.visible_runs(cpu);
        runs.iter().for_each(|run| self.draw_run(&lane, run));
        self.draw_halts(&lane);
        runs.iter().for_each(|run| self.draw_run_label(&lane, run));
        if let Some(polls_y) = lane.polls_y {
            self.draw_polls(cpu, polls_y);
        }
    }

    pub(super) fn visible_runs(&self, cpu: u16) -> Vec<&'a Run> {
        let timeline = self.timeline;
        timeline
            .runs
            .iter()
            .filter(|run| run.cpu == cpu && self.scale.window.overlaps(run.start_us, run.end_us))
            .collect()
    }

    /// `CPU 0` and how busy it was (not idle) in the window.
    fn draw_lane_label(&mut self, lane: &Lane) {
        let busy = self.busy_share(lane.cpu);
        let y = lane.band_y + BAND / 2.0;
        let _ = writeln!(
            self.body,
            r##"<text x="14" y="{:.1}" font-size="13" font-weight="bold" fill="#1a1a1a">CPU {}</text>"##,
            y + 1.0,
            lane.cpu
        );
        let _ = writeln!(
            self.body,
            r##"<text x="14" y="{:.1}" font-size="{SMALL_FONT}" fill="#666">busy {:.0}%</text>"##,
            y + 13.0,
            busy * 100.0
        );
        if let Some(polls_y) = lane.polls_y {
            let _ = writeln!(
                self.body,
                r##"<text x="{:.1}" y="{:.1}" font-size="{SMALL_FONT}" fill="#666" text-anchor="end">task polls</text>"##,
                LEFT - 6.0,
                polls_y + POLL_ROW / 2.0 + 3.5
            );
        }
    }

    /// The share of the window the CPU ran a thread other than its idle thread.
    fn busy_share(&self, cpu: u16) -> f64 {
        let window = &self.scale.window;
        let busy: f64 = self
            .visible_runs(cpu)
            .into_iter()
            .filter(|run| !self.trace.is_idle(run.thread))
            .map(|run| run.end_us.min(window.end) - run.start_us.max(window.start))
            .sum();
        busy / window.length()
    }

    fn draw_run(&mut self, lane: &Lane, run: &Run) {
        let Some((a, b)) = self.scale.clip(run.start_us, run.end_us) else {
            return;
        };
        let fill = self.colours.thread(run.thread).to_owned();
        let tooltip = self.run_tooltip(run);
        // A thin white edge separates neighbours; on a sliver it would be all there is.
        let edge = if b - a >= 3.0 {
            r##" stroke="#ffffff" stroke-width="0.6""##
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            r##"<rect x="{a:.2}" y="{:.1}" width="{:.2}" height="{BAND}" fill="{fill}"{edge}><title>{}</title></rect>"##,
            lane.band_y,
            (b - a).max(0.8),
            escape(&tooltip)
        );
    }

    fn run_tooltip(&self, run: &Run) -> String {
        let since = if run.open_start {
            " (running before the trace showed it)"
        } else {
            ""
        };
        format!(
            "{} (thread {}) on CPU {}: {}–{} µs{since}, {}, ended by {}",
            self.trace.thread_label(run.thread),
            run.thread,
            run.cpu,
            format_us(run.start_us, 3),
            format_us(run.end_us, 3),
            format_duration(run.end_us - run.start_us),
            run.end.describe()
        )
    }

    /// The name (and length, if there is room) on a run; idle runs say `idle`, quietly.
    fn draw_run_label(&mut self, lane: &Lane, run: &Run) {
        let Some((a, b)) = self.scale.clip(run.start_us, run.end_us) else {
            return;
        };
        let room = b - a - 2.0 * PAD;
        let idle = self.trace.is_idle(run.thread);
        let name = if idle {
            String::from("idle")
        } else {
            self.trace.thread_label(run.thread)
        };
        let length = format!("{name} · {}", format_duration(run.end_us - run.start_us));
        let reason = match run.end {
            RunEnd::Switch(Some(reason)) if !idle => format!("{length} → {}", reason_name(reason)),
            _ => length.clone(),
        };
        let Some(label) = [reason, length, name]
            .into_iter()
            .find(|text| text_width(text, FONT) <= room)
            .or_else(|| fit(&self.trace.thread_label(run.thread), room, FONT))
        else {
            return;
        };
        let colour = if idle {
            "#8a8a8a"
        } else {
            text_on(self.colours.thread(run.thread))
        };
        let _ = writeln!(
            self.body,
            r##"<text x="{:.1}" y="{:.1}" fill="{colour}" pointer-events="none">{}</text>"##,
            a + PAD,
            lane.band_y + BAND / 2.0 + 4.0,
            escape(&label)
        );
    }

    /// Halted stretches, hatched over the idle thread's runs.
    fn draw_halts(&mut self, lane: &Lane) {
        let spans: Vec<(f64, f64)> = self
            .timeline
            .halts
            .iter()
            .filter(|halt| halt.cpu == lane.cpu)
            .filter_map(|halt| self.scale.clip(halt.start_us, halt.end_us))
            .collect();
        for (a, b) in spans {
            let _ = writeln!(
                self.body,
                r##"<rect x="{a:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="url(#halted)" pointer-events="none"/>"##,
                lane.band_y + 1.0,
                (b - a).max(0.5),
                BAND - 2.0
            );
        }
    }

    /// Whether a poll ran on `cpu` (its host ran there during it, or it began there).
    pub(super) fn poll_touches(&self, poll: &Poll, cpu: u16) -> bool {
        !self.poll_pieces(poll, cpu).is_empty()
    }

    /// The parts of a poll during which its host ran on `cpu`: a host switched out
    /// mid-poll is not polling, and one resumed elsewhere polls on another lane.
    fn poll_pieces(&self, poll: &Poll, cpu: u16) -> Vec<(f64, f64)> {
        let Some(host) = poll.host else {
            return if poll.cpu == cpu {
                vec![(poll.start_us, poll.end_us)]
            } else {
                Vec::new()
            };
        };
        let runs = &self.timeline.runs;
        let first = runs.partition_point(|r| r.cpu < cpu);
        let past = runs.partition_point(|r| r.cpu <= cpu);
        let cpu_runs = &runs[first..past];
        let until = cpu_runs.partition_point(|r| r.start_us < poll.end_us);
        let mut pieces: Vec<(f64, f64)> = cpu_runs[..until]
            .iter()
            .rev()
            .take_while(|r| r.end_us > poll.start_us)
            .filter(|r| r.thread == host)
            .map(|r| (r.start_us.max(poll.start_us), r.end_us.min(poll.end_us)))
            .collect();
        pieces.reverse();
        if pieces.is_empty() && poll.start_us == poll.end_us && poll.cpu == cpu {
            pieces.push((poll.start_us, poll.end_us));
        }
        pieces
    }

    fn draw_polls(&mut self, cpu: u16, y: f64) {
        let timeline = self.timeline;
        let polls: Vec<&Poll> = timeline
            .polls
            .iter()
            .filter(|poll| self.scale.window.overlaps(poll.start_us, poll.end_us))
            .collect();
        for poll in polls {
            for (start, end) in self.poll_pieces(poll, cpu) {
                if let Some((a, b)) = self.scale.clip(start, end) {
                    self.draw_poll_box(poll, a, b, y);
                }
            }
        }
    }

    fn draw_poll_box(&mut self, poll: &Poll, a: f64, b: f64, y: f64) {
        let fill = self.colours.task(poll.task).to_owned();
        let name = self.trace.task_label(poll.task);
        // An outline sets a box off; on a sliver it would be all there is.
        let edge = if b - a >= 3.0 {
            r##" stroke="#5d6d7e" stroke-width="0.6""##
        } else {
            ""
        };
        let finished = if poll.finished { ", finished" } else { "" };
        let tooltip = format!(
            "task {name} (id {}) polled by {}{}: {}–{} µs, {}{finished}",
            poll.task,
            poll.executor.map_or_else(
                || String::from("an unknown executor"),
                |e| self.trace.executor_label(e)
            ),
            poll.host
                .map(|h| format!(" on {}", self.trace.thread_label(h)))
                .unwrap_or_default(),
            format_us(poll.start_us, 3),
            format_us(poll.end_us, 3),
            format_duration(poll.end_us - poll.start_us),
        );
        let _ = writeln!(
            self.body,
            r##"<rect x="{a:.2}" y="{y:.1}" width="{:.2}" height="{POLL_ROW}" rx="2" fill="{fill}"{edge}><title>{}</title></rect>"##,
            (b - a).max(1.0),
            escape(&tooltip)
        );
        let label = if poll.finished {
            format!("{name} ✓")
        } else {
            name
        };
        if let Some(label) = fit(&label, b - a - 2.0 * 3.0, SMALL_FONT) {
            let _ = writeln!(
                self.body,
                r##"<text x="{:.1}" y="{:.1}" font-size="{SMALL_FONT}" fill="#1a1a1a" pointer-events="none">{}</text>"##,
                a + 3.0,
                y + POLL_ROW / 2.0 + 3.5,
                escape(&label)
            );
        }
    }

    /// A tick per interrupt just above its CPU's band (a bar when its handler lasted
    /// long enough to see), one per pixel and vector: a thousand ticks on one pixel
    /// would say no more than one.
    pub(super) fn draw_irqs(&mut self) {
        let mut drawn = BTreeSet::new();
        let timeline = self.timeline;
        let irqs: Vec<_> = timeline
            .irqs
            .iter()
            .filter(|irq| self.scale.window.contains(irq.start_us))
            .collect();
        for irq in irqs {
            let x = self.scale.x(irq.start_us);
            if !drawn.insert((irq.cpu, irq.vector, x.round() as i64)) {
                continue;
            }
            let lane = self.lane(irq.cpu);
            let top = lane.band_y - 8.0;
            let end_x = irq
                .end_us
                .map_or(x, |end| self.scale.x(end.min(self.scale.window.end)));
            let width = (end_x - x).max(1.6);
            let length = irq
                .end_us
                .map(|end| format!(", {}", format_duration(end - irq.start_us)))
                .unwrap_or_default();
            let _ = writeln!(
                self.body,
                r##"<rect x="{:.2}" y="{top:.1}" width="{width:.2}" height="7" fill="{}"><title>{} at {} µs{length}</title></rect>"##,
                x - 0.8,
                irq_colour(irq.vector),
                escape(&irq_label(irq.vector)),
                format_us(irq.start_us, 3),
            );
        }
    }

    /// Marks as flags, labelled where the label runs into neither the previous label
    /// nor the next flag on the lane, losses as red lines across the band, and contained
    /// panics as red crosses on it. Spawns and exits stay in the JSON.
    pub(super) fn draw_instants(&mut self) {
        let timeline = self.timeline;
        let shown: Vec<_> = timeline
            .instants
            .iter()
            .filter(|i| self.scale.window.contains(i.at_us))
            .collect();
        for instant in &shown {
            let lane = self.lane(instant.cpu).clone();
            match instant.what {
                InstantKind::Dropped(lost) => {
                    self.draw_loss(&lane, self.scale.x(instant.at_us), instant.at_us, lost)
                }
                InstantKind::Panic { thread, task } => {
                    self.draw_panic(&lane, instant.at_us, thread, task)
                }
                _ => {}
            }
        }
        let marks: Vec<(u16, f64, &str)> = shown
            .iter()
            .filter_map(|i| match &i.what {
                InstantKind::Mark(text) => Some((i.cpu, i.at_us, text.as_str())),
                _ => None,
            })
            .collect();
        for cpu in 0..self.trace.cpus() {
            let on_lane: Vec<(f64, &str)> = marks
                .iter()
                .filter(|m| m.0 == cpu)
                .map(|m| (m.1, m.2))
                .collect();
            // Dense marks keep their flags but not their poles across the band.
            let poles = marks.len() as f64 <= (self.scale.x1 - self.scale.x0) / 12.0;
            self.draw_marks(cpu, &on_lane, poles);
        }
    }

    fn draw_marks(&mut self, cpu: u16, marks: &[(f64, &str)], poles: bool) {
        let lane = self.lane(cpu).clone();
        let xs: Vec<f64> = marks.iter().map(|&(at, _)| self.scale.x(at)).collect();
        let mut label_end = f64::NEG_INFINITY;
        for (index, &(at_us, text)) in marks.iter().enumerate() {
            let x = xs[index];
            let next = xs.get(index + 1).copied().unwrap_or(f64::INFINITY);
            let end = x + 9.0 + text_width(text, SMALL_FONT);
            let labelled = x > label_end + PAD && end + PAD < next.min(self.width);
            if labelled {
                label_end = end;
            }
            let flag = Flag {
                x,
                at_us,
                labelled,
                pole: poles,
            };
            self.draw_mark(&lane, &flag, text);
        }
    }

    fn draw_mark(&mut self, lane: &Lane, mark: &Flag, text: &str) {
        let (x, top) = (mark.x, lane.markers_y + 1.0);
        let pole_end = if mark.pole {
            lane.band_y + BAND
        } else {
            top + 8.0
        };
        let _ = writeln!(
            self.body,
            r##"<g><title>mark “{}” at {} µs on CPU {}</title><line x1="{x:.2}" y1="{top:.1}" x2="{x:.2}" y2="{pole_end:.1}" stroke="#1a1a1a" stroke-width="1"/><path d="M{x:.2},{top:.1} l7,3.5 l-7,3.5 z" fill="#1a1a1a"/></g>"##,
            escape(text),
            format_us(mark.at_us, 3),
            lane.cpu,
        );
        if mark.labelled {
            let _ = writeln!(
                self.body,
                r##"<text x="{:.1}" y="{:.1}" font-size="{SMALL_FONT}" fill="#1a1a1a">{}</text>"##,
                x + 9.0,
                top + 7.5,
                escape(text)
            );
        }
    }

    /// A contained panic as a red cross over the run (or poll) it ended.
    fn draw_panic(&mut self, lane: &Lane, at_us: f64, thread: ThreadId, task: Option<TaskId>) {
        let (x, y) = (self.scale.x(at_us), lane.band_y + BAND / 2.0);
        let whose = match task {
            Some(task) => format!(
                "{} on {}",
                self.trace.task_label(task),
                self.trace.thread_label(thread)
            ),
            None => self.trace.thread_label(thread),
        };
        let _ = writeln!(
            self.body,
            r##"<g><title>panic in {} at {} µs on CPU {}: it unwinds to its catch frame</title><path d="M{:.2},{:.1} l8,8 m0,-8 l-8,8" stroke="#fff" stroke-width="4"/><path d="M{:.2},{:.1} l8,8 m0,-8 l-8,8" stroke="#c0392b" stroke-width="2.2"/></g>"##,
            escape(&whose),
            format_us(at_us, 3),
            lane.cpu,
            x - 4.0,
            y - 4.0,
            x - 4.0,
            y - 4.0,
        );
    }

    fn draw_loss(&mut self, lane: &Lane, x: f64, at_us: f64, lost: u64) {
        let _ = writeln!(
            self.body,
            r##"<g><title>{lost} records lost on CPU {} before {} µs: what ran just before is unknown</title><line x1="{x:.2}" y1="{:.1}" x2="{x:.2}" y2="{:.1}" stroke="#e74c3c" stroke-width="2.5" stroke-dasharray="3 2"/><text x="{:.1}" y="{:.1}" font-size="{SMALL_FONT}" fill="#c0392b" font-weight="bold">{lost} lost</text></g>"##,
            lane.cpu,
            format_us(at_us, 3),
            lane.markers_y + 2.0,
            lane.band_y + BAND,
            x + 3.0,
            lane.markers_y + 9.0,
        );
    }

    /// Wake arrows whose both ends show, drawn over the lanes.
    pub(super) fn draw_wakes(&mut self) {
        let timeline = self.timeline;
        let shown: Vec<(&Wake, u16, f64)> = timeline
            .wakes
            .iter()
            .filter_map(|wake| self.landing(wake).map(|(lane, x)| (wake, lane, x)))
            .collect();
        // Past one arrow per few pixels they hide the runs and say nothing.
        let room = ((self.scale.x1 - self.scale.x0) / 6.0) as usize;
        if shown.len() > room {
            self.wakes_hidden = true;
            self.notes.push(format!(
                "{} wake arrows not drawn: too many at this scale (narrow the window with --window)",
                shown.len()
            ));
            return;
        }
        for (wake, lane, x) in shown {
            self.draw_wake(wake, lane, x);
        }
    }

    /// Where a wake lands, if it shows: the lane and x of the run or poll it enabled.
    pub(super) fn landing(&self, wake: &Wake) -> Option<(u16, f64)> {
        let index = wake.landing?;
        let (cpu, start) = match wake.target {
            WakeTarget::Thread(_) => {
                let run = &self.timeline.runs[index];
                (run.cpu, run.start_us)
            }
            WakeTarget::Task(_) => {
                let poll = &self.timeline.polls[index];
                let cpu = self.poll_lane(poll)?;
                (cpu, poll.start_us)
            }
        };
        let window = &self.scale.window;
        (window.contains(wake.at_us) && window.contains(start)).then(|| (cpu, self.scale.x(start)))
    }

    /// The lane a poll starts on.
    fn poll_lane(&self, poll: &Poll) -> Option<u16> {
        (0..self.trace.cpus()).find(|&cpu| {
            self.poll_pieces(poll, cpu)
                .first()
                .is_some_and(|&(start, _)| start == poll.start_us)
        })
    }

    fn draw_wake(&mut self, wake: &Wake, to_cpu: u16, to_x: f64) {
        let from_x = self.scale.x(wake.at_us);
        let from = self.strip(wake.cpu, matches!(wake.by, Waker::Task(_)));
        let to = self.strip(to_cpu, matches!(wake.target, WakeTarget::Task(_)));
        let ((start_x, start_y), path) = arrow_path((from_x, from), (to_x, to));
        let (colour, marker) = match wake.by {
            Waker::Interrupt(_) => ("#c0392b", "arrow-irq"),
            Waker::Task(_) => ("#8e44ad", "arrow-task"),
            _ => ("#2c3e50", "arrow-thread"),
        };
        let dash = if matches!(wake.target, WakeTarget::Task(_)) {
            r#" stroke-dasharray="4 2""#
        } else {
            ""
        };
        let tooltip = self.wake_tooltip(wake);
        let _ = writeln!(
            self.body,
            r##"<g opacity="0.8"><title>{}</title><path d="{path}" fill="none" stroke="{colour}" stroke-width="1.2"{dash} marker-end="url(#{marker})"/><circle cx="{start_x:.2}" cy="{start_y:.1}" r="2.2" fill="{colour}"/></g>"##,
            escape(&tooltip),
        );
    }

    /// The horizontal strip of a lane an arrow leaves or reaches: the poll row for a
    /// task (when the lane has one), else the band.
    fn strip(&self, cpu: u16, task: bool) -> Strip {
        let lane = self.lane(cpu);
        match lane.polls_y.filter(|_| task) {
            Some(polls_y) => Strip {
                top: polls_y,
                bottom: polls_y + POLL_ROW,
                below_is_free: true,
            },
            None => Strip {
                top: lane.band_y,
                bottom: lane.band_y + BAND,
                below_is_free: false,
            },
        }
    }

    fn wake_tooltip(&self, wake: &Wake) -> String {
        let target = match wake.target {
            WakeTarget::Thread(thread) => self.trace.thread_label(thread),
            WakeTarget::Task(task) => format!("task {}", self.trace.task_label(task)),
        };
        let by = match wake.by {
            Waker::Thread(thread) => self.trace.thread_label(thread),
            Waker::Interrupt(vector) => irq_label(vector),
            Waker::Task(task) => format!("task {}", self.trace.task_label(task)),
            Waker::Unknown { code, id } => format!("source {code}:{id}"),
        };
        format!(
            "{by} wakes {target} at {} µs on CPU {}",
            format_us(wake.at_us, 3),
            wake.cpu
        )
    }

    /// The time axis: a line, round ticks, labels in µs since the first event.
    pub(super) fn draw_axis(&mut self) {
        let y = self.axis_y();
        let (ticks, decimals) = self.scale.ticks(110.0);
        let (x0, x1) = (self.scale.x0, self.scale.x1);
        let _ = writeln!(
            self.body,
            r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#555"/>"##
        );
        for tick in ticks {
            let x = self.scale.x(tick);
            let _ = writeln!(
                self.body,
                r##"<line x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#555"/><text x="{x:.1}" y="{:.1}" font-size="10" fill="#333" text-anchor="middle">{}</text>"##,
                y + 5.0,
                y + 17.0,
                format_us(tick, decimals)
            );
        }
        let _ = writeln!(
            self.body,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#666" text-anchor="end">µs since the first event</text>"##,
            x1,
            y + 32.0
        );
    }
}

/// Where and how a mark's flag is drawn.
#[derive(Debug, Clone, Copy)]
struct Flag {
    x: f64,
    at_us: f64,
    labelled: bool,
    /// A line down across the band, to the exact moment.
    pole: bool,
}

/// A horizontal strip of a lane (a band or a poll row), as far as arrows care.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Strip {
    top: f64,
    bottom: f64,
    /// Whether an arc can bulge below it (the gap under a poll row) rather than above.
    below_is_free: bool,
}

/// A wake arrow's start point and path: within one strip an arc beside it (above a
/// band, below a poll row); between strips an S-curve from the source's edge facing
/// the target to the target's edge facing the source.
fn arrow_path((from_x, from): (f64, Strip), (to_x, to): (f64, Strip)) -> ((f64, f64), String) {
    if from == to {
        let (y, side) = if from.below_is_free {
            (from.bottom, 1.0)
        } else {
            (from.top, -1.0)
        };
        let bulge = y + side * (6.0 + (to_x - from_x).abs() / 6.0).min(MARKER_ROW + 2.0);
        let d = format!(
            "M{from_x:.2},{y:.1} C{from_x:.2},{bulge:.1} {to_x:.2},{bulge:.1} {to_x:.2},{y:.1}"
        );
        return ((from_x, y), d);
    }
    let (start_y, end_y) = if to.top >= from.bottom {
        (from.bottom, to.top)
    } else {
        (from.top, to.bottom)
    };
    let middle = (start_y + end_y) / 2.0;
    let d = format!(
        "M{from_x:.2},{start_y:.1} C{from_x:.2},{middle:.1} {to_x:.2},{middle:.1} {to_x:.2},{end_y:.1}"
    );
    ((from_x, start_y), d)
}
