//! The layer check: every module of the kernel library may use only the modules below it
//! (the table in `src/lib.rs`), never one above or beside it. Runs on the host with
//! `cargo test -p spindle`; a new upward `crate::` reference fails it, naming the file,
//! the line and the two layers.
//!
//! References are read from the source text: every `crate::name` path, including the
//! names inside `use crate::{...}` groups (comments are skipped: a doc link is not a
//! dependency). `super::super::` is refused outright, so that no path can climb out of its
//! module unseen.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The layers, bottom first; modules on one line share a layer but may not use each
/// other.
const LAYERS: &[&[&str]] = &[
    &["atomics"],
    &["intrusive", "litmus", "testing"],
    &["arch"],
    &["time", "mm", "trace"],
    &["thread", "acpi"],
    &["sync"],
    &["executor"],
    &["drivers"],
    &["input", "net"],
    &["logger", "panic"],
    &["tracing", "smp"],
    &["boot", "task"],
    &["app"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The module a source file belongs to, from its path under `src/`; `None` for files
/// outside the library's layers (the binary and its console, test helpers).
fn module_of(relative: &Path) -> Option<&'static str> {
    let path = relative.to_string_lossy().replace('\\', "/");
    let module = match path.as_str() {
        "lib.rs" | "main.rs" | "litmus.rs" | "testing.rs" => return None,
        p if p.starts_with("console/") => return None,
        p if p.starts_with("task/thread/") => "thread",
        p if p.starts_with("task/sync/") => "sync",
        p if p.starts_with("task/executor/") => "executor",
        "task/mod.rs" => "task",
        p => {
            let first = p.split(['/', '.']).next().unwrap_or("");
            LAYERS
                .iter()
                .flat_map(|layer| layer.iter())
                .find(|&&module| module == first)
                .copied()
                .unwrap_or_else(|| panic!("{p}: not in any layer: add it to LAYERS"))
        }
    };
    Some(module)
}

/// The module a `crate::` path names: its first segment, with `task::x` meaning `x` and
/// the crate-level macros meaning the module that defines them.
fn referenced_module(path: &str) -> String {
    let mut segments = path.split("::").map(str::trim);
    let first = segments.next().unwrap_or("");
    match first {
        "task" => segments.next().unwrap_or("task").to_owned(),
        "print" | "println" => "drivers".to_owned(),
        "linked" => "intrusive".to_owned(),
        "main" => "app".to_owned(),
        other => other.to_owned(),
    }
}

/// Every `crate::...` reference in `line`, expanding `use crate::{a, b::c}` groups.
fn references(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // A group: its top-level names (nested groups belong to their name).
            let mut depth = 0;
            let mut name = String::new();
            for character in group.chars() {
                match character {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(referenced_module(&name));
                        name.clear();
                    }
                    _ if depth == 0 => name.push(character),
                    _ => {}
                }
            }
            if !name.trim().is_empty() {
                found.push(referenced_module(&name));
            }
        } else {
            let path: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            found.push(referenced_module(&path));
        }
        rest = &after[1.min(after.len())..];
    }
    found.retain(|module| !module.is_empty() && module != "self");
    found
}

/// Joins `use crate::{` groups that span lines into one line each, and drops comments.
fn logical_lines(source: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String, i32)> = None;
    for (number, raw) in source.lines().enumerate() {
        let code = raw.split("//").next().unwrap_or("");
        if let Some((start, mut text, depth)) = pending.take() {
            text.push_str(code);
            let depth = depth + brace_balance(code);
            if depth > 0 {
                pending = Some((start, text, depth));
            } else {
                lines.push((start, text));
            }
            continue;
        }
        let depth = brace_balance(code);
        if code.contains("crate::{") && depth > 0 {
            pending = Some((number + 1, code.to_owned(), depth));
        } else {
            lines.push((number + 1, code.to_owned()));
        }
    }
    lines
}

fn brace_balance(code: &str) -> i32 {
    code.chars().fold(0, |depth, c| match c {
        '{' => depth + 1,
        '}' => depth - 1,
        _ => depth,
    })
}

/// The layer violations in one file's source, as messages.
fn violations(file: &str, module: &str, source: &str) -> Vec<String> {
    let own = layer_of(module).expect("a known module");
    let mut found = Vec::new();
    for (number, line) in logical_lines(source) {
        if line.contains("super::super::") {
            found.push(format!("{file}:{number}: `super::super::` climbs out of the module unseen; use a `crate::` path"));
        }
        for target in references(&line) {
            let Some(layer) = layer_of(&target) else {
                found.push(format!(
                    "{file}:{number}: `crate::{target}` is in no layer: add it to LAYERS"
                ));
                continue;
            };
            if target != module && layer >= own {
                found.push(format!(
                    "{file}:{number}: `{module}` (layer {own}) uses `{target}` (layer {layer}): references must point down"
                ));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a readable source tree") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn every_reference_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(module) = module_of(relative) else {
            continue;
        };
        let source = fs::read_to_string(file).expect("a readable source file");
        checked += logical_lines(&source)
            .iter()
            .map(|(_, line)| references(line).len())
            .sum::<usize>();
        problems.extend(violations(&relative.display().to_string(), module, &source));
    }
    assert!(
        checked > 50,
        "only {checked} references found: is the parser blind?"
    );
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
}

/// The checker itself catches what it is for.
#[test]
fn an_upward_reference_is_caught() {
    let upward = "use crate::{\n    intrusive::List,\n    thread::{self, Thread},\n};\n";
    let found = violations("mm/example.rs", "mm", upward);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`mm` (layer 3) uses `thread` (layer 4)"));
    assert_eq!(
        violations("arch/a.rs", "arch", "let x = crate::time::now();").len(),
        1
    );
    assert_eq!(
        violations("time.rs", "time", "use crate::mm::usage;").len(),
        1,
        "same layer"
    );
    assert!(
        violations(
            "sync/a.rs",
            "sync",
            "use crate::{arch::IrqSpinLock, thread::WaitQueue};"
        )
        .is_empty()
    );
    assert!(violations("x.rs", "mm", "// crate::thread in a comment").is_empty());
    assert_eq!(
        violations("x.rs", "mm", "use super::super::thread;").len(),
        1
    );
}
