//! `chart.svg`: the icount medians as horizontal bars, written as SVG text.
//!
//! The x axis is logarithmic because the figures span four decades or more (a task wake
//! costs tens of cycles, spawning a thread tens of thousands): on a linear axis every
//! cheap operation would be an invisible sliver. Each bar carries its value, so nobody
//! has to read a log scale precisely. No plotting crate: the chart is a few dozen
//! elements, and hand-written SVG renders the same everywhere.

use std::fmt::Write;

use crate::results::{Results, Row};

const WIDTH: f64 = 880.0;
const MARGIN: f64 = 16.0;
/// Vertical space per bar, and the bar's thickness within it.
const PITCH: f64 = 28.0;
const BAR: f64 = 18.0;
/// Where the plot starts below the title and subtitle.
const PLOT_TOP: f64 = 64.0;
/// Room right of the plot for the longest bar's value.
const VALUE_ROOM: f64 = 72.0;
/// Width of one character of the 12 px monospace font the figure names use.
const MONO_CHAR: f64 = 7.3;

/// The chart of `results`' icount medians, as a complete SVG document.
pub(crate) fn render(results: &Results) -> String {
    let rows = &results.rows;
    let longest = rows.iter().map(|row| row.name().len()).max().unwrap_or(0);
    let plot = Plot {
        left: MARGIN + longest as f64 * MONO_CHAR + 10.0,
        right: WIDTH - MARGIN - VALUE_ROOM,
        top: PLOT_TOP,
        bottom: PLOT_TOP + rows.len() as f64 * PITCH + 8.0,
        scale: LogScale::covering(rows.iter().map(|row| row.icount.median)),
    };
    let height = plot.bottom + 56.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    svg.push_str(&titles(results));
    svg.push_str(&plot.grid());
    for (index, row) in rows.iter().enumerate() {
        svg.push_str(&plot.bar(index, row));
    }
    svg.push_str(&plot.axis_legend());
    svg.push_str("</svg>\n");
    svg
}

fn titles(results: &Results) -> String {
    let provenance = &results.provenance;
    let mut subtitle = "icount median per operation: TSC ticks under -icount shift=0, \
                        1 tick = 1 guest instruction"
        .to_owned();
    if let Some(commit) = provenance.short_commit() {
        subtitle.push_str(&format!(" · {commit}"));
    }
    subtitle.push_str(&format!(" · {}", provenance.date));
    format!(
        "<text x=\"{MARGIN}\" y=\"26\" font-size=\"17\" font-weight=\"bold\">\
         Spindle benchmarks</text>\n\
         <text x=\"{MARGIN}\" y=\"46\" fill=\"#555\">{}</text>\n",
        escape(&subtitle)
    )
}

/// Where the bars go and how values map onto it.
struct Plot {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    scale: LogScale,
}

impl Plot {
    fn x(&self, value: u64) -> f64 {
        self.left + self.scale.fraction(value) * (self.right - self.left)
    }

    /// Vertical lines at every decade (labelled) and at 2..9 times it (faint).
    fn grid(&self) -> String {
        let mut svg = String::new();
        for decade in self.scale.low_exponent..=self.scale.high_exponent {
            let base = 10u64.pow(decade);
            let x = self.x(base);
            let _ = writeln!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#bbb\"/>\n\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
                self.top,
                self.bottom,
                self.bottom + 16.0,
                decade_label(decade)
            );
            if decade == self.scale.high_exponent {
                break;
            }
            for multiple in 2..10 {
                let x = self.x(base * multiple);
                let _ = writeln!(
                    svg,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
                    self.top, self.bottom
                );
            }
        }
        svg
    }

    fn bar(&self, index: usize, row: &Row) -> String {
        let y = self.top + 4.0 + index as f64 * PITCH + (PITCH - BAR) / 2.0;
        let middle = y + BAR / 2.0 + 4.0;
        let median = row.icount.median;
        let end = self.x(median);
        format!(
            "<text x=\"{:.1}\" y=\"{middle:.1}\" text-anchor=\"end\" font-family=\"monospace\">\
             {}</text>\n\
             <rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"#4c78a8\"/>\n\
             <text x=\"{:.1}\" y=\"{middle:.1}\" fill=\"#222\">{median}</text>\n",
            self.left - 8.0,
            escape(row.name()),
            self.left,
            end - self.left,
            end + 5.0,
        )
    }

    fn axis_legend(&self) -> String {
        format!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">\
             cycles per operation (log scale)</text>\n",
            self.left,
            self.bottom,
            self.right,
            self.bottom,
            (self.left + self.right) / 2.0,
            self.bottom + 38.0
        )
    }
}

