//! Which stretch of time is drawn, and how time maps to x.

use super::{SvgOptions, style::format_us};
use crate::timeline::Timeline;

/// Why the window is what it is (said in the title).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Choice {
    /// The whole trace fits.
    Whole,
    /// The caller asked for it.
    Requested,
    /// The trace is long: its last `recent_us`.
    LastSpan(f64),
    /// The trace is dense: the span of its last switches.
    LastSwitches(usize),
}

/// The drawn stretch of time, µs since the trace's first event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Window {
    pub(super) start: f64,
    pub(super) end: f64,
    pub(super) choice: Choice,
}

impl Window {
    /// The requested window, else the whole trace if it is short and sparse enough to
    /// read, else its end: the last `recent_us`, or less if that holds more than
    /// `recent_switches` switches (each would be too thin to see).
    pub(super) fn choose(timeline: &Timeline, options: &SvgOptions) -> Self {
        let span = timeline.end_us;
        if options.start_us.is_some() || options.end_us.is_some() {
            return Self::requested(options, span);
        }
        let mut switches: Vec<f64> = timeline
            .runs
            .iter()
            .filter(|run| !run.open_start)
            .map(|run| run.start_us)
            .collect();
        switches.sort_by(f64::total_cmp);
        let count = options.recent_switches.max(1);
        let last_switches = switches.len().checked_sub(count).map(|at| switches[at]);
        let by_span = (options.recent_us > 0.0 && span > options.recent_us)
            .then_some(span - options.recent_us);
        let (start, choice) = match (by_span, last_switches) {
            (None, None) => (0.0, Choice::Whole),
            (Some(a), Some(b)) if b > a => (b, Choice::LastSwitches(count)),
            (Some(a), _) => (a, Choice::LastSpan(options.recent_us)),
            (None, Some(b)) => (b, Choice::LastSwitches(count)),
        };
        Window::new(start, span, choice)
    }

    /// The requested window; an end that is not a number falls back to the trace's.
    fn requested(options: &SvgOptions, span: f64) -> Self {
        let start = options.start_us.filter(|s| s.is_finite()).unwrap_or(0.0);
        let end = options.end_us.filter(|e| e.is_finite()).unwrap_or(span);
        Window::new(start, end, Choice::Requested)
    }

    /// A window at least a nanosecond wide (a trace of one instant still draws).
    fn new(start: f64, end: f64, choice: Choice) -> Self {
        let end = if end - start < 0.001 {
            start + 1.0
        } else {
            end
        };
        Window { start, end, choice }
    }

    pub(super) fn length(&self) -> f64 {
        self.end - self.start
    }

    /// Whether `[start, end]` shows in the window.
    pub(super) fn overlaps(&self, start: f64, end: f64) -> bool {
        start <= self.end && end >= self.start
    }

    pub(super) fn contains(&self, at: f64) -> bool {
        self.start <= at && at <= self.end
    }

    /// For the title: which stretch of how much is shown, and why.
    pub(super) fn describe(&self, span: f64) -> String {
        let range = format!(
            "{}–{} µs",
            format_us(self.start, decimals_for(self.length())),
            format_us(self.end, decimals_for(self.length()))
        );
        let total = format_us(span, decimals_for(span));
        match self.choice {
            Choice::Whole => format!("whole trace: {range}"),
            Choice::Requested => format!("window {range} of {total} µs"),
            Choice::LastSpan(us) => {
                format!("last {} µs: {range} of {total} µs", format_us(us, 0))
            }
            Choice::LastSwitches(count) => {
                format!("span of the last {count} switches: {range} of {total} µs")
            }
        }
    }
}

/// Decimals worth showing for times in a stretch this long.
fn decimals_for(length: f64) -> usize {
    match length {
        l if l >= 100.0 => 0,
        l if l >= 10.0 => 1,
        l if l >= 1.0 => 2,
        _ => 3,
    }
}

/// Time to x.
#[derive(Debug, Clone)]
pub(super) struct Scale {
    pub(super) window: Window,
    pub(super) x0: f64,
    pub(super) x1: f64,
}

impl Scale {
    pub(super) fn x(&self, us: f64) -> f64 {
        let fraction = (us - self.window.start) / self.window.length();
        self.x0 + fraction * (self.x1 - self.x0)
    }

    /// The x range of `[start, end]` cut to the window, if any of it shows.
    pub(super) fn clip(&self, start: f64, end: f64) -> Option<(f64, f64)> {
        if !self.window.overlaps(start, end) {
            return None;
        }
        let a = self.x(start.max(self.window.start));
        let b = self.x(end.min(self.window.end));
        Some((a, b))
    }

    /// Round tick positions (µs) about `spacing_px` apart, and their labels' decimals.
    pub(super) fn ticks(&self, spacing_px: f64) -> (Vec<f64>, usize) {
        let wanted = ((self.x1 - self.x0) / spacing_px).max(2.0);
        let step = nice_step(self.window.length() / wanted);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let first = (self.window.start / step).ceil() as i64;
        let last = (self.window.end / step).floor() as i64;
        let ticks = (first..=last).map(|i| i as f64 * step).collect();
        (ticks, decimals)
    }
}

/// The smallest of 1, 2 or 5 × 10^k that is at least `raw`.
pub(super) fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-6);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(2000.0), 2000.0);
        assert!((nice_step(0.03) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn ticks_fall_on_multiples_inside_the_window() {
        let scale = Scale {
            window: Window::new(1234.0, 21234.0, Choice::Requested),
            x0: 0.0,
            x1: 1000.0,
        };
        let (ticks, decimals) = scale.ticks(100.0);
        assert_eq!(decimals, 0);
        assert_eq!(ticks.first(), Some(&2000.0));
        assert_eq!(ticks.last(), Some(&20000.0));
        assert!(
            ticks
                .windows(2)
                .all(|w| (w[1] - w[0] - 2000.0).abs() < 1e-9)
        );
    }
}
