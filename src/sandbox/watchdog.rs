//! Limits without cgroups: a watchdog that samples each plugin's process tree from `/proc`,
//! kills a tree that stays over its memory limit, and holds its CPU use to its quota by
//! stopping (SIGSTOP) and continuing (SIGCONT) its processes.
//!
//! # Sampling
//!
//! One task scans `/proc` once per period for every watched plugin together. Each process
//! costs one read of `/proc/<pid>/stat`, which holds everything a tick needs: the process
//! group (membership), the start time (to tell a reused pid), utime+stime and cutime+cstime
//! (CPU), resident pages (memory) and the state (stopped or not). `sysinfo` is not used here:
//! it reads `stat` and `statm` (and more) per process, does not expose the process group,
//! and gives start times in whole seconds, too coarse to tell a reused pid, so we would read
//! `stat` ourselves anyway. The scan runs on tokio's blocking pool and is skipped while no
//! plugin is watched.
//!
//! A process belongs to plugin P if its environment tags (see [`crate::process::tags`]) name
//! P and this exporter, or if it is in P's process group (it cleared its environment but
//! stayed). `environ` is read once per process, not once per tick: the tags are cached by pid
//! and start time.
//!
//! # Accounting
//!
//! A tick charges the CPU time members used since the previous tick; a process seen for the
//! first time is charged from its start. Children that live less than a tick are never seen,
//! but their time shows up in their parent's cutime+cstime when it reaps them, so that growth
//! is charged too, less what was already charged while a reaped member was seen alive.
//!
//! # What a watchdog cannot do
//!
//! - Summed RSS counts pages shared between processes (after fork) once per process: it is an
//!   upper bound, where a cgroup counts each page once.
//! - A process that clears its environment and leaves the group (`setsid`) escapes.
//! - It acts after the fact: a memory spike lives two periods before the kill, and the CPU
//!   quota holds on average, in bursts of about one period.
//! - A stopped plugin answers nothing until it is continued; a plugin far over its quota is
//!   stopped most of the time.

use super::proc_scan::{read_stat, scan, ProcStat, TagCache, Target};
use super::usage::Usage;
use crate::process::tags::signal_group;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{sysconf, Pid, SysconfVar};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// Samples over the memory limit in a row before the tree is killed: a single sample may
/// catch a spike the plugin frees at once.
const MEMORY_STRIKES: u32 = 2;
/// The least CPU a plugin may save up while idle, as time at its quota. The kernel counts CPU
/// time in 10 ms clock ticks; one 100 ms period at 0.25 cores is 2.5 ticks, so a burst of one
/// period would let rounding alone stop a plugin that stays under its quota.
const MIN_BURST: Duration = Duration::from_secs(1);
/// The shortest period: tokio refuses a zero interval and a tighter loop only burns CPU.
const MIN_PERIOD: Duration = Duration::from_millis(10);

/// Limits the watchdog enforces on one plugin's process tree.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WatchLimits {
    /// Resident memory of the whole tree, in bytes.
    pub memory: Option<u64>,
    /// CPU, in cores (0.5 is half a core on average).
    pub cpu: Option<f64>,
}

/// What the watchdog saw of a plugin. The counters (`cpu_seconds`, `memory_kills`,
/// `cpu_throttles`) add up over every instance of the plugin; `memory_bytes` and `processes`
/// describe the instance watched now and are 0 when none is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WatchStats {
    /// Resident memory of the tree at the last sample (an upper bound, see the module docs).
    pub memory_bytes: u64,
    /// CPU time used, including processes that exited as far as it could be observed.
    /// Never decreases.
    pub cpu_seconds: f64,
    /// Live processes in the tree at the last sample.
    pub processes: u64,
    /// Times the tree was killed for staying over its memory limit.
    pub memory_kills: u64,
    /// Times the tree was stopped for going over its CPU quota (episodes, not ticks).
    pub cpu_throttles: u64,
}

/// The watchdog of one exporter: watches every plugin in one `/proc` scan per period. Cheap
/// to clone; the sampling task ends when the last clone is dropped, and dropping it
/// continues every process it had stopped.
#[derive(Clone)]
pub struct Watchdog {
    inner: Arc<Inner>,
}

struct Inner {
    plugins: Mutex<HashMap<String, Plugin>>,
    units: Units,
}

