//! Reading `/proc/self/cgroup` ([`parse_proc_cgroup`]) and finding one of its paths under
//! a cgroup mount ([`under`]): where the exporter's own cgroup is, in v1 and v2 alike.

use std::path::{Component, Path, PathBuf};

/// One line of `/proc/self/cgroup`: `id:controllers:path`.
pub(crate) struct ProcLine<'a> {
    /// The hierarchy id; `0` for the v2 line.
    pub(crate) id: &'a str,
    /// The controllers of a v1 hierarchy; empty for v2.
    pub(crate) controllers: Vec<&'a str>,
    /// Our cgroup's path, relative to the hierarchy's root (in our cgroup namespace).
    pub(crate) path: &'a str,
}

/// The lines of a `/proc/self/cgroup` text; malformed lines are skipped.
pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<ProcLine<'_>> {
    text.lines()
        .filter_map(|l| {
            // The path is last and may itself contain ':'.
            let mut it = l.splitn(3, ':');
            let id = it.next()?;
            let controllers = it.next()?;
            let path = it.next()?;
            Some(ProcLine {
                id,
                controllers: controllers.split(',').filter(|c| !c.is_empty()).collect(),
                path,
            })
        })
        .collect()
}

/// `root` joined with a cgroup path from `/proc/self/cgroup`. `None` when the path climbs
/// out (`/../x`: our cgroup is outside our cgroup namespace, so it is not under the mount).
pub(crate) fn under(root: &Path, cgroup_path: &str) -> Option<PathBuf> {
    let rel = Path::new(cgroup_path.trim_start_matches('/'));
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Some(root.join(rel))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_self_cgroup() {
        let text = "9:name=systemd:/\n3:cpu,cpuacct:/a:b\n0::/system.slice/x.service\n";
        let lines = parse_proc_cgroup(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].id, "3");
        assert_eq!(lines[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(lines[1].path, "/a:b");
        assert!(lines[2].controllers.is_empty());
        assert_eq!(lines[2].path, "/system.slice/x.service");
    }

    #[test]
    fn paths_outside_the_namespace_are_refused() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(under(root, "/"), Some(root.to_path_buf()));
        assert_eq!(under(root, "/a/b"), Some(root.join("a/b")));
        assert_eq!(under(root, "/../x"), None);
    }
}
