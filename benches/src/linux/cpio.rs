//! A writer for the initramfs: a cpio archive in the "newc" format, the one Linux
//! unpacks (`Documentation/driver-api/early-userspace/buffer-format.rst`). Written here
//! rather than run through `cpio(1)` because few machines have that tool and the format
//! is a few lines: per file a 110-byte ASCII header of thirteen 8-digit hex fields, the
//! NUL-terminated name, the data, each padded to 4 bytes; then a `TRAILER!!!` entry.

/// The magic that starts every newc header.
const MAGIC: &str = "070701";
/// The name of the entry that ends the archive.
const TRAILER: &str = "TRAILER!!!";
/// `S_IFREG`: what `mode` carries besides the permission bits for a regular file.
const REGULAR_FILE: u32 = 0o100_000;

/// One regular file of the archive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct File<'a> {
    /// The path inside the archive, without a leading `/` (`init`).
    pub(crate) name: &'a str,
    /// Permission bits (`0o755`).
    pub(crate) permissions: u32,
    pub(crate) data: &'a [u8],
}

/// The archive holding `files`, owned by root, dated 1970.
pub(crate) fn archive(files: &[File<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let inode = u32::try_from(index + 1).expect("fewer than 4 G files");
        entry(
            &mut out,
            inode,
            REGULAR_FILE | file.permissions,
            file.name,
            file.data,
        );
    }
    entry(&mut out, 0, 0, TRAILER, &[]);
    out
}

/// Appends one header, name and data, each padded to 4 bytes.
fn entry(out: &mut Vec<u8>, inode: u32, mode: u32, name: &str, data: &[u8]) {
    let size = u32::try_from(data.len()).expect("a file under 4 GiB");
    let name_size = u32::try_from(name.len() + 1).expect("a short name");
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    // rdevminor, namesize, check
    let fields = [inode, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name_size, 0];
    out.extend_from_slice(MAGIC.as_bytes());
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(data);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header field `index` (0 = ino) of the entry starting at `at`.
    fn field(archive: &[u8], at: usize, index: usize) -> u32 {
        let start = at + MAGIC.len() + index * 8;
        let text = std::str::from_utf8(&archive[start..start + 8]).unwrap();
        u32::from_str_radix(text, 16).unwrap()
    }

    #[test]
    fn one_file_then_the_trailer() {
        let data = b"#!init";
        let archive = archive(&[File {
            name: "init",
            permissions: 0o755,
            data,
        }]);
        assert!(archive.starts_with(b"070701"));
        assert_eq!(field(&archive, 0, 0), 1, "inode");
        assert_eq!(field(&archive, 0, 1), 0o100_755, "mode");
        assert_eq!(field(&archive, 0, 4), 1, "nlink");
        assert_eq!(field(&archive, 0, 6), 6, "filesize");
        assert_eq!(field(&archive, 0, 11), 5, "namesize with its NUL");
        // 110-byte header + "init\0" = 115, padded to 116; data 6, padded to 8.
        assert_eq!(&archive[110..116], b"init\0\0");
        assert_eq!(&archive[116..122], data);
        let trailer = 124;
        assert_eq!(&archive[trailer..trailer + 6], b"070701");
        assert_eq!(field(&archive, trailer, 11), 11);
        assert_eq!(&archive[trailer + 110..trailer + 121], b"TRAILER!!!\0");
        assert_eq!(archive.len(), trailer + 124);
    }

    #[test]
    fn every_entry_starts_on_four_bytes() {
        let files = [
            File {
                name: "a",
                permissions: 0o644,
                data: b"x",
            },
            File {
                name: "bb",
                permissions: 0o644,
                data: b"yyyyy",
            },
        ];
        let archive = archive(&files);
        assert_eq!(archive.len() % 4, 0);
        let second = archive
            .windows(6)
            .enumerate()
            .filter(|(_, window)| window == b"070701")
            .map(|(at, _)| at)
            .nth(1)
            .unwrap();
        assert_eq!(second % 4, 0);
        assert_eq!(field(&archive, second, 0), 2);
        assert_eq!(field(&archive, second, 6), 5);
    }
}
