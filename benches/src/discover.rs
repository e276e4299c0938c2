//! Which benchmark kernels there are, how each is booted, and building them.
//!
//! A benchmark kernel is one file in `benches/kernels/src/bin`; nothing else registers
//! it. All of them are built with one `cargo build --release` in that workspace: the
//! figures are meant to describe the kernel as shipped, and unoptimised code would
//! measure the compiler's debug output instead.
//!
//! A kernel without directives is booted once under icount and once under plain TCG.
//! `//@` lines in its source make it an SMP kernel instead:
//!
//! | directive | meaning |
//! |---|---|
//! | `//@ smp: N` | boot it with N CPUs under MTTCG only, several times (`--boots`) |
//! | `//@ ratio: a / b` | also report figure `a`'s median divided by `b`'s, per boot |
//!
//! Why a kernel of its own kind: `-icount` and MTTCG exclude each other, so SMP figures
//! are host time only, and host time on a shared 2-core machine is noisy. What survives
//! the noise is a ratio measured inside one boot (a cross-CPU wake against a same-CPU
//! wake), taken over several boots.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail, ensure};
use boot_image::Profile;

/// The benchmark kernels' workspace, relative to the host workspace's root.
const KERNELS_DIR: &str = "benches/kernels";

/// One benchmark kernel and how to boot it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KernelSpec {
    /// The binary's name (its file stem in `src/bin`).
    pub(crate) name: String,
    /// `Some(cpus)` for an SMP kernel (booted under MTTCG only); `None` for a kernel booted
    /// under icount and plain TCG.
    pub(crate) smp: Option<u32>,
    /// Ratios to report for an SMP kernel, in the order declared.
    pub(crate) ratios: Vec<Ratio>,
}

/// One figure's median divided by another's, both from the same boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ratio {
    pub(crate) numerator: String,
    pub(crate) denominator: String,
}

impl Ratio {
    /// How reports name it: `a / b`.
    pub(crate) fn name(&self) -> String {
        format!("{} / {}", self.numerator, self.denominator)
    }
}

/// The kernels in `<root>/benches/kernels/src/bin`, sorted by name, keeping those whose
/// names contain one of `filters` (all of them without filters).
pub(crate) fn discover(root: &Path, filters: &[String]) -> anyhow::Result<Vec<KernelSpec>> {
    let bin_dir = root.join(KERNELS_DIR).join("src/bin");
    let all = kernel_names(&bin_dir)?;
    ensure!(
        !all.is_empty(),
        "no benchmark kernel in {}",
        bin_dir.display()
    );
    let chosen: Vec<&String> = all
        .iter()
        .filter(|name| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    ensure!(
        !chosen.is_empty(),
        "no benchmark kernel matches {} (there are: {})",
        filters.join(" "),
        all.join(", ")
    );
    chosen
        .into_iter()
        .map(|name| {
            let path = bin_dir.join(format!("{name}.rs"));
            let source = fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            parse_spec(name, &source).with_context(|| format!("in {}", path.display()))
        })
        .collect()
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

/// The spec of kernel `name` from the `//@` lines of its `source`.
fn parse_spec(name: &str, source: &str) -> anyhow::Result<KernelSpec> {
    let mut spec = KernelSpec {
        name: name.to_owned(),
        smp: None,
        ratios: Vec::new(),
    };
    boot_image::for_each_directive(source, |key, value| apply(&mut spec, key, value))?;
    ensure!(
        spec.ratios.is_empty() || spec.smp.is_some(),
        "`ratio` needs `smp`: icount figures are compared in one table already"
    );
    Ok(spec)
}

fn apply(spec: &mut KernelSpec, key: &str, value: &str) -> anyhow::Result<()> {
    match key {
        "smp" => match value.parse() {
            Ok(cpus) if cpus >= 1 => spec.smp = Some(cpus),
            _ => bail!("smp is a number of CPUs, at least 1"),
        },
        "ratio" => spec.ratios.push(parse_ratio(value)?),
        other => bail!("unknown directive `{other}` (known: smp, ratio)"),
    }
    Ok(())
}

/// `a / b`, two figure names.
fn parse_ratio(value: &str) -> anyhow::Result<Ratio> {
    let parts: Vec<&str> = value.split('/').map(str::trim).collect();
    let [numerator, denominator] = parts[..] else {
        bail!("a ratio is `figure / figure`");
    };
    ensure!(
        !numerator.is_empty() && !denominator.is_empty(),
        "a ratio is `figure / figure`"
    );
    Ok(Ratio {
        numerator: numerator.to_owned(),
        denominator: denominator.to_owned(),
    })
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

    fn names(specs: &[KernelSpec]) -> Vec<&str> {
        specs.iter().map(|spec| spec.name.as_str()).collect()
    }

    #[test]
    fn finds_kernel_sources_in_name_order() {
        let root = workspace_with(&["threads.rs", "scaling.rs", "notes.txt", "tasks.rs"]);
        let specs = discover(root.path(), &[]).unwrap();
        assert_eq!(names(&specs), ["scaling", "tasks", "threads"]);
        assert!(specs.iter().all(|spec| spec.smp.is_none()));
    }

    #[test]
    fn filters_keep_names_containing_any_of_them() {
        let root = workspace_with(&["threads.rs", "scaling.rs", "tasks.rs"]);
        let specs = discover(root.path(), &strings(&["read", "sca"])).unwrap();
        assert_eq!(names(&specs), ["scaling", "threads"]);
    }

    #[test]
    fn directives_make_an_smp_kernel_with_ratios() {
        let source = "//! doc\n//@ smp: 2\n//@ ratio: cross_wake / same_wake\nfn main() {}\n";
        let spec = parse_spec("smp_latency", source).unwrap();
        assert_eq!(spec.smp, Some(2));
        assert_eq!(
            spec.ratios,
            [Ratio {
                numerator: "cross_wake".into(),
                denominator: "same_wake".into(),
            }]
        );
        assert_eq!(spec.ratios[0].name(), "cross_wake / same_wake");
    }

    #[test]
    fn bad_directives_say_what_is_wrong() {
        let cases = [
            ("//@ smp: 0", "at least 1"),
            ("//@ smp: two", "at least 1"),
            ("//@ smp: 2\n//@ ratio: a", "`figure / figure`"),
            ("//@ smp: 2\n//@ ratio: a / b / c", "`figure / figure`"),
            ("//@ smp: 2\n//@ ratio: a / ", "`figure / figure`"),
            ("//@ ratio: a / b", "`ratio` needs `smp`"),
            ("//@ firmware: uefi", "unknown directive `firmware`"),
            ("//@ smp 2", "`//@ key: value`"),
        ];
        for (source, wanted) in cases {
            let error = format!("{:#}", parse_spec("k", source).unwrap_err());
            assert!(error.contains(wanted), "`{source}`: {error}");
        }
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