/// Host constants and tuning, fixed at start.
#[derive(Debug, Clone, Copy)]
struct Units {
    ticks_per_second: f64,
    page_size: u64,
    burst: Duration,
}

#[derive(Default)]
struct Plugin {
    stats: WatchStats,
    instance: Option<Instance>,
}

/// Where a signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum To {
    Process(i32),
    Group(i32),
}

impl Watchdog {
    /// Starts the sampling task, one scan every `period` (100 ms is a good value). Call from
    /// inside a tokio runtime.
    pub fn start(period: Duration) -> Watchdog {
        let period = period.max(MIN_PERIOD);
        let inner = Arc::new(Inner {
            plugins: Mutex::new(HashMap::new()),
            units: Units::of_host(period),
        });
        tokio::spawn(run(Arc::downgrade(&inner), period));
        Watchdog { inner }
    }

    /// Starts watching a running instance of `plugin` whose process group is `pgid`. Call it
    /// after each spawn; an instance still watched under the same name is released first.
    pub fn watch(&self, plugin: &str, pgid: i32, limits: WatchLimits) {
        let fresh = Instance::new(pgid, limits, &self.inner.units, Instant::now());
        let old = {
            let mut plugins = self.inner.lock();
            let p = plugins.entry(plugin.to_string()).or_default();
            p.stats.memory_bytes = 0;
            p.stats.processes = 0;
            p.instance.replace(fresh)
        };
        if let Some(mut old) = old {
            continue_stopped(old.release());
        }
    }

    /// Stops watching `plugin` (its instance ended) and continues whatever it had stopped.
    pub fn unwatch(&self, plugin: &str) {
        let old = {
            let mut plugins = self.inner.lock();
            let Some(p) = plugins.get_mut(plugin) else {
                return;
            };
            p.stats.memory_bytes = 0;
            p.stats.processes = 0;
            p.instance.take()
        };
        if let Some(mut old) = old {
            continue_stopped(old.release());
        }
    }

    /// What the watchdog saw of `plugin`; `None` if it was never watched.
    pub fn stats(&self, plugin: &str) -> Option<WatchStats> {
        self.inner.lock().get(plugin).map(|p| p.stats)
    }

