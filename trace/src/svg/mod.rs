//! An SVG timeline a person can read: one lane per CPU, who ran when, why they woke.
//!
//! Each CPU gets a lane: a band of coloured segments, one per run (a thread's stable
//! colour, its name on it where it fits; the idle thread light grey, hatched where the
//! CPU halted), interrupt ticks and mark flags just above it, and under it, where an
//! executor ran, a thinner sub-lane with a box per task poll. Wake arrows go from the
//! waker's lane at the wake to the start of the woken thread's next run (or the task's
//! next poll). Under the lanes, a time axis in µs with round tick spacing; at the
//! bottom, a legend of the threads, tasks and symbols that appear.
//!
//! A long trace drawn whole is a grey smear, so unless a window is asked for, a long
//! (or dense) trace is drawn from its end: the last [`SvgOptions::recent_us`], or the
//! span of its last [`SvgOptions::recent_switches`] switches if that is shorter. The
//! title says which window is shown. Every shape has a tooltip (`<title>`) with the
//! details a label has no room for.

mod draw;
mod legend;
mod scale;
mod style;

use std::{
    fmt::Write as _,
    io::{self, Write},
};

use self::{
    scale::{Scale, Window},
    style::{Colours, escape, format_us, text_width},
};
use crate::{decode::Trace, timeline::Timeline};

/// What to draw and how big.
#[derive(Debug, Clone, PartialEq)]
pub struct SvgOptions {
    /// The window's start, µs since the first event (`None`: the trace's start, or the
    /// automatic window if `end_us` is also `None`).
    pub start_us: Option<f64>,
    /// The window's end, µs since the first event (`None`: the trace's end).
    pub end_us: Option<f64>,
    /// The picture's width in px.
    pub max_width: u32,
    /// Without a window: a trace longer than this is drawn from its end, this long.
    pub recent_us: f64,
    /// Without a window: at most this many switches are drawn (from the end), so no
    /// segment gets too thin to see.
    pub recent_switches: usize,
}

impl Default for SvgOptions {
    fn default() -> Self {
        SvgOptions {
            start_us: None,
            end_us: None,
            max_width: 1600,
            recent_us: 20_000.0,
            recent_switches: 400,
        }
    }
}

impl SvgOptions {
    /// The default options with a window of `start_us..end_us`.
    pub fn window(start_us: f64, end_us: f64) -> Self {
        SvgOptions {
            start_us: Some(start_us),
            end_us: Some(end_us),
            ..SvgOptions::default()
        }
    }
}

/// Writes `trace` as an SVG timeline.
///
/// # Errors
/// Whatever writing to `out` fails with.
pub fn write_svg(trace: &Trace, options: &SvgOptions, mut out: impl Write) -> io::Result<()> {
    let timeline = Timeline::new(trace);
    let picture = Picture::new(trace, &timeline, options);
    out.write_all(picture.render().as_bytes())?;
    out.flush()
}

/// Sizes, px.
const LEFT: f64 = 104.0;
const RIGHT: f64 = 28.0;
const TITLE_HEIGHT: f64 = 70.0;
const MARKER_ROW: f64 = 20.0;
const BAND: f64 = 30.0;
const POLL_GAP: f64 = 3.0;
const POLL_ROW: f64 = 17.0;
const LANE_GAP: f64 = 22.0;
const AXIS_HEIGHT: f64 = 44.0;
const FONT: f64 = 11.0;
const SMALL_FONT: f64 = 9.5;

/// Where one CPU's lane is.
#[derive(Debug, Clone)]
struct Lane {
    cpu: u16,
    /// Top of the row of interrupt ticks and mark flags.
    markers_y: f64,
    /// Top of the band of runs.
    band_y: f64,
    /// Top of the poll sub-lane, if the CPU ran polls in the window.
    polls_y: Option<f64>,
    /// Bottom of the lane.
    bottom: f64,
}

/// Everything needed to draw, and the SVG body drawn so far.
struct Picture<'a> {
    trace: &'a Trace,
    timeline: &'a Timeline,
    scale: Scale,
    colours: Colours,
    lanes: Vec<Lane>,
    width: f64,
    body: String,
    /// Said under the legend: what was left out, and why.
    notes: Vec<String>,
    /// Whether the wake arrows were left out (too many).
    wakes_hidden: bool,
}

impl<'a> Picture<'a> {
    fn new(trace: &'a Trace, timeline: &'a Timeline, options: &SvgOptions) -> Self {
        let width = f64::from(options.max_width.max(400));
        let window = Window::choose(timeline, options);
        let scale = Scale {
            window,
            x0: LEFT,
            x1: width - RIGHT,
        };
        let mut picture = Picture {
            trace,
            timeline,
            scale,
            colours: Colours::new(trace, timeline),
            lanes: Vec::new(),
            width,
            body: String::new(),
            notes: Vec::new(),
            wakes_hidden: false,
        };
        picture.lanes = picture.lay_out_lanes();
        picture
    }