/// A base-10 logarithmic axis from one power of ten to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LogScale {
    low_exponent: u32,
    high_exponent: u32,
}

impl LogScale {
    /// The tightest whole decades around `values` (at least one decade; 0 counts as 1).
    fn covering(values: impl Iterator<Item = u64> + Clone) -> Self {
        let smallest = values.clone().min().unwrap_or(1).max(1);
        let largest = values.max().unwrap_or(1).max(1);
        let low_exponent = smallest.ilog10();
        let high_exponent =
            (largest.ilog10() + u32::from(!is_power_of_ten(largest))).max(low_exponent + 1);
        Self {
            low_exponent,
            high_exponent,
        }
    }

    /// Where `value` falls between the ends of the axis, 0 to 1 (0 for values below it).
    fn fraction(self, value: u64) -> f64 {
        let log = (value.max(1) as f64).log10();
        let (low, high) = (f64::from(self.low_exponent), f64::from(self.high_exponent));
        ((log - low) / (high - low)).clamp(0.0, 1.0)
    }
}

fn is_power_of_ten(value: u64) -> bool {
    value > 0 && 10u64.pow(value.ilog10()) == value
}

/// `10`, `100`, `1k`, ... `100M`: short enough to sit under a gridline.
fn decade_label(exponent: u32) -> String {
    const SUFFIXES: [&str; 4] = ["", "k", "M", "G"];
    let suffix = SUFFIXES[(exponent / 3).min(3) as usize];
    let mantissa = 10u64.pow(exponent - (exponent / 3).min(3) * 3);
    format!("{mantissa}{suffix}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::sample;

    #[test]
    fn the_axis_spans_whole_decades_around_the_values() {
        let scale = |values: &[u64]| {
            let scale = LogScale::covering(values.iter().copied());
            (scale.low_exponent, scale.high_exponent)
        };
        assert_eq!(scale(&[95, 320, 12_500]), (1, 5));
        assert_eq!(scale(&[10, 1000]), (1, 3));
        assert_eq!(scale(&[100]), (2, 3));
        assert_eq!(scale(&[0, 7]), (0, 1));
    }

    #[test]
    fn values_map_logarithmically() {
        let scale = LogScale {
            low_exponent: 1,
            high_exponent: 3,
        };
        assert_eq!(scale.fraction(10), 0.0);
        assert!((scale.fraction(100) - 0.5).abs() < 1e-12);
        assert_eq!(scale.fraction(1000), 1.0);
        assert_eq!(scale.fraction(0), 0.0);
    }

    #[test]
    fn decades_have_short_labels() {
        let labels: Vec<String> = (0..8).map(decade_label).collect();
        assert_eq!(labels, ["1", "10", "100", "1k", "10k", "100k", "1M", "10M"]);
    }

    #[test]
    fn draws_a_labelled_bar_per_figure() {
        let svg = render(&sample());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("fill=\"#4c78a8\"").count(), 3);
        for label in [
            ">thread_spawn</text>",
            ">12500</text>",
            ">95</text>",
            ">10k</text>",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert!(svg.contains("cycles per operation (log scale)"));
    }
}
