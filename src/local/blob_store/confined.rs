//! Opening a blob's file so that what is read is what was checked: a regular file inside the
//! root, reached without following any link, opened without blocking, and read only through the
//! descriptor whose metadata was checked.
//!
//! A listing sees a regular file, but by the time it is opened the name may be a symbolic link to
//! a file outside the watch root (a private key), a FIFO (an open for reading blocks until a
//! writer comes, in a thread no shutdown can stop), or sit under a directory that was swapped for
//! a link. Each path component is therefore opened relative to its parent's descriptor with
//! `O_NOFOLLOW` (Unix: `openat`), the file with `O_NONBLOCK` too, and the opened descriptor's own
//! metadata must say "regular file" before a byte is read.
use std::fs::{File, Metadata};
use std::io;
use std::path::{Component, Path};

/// A file opened under a root, with the metadata of that very descriptor.
#[derive(Debug)]
pub(crate) struct Opened {
    pub file: File,
    pub metadata: Metadata,
}

/// Why a confined open failed: the I/O error, or the file is of a kind never read.
#[derive(Debug)]
pub(crate) enum OpenError {
    Io(io::Error),
    /// A symbolic link, FIFO, device, socket or directory where a regular file was expected.
    NotRegular(&'static str),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// Opens `root/rel` for reading. `rel` must be relative and made of normal components only.
pub(crate) fn open_under(root: &Path, rel: &Path) -> Result<Opened, OpenError> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            _ => return Err(OpenError::Io(io::Error::new(io::ErrorKind::InvalidInput, "not a plain relative path"))),
        }
    }
    let Some((name, dirs)) = parts.split_last() else {
        return Err(OpenError::NotRegular("the watch directory itself"));
    };
    let file = open_nofollow(root, dirs, name)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(OpenError::NotRegular(kind_of(&metadata)));
    }
    Ok(Opened { file, metadata })
}

#[cfg(unix)]
fn open_nofollow(root: &Path, dirs: &[&std::ffi::OsStr], name: &std::ffi::OsStr) -> Result<File, OpenError> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    // The root is the operator's choice: a link there is followed.
    let mut dir = openat(CWD, root, dir_flags, Mode::empty()).map_err(io::Error::from)?;
    for part in dirs {
        dir = openat(&dir, *part, dir_flags | OFlags::NOFOLLOW, Mode::empty()).map_err(|e| link_or_io(e, true))?;
    }
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; it has no
    // effect on reads of a regular file. O_NOCTTY: a terminal device never becomes ours.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = openat(&dir, name, flags, Mode::empty()).map_err(|e| link_or_io(e, false))?;
    Ok(File::from(fd))
}

/// `ELOOP` from an `O_NOFOLLOW` open means the component is a symbolic link (and `ENOTDIR`, for
/// a directory component, that it is a link or a file).
#[cfg(unix)]
fn link_or_io(e: rustix::io::Errno, directory: bool) -> OpenError {
    if e == rustix::io::Errno::LOOP || (directory && e == rustix::io::Errno::NOTDIR) {
        return OpenError::NotRegular(if directory { "a path through a symbolic link" } else { "a symbolic link" });
    }
    OpenError::Io(io::Error::from(e))
}

#[cfg(not(unix))]
fn open_nofollow(root: &Path, dirs: &[&std::ffi::OsStr], name: &std::ffi::OsStr) -> Result<File, OpenError> {
    let mut path = root.to_path_buf();
    for part in dirs {
        path.push(part);
        if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            return Err(OpenError::NotRegular("a path through a symbolic link"));
        }
    }
    path.push(name);
    if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
        return Err(OpenError::NotRegular("a symbolic link"));
    }
    Ok(File::open(path)?)
}

fn kind_of(m: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if m.is_dir() { "a directory" } else { "not a regular file" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_fifos_and_linked_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("PT1H.json"), b"SECRET").unwrap();
        std::fs::write(root.join("a/PT1H.json"), b"fine").unwrap();
        let ok = open_under(&root, Path::new("a/PT1H.json")).unwrap();
        assert_eq!(ok.metadata.len(), 4);

        std::os::unix::fs::symlink(outside.join("PT1H.json"), root.join("link.json")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("b")).unwrap();
        let fifo = root.join("fifo.json");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for (rel, want) in [
            ("link.json", "a symbolic link"),
            ("b/PT1H.json", "a path through a symbolic link"),
            ("fifo.json", "a FIFO"),
            ("a", "a directory"),
        ] {
            match open_under(&root, Path::new(rel)) {
                Err(OpenError::NotRegular(why)) => assert_eq!(why, want, "{rel}"),
                other => panic!("{rel}: {other:?}"),
            }
        }
    }
}
