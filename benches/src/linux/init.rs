//! The guest's userland: `benches/linux/init.c` compiled into a static executable and
//! packed as `/init` into an initramfs.
//!
//! Static, because the initramfs holds that one file and nothing else (no libc, no
//! loader); `-O2`, as the benchmark kernels are release builds. The source is compiled
//! into this runner, so the measuring program always matches the runner that parses it.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use super::{cpio, package::last_line};

/// The C source of `/init`.
const SOURCE: &str = include_str!("../../linux/init.c");

/// Compiles `/init` in `dir` and writes the initramfs there; returns its path.
pub(crate) fn build_initramfs(dir: &Path) -> anyhow::Result<PathBuf> {
    let data = compile_program(dir, "init", SOURCE)?;
    let archive = cpio::archive(&[cpio::File {
        name: "init",
        permissions: 0o755,
        data: &data,
    }]);
    let initramfs = dir.join("initramfs.cpio");
    fs::write(&initramfs, archive)
        .with_context(|| format!("cannot write {}", initramfs.display()))?;
    Ok(initramfs)
}

/// Writes `source` to `dir/<name>.c`, compiles it to `dir/<name>` and returns the
/// executable's bytes.
pub(super) fn compile_program(dir: &Path, name: &str, source: &str) -> anyhow::Result<Vec<u8>> {
    let source_path = dir.join(format!("{name}.c"));
    fs::write(&source_path, source)
        .with_context(|| format!("cannot write {}", source_path.display()))?;
    let executable = dir.join(name);
    compile(&source_path, &executable)?;
    fs::read(&executable).with_context(|| format!("cannot read {}", executable.display()))
}

/// `gcc -static -O2 -pthread`; errors name the Debian package that is missing.
fn compile(source: &Path, out: &Path) -> anyhow::Result<()> {
    let output = Command::new("gcc")
        .args(["-static", "-O2", "-pthread", "-Wall", "-o"])
        .arg(out)
        .arg(source)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "gcc not found: `./x bench --linux` compiles its guest program with it (install gcc and libc6-dev)"
            )
        }
        Err(error) => return Err(error).context("cannot run gcc"),
    };
    if !output.status.success() {
        bail!("{}", diagnose(&String::from_utf8_lossy(&output.stderr)));
    }
    Ok(())
}

/// What a failed compile means for the user, from gcc's messages.
fn diagnose(stderr: &str) -> String {
    let missing_libc = [
        "cannot find -lc",
        "cannot find -lpthread",
        "stdio.h: No such file",
    ]
    .iter()
    .any(|sign| stderr.contains(sign));
    if missing_libc {
        "gcc cannot link a static C program: the static C library is missing (install \
         libc6-dev)"
            .into()
    } else {
        format!(
            "gcc could not build the guest program: {}",
            last_line(stderr.as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_static_libc_names_the_package() {
        let stderr = "/usr/bin/ld: cannot find -lc: No such file or directory\n\
                      collect2: error: ld returned 1 exit status\n";
        assert!(diagnose(stderr).contains("install libc6-dev"));
        let other = diagnose("init.c:1:1: error: expected ';'\n");
        assert_eq!(
            other,
            "gcc could not build the guest program: init.c:1:1: error: expected ';'"
        );
    }

    #[test]
    fn the_source_prints_what_the_parser_reads() {
        for needle in [
            "bench-result name=%s unit=cycles",
            "bench-done",
            "linux-release %s",
        ] {
            assert!(SOURCE.contains(needle), "{needle}");
        }
    }
}
