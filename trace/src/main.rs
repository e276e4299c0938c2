//! `spindle-trace`: turns a schedule trace the kernel streamed out into a Perfetto file
//! and an SVG timeline, or checks it.
//!
//! Exit status: 0 done (and, for `check`, no violation); 1 `check` found violations;
//! 2 the command could not run (unreadable or undecodable trace, unwritable output,
//! bad arguments).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand};
use spindle_trace::{
    SvgOptions, Trace, What, check, summary, write_file_atomically, write_files, write_perfetto,
};

#[derive(Debug, Parser)]
#[command(
    name = "spindle-trace",
    version,
    about = "Convert and check Spindle schedule traces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode TRACE and write Perfetto JSON (open it in ui.perfetto.dev), and with
    /// --svg an SVG timeline.
    Convert {
        /// The binary trace the kernel streamed out.
        trace: PathBuf,
        /// Where to write the JSON.
        json: PathBuf,
        /// Where to write the SVG timeline.
        #[arg(long, value_name = "OUT.svg")]
        svg: Option<PathBuf>,
        /// The SVG's window, µs since the first event; either end may be left out
        /// (`..5000`, `12000..`). Default: the whole trace, or its end if it is long.
        #[arg(long, value_name = "START_US..END_US", value_parser = parse_window, allow_hyphen_values = true)]
        window: Option<(Option<f64>, Option<f64>)>,
        /// Count the window from the first mark with this text (`tracing::mark`)
        /// instead of from the first event: a window that stays on the same part of
        /// the run however long the boot before it took.
        #[arg(long, value_name = "TEXT")]
        from_mark: Option<String>,
        /// The SVG's width in px.
        #[arg(long, value_name = "PX", default_value_t = SvgOptions::default().max_width)]
        width: u32,
    },
    /// Check TRACE's scheduling invariants; print each violation, exit 1 if any.
    Check {
        /// The binary trace the kernel streamed out.
        trace: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert {
            trace,
            json,
            svg,
            window,
            from_mark,
            width,
        } => {
            let picture = Picture {
                window: window.unwrap_or((None, None)),
                from_mark,
                width,
            };
            convert(&trace, &json, svg.as_deref(), &picture)
        }
        Command::Check { trace } => run_check(&trace),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("spindle-trace: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &Path) -> Result<Trace, String> {
    spindle_trace::load(path).map_err(|e| e.to_string())
}

/// What `convert` was asked to draw: the SVG's window (µs, from the first event or
/// from the mark) and width.
struct Picture {
    window: (Option<f64>, Option<f64>),
    from_mark: Option<String>,
    width: u32,
}

impl Picture {
    /// The SVG options for `trace`, the window moved to the mark if one was named.
    fn options(&self, trace: &Trace) -> Result<SvgOptions, String> {
        let (mut start_us, mut end_us) = self.window;
        if let Some(text) = &self.from_mark {
            let origin = mark_time(trace, text)?;
            start_us = Some(origin + start_us.unwrap_or(0.0));
            end_us = end_us.map(|end| origin + end);
        }
        Ok(SvgOptions {
            start_us,
            end_us,
            max_width: self.width,
            ..SvgOptions::default()
        })
    }
}

/// When the first mark with `text` was recorded, µs since the first event; the error
/// lists the marks there are.
fn mark_time(trace: &Trace, text: &str) -> Result<f64, String> {
    let marks = || {
        trace.events().iter().filter_map(|event| match &event.what {
            What::Mark { text } => Some((event.us, text.as_str())),
            _ => None,
        })
    };
    if let Some((us, _)) = marks().find(|&(_, mark)| mark == text) {
        return Ok(us);
    }
    let known: Vec<String> = marks().map(|(_, mark)| format!("{mark:?}")).collect();
    Err(match known.is_empty() {
        true => format!("--from-mark: the trace has no marks, so none is {text:?}"),
        false => format!(
            "--from-mark: no mark is {text:?}; the marks are {}",
            known.join(", ")
        ),
    })
}

fn convert(
    trace_path: &Path,
    json: &Path,
    svg: Option<&Path>,
    picture: &Picture,
) -> Result<ExitCode, String> {
    let trace = load(trace_path)?;
    let options = picture.options(&trace)?;
    let written = match svg {
        Some(svg) => write_files(&trace, json, svg, &options),
        None => write_file_atomically(json, |out| write_perfetto(&trace, out)),
    };
    written.map_err(|e| format!("cannot write: {e}"))?;
    println!("{}", summary(&trace));
    println!("wrote {}", json.display());
    if let Some(svg) = svg {
        println!("wrote {}", svg.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn run_check(path: &Path) -> Result<ExitCode, String> {
    let trace = load(path)?;
    let violations = check(&trace);
    println!("{}", summary(&trace));
    for violation in &violations {
        println!("{violation}");
    }
    if violations.is_empty() {
        println!("no violations");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} violations", violations.len());
        Ok(ExitCode::from(1))
    }
}

/// `START..END` in µs, either side optional.
fn parse_window(text: &str) -> Result<(Option<f64>, Option<f64>), String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?} is not START_US..END_US"))?;
    let number = |side: &str| -> Result<Option<f64>, String> {
        let side = side.trim();
        if side.is_empty() {
            return Ok(None);
        }
        match side.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Some(value)),
            _ => Err(format!("{side:?} is not a number of µs")),
        }
    };
    let window = (number(start)?, number(end)?);
    match window {
        (None, None) => Err(String::from("give START_US, END_US or both")),
        (Some(start), Some(end)) if start >= end => Err(format!(
            "the window's start ({start}) is not before its end ({end})"
        )),
        window => Ok(window),
    }
}
