//! Which benchmark kernels there are, and building them.
//!
//! A benchmark kernel is one file in `benches/kernels/src/bin`; nothing else registers
//! it. All of them are built with one `cargo build --release` in that workspace: the
//! figures are meant to describe the kernel as shipped, and unoptimised code would
//! measure the compiler's debug output instead.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, ensure};
use boot_image::Profile;

/// The benchmark kernels' workspace, relative to the host workspace's root.
const KERNELS_DIR: &str = "benches/kernels";

/// The names of the kernels in `<root>/benches/kernels/src/bin`, sorted, keeping those
/// that contain one of `filters` (all of them without filters).
pub(crate) fn discover(root: &Path, filters: &[String]) -> anyhow::Result<Vec<String>> {
    let bin_dir = root.join(KERNELS_DIR).join("src/bin");
    let all = kernel_names(&bin_dir)?;
    ensure!(
        !all.is_empty(),
        "no benchmark kernel in {}",
        bin_dir.display()
    );
    let chosen: Vec<String> = all
        .iter()
        .filter(|name| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .cloned()
        .collect();
    ensure!(
        !chosen.is_empty(),
        "no benchmark kernel matches {} (there are: {})",
        filters.join(" "),
        all.join(", ")
    );
    Ok(chosen)
}

/// Builds every benchmark kernel (release profile) and returns where their ELFs are.
pub(crate) fn build(root: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    boot_image::build_kernels(&root.join(KERNELS_DIR), target_dir, Profile::Release)
}

fn kernel_names(bin_dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries =
        fs::read_dir(bin_dir).with_context(|| format!("cannot list {}", bin_dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", bin_dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_with(files: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let bin_dir = root.path().join(KERNELS_DIR).join("src/bin");
        fs::create_dir_all(&bin_dir).unwrap();
        for file in files {
            fs::write(bin_dir.join(file), "").unwrap();
        }
        root
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|&name| name.to_owned()).collect()
    }

    #[test]
    fn finds_kernel_sources_in_name_order() {
        let root = workspace_with(&["threads.rs", "scaling.rs", "notes.txt", "tasks.rs"]);
        let names = discover(root.path(), &[]).unwrap();
        assert_eq!(names, ["scaling", "tasks", "threads"]);
    }

    #[test]
    fn filters_keep_names_containing_any_of_them() {
        let root = workspace_with(&["threads.rs", "scaling.rs", "tasks.rs"]);
        let names = discover(root.path(), &strings(&["read", "sca"])).unwrap();
        assert_eq!(names, ["scaling", "threads"]);
    }

    #[test]
    fn a_filter_matching_nothing_lists_the_kernels() {
        let root = workspace_with(&["threads.rs", "tasks.rs"]);
        let error = discover(root.path(), &strings(&["nope"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no benchmark kernel matches nope (there are: tasks, threads)"
        );
    }
}
