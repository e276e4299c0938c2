//! Writing the JSON and the SVG to files, all or nothing.
//!
//! Each output is written to a temporary file beside its destination (a rename is
//! atomic only within one file system) and renamed into place only once both are
//! complete, so a failure (full disk, missing directory, a writer error) leaves no
//! half-written file, and no temporary one: an unpersisted temporary file deletes
//! itself when dropped.

use std::{
    io::{self, BufWriter, Write},
    path::Path,
};

use tempfile::NamedTempFile;

use crate::{
    decode::Trace,
    perfetto::write_perfetto,
    svg::{SvgOptions, write_svg},
};

/// Writes `trace` as Perfetto JSON to `json` and as an SVG timeline to `svg`.
///
/// # Errors
/// The first I/O error, with the path it concerns in its message. Neither destination
/// is touched unless both outputs were written in full; should the second rename fail
/// after the first succeeded (both temporary files exist by then, so only a vanished
/// directory could cause it), the JSON is complete and the SVG absent.
pub fn write_files(trace: &Trace, json: &Path, svg: &Path, options: &SvgOptions) -> io::Result<()> {
    let json_file = write_temporary(json, |out| write_perfetto(trace, out))?;
    let svg_file = write_temporary(svg, |out| write_svg(trace, options, out))?;
    persist(json_file, json)?;
    persist(svg_file, svg)
}

/// Writes one file the same way: complete, or not at all.
///
/// # Errors
/// As [`write_files`].
pub fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let file = write_temporary(path, |out| write(out))?;
    persist(file, path)
}

/// Writes a temporary file in `path`'s directory and syncs it.
fn write_temporary(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&std::fs::File>) -> io::Result<()>,
) -> io::Result<NamedTempFile> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file = temporary_in(directory).map_err(|e| with_path(e, path))?;
    let mut out = BufWriter::new(file.as_file());
    write(&mut out).map_err(|e| with_path(e, path))?;
    out.flush().map_err(|e| with_path(e, path))?;
    drop(out);
    file.as_file().sync_all().map_err(|e| with_path(e, path))?;
    Ok(file)
}

/// A temporary file readable like any other output (tempfile's default is owner-only,
/// which would be kept by the rename).
fn temporary_in(directory: &Path) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".spindle-trace-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(directory)
}

fn persist(file: NamedTempFile, path: &Path) -> io::Result<()> {
    file.persist(path)
        .map(drop)
        .map_err(|e| with_path(e.error, path))
}

/// The error, with the path it concerns (an `io::Error` alone names no file).
fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}
