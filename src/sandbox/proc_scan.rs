//! One pass over `/proc` for the watchdog: each process's `stat` fields the watchdog needs,
//! and which plugin it belongs to (by its environment tags, or by its process group).

use std::collections::HashMap;
use std::io::Read;

use crate::process::tags::read_tags;

/// A plugin to look for in a scan.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) pgid: i32,
}

/// What a tick needs from `/proc/<pid>/stat`; times in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcStat {
    pub(crate) pid: i32,
    pub(crate) state: u8,
    pub(crate) pgid: i32,
    /// utime + stime.
    pub(crate) own: u64,
    /// cutime + cstime: reaped children.
    pub(crate) children: u64,
    pub(crate) starttime: u64,
    pub(crate) rss_pages: u64,
}

impl ProcStat {
    pub(crate) fn is_stopped(&self) -> bool {
        matches!(self.state, b'T' | b't')
    }

    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Parses `/proc/<pid>/stat`. The command name may hold spaces and parentheses, so fields
/// are counted from the last `)`.
pub(crate) fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // Field n of proc(5) is at index n - 3 here.
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    let num = |i: usize| f.get(i)?.parse::<u64>().ok();
    // cutime and cstime are signed in the kernel; never negative in practice.
    let signed = |i: usize| Some(f.get(i)?.parse::<i64>().ok()?.max(0) as u64);
    Some(ProcStat {
        pid,
        state: *f.first()?.as_bytes().first()?,
        pgid: f.get(2)?.parse().ok()?,
        own: num(11)? + num(12)?,
        children: signed(13)? + signed(14)?,
        starttime: num(19)?,
        rss_pages: signed(21)?,
    })
}

/// Reads `/proc/<pid>/stat` into `buf` (reused across calls) and parses it.
pub(crate) fn read_stat(pid: i32, buf: &mut String) -> Option<ProcStat> {
    buf.clear();
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    file.read_to_string(buf).ok()?;
    parse_stat(pid, buf)
}

/// pid -> (start time, the plugin its tags name if they name this exporter).
pub(crate) type TagCache = HashMap<i32, (u64, Option<String>)>;

/// One pass over `/proc`: returns the members of each target, index by index. Reads
/// `environ` only for processes not in `cache`, then keeps in `cache` exactly the processes
/// seen now.
///
/// A process caught between fork and exec still has its parent's environment and is cached
/// with those tags; for a plugin's own helpers that is the plugin's environment, and a plugin
/// leader caught there (forked by the exporter) is a member by its group anyway.
pub(crate) fn scan(cache: &mut TagCache, targets: &[Target], me: u32) -> Vec<Vec<ProcStat>> {
    let mut found = vec![Vec::new(); targets.len()];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    let me_tag = me.to_string();
    let mut seen = TagCache::with_capacity(cache.len());
    let mut buf = String::with_capacity(512);
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid as u32 == me {
            continue; // whatever our environment says, never stop or kill ourselves
        }
        let Some(st) = read_stat(pid, &mut buf) else {
            continue; // gone since the listing
        };
        let plugin = match cache.remove(&pid) {
            Some((start, plugin)) if start == st.starttime => plugin,
            _ => read_tags(pid)
                .filter(|t| t.supervisor.as_deref() == Some(me_tag.as_str()))
                .and_then(|t| t.plugin),
        };
        let by_tag = plugin
            .as_deref()
            .and_then(|p| targets.iter().position(|t| t.name == p));
        if let Some(i) = by_tag.or_else(|| targets.iter().position(|t| t.pgid == st.pgid)) {
            found[i].push(st);
        }
        seen.insert(pid, (st.starttime, plugin));
    }
    *cache = seen;
    found
}
