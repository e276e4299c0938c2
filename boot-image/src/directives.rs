//! The `//@ key: value` lines in a test or benchmark kernel's source that tell the host how
//! to boot it: their syntax, shared by the test harness and the benchmark runner (each
//! knows its own keys).

use anyhow::{Context, anyhow};

/// Calls `apply(key, value)` (both trimmed) for each `//@ key: value` line of `source`, in
/// order. A malformed line, or an error from `apply`, stops the walk with an error that
/// names the line.
pub fn for_each_directive(
    source: &str,
    mut apply: impl FnMut(&str, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for (index, line) in source.lines().enumerate() {
        let Some(directive) = line.trim_start().strip_prefix("//@") else {
            continue;
        };
        let line_context = || format!("line {}: `{}`", index + 1, line.trim());
        let Some((key, value)) = directive.split_once(':') else {
            return Err(anyhow!("a directive is `//@ key: value`")).with_context(line_context);
        };
        apply(key.trim(), value.trim()).with_context(line_context)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directives(source: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for_each_directive(source, |key, value| {
            found.push((key.to_owned(), value.to_owned()));
            Ok(())
        })?;
        Ok(found)
    }

    #[test]
    fn finds_trimmed_keys_and_values_in_order() {
        let source = "//! docs\n//@ smp: 2 4\n  //@  ratio :a / b \nfn main() {}\n";
        let pairs = [("smp", "2 4"), ("ratio", "a / b")].map(|(k, v)| (k.into(), v.into()));
        assert_eq!(directives(source).unwrap(), pairs);
    }

    #[test]
    fn errors_name_the_line() {
        let error = directives("\n//@ no colon here\n").unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "line 2: `//@ no colon here`: a directive is `//@ key: value`"
        );
        let error = for_each_directive("//@ k: v", |_, _| Err(anyhow!("refused"))).unwrap_err();
        assert_eq!(format!("{error:#}"), "line 1: `//@ k: v`: refused");
    }
}