    /// The resource use of `plugin` as the exporter reports it; `None` if it was never
    /// watched. The watchdog cannot see refused forks, so `pids_hits` stays 0; a kill for
    /// memory is both an OOM kill and a memory limit hit.
    pub fn usage(&self, plugin: &str) -> Option<Usage> {
        self.stats(plugin).map(|s| Usage {
            memory_bytes: s.memory_bytes,
            cpu_seconds: s.cpu_seconds,
            processes: s.processes,
            oom_kills: s.memory_kills,
            memory_hits: s.memory_kills,
            pids_hits: 0,
            cpu_hits: s.cpu_throttles,
        })
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Plugin>> {
        // A panic while holding the lock leaves consistent numbers behind: keep going.
        self.plugins.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn targets(&self) -> Vec<Target> {
        self.lock()
            .iter()
            .filter_map(|(name, p)| {
                Some(Target {
                    name: name.clone(),
                    pgid: p.instance.as_ref()?.pgid,
                })
            })
            .collect()
    }

    /// Applies one scan: `found[i]` are the members of `targets[i]`, read by `at`.
    fn apply(&self, targets: &[Target], found: Vec<Vec<ProcStat>>, at: Instant) {
        let mut plugins = self.lock();
        for (target, procs) in targets.iter().zip(found) {
            let Some(p) = plugins.get_mut(&target.name) else {
                continue; // unwatched during the scan
            };
            let Some(instance) = p.instance.as_mut().filter(|i| i.pgid == target.pgid) else {
                continue; // a new instance came during the scan: it was not scanned
            };
            instance.sample(
                &procs,
                at,
                &self.units,
                &mut p.stats,
                &target.name,
                &mut send,
            );
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let plugins = self.plugins.get_mut().unwrap_or_else(|e| e.into_inner());
        for p in plugins.values_mut() {
            if let Some(instance) = p.instance.as_mut() {
                continue_stopped(instance.release());
            }
        }
    }
}

impl Units {
    fn of_host(period: Duration) -> Units {
        let get = |var, default| {
            sysconf(var)
                .ok()
                .flatten()
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        Units {
            ticks_per_second: get(SysconfVar::CLK_TCK, 100) as f64,
            page_size: get(SysconfVar::PAGE_SIZE, 4096) as u64,
            burst: period.max(MIN_BURST),
        }
    }
}

/// The sampling loop. It holds the watchdog only while touching it, so dropping the last
/// handle ends the loop (and continues stopped processes) without waiting for a scan.
async fn run(weak: Weak<Inner>, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
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
        let scanned = tokio::task::spawn_blocking(move || {
            let found = scan(&mut cache, &targets, me);
            (cache, targets, found, Instant::now())
        })
        .await;
        let Ok((kept, targets, found, at)) = scanned else {
            // The scan panicked or the runtime is shutting down: start the cache afresh.
            cache = TagCache::new();
            continue;
        };
        cache = kept;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        inner.apply(&targets, found, at);
    }
}

/// A signal as the watchdog sends it: a process or group that is already gone is no error.
fn send(to: To, sig: Signal) {
    match to {
        To::Group(pgid) => signal_group(Pid::from_raw(pgid), sig),
        To::Process(pid) => match kill(Pid::from_raw(pid), sig) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pid, signal = %sig, %e, "watchdog cannot signal a process"),
        },
    }
}

/// SIGCONTs processes the watchdog stopped, each only if it still is the process that was
/// stopped (same start time), not a newcomer with a reused pid.
fn continue_stopped(stopped: Vec<(i32, u64)>) {
    let mut buf = String::new();
    for (pid, start) in stopped {
        if read_stat(pid, &mut buf).is_some_and(|s| s.starttime == start) {
            send(To::Process(pid), Signal::SIGCONT);
        }
    }
}

/// One watched instance.
struct Instance {
    pgid: i32,
    limits: WatchLimits,
    budget: Option<Budget>,
    /// Members at the last sample.
    members: HashMap<i32, Seen>,
    credit: ChildCredit,
    /// When the last sample was read (or the watch began).
    last: Instant,
    /// Samples over the memory limit in a row.
    strikes: u32,
    /// The tree was killed and is still over the limit: signal again, count once.
    killed: bool,
    /// In a stop episode.
    throttled: bool,
    /// Processes we stopped: pid -> start time.
    stopped: HashMap<i32, u64>,
}

/// A member as seen at the last sample, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct Seen {
    starttime: u64,
    own: u64,
    children: u64,
}

impl Instance {
    fn new(pgid: i32, limits: WatchLimits, units: &Units, now: Instant) -> Instance {
        // A quota that is not a positive number would stop the plugin for ever: no quota.
        let budget = limits
            .cpu
            .filter(|c| c.is_finite() && *c > 0.0)
            .map(|c| Budget::new(c, units.burst));
        Instance {
            pgid,
            limits,
            budget,
            members: HashMap::new(),
            credit: ChildCredit::default(),
            last: now,
            strikes: 0,
            killed: false,
            throttled: false,
            stopped: HashMap::new(),
        }
    }

    /// Takes one sample: `procs` are the tree's members, read by `at`. Updates `stats` and
    /// sends the signals the limits call for.
    fn sample(
        &mut self,
        procs: &[ProcStat],
        at: Instant,
        units: &Units,
        stats: &mut WatchStats,
        plugin: &str,
        send: &mut dyn FnMut(To, Signal),
    ) {
        let used = self.account(procs) as f64 / units.ticks_per_second;
        let elapsed = at.saturating_duration_since(self.last).as_secs_f64();
        self.last = at;
        stats.cpu_seconds += used;
        stats.memory_bytes = procs.iter().map(|p| p.rss_pages).sum::<u64>() * units.page_size;
        stats.processes = procs.iter().filter(|p| !p.is_dead()).count() as u64;
        // Stopped processes that are gone are forgotten: their pids may come back as others.
        let members = &self.members;
        self.stopped
            .retain(|pid, start| members.get(pid).is_some_and(|s| s.starttime == *start));

        if let Some(limit) = self.limits.memory {
            if stats.memory_bytes > limit {
                self.strikes += 1;
            } else {
                self.strikes = 0;
                self.killed = false;
            }
            if self.strikes >= MEMORY_STRIKES {
                if !self.killed {
                    self.killed = true;
                    stats.memory_kills += 1;
                    tracing::warn!(
                        plugin,
                        rss_bytes = stats.memory_bytes,
                        limit_bytes = limit,
                        "plugin stayed over its memory limit: killing its processes"
                    );
                }
                for p in procs {
                    send(To::Process(p.pid), Signal::SIGKILL);
                }
                send(To::Group(self.pgid), Signal::SIGKILL);
                return; // SIGKILL ends stopped processes too: no CPU control needed
            }
        }

        let Some(budget) = self.budget.as_mut() else {
            return;
        };
        if budget.advance(elapsed, used) < 0.0 {
            if !self.throttled {
                self.throttled = true;
                stats.cpu_throttles += 1;
                tracing::debug!(plugin, "plugin over its CPU quota: stopping it");
            }
            // Every tick, not once: members may have forked or been continued by others.
            for p in procs.iter().filter(|p| !p.is_stopped() && !p.is_dead()) {
                send(To::Process(p.pid), Signal::SIGSTOP);
                self.stopped.insert(p.pid, p.starttime);
            }
        } else if self.throttled {
            self.throttled = false;
            for (pid, _) in self.stopped.drain() {
                send(To::Process(pid), Signal::SIGCONT);
            }
        }
    }

