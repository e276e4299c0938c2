//! `--update-benchmarks-md`: refreshes the generated part of `BENCHMARKS.md`.
//!
//! The document is written by people except for the section between two markers, which
//! holds the latest `results.md`. Only that section is replaced, so the prose around it
//! survives every run; a missing file is created with the markers and a placeholder to
//! write the prose into.

use std::{fs, io, path::Path};

use anyhow::{Context, bail};

const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";

/// What a new `BENCHMARKS.md` starts with, around the markers.
const SKELETON: &str = "# Benchmarks\n\n\
    _What is measured, how, and what the numbers mean: to be written._\n\n\
    <!-- results:begin -->\n<!-- results:end -->\n";

/// Replaces the generated section of the file at `path` with `section`.
pub(crate) fn update(path: &Path, section: &str) -> anyhow::Result<()> {
    let document = match fs::read_to_string(path) {
        Ok(document) => document,
        Err(error) if error.kind() == io::ErrorKind::NotFound => SKELETON.to_owned(),
        Err(error) => bail!("cannot read {}: {error}", path.display()),
    };
    let updated = splice(&document, section).with_context(|| format!("in {}", path.display()))?;
    fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}

/// `document` with what lies between the markers replaced by `section`.
fn splice(document: &str, section: &str) -> anyhow::Result<String> {
    let (Some(begin), Some(end)) = (document.find(BEGIN), document.find(END)) else {
        bail!("the markers `{BEGIN}` and `{END}` are missing (each on a line of its own)");
    };
    if end < begin
        || document[begin + BEGIN.len()..].contains(BEGIN)
        || document[end + END.len()..].contains(END)
    {
        bail!("expected one `{BEGIN}` followed by one `{END}`");
    }
    Ok(format!(
        "{}\n\n{}\n{}",
        &document[..begin + BEGIN.len()],
        section.trim_end(),
        &document[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_generated_section() {
        let document = format!("# B\n\nprose\n\n{BEGIN}\nold table\n{END}\n\nmore prose\n");
        let updated = splice(&document, "new table\n").unwrap();
        assert_eq!(
            updated,
            format!("# B\n\nprose\n\n{BEGIN}\n\nnew table\n{END}\n\nmore prose\n")
        );
        assert_eq!(splice(&updated, "new table\n").unwrap(), updated);
    }

    #[test]
    fn refuses_documents_without_exactly_one_section() {
        let missing = splice("# B\n", "x").unwrap_err().to_string();
        assert!(missing.contains("markers"), "{missing}");
        let reversed = format!("{END}\n{BEGIN}\n");
        assert!(splice(&reversed, "x").is_err());
        let twice = format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n");
        assert!(splice(&twice, "x").is_err());
    }

    #[test]
    fn creates_the_file_around_the_markers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BENCHMARKS.md");
        update(&path, "the table\n").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Benchmarks\n"));
        assert!(text.contains(&format!("{BEGIN}\n\nthe table\n{END}\n")));
    }
}
