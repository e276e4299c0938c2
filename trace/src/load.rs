//! Reading a stream from the file QEMU's debug console wrote, and saying what it holds.
//!
//! The command-line tool, the runner's `--trace` and the test harness's `trace: check`
//! all start from such a file. They share this so that "the kernel streamed nothing"
//! is told apart from a damaged stream: the first needs a different fix (start tracing,
//! or let the kernel reach its dump) than the second.

use std::{
    fmt, fs, io,
    path::{Path, PathBuf},
};

use crate::decode::{DecodeError, Trace, decode};

/// Why a trace file gave no [`Trace`].
#[derive(Debug)]
pub enum LoadError {
    /// The file is empty: the kernel streamed nothing to the debug console (QEMU creates
    /// the file when it starts, so an empty one is what a silent kernel leaves).
    NoTrace {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read (a missing file too: QEMU creates it when it starts,
    /// so missing means that QEMU never started, or another path).
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The bytes are not a stream this decoder reads.
    Decode {
        /// The file.
        path: PathBuf,
        /// Where and why decoding stopped.
        error: DecodeError,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoTrace { path } => write!(
                f,
                "{}: no trace: the kernel streamed nothing to the debug console",
                path.display()
            ),
            LoadError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            LoadError::Decode { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and decodes the stream in the file at `path`.
///
/// # Errors
/// [`LoadError::NoTrace`] for an empty file, [`LoadError::Read`] for an I/O error,
/// [`LoadError::Decode`] for bytes that do not decode.
pub fn load(path: &Path) -> Result<Trace, LoadError> {
    let bytes = fs::read(path).map_err(|error| LoadError::Read {
        path: path.into(),
        error,
    })?;
    decode(&bytes).map_err(|error| match error {
        DecodeError::Empty => LoadError::NoTrace { path: path.into() },
        error => LoadError::Decode {
            path: path.into(),
            error,
        },
    })
}

/// One line on what `trace` holds: events, CPUs, time span, segments, and losses.
pub fn summary(trace: &Trace) -> String {
    let mut line = format!(
        "{} events on {} CPU(s) over {:.1} µs ({} segment(s))",
        trace.events().len(),
        trace.cpus(),
        trace.span_us(),
        trace.segments()
    );
    if trace.dropped_total() > 0 {
        line.push_str(&format!("; {} records lost", trace.dropped_total()));
    }
    if trace.unknown_records() > 0 {
        line.push_str(&format!(
            "; {} unknown records skipped",
            trace.unknown_records()
        ));
    }
    line
}