    /// The clock ticks the tree used since the last sample; remembers this sample's members.
    fn account(&mut self, procs: &[ProcStat]) -> u64 {
        let mut own = 0;
        let mut children = 0;
        let mut now = HashMap::with_capacity(procs.len());
        for p in procs {
            let before = self
                .members
                .get(&p.pid)
                .filter(|s| s.starttime == p.starttime);
            own += p.own.saturating_sub(before.map_or(0, |s| s.own));
            children += p.children.saturating_sub(before.map_or(0, |s| s.children));
            let seen = Seen {
                starttime: p.starttime,
                own: p.own,
                children: p.children,
            };
            now.insert(p.pid, seen);
        }
        for (pid, s) in &self.members {
            if now.get(pid).is_none_or(|n| n.starttime != s.starttime) {
                self.credit.add(s.own + s.children);
            }
        }
        self.members = now;
        own + self.credit.absorb(children)
    }

    /// Ends the watch: the processes to continue, as pid and start time.
    fn release(&mut self) -> Vec<(i32, u64)> {
        self.throttled = false;
        self.stopped.drain().collect()
    }
}

/// A token bucket of CPU time: `rate` CPU seconds per second, at most `burst` saved up.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Budget {
    rate: f64,
    burst: f64,
    balance: f64,
}

impl Budget {
    /// A full bucket: `burst` is how long the plugin may run at its quota on savings.
    fn new(rate: f64, burst: Duration) -> Budget {
        let burst = rate * burst.as_secs_f64();
        Budget {
            rate,
            burst,
            balance: burst,
        }
    }

    /// Credits the quota earned over `elapsed` seconds (saving at most the burst), charges
    /// `used` CPU seconds and returns the balance. Below zero the plugin is in debt: it stays
    /// stopped until the quota it earns while stopped pays the debt back, which holds its
    /// average to the rate however fast it spends.
    fn advance(&mut self, elapsed: f64, used: f64) -> f64 {
        self.balance = (self.balance + self.rate * elapsed).min(self.burst) - used;
        self.balance
    }
}

/// Ticks of members that are gone, to be matched against their parent's cutime+cstime, which
/// grows by a child's whole time when it reaps it: the part already charged while the child
/// was seen alive must not be charged twice. A credit not matched within two samples (the
/// child was reaped outside the tree, by the exporter or init) is dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct ChildCredit {
    fresh: u64,
    old: u64,
}

impl ChildCredit {
    fn add(&mut self, ticks: u64) {
        self.fresh += ticks;
    }