    fn lay_out_lanes(&self) -> Vec<Lane> {
        let mut y = TITLE_HEIGHT;
        let mut lanes = Vec::new();
        for cpu in 0..self.trace.cpus() {
            let band_y = y + MARKER_ROW;
            let polls_y = self.has_polls(cpu).then_some(band_y + BAND + POLL_GAP);
            let bottom = polls_y.map_or(band_y + BAND, |p| p + POLL_ROW);
            lanes.push(Lane {
                cpu,
                markers_y: y,
                band_y,
                polls_y,
                bottom,
            });
            y = bottom + LANE_GAP;
        }
        lanes
    }

    /// Whether any poll shows under `cpu`'s band in the window.
    fn has_polls(&self, cpu: u16) -> bool {
        self.timeline.polls.iter().any(|poll| {
            self.scale.window.overlaps(poll.start_us, poll.end_us) && self.poll_touches(poll, cpu)
        })
    }

    fn lane(&self, cpu: u16) -> &Lane {
        &self.lanes[usize::from(cpu)]
    }

    fn axis_y(&self) -> f64 {
        self.lanes.last().map_or(TITLE_HEIGHT, |lane| lane.bottom) + 8.0
    }

    fn render(mut self) -> String {
        self.draw_grid();
        for cpu in 0..self.trace.cpus() {
            self.draw_lane(cpu);
        }
        self.draw_irqs();
        self.draw_instants();
        self.draw_wakes();
        self.draw_axis();
        let legend_height = self.draw_legend(self.axis_y() + AXIS_HEIGHT);
        let height = self.axis_y() + AXIS_HEIGHT + legend_height + 16.0;
        let mut svg = self.header(height);
        svg.push_str(&self.body);
        svg.push_str("</svg>\n");
        svg
    }

    /// The document's start: size, shared definitions and style, title lines.
    fn header(&self, height: f64) -> String {
        let mut svg = String::new();
        let (w, h) = (self.width, height.ceil());
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Verdana, Helvetica, Arial, sans-serif" font-size="{FONT}">"#
        );
        let _ = writeln!(svg, "<title>{}</title>", escape(&self.title()));
        svg.push_str(DEFS);
        let _ = writeln!(svg, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
        self.write_title(&mut svg);
        svg
    }

    fn title(&self) -> String {
        format!(
            "Spindle schedule trace: {}",
            self.scale.window.describe(self.timeline.end_us)
        )
    }

    fn write_title(&self, svg: &mut String) {
        let _ = writeln!(
            svg,
            r##"<text x="16" y="24" font-size="16" font-weight="bold" fill="#1a1a1a">Spindle schedule trace</text>"##
        );
        let mut window = self.scale.window.describe(self.timeline.end_us);
        let hint = " (choose another with --window START..END)";
        if self.scale.window.choice != scale::Choice::Requested
            && self.scale.window.choice != scale::Choice::Whole
            && text_width(&window, FONT) + text_width(hint, FONT) < self.width - 32.0
        {
            window.push_str(hint);
        }
        let _ = writeln!(
            svg,
            r##"<text x="16" y="43" fill="#333">{}</text>"##,
            escape(&window)
        );
        let _ = writeln!(
            svg,
            r##"<text x="16" y="59" fill="#666" font-size="{SMALL_FONT}">{}</text>"##,
            escape(&self.stats())
        );
    }

    /// The trace's vital numbers, for the title.
    fn stats(&self) -> String {
        let trace = self.trace;
        let mut stats = format!(
            "{} CPU{} · TSC {:.3} GHz · {} events · {} segment{} · {} µs in all",
            trace.cpus(),
            if trace.cpus() == 1 { "" } else { "s" },
            trace.tsc_hz() as f64 / 1e9,
            trace.events().len(),
            trace.segments(),
            if trace.segments() == 1 { "" } else { "s" },
            format_us(self.timeline.end_us, 0),
        );
        if trace.dropped_total() > 0 {
            let _ = write!(stats, " · {} records lost", trace.dropped_total());
        }
        if trace.unknown_records() > 0 {
            let _ = write!(
                stats,
                " · {} records of unknown kinds skipped",
                trace.unknown_records()
            );
        }
        stats
    }
}

/// Patterns and arrowheads used throughout.
const DEFS: &str = r##"<defs>
<pattern id="halted" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b4b4b4" stroke-width="2.2"/></pattern>
<marker id="arrow-thread" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,1 L10,5 L0,9 z" fill="#2c3e50"/></marker>
<marker id="arrow-irq" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,1 L10,5 L0,9 z" fill="#c0392b"/></marker>
<marker id="arrow-task" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,1 L10,5 L0,9 z" fill="#8e44ad"/></marker>
</defs>
"##;
