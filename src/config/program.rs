//! `command[0]`: resolved once, when the file is read, to an absolute path of an executable
//! file: a name without `/` is looked up in `PATH`, a relative path is anchored at the config
//! file's directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The directory relative commands are resolved against: the config file's, made absolute.
pub(crate) fn config_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Resolves `command[0]` to an absolute path of an executable file, like `execvp` would,
/// except that relative paths are anchored at the config file's directory.
pub(crate) fn resolve_program(
    program: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if program.is_empty() {
        return Err("the program (command[0]) must not be empty".to_string());
    }
    let found = if program.contains('/') {
        // components() drops `.` steps, so `./disk` does not show up as `/etc/x/./disk`.
        let path: PathBuf = base.join(program).components().collect();
        if let Err(why) = check_executable(&path) {
            return Err(if Path::new(program).is_absolute() {
                format!("`{program}` {why}")
            } else {
                format!(
                    "`{program}` {why} (relative paths are resolved against the config \
                     file's directory: {})",
                    path.display()
                )
            });
        }
        path
    } else {
        let Some(search) = env("PATH") else {
            return Err(format!(
                "`{program}` has no `/` and PATH is not set: give an absolute path"
            ));
        };
        // Relative PATH entries would depend on our working directory: skipped, as is safer.
        std::env::split_paths(&search)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|candidate| check_executable(candidate).is_ok())
            .ok_or_else(|| {
                format!(
                    "`{program}` not found in PATH ({search}): give an absolute path or fix PATH"
                )
            })?
    };
    found
        .into_os_string()
        .into_string()
        .map_err(|path| format!("`{program}` resolves to a path that is not UTF-8: {path:?}"))
}

/// Whether `path` names an executable regular file (by its mode bits; the exporter may start
/// plugins under another user, so access(2) for our own user would not be the right test).
fn check_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("cannot be inspected: {err}"),
    })?;
    if !meta.is_file() {
        return Err("is not a regular file".to_string());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "is not executable (mode {:o})",
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_skips_relative_entries() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("tool");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let search = format!("relative:{}", dir.path().display());
        let env = |name: &str| (name == "PATH").then(|| search.clone());
        let found = resolve_program("tool", Path::new("/"), &env).unwrap();
        assert_eq!(found, program.to_str().unwrap());
        let err = resolve_program("missing-tool", Path::new("/"), &env).unwrap_err();
        assert!(err.contains("not found in PATH"), "{err}");
    }

    #[test]
    fn relative_programs_are_anchored_at_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("tool");
        std::fs::write(&program, "").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = resolve_program("./tool", dir.path(), &|_| None).unwrap_err();
        assert!(err.contains("not executable (mode 644)"), "{err}");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700)).unwrap();
        let found = resolve_program("./tool", dir.path(), &|_| None).unwrap();
        assert_eq!(found, program.to_str().unwrap());
    }
}