    /// Of `children` (this sample's growth of the members' cutime+cstime), what was not
    /// charged yet. A parent may be read before or after its child vanished from the same
    /// scan, so a credit is good for this sample and the next.
    fn absorb(&mut self, children: u64) -> u64 {
        let from_old = children.min(self.old);
        let rest = children - from_old;
        let from_fresh = rest.min(self.fresh);
        self.old = self.fresh - from_fresh;
        self.fresh = 0;
        rest - from_fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::proc_scan::parse_stat;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    const UNITS: Units = Units {
        ticks_per_second: 100.0,
        page_size: 4096,
        burst: Duration::from_secs(1),
    };

    fn proc(pid: i32, own: u64, children: u64, rss_pages: u64) -> ProcStat {
        ProcStat {
            pid,
            state: b'R',
            pgid: 100,
            own,
            children,
            starttime: 1000 + pid as u64,
            rss_pages,
        }
    }

    /// Runs one sample at `t0 + at_ms` and returns the signals it sent.
    fn sample(
        i: &mut Instance,
        stats: &mut WatchStats,
        t0: Instant,
        at_ms: u64,
        procs: &[ProcStat],
    ) -> Vec<(To, Signal)> {
        let mut sent = Vec::new();
        let at = t0 + Duration::from_millis(at_ms);
        i.sample(procs, at, &UNITS, stats, "p", &mut |to, sig| {
            sent.push((to, sig))
        });
        sent
    }

    #[test]
    fn parse_stat_counts_fields_from_the_last_parenthesis() {
        let text = "4242 (a) (b c)) S 1 4240 4240 0 -1 4194560 100 0 0 0 \
                    7 3 20 5 20 0 1 0 123456 1000000 250 18446744073709551615 0 0";
        let st = parse_stat(4242, text).unwrap();
        assert_eq!(
            st,
            ProcStat {
                pid: 4242,
                state: b'S',
                pgid: 4240,
                own: 10,
                children: 25,
                starttime: 123456,
                rss_pages: 250,
            }
        );
        assert!(parse_stat(1, "1 (init) S 0 1").is_none());
        assert!(parse_stat(1, "no parenthesis at all").is_none());
    }

    #[test]
    fn parse_stat_reads_this_process() {
        let mut buf = String::new();
        let me = std::process::id() as i32;
        let st = read_stat(me, &mut buf).unwrap();
        assert_eq!(st.pgid, nix::unistd::getpgrp().as_raw());
        assert!(st.rss_pages > 0);
        assert!(!st.is_stopped() && !st.is_dead());
    }

    #[test]
    fn budget_holds_a_spinning_tree_to_its_rate() {
        // Two cores spinning, quota a quarter core, 100 ms ticks.
        let (rate, tick) = (0.25, 0.1);
        let mut b = Budget::new(rate, Duration::from_secs(1));
        let (mut stopped, mut used_total, mut episodes) = (false, 0.0, 0);
        for _ in 0..1000 {
            let used = if stopped { 0.0 } else { 2.0 * tick };
            used_total += used;
            let in_debt = b.advance(tick, used) < 0.0;
            if in_debt && !stopped {
                episodes += 1;
            }
            stopped = in_debt;
        }
        // Savings of one burst (0.25 CPU s) come on top of the rate over 100 s.
        let average = used_total / (1000.0 * tick);
        assert!((average - rate).abs() < 0.01, "average {average}");
        assert!(episodes > 100, "episodes {episodes}");
    }

    #[test]
    fn budget_saves_at_most_its_burst() {
        let mut b = Budget::new(0.5, Duration::from_secs(2));
        assert_eq!(b.advance(1000.0, 0.0), 1.0);
        assert!(b.advance(0.0, 1.0) >= 0.0);
        assert!(b.advance(0.0, 0.01) < 0.0);
        // A debt is paid back at the rate: 0.01 s at 0.5 cores takes 20 ms.
        assert!(b.advance(0.019, 0.0) < 0.0);
        assert!(b.advance(0.002, 0.0) >= 0.0);
    }

    #[test]
    fn budget_does_not_stop_a_plugin_under_its_quota_for_tick_rounding() {
        // 0.2 cores against a 0.25 quota, as the kernel reports it: whole 10 ms ticks.
        let mut b = Budget::new(0.25, Duration::from_secs(1));
        let pattern = [0.03, 0.01, 0.02, 0.03, 0.01, 0.02, 0.03, 0.03, 0.01, 0.01];
        for used in pattern.iter().cycle().take(10_000) {
            assert!(b.advance(0.1, *used) >= 0.0);
        }
    }

    #[test]
    fn child_credit_charges_a_reaped_child_once() {
        let mut c = ChildCredit::default();
        // A child charged 5 ticks while alive is gone; its parent's cutime grows by its
        // whole 7 ticks in the same sample: 2 are new.
        c.add(5);
        assert_eq!(c.absorb(7), 2);
        // Or in the next sample.
        c.add(5);
        assert_eq!(c.absorb(0), 0);
        assert_eq!(c.absorb(7), 2);
        // A credit nobody claims (reaped outside the tree) lapses after two samples.
        c.add(5);
        assert_eq!(c.absorb(0), 0);
        assert_eq!(c.absorb(0), 0);
        assert_eq!(c.absorb(7), 7);
    }

    #[test]
    fn cpu_time_counts_new_processes_from_their_start_and_reaped_ones_once() {
        let t0 = Instant::now();
        let mut i = Instance::new(100, WatchLimits::default(), &UNITS, t0);
        let mut s = WatchStats::default();
        sample(&mut i, &mut s, t0, 100, &[proc(100, 10, 0, 1)]);
        assert!((s.cpu_seconds - 0.10).abs() < 1e-9);
        // A child appears with 4 ticks already used.
        sample(
            &mut i,
            &mut s,
            t0,
            200,
            &[proc(100, 12, 0, 1), proc(101, 4, 0, 1)],
        );
        assert!((s.cpu_seconds - 0.16).abs() < 1e-9);
        // It ends after 3 more ticks and is reaped by its parent: 3 ticks are new.
        sample(&mut i, &mut s, t0, 300, &[proc(100, 12, 7, 1)]);
        assert!((s.cpu_seconds - 0.19).abs() < 1e-9);
        // Short-lived children never seen alive are charged through the parent.
        sample(&mut i, &mut s, t0, 400, &[proc(100, 13, 27, 1)]);
        assert!((s.cpu_seconds - 0.40).abs() < 1e-9);
        // A reused pid (another start time) is a new process, not a step back.
        let mut reused = proc(100, 2, 0, 1);
        reused.starttime += 1;
        sample(&mut i, &mut s, t0, 500, &[reused]);
        assert!((s.cpu_seconds - 0.42).abs() < 1e-9);
        assert_eq!(s.processes, 1);
        assert_eq!(s.memory_bytes, 4096);
    }

    #[test]
    fn memory_over_the_limit_twice_in_a_row_kills_the_tree_once() {
        let t0 = Instant::now();
        let limits = WatchLimits {
            memory: Some(10 * 4096),
            cpu: None,
        };
        let mut i = Instance::new(100, limits, &UNITS, t0);
        let mut s = WatchStats::default();
        let over = [proc(100, 0, 0, 6), proc(101, 0, 0, 6)];
        let under = [proc(100, 0, 0, 6), proc(101, 0, 0, 3)];
        assert!(sample(&mut i, &mut s, t0, 100, &over).is_empty());
        assert!(sample(&mut i, &mut s, t0, 200, &under).is_empty());
        assert!(sample(&mut i, &mut s, t0, 300, &over).is_empty());
        let kill = [
            (To::Process(100), Signal::SIGKILL),
            (To::Process(101), Signal::SIGKILL),
            (To::Group(100), Signal::SIGKILL),
        ];
        assert_eq!(sample(&mut i, &mut s, t0, 400, &over), kill);
        assert_eq!(s.memory_kills, 1);
        assert_eq!(s.memory_bytes, 12 * 4096);
        // Still there next tick (dying): signalled again, counted once.
        assert_eq!(sample(&mut i, &mut s, t0, 500, &over), kill);
        assert_eq!(s.memory_kills, 1);
        // Gone, then over again twice: a second kill.
        assert!(sample(&mut i, &mut s, t0, 600, &[]).is_empty());
        sample(&mut i, &mut s, t0, 700, &over);
        sample(&mut i, &mut s, t0, 800, &over);
        assert_eq!(s.memory_kills, 2);
    }

    #[test]
    fn cpu_debt_stops_every_member_until_paid_then_continues_them() {
        let t0 = Instant::now();
        let limits = WatchLimits {
            memory: None,
            cpu: Some(0.5),
        };
        let mut i = Instance::new(100, limits, &UNITS, t0);
        let mut s = WatchStats::default();
        // 54 ticks in the first 100 ms: 0.5 saved (a full bucket earns no more) - 0.54 = -0.04.
        let sent = sample(
            &mut i,
            &mut s,
            t0,
            100,
            &[proc(100, 30, 0, 1), proc(101, 24, 0, 1)],
        );
        let stop = vec![
            (To::Process(100), Signal::SIGSTOP),
            (To::Process(101), Signal::SIGSTOP),
        ];
        let mut sorted = sent.clone();
        sorted.sort_by_key(|(to, _)| format!("{to:?}"));
        assert_eq!(sorted, stop);
        assert_eq!(s.cpu_throttles, 1);
        // Stopped: 50 ms more earns 0.025, -0.015 is still a debt; a child forked just before the
        // stop is stopped too, the stopped ones are left alone.
        let mut a = proc(100, 30, 0, 1);
        a.state = b'T';
        let mut b = proc(101, 24, 0, 1);
        b.state = b'T';
        let c = proc(102, 0, 0, 1);
        let sent = sample(&mut i, &mut s, t0, 150, &[a, b, c]);
        assert_eq!(sent, vec![(To::Process(102), Signal::SIGSTOP)]);
        assert_eq!(s.cpu_throttles, 1);
        // 101 exits while stopped (SIGKILL from elsewhere); at 200 ms the balance is 0.01: the
        // rest is continued, 101 is forgotten.
        let mut c = c;
        c.state = b'T';
        let mut sent = sample(&mut i, &mut s, t0, 200, &[a, c]);
        sent.sort_by_key(|(to, _)| format!("{to:?}"));
        assert_eq!(
            sent,
            vec![
                (To::Process(100), Signal::SIGCONT),
                (To::Process(102), Signal::SIGCONT),
            ]
        );
        assert!(i.release().is_empty());
        // A second episode is counted as such.
        sample(&mut i, &mut s, t0, 300, &[proc(100, 130, 0, 1)]);
        assert_eq!(s.cpu_throttles, 2);
        assert_eq!(i.release(), vec![(100, 1100)]);
    }

    #[test]
    fn no_quota_or_a_nonsense_one_never_stops() {
        let t0 = Instant::now();
        for cpu in [None, Some(0.0), Some(-1.0), Some(f64::NAN)] {
            let limits = WatchLimits { memory: None, cpu };
            let mut i = Instance::new(100, limits, &UNITS, t0);
            let mut s = WatchStats::default();
            assert!(sample(&mut i, &mut s, t0, 100, &[proc(100, 1000, 0, 1)]).is_empty());
            assert_eq!(s.cpu_throttles, 0);
        }
    }

    /// A sleeping child in a group of its own, with the tags of `plugin` unless `untagged`.
    fn sleeper(plugin: &str, untagged: bool) -> std::process::Child {
        let mut cmd = Command::new("sleep");
        cmd.arg("30").process_group(0).stdin(Stdio::null());
        if untagged {
            cmd.env_clear();
        } else {
            cmd.env("PLUGIN_EXPORTER_PLUGIN", plugin).env(
                "PLUGIN_EXPORTER_SUPERVISOR_PID",
                std::process::id().to_string(),
            );
        }
        cmd.spawn().unwrap()
    }

    #[test]
    fn scan_finds_members_by_tag_or_by_group_and_caches_tags() {
        let name = format!("scan-test-{}", std::process::id());
        let mut tagged = sleeper(&name, false);
        let mut bare = sleeper("", true);
        let targets = [
            Target {
                name: name.clone(),
                pgid: -1,
            },
            Target {
                name: "other".into(),
                pgid: bare.id() as i32,
            },
        ];
        let mut cache = TagCache::new();
        // The child may not have exec'd yet (the tags come with exec): retry for a while.
        let deadline = Instant::now() + Duration::from_secs(5);
        let found = loop {
            cache.clear();
            let found = scan(&mut cache, &targets, std::process::id());
            let ok = found[0].iter().any(|p| p.pid == tagged.id() as i32);
            if ok || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let pids = |v: &Vec<ProcStat>| v.iter().map(|p| p.pid as u32).collect::<Vec<_>>();
        assert_eq!(pids(&found[0]), vec![tagged.id()]);
        assert_eq!(pids(&found[1]), vec![bare.id()]);
        let me = std::process::id() as i32;
        assert!(!found.iter().flatten().any(|p| p.pid == me));
        assert_eq!(
            cache
                .get(&(tagged.id() as i32))
                .and_then(|(_, p)| p.clone()),
            Some(name)
        );
        for c in [&mut tagged, &mut bare] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        // Gone processes leave the cache at the next scan.
        scan(&mut cache, &targets, std::process::id());
        assert!(!cache.contains_key(&(tagged.id() as i32)));
    }
}
