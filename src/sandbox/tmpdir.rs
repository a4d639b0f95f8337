//! The private `TMPDIR` of a plugin whose file system is fenced (the one place it may
//! write): `<temp>/plugin-exporter-sandbox-<exporter pid>/<plugin>`, mode 0700, owned by the
//! plugin's user. Made afresh before each start, removed when the instance ends; what
//! exporters that died left behind is removed when the next one starts.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

const PREFIX: &str = "plugin-exporter-sandbox-";

/// This exporter's directory of plugin temporary directories.
fn root() -> PathBuf {
    std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()))
}

/// The temporary directory of `plugin`.
pub fn path(plugin: &str) -> PathBuf {
    root().join(plugin)
}

/// Makes the plugin's temporary directory afresh (anything left in it is removed), owned
/// by `uid`/`gid` when given. The exporter's own directory under the shared temporary
/// directory must be a directory of its own, not something another user put there.
pub fn create(plugin: &str, uid: Option<u32>, gid: Option<u32>) -> io::Result<PathBuf> {
    match create_in_root(plugin, uid, gid) {
        // The exporter's directory was removed meanwhile (it was empty): make it again.
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_in_root(plugin, uid, gid),
        other => other,
    }
}

fn create_in_root(plugin: &str, uid: Option<u32>, gid: Option<u32>) -> io::Result<PathBuf> {
    let root = root();
    match std::fs::DirBuilder::new().mode(0o711).create(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(&root)?;
            if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
                return Err(io::Error::other(format!(
                    "{} exists and is not this exporter's directory",
                    root.display()
                )));
            }
        }
        Err(e) => return Err(e),
    }
    let dir = root.join(plugin);
    remove_dir(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(&dir, uid, gid)?;
    }
    Ok(dir)
}

/// Removes the plugin's temporary directory and all in it.
pub fn remove(plugin: &str) {
    remove_dir(&path(plugin));
}

fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a plugin's temporary directory")
        }
    }
}

/// Removes this exporter's directory of temporary directories if it is empty (every
/// plugin's was removed when it stopped).
pub fn remove_root() {
    let _ = std::fs::remove_dir(root());
}

/// Removes the directories of exporters that are no longer running; returns how many.
pub fn sweep_stale() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let me = nix::unistd::geteuid().as_raw();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me);
        if ours && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_dir(&entry.path());
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_afresh_private_and_removed() {
        let name = format!("tmpdir-test-{}", std::process::id());
        let dir = create(&name, None, None).unwrap();
        std::fs::write(dir.join("left"), "x").unwrap();
        let dir = create(&name, None, None).unwrap();
        assert!(!dir.join("left").exists());
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        remove(&name);
        assert!(!dir.exists());
    }
}
