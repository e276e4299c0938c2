//! `--update-benchmarks-md`: refreshes the generated parts of `BENCHMARKS.md`.
//!
//! The document is written by people except for the sections between marker pairs: the
//! icount/tcg table ([`RESULTS`], the latest `results.md`) and the SMP tables
//! ([`SMP_RESULTS`], the latest `smp.md`), and with `--linux` the side-by-side tables
//! ([`LINUX_RESULTS`], the latest `linux.md`), and with `--net` the network figures
//! ([`NET_RESULTS`], the latest `net.md`). Only those are replaced, so the prose around
//! them survives every run; a missing file is created with the markers and a placeholder
//! to write the prose into.

use std::{fs, io, path::Path};

use anyhow::{Context, bail};

/// A generated section: whatever lies between its two marker lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Section {
    begin: &'static str,
    end: &'static str,
}

/// The icount/tcg results table.
pub(crate) const RESULTS: Section = Section {
    begin: "<!-- results:begin -->",
    end: "<!-- results:end -->",
};

/// The SMP tables.
pub(crate) const SMP_RESULTS: Section = Section {
    begin: "<!-- smp-results:begin -->",
    end: "<!-- smp-results:end -->",
};

/// Spindle beside Linux (`./x bench --linux`).
pub(crate) const LINUX_RESULTS: Section = Section {
    begin: "<!-- linux-results:begin -->",
    end: "<!-- linux-results:end -->",
};

/// The network figures beside Linux (`./x bench --net`).
pub(crate) const NET_RESULTS: Section = Section {
    begin: "<!-- net-results:begin -->",
    end: "<!-- net-results:end -->",
};

/// What a new `BENCHMARKS.md` starts with, around the markers.
const SKELETON: &str = "# Benchmarks\n\n\
    _What is measured, how, and what the numbers mean: to be written._\n\n\
    <!-- results:begin -->\n<!-- results:end -->\n\n\
    <!-- smp-results:begin -->\n<!-- smp-results:end -->\n\n\
    <!-- linux-results:begin -->\n<!-- linux-results:end -->\n\n\
    <!-- net-results:begin -->\n<!-- net-results:end -->\n";

/// Replaces each section's generated text in the file at `path` with the text given.
pub(crate) fn update(path: &Path, sections: &[(Section, String)]) -> anyhow::Result<()> {
    let mut document = match fs::read_to_string(path) {
        Ok(document) => document,
        Err(error) if error.kind() == io::ErrorKind::NotFound => SKELETON.to_owned(),
        Err(error) => bail!("cannot read {}: {error}", path.display()),
    };
    for (section, text) in sections {
        document =
            splice(&document, *section, text).with_context(|| format!("in {}", path.display()))?;
    }
    fs::write(path, document).with_context(|| format!("cannot write {}", path.display()))
}

/// `document` with what lies between `section`'s markers replaced by `text`.
fn splice(document: &str, section: Section, text: &str) -> anyhow::Result<String> {
    let Section {
        begin: open,
        end: close,
    } = section;
    let (Some(begin), Some(end)) = (document.find(open), document.find(close)) else {
        bail!("the markers `{open}` and `{close}` are missing (each on a line of its own)");
    };
    if end < begin
        || document[begin + open.len()..].contains(open)
        || document[end + close.len()..].contains(close)
    {
        bail!("expected one `{open}` followed by one `{close}`");
    }
    Ok(format!(
        "{}\n\n{}\n{}",
        &document[..begin + open.len()],
        text.trim_end(),
        &document[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = RESULTS.begin;
    const END: &str = RESULTS.end;

    #[test]
    fn replaces_only_the_generated_section() {
        let document = format!("# B\n\nprose\n\n{BEGIN}\nold table\n{END}\n\nmore prose\n");
        let updated = splice(&document, RESULTS, "new table\n").unwrap();
        assert_eq!(
            updated,
            format!("# B\n\nprose\n\n{BEGIN}\n\nnew table\n{END}\n\nmore prose\n")
        );
        assert_eq!(splice(&updated, RESULTS, "new table\n").unwrap(), updated);
    }

    #[test]
    fn sections_are_replaced_independently() {
        let (open, close) = (SMP_RESULTS.begin, SMP_RESULTS.end);
        let document = format!("{BEGIN}\nold\n{END}\nprose\n{open}\nold smp\n{close}\n");
        let updated = splice(&document, SMP_RESULTS, "new smp").unwrap();
        assert_eq!(
            updated,
            format!("{BEGIN}\nold\n{END}\nprose\n{open}\n\nnew smp\n{close}\n")
        );
        let both = splice(&updated, RESULTS, "new").unwrap();
        assert!(both.starts_with(&format!("{BEGIN}\n\nnew\n{END}\n")));
    }

    #[test]
    fn refuses_documents_without_exactly_one_section() {
        let missing = splice("# B\n", RESULTS, "x").unwrap_err().to_string();
        assert!(missing.contains("markers"), "{missing}");
        let reversed = format!("{END}\n{BEGIN}\n");
        assert!(splice(&reversed, RESULTS, "x").is_err());
        let twice = format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n");
        assert!(splice(&twice, RESULTS, "x").is_err());
    }

    #[test]
    fn creates_the_file_around_the_markers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BENCHMARKS.md");
        let sections = [
            (RESULTS, "the table\n".to_owned()),
            (SMP_RESULTS, "the smp table\n".to_owned()),
            (LINUX_RESULTS, "the linux table\n".to_owned()),
            (NET_RESULTS, "the network table\n".to_owned()),
        ];
        update(&path, &sections).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Benchmarks\n"));
        assert!(text.contains(&format!("{BEGIN}\n\nthe table\n{END}\n")));
        assert!(text.contains("the smp table\n<!-- smp-results:end -->"));
        assert!(text.contains("the linux table\n<!-- linux-results:end -->"));
        assert!(text.contains("the network table\n<!-- net-results:end -->"));
    }
}
