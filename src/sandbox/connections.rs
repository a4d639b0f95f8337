//! `sandbox.max_connections`: a sampler that counts the sockets of each bounded plugin and
//! kills a plugin that holds more than its bound.
//!
//! Every [`PERIOD`] one pass over `/proc` finds each bounded plugin's processes (by their
//! tags or process group, as the watchdog does), collects the socket inodes their
//! descriptors point to (`/proc/<pid>/fd/N -> socket:[INODE]`), and looks those up in the
//! TCP and UDP tables of the plugin's network namespace (`/proc/<pid>/net/{tcp,tcp6,udp,
//! udp6}`). Counted: TCP sockets in any state but LISTEN, and UDP sockets; a socket shared
//! by several processes counts once. Over the bound, the plugin's processes are killed
//! (SIGKILL: it restarts with backoff) and the hit is counted in
//! `plugin_exporter_plugin_limit_hits_total{limit="connections"}`.
//!
//! What this cannot do: it acts after the fact, so a burst of connections shorter than a
//! period goes unseen, and between two samples a plugin may hold more than its bound. Unix
//! sockets and raw sockets are not counted. An exporter that is not root cannot read the
//! descriptors of a plugin running as another user, and counts nothing for it.

use super::proc_scan::{scan, ProcStat, TagCache, Target};
use crate::process::tags::signal_group;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// How often the bounded plugins are sampled.
pub const PERIOD: Duration = Duration::from_millis(100);

/// The connection sampler of one exporter. The sampling task starts with the first bounded
/// plugin and ends when the last clone is dropped.
#[derive(Clone, Default)]
pub struct ConnectionWatch {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    plugins: Mutex<HashMap<String, Entry>>,
    started: std::sync::OnceLock<()>,
}

#[derive(Default)]
struct Entry {
    /// The running instance's process group and bound.
    watched: Option<(i32, u32)>,
    /// Sockets counted at the last sample.
    open: u64,
    /// Kills for holding more than the bound, over every instance.
    hits: u64,
    /// This instance was killed and is not gone yet: counted once.
    killed: bool,
}

impl ConnectionWatch {
    /// Starts sampling an instance of `plugin` in process group `pgid`, bounded to `max`.
    /// Call from inside a tokio runtime.
    pub fn watch(&self, plugin: &str, pgid: i32, max: u32) {
        let mut plugins = self.inner.lock();
        let e = plugins.entry(plugin.to_string()).or_default();
        e.watched = Some((pgid, max));
        e.killed = false;
        e.open = 0;
        drop(plugins);
        let weak = Arc::downgrade(&self.inner);
        self.inner.started.get_or_init(|| {
            tokio::spawn(run(weak));
        });
    }

    /// Stops sampling `plugin` (its instance ended).
    pub fn unwatch(&self, plugin: &str) {
        if let Some(e) = self.inner.lock().get_mut(plugin) {
            e.watched = None;
            e.open = 0;
        }
    }

    /// Kills of `plugin` for holding more than its bound, over every instance.
    pub fn hits(&self, plugin: &str) -> u64 {
        self.inner.lock().get(plugin).map_or(0, |e| e.hits)
    }

    /// Sockets `plugin` held at the last sample.
    pub fn open(&self, plugin: &str) -> u64 {
        self.inner.lock().get(plugin).map_or(0, |e| e.open)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.plugins.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn targets(&self) -> Vec<Target> {
        self.lock()
            .iter()
            .filter_map(|(name, e)| {
                e.watched.map(|(pgid, _)| Target {
                    name: name.clone(),
                    pgid,
                })
            })
            .collect()
    }

    /// Applies one sample: `counts[i]` sockets held by the members of `targets[i]`.
    fn apply(&self, targets: &[Target], found: &[Vec<ProcStat>], counts: &[u64]) {
        let mut plugins = self.lock();
        for ((target, members), count) in targets.iter().zip(found).zip(counts) {
            let Some(e) = plugins.get_mut(&target.name) else {
                continue;
            };
            let Some((pgid, max)) = e.watched.filter(|(pgid, _)| *pgid == target.pgid) else {
                continue; // a new instance came during the sample
            };
            e.open = *count;
            if *count <= max as u64 {
                e.killed = false;
                continue;
            }
            if !e.killed {
                e.killed = true;
                e.hits += 1;
                tracing::warn!(plugin = %target.name, sockets = count, max_connections = max,
                    "plugin holds more connections than sandbox.max_connections: killing it");
            }
            for m in members {
                let _ = kill(Pid::from_raw(m.pid), Signal::SIGKILL);
            }
            signal_group(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

async fn run(weak: Weak<Inner>) {
    let mut interval = tokio::time::interval(PERIOD);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let me = std::process::id();
    let mut cache = TagCache::new();
    loop {
        interval.tick().await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let targets = inner.targets();
        drop(inner);
        if targets.is_empty() {
            continue;
        }
        let sampled = tokio::task::spawn_blocking(move || {
            let found = scan(&mut cache, &targets, me);
            let counts: Vec<u64> = found.iter().map(|m| count_sockets(m)).collect();
            (cache, targets, found, counts)
        })
        .await;
        let Ok((kept, targets, found, counts)) = sampled else {
            cache = TagCache::new();
            continue;
        };
        cache = kept;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        inner.apply(&targets, &found, &counts);
    }
}

/// The TCP (not listening) and UDP sockets the processes hold, each counted once.
pub(crate) fn count_sockets(members: &[ProcStat]) -> u64 {
    let mut inodes: HashSet<u64> = HashSet::new();
    // One process per network namespace, to read that namespace's tables.
    let mut namespaces: HashMap<PathBuf, i32> = HashMap::new();
    for m in members {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", m.pid)) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Some(inode) = std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| socket_inode(l.to_str()?))
            {
                inodes.insert(inode);
            }
        }
        if let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/net", m.pid)) {
            namespaces.entry(ns).or_insert(m.pid);
        }
    }
    if inodes.is_empty() {
        return 0;
    }
    let mut count = 0;
    for pid in namespaces.values() {
        for (table, tcp) in [
            ("tcp", true),
            ("tcp6", true),
            ("udp", false),
            ("udp6", false),
        ] {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
                continue;
            };
            for (state, inode) in text.lines().skip(1).filter_map(table_row) {
                // Removed once found, so a socket is not counted twice.
                if inodes.remove(&inode) && !(tcp && state == TCP_LISTEN) {
                    count += 1;
                }
            }
        }
    }
    count
}

/// `st` of a listening TCP socket in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// The inode of a `socket:[INODE]` link target.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The state and inode of a row of `/proc/net/{tcp,udp}[6]`.
fn table_row(line: &str) -> Option<(&str, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    Some((fields.get(3)?, fields.get(9)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::proc_scan::read_stat;

    #[test]
    fn rows_and_links_are_read() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        let row = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 \
                   00000000     0        0 31337 1 0000000000000000 100 0 0 10 0";
        assert_eq!(table_row(row), Some(("0A", 31337)));
    }

    #[test]
    fn this_process_connections_are_counted_and_listeners_are_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let me = read_stat(std::process::id() as i32, &mut String::new()).unwrap();
        let a = std::net::TcpStream::connect(addr).unwrap();
        let (b, _) = listener.accept().unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Other tests of this process may hold sockets too: at least ours, not the listener.
        let held = count_sockets(&[me]);
        assert!(held >= 3, "{held}");
        drop((a, b, udp));
    }
}
