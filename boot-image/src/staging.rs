//! Files that appear complete or not at all.
//!
//! Images and OVMF variable stores are written to a temporary file beside
//! their destination and renamed over it once complete. An interrupted
//! write then never leaves a truncated file that looks finished, and a
//! QEMU already running from the old file keeps reading an intact one
//! (the test harness may boot several machines at once).

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use anyhow::Context;
use tempfile::NamedTempFile;

/// A new temporary file in the directory of `destination` (created if
/// needed), to fill and then `persist` to `destination`.
pub(crate) fn staging_file(destination: &Path) -> anyhow::Result<NamedTempFile> {
    let dir = destination
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    tempfile::Builder::new()
        .prefix(".staging-")
        .permissions(fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_beside_the_destination_creating_directories() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("a/b/file.img");
        let staging = staging_file(&destination).unwrap();
        assert_eq!(staging.path().parent(), destination.parent());
        staging.persist(&destination).unwrap();
        assert!(destination.is_file());
    }
}
