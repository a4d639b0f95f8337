//! Control files: writing a value the way cgroupfs wants it, making a cgroup directory,
//! reading a text, a number or a keyed value. Nothing here creates a control file: the
//! kernel makes them, and tests pre-create exactly the ones it would.

use super::error::CgroupError;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `value` to a control file in one `write`: cgroupfs takes each write as a whole
/// value, so a split write would be two values. No `O_CREAT`: the kernel makes the files.
/// `O_TRUNC` is ignored by cgroupfs and makes a fake file hold just the last value.
pub(crate) fn write_value(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    match f.write(value.as_bytes()) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(_) => Err(err(io::Error::new(io::ErrorKind::WriteZero, "short write"))),
        Err(e) => Err(err(e)),
    }
}

/// Creates a cgroup directory; an existing one is reused.
pub(crate) fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(source) => Err(CgroupError::CreateDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The whole text of a control file, or an error with its path.
pub(crate) fn read_text(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A single-number file (`memory.current`); missing, unreadable or `max` gives 0.
pub(crate) fn read_number(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The value of `key` in a flat-keyed file (`oom_kill 3` lines); absent gives 0.
pub(crate) fn read_keyed(path: &Path, key: &str) -> u64 {
    let Ok(text) = fs::read_to_string(path) else {
        return 0;
    };
    text.lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == key).then(|| it.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_and_numbers_parse_and_default_to_0() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.events");
        fs::write(&f, "low 0\nhigh 0\nmax 12\noom 2\noom_kill 3\n").unwrap();
        assert_eq!(read_keyed(&f, "max"), 12);
        assert_eq!(read_keyed(&f, "oom_kill"), 3);
        assert_eq!(read_keyed(&f, "absent"), 0);
        assert_eq!(read_keyed(&dir.path().join("missing"), "max"), 0);
        let n = dir.path().join("pids.current");
        fs::write(&n, "5\n").unwrap();
        assert_eq!(read_number(&n), 5);
        fs::write(&n, "max\n").unwrap();
        assert_eq!(read_number(&n), 0);
    }

    #[test]
    fn writes_need_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pids.max");
        let err = write_value(&f, "16").unwrap_err();
        assert!(matches!(&err, CgroupError::Write { value, .. } if value == "16"));
        assert!(!f.exists(), "a control file must never be created");
        fs::write(&f, "max\n").unwrap();
        write_value(&f, "16").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "16");
    }
}
